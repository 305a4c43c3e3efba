package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tierfs/tierfs/internal/mountinfo"
)

// Workspace is the scratch area of one benchmark run: a directory for
// mount points, configs and logs, a private tmpfs that holds every
// target's data, and the binaries built for the run.
type Workspace struct {
	Dir       string // scratch directory (on disk)
	Tmpfs     string // a tmpfs mounted for this run
	TierfsBin string
	SlowfsBin string
	Mergerfs  string
	Opts      *Options
}

// NewWorkspace creates the scratch directory, mounts its tmpfs and builds
// the tierfs and slowfs binaries from the module at opts.RepoDir.
func NewWorkspace(ctx context.Context, opts *Options) (_ *Workspace, err error) {
	dir, err := os.MkdirTemp(opts.WorkParent, "tierfs-bench-")
	if err != nil {
		return nil, err
	}
	ws := &Workspace{Dir: dir, Tmpfs: filepath.Join(dir, "tmpfs"), Mergerfs: opts.MergerfsBin, Opts: opts}
	defer func() {
		if err != nil {
			err = errors.Join(err, ws.Close())
		}
	}()
	// Dovecot's unprivileged processes must reach the mount points,
	// configs and sockets below the scratch directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{ws.Tmpfs, filepath.Join(dir, "mnt"), filepath.Join(dir, "bin"), filepath.Join(dir, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if out, err := exec.CommandContext(ctx, "mount", "-t", "tmpfs", "-o", "size="+opts.TmpfsSize+",mode=0755", "tierfs-bench", ws.Tmpfs).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mount tmpfs at %s: %v: %s", ws.Tmpfs, err, bytes.TrimSpace(out))
	}
	ws.TierfsBin = filepath.Join(dir, "bin", "tierfs")
	ws.SlowfsBin = filepath.Join(dir, "bin", "slowfs")
	if err := goBuild(ctx, opts.RepoDir, ws.SlowfsBin, "./benchmarks/cmd/slowfs"); err != nil {
		return nil, err
	}
	if opts.needsTierfs() {
		if err := goBuild(ctx, opts.RepoDir, ws.TierfsBin, "./cmd/tierfs"); err != nil {
			return nil, err
		}
	}
	return ws, nil
}

func goBuild(ctx context.Context, repo, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

func (ws *Workspace) logPath(name string) string {
	return filepath.Join(ws.Dir, "logs", name+".log")
}

// Close unmounts the tmpfs and removes the scratch directory, unless the
// options ask to keep it. Anything still mounted below Dir is unmounted
// first, so a failed run leaves nothing behind.
func (ws *Workspace) Close() error {
	var errs []error
	ms, err := mountinfo.Read()
	if err != nil {
		errs = append(errs, err)
	}
	// Innermost first: iterate backwards over mount order.
	for i := len(ms) - 1; i >= 0; i-- {
		if m := ms[i].MountPoint; m == ws.Dir || strings.HasPrefix(m, ws.Dir+"/") {
			if err := unmount(m); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if ws.Opts.KeepWorkdir {
		return errors.Join(errs...)
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(ws.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
