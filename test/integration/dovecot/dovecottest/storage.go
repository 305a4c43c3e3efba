package dovecottest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tierfs/tierfs/internal/mountinfo"
)

// Kind selects what Dovecot's mail root is.
type Kind string

const (
	// KindTierfs is a real tierfs FUSE mount over the tiers.
	KindTierfs Kind = "tierfs"
	// KindPlain is a plain directory whose subtrees are symlinks into the
	// tiers: the same placement as the test rules, without FUSE.
	KindPlain Kind = "plain"
)

// MountOptionsEnv names the environment variable whose value, if set, is
// passed as -o to every tierfs mount (CI sets transport=io_uring for its
// second pass).
const MountOptionsEnv = "TIERFS_TEST_MOUNT_OPTIONS"

// Rule is one placement rule of the tierfs configuration.
type Rule struct {
	Match string
	Tier  string
	// DemoteAfter and DemoteTo, when set, age the rule's files to
	// another tier.
	DemoteAfter, DemoteTo string
}

// DefaultRules are the test suite's placement rules: volatile files and
// the mailbox list index on tmpfs, everything else (indexes and mail) on
// the fast tier. The slow tier is left for the mover.
var DefaultRules = []Rule{
	{Match: "volatile/**", Tier: TierTmp},
	{Match: "listindex/**", Tier: TierTmp},
	{Match: "index/**", Tier: TierFast},
	{Match: "mail/**", Tier: TierFast},
	{Match: "**", Tier: TierFast},
}

// StorageOptions describe a Storage.
type StorageOptions struct {
	Kind Kind
	// Dir holds the tiers, the mount point, tierfs's config, state and
	// log. Empty means a new temporary directory, removed by Close.
	Dir string
	// TierfsBin is the tierfs binary; needed for KindTierfs.
	TierfsBin string
	// Owner owns the top-level subtrees Dovecot writes into; the
	// DefaultMailUser account (created if missing) when zero.
	Owner Account
	// Rules default to DefaultRules.
	Rules []Rule
	// Cluster, when set, makes the storage one host of a cluster.
	Cluster *Cluster
	// ExtraConfig is TOML appended to the tierfs configuration, such as
	// a [mover] table.
	ExtraConfig string
}

// Cluster makes a Storage one host of a tierfs cluster: its persistent
// tiers are shared (with another Storage's, when SharedWith is set:
// that one initialised them), its tmpfs tier is its own.
type Cluster struct {
	Host       string
	SharedWith *Storage
	// The [cluster] keys, as TOML durations.
	HostTimeout, ReleaseAfter, LeaseWait string
}

// Storage is Dovecot's mail root and the tiers beneath it.
type Storage struct {
	Kind       Kind
	Root       string // the path Dovecot's settings start with
	Tiers      Tiers
	ConfigPath string // tierfs configuration (also written for KindPlain)
	StateDir   string
	LogPath    string // tierfs mount's stderr

	opts    StorageOptions
	dir     string
	tempDir bool
	tmpfsUp bool
	mount   *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// NewStorage creates the tiers (mounting a private tmpfs), writes the
// tierfs configuration, runs `tierfs init` and mounts: the returned
// Storage is ready for Dovecot.
func NewStorage(ctx context.Context, opts StorageOptions) (*Storage, error) {
	if opts.Rules == nil {
		opts.Rules = DefaultRules
	}
	if opts.Owner.UID == 0 {
		acct, err := EnsureMailUser(ctx, DefaultMailUser)
		if err != nil {
			return nil, err
		}
		opts.Owner = acct
	}
	s := &Storage{Kind: opts.Kind, opts: opts, dir: opts.Dir}
	if s.Kind != KindTierfs && s.Kind != KindPlain {
		return nil, fmt.Errorf("storage kind %q: want %q or %q", opts.Kind, KindTierfs, KindPlain)
	}
	if s.dir == "" {
		dir, err := os.MkdirTemp("", "tierfsstore-")
		if err != nil {
			return nil, fmt.Errorf("storage dir: %w", err)
		}
		s.dir, s.tempDir = dir, true
	}
	if err := s.create(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Storage) create(ctx context.Context) error {
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return fmt.Errorf("storage dir: %w", err)
	}
	var err error
	if s.Tiers, err = newTiers(s.dir); err != nil {
		return err
	}
	cl := s.opts.Cluster
	if cl != nil && cl.SharedWith != nil {
		s.Tiers.Fast, s.Tiers.Slow = cl.SharedWith.Tiers.Fast, cl.SharedWith.Tiers.Slow
	}
	if err := s.Tiers.mountTmpfs(ctx); err != nil {
		return err
	}
	s.tmpfsUp = true
	s.Root = filepath.Join(s.dir, "mnt")
	s.StateDir = filepath.Join(s.dir, "state")
	s.LogPath = filepath.Join(s.dir, "tierfs.log")
	s.ConfigPath = filepath.Join(s.dir, "tierfs.toml")
	for _, d := range []string{s.Root, s.StateDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("storage dir: %w", err)
		}
	}
	if err := os.WriteFile(s.ConfigPath, []byte(s.configTOML()), 0o644); err != nil {
		return fmt.Errorf("write tierfs config: %w", err)
	}
	if s.Kind == KindTierfs && (cl == nil || cl.SharedWith == nil) {
		if _, err := s.Tierfs(ctx, "init", "--config", s.ConfigPath, "--state-dir", s.StateDir); err != nil {
			return err
		}
	}
	return s.Start(ctx)
}

// configTOML renders the tierfs configuration for the tiers and rules.
func (s *Storage) configTOML() string {
	var b strings.Builder
	cl := s.opts.Cluster
	tier := func(name, path, kind string) {
		fmt.Fprintf(&b, "[[tier]]\nname = %q\npath = %q\nkind = %q\n", name, path, kind)
		if cl != nil && kind != "tmpfs" {
			b.WriteString("shared = true\n")
		}
		b.WriteString("\n")
	}
	tier(TierTmp, s.Tiers.Tmp, "tmpfs")
	tier(TierFast, s.Tiers.Fast, "local")
	// A local directory stands in for NFS: the suite tests placement,
	// not NFS.
	tier(TierSlow, s.Tiers.Slow, "local")
	for _, r := range s.opts.Rules {
		fmt.Fprintf(&b, "[[rule]]\nmatch = %q\ntier = %q\n", r.Match, r.Tier)
		if r.DemoteTo != "" {
			fmt.Fprintf(&b, "demote_after = %q\ndemote_to = %q\n", r.DemoteAfter, r.DemoteTo)
		}
		b.WriteString("\n")
	}
	if cl != nil {
		fmt.Fprintf(&b, "[cluster]\nhost = %q\nhost_timeout = %q\nrelease_after = %q\nlease_wait = %q\n\n",
			cl.Host, cl.HostTimeout, cl.ReleaseAfter, cl.LeaseWait)
	}
	b.WriteString(s.opts.ExtraConfig)
	return b.String()
}

// Tierfs runs the tierfs binary with args and returns its stdout.
func (s *Storage) Tierfs(ctx context.Context, args ...string) ([]byte, error) {
	if s.opts.TierfsBin == "" {
		return nil, errors.New("tierfs binary not set")
	}
	cmd := exec.CommandContext(ctx, s.opts.TierfsBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("tierfs %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// DovecotSettings returns what `tierfs dovecot-config` prints for format
// (maildir, sdbox or mdbox) and Dovecot 2.3 at the storage's root.
func (s *Storage) DovecotSettings(ctx context.Context, format string) (string, error) {
	out, err := s.Tierfs(ctx, "dovecot-config", "--config", s.ConfigPath,
		"--format", format, "--version", "2.3", s.Root)
	if err != nil {
		return "", err
	}
	if !strings.Contains(string(out), s.Root+"/") {
		return "", fmt.Errorf("tierfs dovecot-config printed no path under %s:\n%s", s.Root, out)
	}
	return string(out), nil
}

// Start mounts the storage (tierfs) or links its subtrees (plain) and
// makes sure the top-level subtrees exist and belong to the mail owner,
// as a boot script would after tmpfs came up empty.
func (s *Storage) Start(ctx context.Context) error {
	switch s.Kind {
	case KindTierfs:
		if err := s.mountTierfs(ctx); err != nil {
			return err
		}
	case KindPlain:
		if err := s.linkPlain(); err != nil {
			return err
		}
	}
	for _, sub := range Subtrees {
		p := filepath.Join(s.Root, sub)
		if err := os.MkdirAll(p, 0o750); err != nil {
			return fmt.Errorf("subtree %s: %w", sub, err)
		}
		if err := os.Chown(p, s.opts.Owner.UID, s.opts.Owner.GID); err != nil {
			return fmt.Errorf("subtree %s: %w", sub, err)
		}
	}
	return nil
}

// linkPlain makes Root/<subtree> a symlink to the tier the rules choose.
func (s *Storage) linkPlain() error {
	for _, sub := range Subtrees {
		tier := s.tierFor(sub + "/x")
		if err := os.MkdirAll(s.Tiers.Dir(tier), 0o755); err != nil {
			return fmt.Errorf("plain tier %s: %w", tier, err)
		}
		target := filepath.Join(s.Tiers.Dir(tier), sub)
		if err := os.MkdirAll(target, 0o750); err != nil {
			return fmt.Errorf("plain subtree %s: %w", sub, err)
		}
		link := filepath.Join(s.Root, sub)
		if dst, err := os.Readlink(link); err == nil && dst == target {
			continue
		}
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("plain subtree %s: %w", sub, err)
		}
	}
	return nil
}

// tierFor is the rules' tier for a path under a top-level subtree. Only
// the "<subtree>/**" and "**" forms are understood; that is all the plain
// storage needs.
func (s *Storage) tierFor(path string) string {
	for _, r := range s.opts.Rules {
		prefix, ok := strings.CutSuffix(r.Match, "**")
		if ok && strings.HasPrefix(path, prefix) {
			return r.Tier
		}
	}
	return TierFast
}

func (s *Storage) mountTierfs(ctx context.Context) error {
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("tierfs log: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== mount at %s\n", time.Now().Format(time.RFC3339Nano))
	args := []string{"mount", "--foreground", "--config", s.ConfigPath, "--state-dir", s.StateDir}
	if o := os.Getenv(MountOptionsEnv); o != "" {
		args = append(args, "-o", o)
	}
	cmd := exec.Command(s.opts.TierfsBin, append(args, s.Root)...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start tierfs mount: %w", err)
	}
	s.mount = cmd
	s.exited = make(chan struct{})
	go func(exited chan struct{}) {
		s.waitErr = cmd.Wait()
		close(exited)
	}(s.exited)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := IsMounted(s.Root, "fuse.tierfs")
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-s.exited:
			s.mount = nil
			return fmt.Errorf("tierfs mount exited before mounting (%v); log:\n%s", s.waitErr, s.Log())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tierfs not mounted on %s after 20s; log:\n%s", s.Root, s.Log())
		}
	}
}

// Stop unmounts tierfs and waits for the mount process to exit. For plain
// storage it does nothing. Dovecot must be stopped first.
func (s *Storage) Stop() error {
	if s.mount == nil {
		return nil
	}
	err := unmount(s.Root)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.mount.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.mount.Process.Kill()
			<-s.exited
		}
		if err == nil {
			err = errors.New("tierfs mount did not exit after unmount")
		}
	}
	s.mount = nil
	if err == nil && s.waitErr != nil {
		err = fmt.Errorf("tierfs mount exited with %v; log:\n%s", s.waitErr, s.Log())
	}
	return err
}

// Kill ends the tierfs mount with SIGKILL, as a crash would, and
// detaches what it leaves mounted. For plain storage it does nothing.
// Dovecot must be stopped first.
func (s *Storage) Kill() error {
	if s.mount == nil {
		return nil
	}
	// The mount runs in its own process group (mountTierfs): kill every
	// process of it.
	if err := syscall.Kill(-s.mount.Process.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill tierfs mount: %w", err)
	}
	<-s.exited
	s.mount = nil
	return unmount(s.Root)
}

// WipeTmpfs replaces the tmpfs with an empty one, as a reboot would. The
// storage must be stopped.
func (s *Storage) WipeTmpfs(ctx context.Context) error {
	if s.mount != nil {
		return errors.New("wipe tmpfs: storage still mounted")
	}
	if err := s.Tiers.unmountTmpfs(); err != nil {
		return err
	}
	s.tmpfsUp = false
	if err := s.Tiers.mountTmpfs(ctx); err != nil {
		return err
	}
	s.tmpfsUp = true
	return nil
}

// Log returns what the tierfs mount wrote to stderr.
func (s *Storage) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// Close unmounts everything and removes a temporary Dir.
func (s *Storage) Close() error {
	errs := []error{s.Stop()}
	if s.tmpfsUp {
		errs = append(errs, s.Tiers.unmountTmpfs())
		s.tmpfsUp = false
	}
	if s.tempDir {
		errs = append(errs, os.RemoveAll(s.dir))
		s.tempDir = false
	}
	return errors.Join(errs...)
}

// IsMounted reports whether a filesystem of type fstype is mounted on dir,
// according to /proc/self/mountinfo.
func IsMounted(dir, fstype string) (bool, error) {
	ms, err := mountinfo.Read()
	if err != nil {
		return false, fmt.Errorf("read mountinfo: %w", err)
	}
	for _, m := range ms {
		if m.MountPoint == dir && m.FSType == fstype {
			return true, nil
		}
	}
	return false, nil
}

func sleepShort() { time.Sleep(100 * time.Millisecond) }
