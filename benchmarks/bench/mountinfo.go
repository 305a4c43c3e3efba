package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	MountPoint, FSType, Source string
}

// readMounts parses /proc/self/mountinfo.
func readMounts() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if e, ok := parseMountinfoLine(sc.Text()); ok {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}

// parseMountinfoLine reads "id parent maj:min root mountpoint opts
// [optional...] - fstype source superopts".
func parseMountinfoLine(line string) (mountEntry, bool) {
	pre, post, ok := strings.Cut(line, " - ")
	if !ok {
		return mountEntry{}, false
	}
	f, g := strings.Fields(pre), strings.Fields(post)
	if len(f) < 5 || len(g) < 2 {
		return mountEntry{}, false
	}
	return mountEntry{MountPoint: unescapeOctal(f[4]), FSType: g[0], Source: unescapeOctal(g[1])}, true
}

// unescapeOctal undoes the kernel's \040-style escaping of spaces etc.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// mountedAs returns the filesystem type mounted at dir, or "".
func mountedAs(dir string) (string, error) {
	ms, err := readMounts()
	if err != nil {
		return "", err
	}
	dir = filepath.Clean(dir)
	fstype := ""
	for _, m := range ms {
		if m.MountPoint == dir {
			fstype = m.FSType // the last one is on top
		}
	}
	return fstype, nil
}

// waitMounted polls until dir is mounted with fstype, the daemon exits
// (exited is closed), the context ends or timeout passes.
func waitMounted(ctx context.Context, dir, fstype string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := mountedAs(dir)
		if err != nil {
			return err
		}
		if got == fstype {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s daemon exited before %s was mounted", fstype, dir)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not mounted at %s after %v (found %q)", fstype, dir, timeout, got)
		}
	}
}

// unmount unmounts dir, falling back to a lazy unmount so that a wedged
// daemon never leaves the mount behind.
func unmount(dir string) error {
	out, err := exec.Command("umount", dir).CombinedOutput()
	if err == nil {
		return nil
	}
	first := fmt.Errorf("umount %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
	if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("%w; umount -l: %v: %s", first, err, strings.TrimSpace(string(out)))
	}
	return nil
}
