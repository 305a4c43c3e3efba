// Package integration mounts real tierfs filesystems over real tier
// directories (one of them a real tmpfs) and checks, with real syscalls from
// real processes, every guarantee Dovecot needs from its mail filesystem.
//
// The tests need root and /dev/fuse. Without them they skip, unless
// TIERFS_REQUIRE_INTEGRATION=1 is set (as in CI), which turns a missing
// prerequisite into a failure.
package integration

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/benchmarks/slowfs"
	"github.com/tierfs/tierfs/internal/mountinfo"
)

// env names the tests read.
const (
	envRequire  = "TIERFS_REQUIRE_INTEGRATION" // "1": a missing prerequisite fails instead of skipping
	envBinary   = "TIERFS_TEST_BINARY"         // set by TestMain: the tierfs binary under test
	envBuildErr = "TIERFS_TEST_BUILD_ERROR"    // set by TestMain when building tierfs failed
	envHelper   = "TIERFS_TEST_HELPER"         // role of a re-executed test binary (see helper_test.go)
	envMountOpt = "TIERFS_TEST_MOUNT_OPTIONS"  // -o options for every tierfs mount (CI: transport=io_uring)
)

// mountWait bounds how long a mount may take to appear or a daemon to exit.
const mountWait = 20 * time.Second

// TestMain builds cmd/tierfs once into a temporary directory and hands its
// path to the tests through the environment, so no test depends on a
// binary left lying around by someone else.
func TestMain(m *testing.M) {
	if os.Getenv(envHelper) != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "tierfs-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	bin := filepath.Join(dir, "tierfs")
	if msg := buildTierfs(bin); msg != "" {
		os.Setenv(envBuildErr, msg)
	} else {
		os.Setenv(envBinary, bin)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildTierfs runs go build for ./cmd/tierfs and returns the build's output
// on failure. The daemon is built with -race when the tests are, so a data
// race in the FUSE handlers shows up in its log (and fails the test).
func buildTierfs(bin string) string {
	args := []string{"build", "-o", bin}
	if raceEnabled && os.Getenv("TIERFS_DAEMON_RACE") != "0" {
		args = append(args, "-race")
	}
	args = append(args, "github.com/tierfs/tierfs/cmd/tierfs")
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go build ./cmd/tierfs: %v\n%s", err, out)
	}
	return ""
}

// requireIntegration skips (or, under TIERFS_REQUIRE_INTEGRATION=1, fails)
// a test that needs root and /dev/fuse when they are missing.
func requireIntegration(t testing.TB) {
	t.Helper()
	missing := ""
	switch {
	case os.Geteuid() != 0:
		missing = "root"
	case !fileExists("/dev/fuse"):
		missing = "/dev/fuse"
	}
	if missing == "" {
		return
	}
	if os.Getenv(envRequire) == "1" {
		t.Fatalf("%s is required (%s=1)", missing, envRequire)
	}
	t.Skipf("needs %s; set %s=1 to make this a failure", missing, envRequire)
}

// tierfsBinary returns the binary TestMain built, failing the test with the
// compiler's output when the build failed.
func tierfsBinary(t testing.TB) string {
	t.Helper()
	if msg := os.Getenv(envBuildErr); msg != "" {
		t.Fatal(msg)
	}
	bin := os.Getenv(envBinary)
	if bin == "" {
		t.Fatal("tierfs binary not built (TestMain did not run?)")
	}
	return bin
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// tierSpec is one tier of a test configuration. The harness chooses its path
// unless Path is set.
type tierSpec struct {
	Name    string
	Kind    string // tmpfs | local | nfs
	Path    string
	Backing string // "" (tmpfs for tmpfs tiers, else a plain directory), "tmpfs" (a tmpfs of its own), "ext4" (a loop-mounted image), "ext4-nobtime" (one whose inodes have no room for a birth time) or "nfs" (see mountNFS)
	// TmpfsOpts, if set, are the options of the tier's tmpfs instead of
	// the default size=64m (e.g. "size=4m,nr_inodes=64").
	TmpfsOpts string
	MinFree   string // min_free, if set
	// ClockOffset is how far the emulated NFS server's clock (Backing
	// "nfs") is ahead of this host's.
	ClockOffset time.Duration
}

// ruleSpec is one placement rule.
type ruleSpec struct {
	Match string
	Tier  string
}

// fsConfig is a tierfs configuration in test form; toml renders it.
type fsConfig struct {
	Tiers []tierSpec
	Rules []ruleSpec
	// DemoteTo gives the rules whose match is a key the demote_to tier
	// of its value.
	DemoteTo map[string]string
	Extra    string // raw TOML appended at the end (e.g. a [kernel] table)
}

// defaultConfig is the three-tier layout most tests use:
//
//	volatile/**      → tmp  (tmpfs)
//	index/**         → fast
//	mail/**/cur/**   → slow
//	span/**/*.tmp    → tmp   (so one directory can hold entries on all tiers)
//	span/**/*.slow   → slow
//	**               → fast
func defaultConfig() fsConfig {
	return fsConfig{
		Tiers: []tierSpec{
			{Name: "tmp", Kind: "tmpfs"},
			{Name: "fast", Kind: "local"},
			{Name: "slow", Kind: "local"},
		},
		Rules: []ruleSpec{
			{"volatile/**", "tmp"},
			{"index/**", "fast"},
			{"mail/**/cur/**", "slow"},
			{"span/**/*.tmp", "tmp"},
			{"span/**/*.slow", "slow"},
			{"**", "fast"},
		},
	}
}

// toml renders the configuration as tierfs reads it.
func (c fsConfig) toml() string {
	var b strings.Builder
	for _, tr := range c.Tiers {
		fmt.Fprintf(&b, "[[tier]]\nname = %s\npath = %s\nkind = %s\n",
			strconv.Quote(tr.Name), strconv.Quote(tr.Path), strconv.Quote(tr.Kind))
		if tr.MinFree != "" {
			fmt.Fprintf(&b, "min_free = %s\n", strconv.Quote(tr.MinFree))
		}
		b.WriteString("\n")
	}
	for _, r := range c.Rules {
		fmt.Fprintf(&b, "[[rule]]\nmatch = %s\ntier = %s\n", strconv.Quote(r.Match), strconv.Quote(r.Tier))
		if d := c.DemoteTo[r.Match]; d != "" {
			fmt.Fprintf(&b, "demote_to = %s\n", strconv.Quote(d))
		}
		b.WriteString("\n")
	}
	b.WriteString(c.Extra)
	return b.String()
}

// fixture is one tierfs instance under test: its tier directories, its
// configuration, its mount point and (while mounted) its daemon.
type fixture struct {
	bin      string
	base     string            // temporary directory holding everything
	cfgPath  string            // the TOML file
	stateDir string            // --state-dir
	mnt      string            // mount point
	tiers    map[string]string // tier name → backing directory
	order    []string          // tier names in configuration order
	mounts   []string          // tmpfs and ext4 mounts the harness made (unmounted at cleanup)
	opts     []string          // -o options of the mount
	d        *daemon           // the running daemon, nil when not mounted
}

// mountTierfs prepares tiers for cfg, runs tierfs init and mounts tierfs;
// everything is undone at the end of the test.
func mountTierfs(t testing.TB, cfg fsConfig) *fixture {
	t.Helper()
	f := newFixture(t, cfg)
	f.mount(t)
	return f
}

// newFixture makes the tier directories (a fresh tmpfs for every tmpfs tier,
// since tierfs checks the kind), writes the configuration and runs
// tierfs init. It does not mount.
func newFixture(t testing.TB, cfg fsConfig) *fixture {
	t.Helper()
	f := prepareFixture(t, &cfg)
	f.writeConfig(t, cfg.toml())
	if out, err := f.run("init", "--config", f.cfgPath, "--state-dir", f.stateDir); err != nil {
		t.Fatalf("tierfs init: %v\n%s\nconfig:\n%s", err, out, cfg.toml())
	}
	return f
}

// prepareFixture makes the mount point, the state directory and the tier
// directories of cfg (filling in their paths), without config or init.
func prepareFixture(t testing.TB, cfg *fsConfig) *fixture {
	t.Helper()
	requireIntegration(t)
	f := &fixture{bin: tierfsBinary(t), base: t.TempDir(), tiers: map[string]string{}}
	if o := os.Getenv(envMountOpt); o != "" {
		f.opts = strings.Split(o, ",")
	}
	f.cfgPath = filepath.Join(f.base, "tierfs.toml")
	f.stateDir = filepath.Join(f.base, "state")
	f.mnt = filepath.Join(f.base, "mnt")
	for _, d := range []string{f.stateDir, f.mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Registered before any mount is made, so it runs after the
	// unmount cleanups (cleanups run last-in first-out).
	t.Cleanup(func() { f.cleanup(t) })
	for i, tr := range cfg.Tiers {
		if tr.Path == "" {
			tr.Path = filepath.Join(f.base, "tier-"+tr.Name)
			if err := os.Mkdir(tr.Path, 0o755); err != nil {
				t.Fatal(err)
			}
			switch {
			case tr.Backing == "ext4", tr.Backing == "ext4-nobtime":
				f.mountExt4(t, tr.Path, tr.Backing == "ext4-nobtime")
			case tr.Backing == "nfs":
				f.mountNFS(t, tr.Path, tr.ClockOffset)
			case tr.Kind == "tmpfs", tr.Backing == "tmpfs":
				f.mountTmpfsOpts(t, tr.Path, cmp.Or(tr.TmpfsOpts, "size=64m"))
			}
		}
		cfg.Tiers[i] = tr
		f.tiers[tr.Name] = tr.Path
		f.order = append(f.order, tr.Name)
	}
	return f
}

// writeConfig writes the configuration file.
func (f *fixture) writeConfig(t testing.TB, text string) {
	t.Helper()
	if err := os.WriteFile(f.cfgPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mountTmpfs mounts a small tmpfs on dir.
func (f *fixture) mountTmpfs(t testing.TB, dir string) {
	t.Helper()
	f.mountTmpfsOpts(t, dir, "size=64m")
}

// mountTmpfsOpts mounts a tmpfs with options opts on dir.
func (f *fixture) mountTmpfsOpts(t testing.TB, dir, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts+",mode=0755", "tierfs-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v\n%s", dir, err, out)
	}
	f.mounts = append(f.mounts, dir)
}

// mountExt4 loop-mounts a fresh 64 MiB ext4 image on dir, for tests that
// need a tier on a filesystem of its own.
func (f *fixture) mountExt4(t testing.TB, dir string, noBtime bool) {
	t.Helper()
	img := dir + ".img"
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	args := []string{"-q", "-F", img}
	if noBtime {
		args = append(args, "-I", "128") // no room for the birth time
	}
	if out, err := exec.Command("mkfs.ext4", args...).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -o loop %s: %v\n%s", img, err, out)
	}
	f.mounts = append(f.mounts, dir)
}

// mountNFS mounts the benchmarks' NFS emulation (slowfs, served by this
// process, without delays) on dir, over a directory beside it: a tier
// that, like one on a Linux NFS client, holds user.* extended attributes
// only, and whose server's clock is clockOffset ahead.
func (f *fixture) mountNFS(t testing.TB, dir string, clockOffset time.Duration) {
	t.Helper()
	backing := dir + ".backing"
	if err := os.Mkdir(backing, 0o755); err != nil {
		t.Fatal(err)
	}
	o := slowfs.DefaultOptions()
	o.Delay, o.FsyncDelay, o.UserXattrsOnly, o.ClockOffset = 0, 0, true, clockOffset
	if _, err := slowfs.Mount(backing, dir, o); err != nil {
		t.Fatal(err)
	}
	f.mounts = append(f.mounts, dir)
}

// cleanup unmounts tierfs (if still mounted) and the harness's tmpfs mounts.
func (f *fixture) cleanup(t testing.TB) {
	if f.d != nil {
		f.unmount(t)
	}
	for _, dir := range slices.Backward(f.mounts) {
		unmountPath(t, dir)
	}
}

// run runs the tierfs binary to completion and returns its combined output.
func (f *fixture) run(args ...string) (string, error) {
	cmd := exec.Command(f.bin, args...)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// path is the absolute path of rel inside the mount.
func (f *fixture) path(rel string) string { return filepath.Join(f.mnt, rel) }

// tierPath is the absolute path of rel inside the named tier's directory.
func (f *fixture) tierPath(tier, rel string) string {
	dir, ok := f.tiers[tier]
	if !ok {
		panic("no tier " + tier)
	}
	return filepath.Join(dir, rel)
}

// tiersHolding lists, in configuration order, the tiers whose own
// directory holds rel (checked with lstat, not through tierfs).
func (f *fixture) tiersHolding(rel string) []string {
	var out []string
	for _, name := range f.order {
		if fileExists(f.tierPath(name, rel)) {
			out = append(out, name)
		}
	}
	return out
}

// requireOnTier fails unless rel is held by exactly the named tier.
func (f *fixture) requireOnTier(t testing.TB, rel, tier string) {
	t.Helper()
	got := f.tiersHolding(rel)
	if len(got) != 1 || got[0] != tier {
		t.Fatalf("%s: held by tiers %v, want only [%s]", rel, got, tier)
	}
}

// mkdirAll creates rel (and its parents) through the mount and returns its
// absolute path.
func (f *fixture) mkdirAll(t testing.TB, rel string) string {
	t.Helper()
	p := f.path(rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatalf("mkdir -p %s through tierfs: %v", rel, err)
	}
	return p
}

// writeFile writes a file through the mount.
func (f *fixture) writeFile(t testing.TB, rel, content string) {
	t.Helper()
	if err := os.WriteFile(f.path(rel), []byte(content), 0o644); err != nil {
		t.Fatalf("write %s through tierfs: %v", rel, err)
	}
}

// mount starts `tierfs mount --foreground` with extra environment variables
// and waits until the kernel lists the mount.
func (f *fixture) mount(t testing.TB, env ...string) {
	t.Helper()
	if f.d != nil {
		t.Fatal("mount: already mounted")
	}
	args := []string{"mount", "--foreground", "--config", f.cfgPath, "--state-dir", f.stateDir}
	if len(f.opts) > 0 {
		args = append(args, "-o", strings.Join(f.opts, ","))
	}
	d, err := startDaemon(f.bin, env, append(args, f.mnt)...)
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	deadline := time.Now().Add(mountWait)
	for !isTierfsMount(f.mnt) {
		if d.exited() {
			f.d = nil
			t.Fatalf("tierfs mount exited before the mount appeared: %v\n%s", d.waitErr, d.log())
		}
		if time.Now().After(deadline) {
			t.Fatalf("fuse.tierfs did not appear on %s within %v\n%s", f.mnt, mountWait, d.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitMountedLog(d)
}

// waitMountedLog waits briefly for the daemon to log that the mount is up.
// The kernel lists the mount before go-fuse has finished its start-up
// (its poll probe opens a file on the mount); a daemon killed in that
// window never dies completely. Only a hint: a log without the line does
// not fail the test.
func waitMountedLog(d *daemon) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(d.log(), "msg=mounted") && !d.exited() {
		time.Sleep(10 * time.Millisecond)
	}
}

// unmount unmounts tierfs and waits for its daemon; a daemon that does not
// exit is killed. A data race or panic in the daemon's log fails the test.
func (f *fixture) unmount(t testing.TB) {
	t.Helper()
	d := f.d
	if d == nil {
		return
	}
	f.d = nil
	unmountPath(t, f.mnt)
	if !d.wait(mountWait) {
		t.Errorf("tierfs daemon did not exit within %v of unmount; killing it", mountWait)
		d.kill()
	}
	checkDaemonLog(t, d)
}

// checkDaemonLog fails the test for a data race or panic in a daemon's log
// and shows the log when the test failed for another reason.
func checkDaemonLog(t testing.TB, d *daemon) {
	t.Helper()
	log := d.log()
	switch {
	case strings.Contains(log, "WARNING: DATA RACE"):
		t.Errorf("data race in the tierfs daemon:\n%s", log)
	case strings.Contains(log, "panic:"):
		t.Errorf("the tierfs daemon panicked:\n%s", log)
	case t.Failed():
		t.Logf("tierfs daemon log:\n%s", log)
	}
}

// unmountPath unmounts whatever is mounted on p: umount, then, if that
// fails or hangs (a FUSE daemon that died with a request in flight leaves
// its connection open), abort the FUSE connection and detach lazily.
func unmountPath(t testing.TB, p string) {
	t.Helper()
	if !isMountPoint(p) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "umount", p).CombinedOutput()
	if err == nil || !isMountPoint(p) {
		return
	}
	t.Logf("umount %s: %v %s; aborting FUSE and detaching", p, err, out)
	if m, ok := mountAt(p); ok && strings.HasPrefix(m.fstype, "fuse") {
		if err := abortFuse(m); err != nil {
			t.Logf("abort FUSE connection of %s: %v", p, err)
		}
	}
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && isMountPoint(p) {
		t.Errorf("umount -l %s: %v", p, err)
	}
}

// fusectlDir is where the kernel's fusectl filesystem lists connections.
const fusectlDir = "/sys/fs/fuse/connections"

// abortFuse aborts the FUSE connection of m through fusectl (mounting
// fusectl if needed), which fails every pending and future request.
func abortFuse(m mountEntry) error {
	_, minor, ok := strings.Cut(m.dev, ":")
	if !ok {
		return fmt.Errorf("bad device %q", m.dev)
	}
	if _, mounted := mountAt(fusectlDir); !mounted {
		if out, err := exec.Command("mount", "-t", "fusectl", "fusectl", fusectlDir).CombinedOutput(); err != nil {
			return fmt.Errorf("mount fusectl: %v %s", err, out)
		}
	}
	return os.WriteFile(filepath.Join(fusectlDir, minor, "abort"), []byte("1"), 0)
}

// mountEntry is one line of /proc/self/mountinfo: mount point, device
// (major:minor), type, source and the superblock's options.
type mountEntry struct {
	point, dev, fstype, source, options string
}

// mounts parses /proc/self/mountinfo.
func mounts() []mountEntry {
	ms, err := mountinfo.Read()
	if err != nil {
		return nil
	}
	var out []mountEntry
	for _, m := range ms {
		out = append(out, mountEntry{point: m.MountPoint, dev: m.Dev, fstype: m.FSType, source: m.Source, options: m.SuperOptions})
	}
	return out
}

func isMountPoint(p string) bool {
	_, ok := mountAt(p)
	return ok
}

// mountAt returns the topmost mount on p.
func mountAt(p string) (mountEntry, bool) {
	var found mountEntry
	ok := false
	for _, m := range mounts() {
		if m.point == p {
			found, ok = m, true
		}
	}
	return found, ok
}

func isTierfsMount(p string) bool {
	for _, m := range mounts() {
		if m.point == p && m.fstype == "fuse.tierfs" {
			return true
		}
	}
	return false
}

// childEnv is the environment for processes the tests start: ours, with
// the race detector's default one-second sleep at exit turned off (it
// would add a second to every unmount and helper).
func childEnv() []string {
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	return append(os.Environ(), "GORACE="+gorace)
}

// daemon is a running tierfs process and its captured stderr+stdout.
type daemon struct {
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	mu      sync.Mutex
	buf     bytes.Buffer
}

// startDaemon starts bin with args and extra env; its output is captured.
func startDaemon(bin string, env []string, args ...string) (*daemon, error) {
	d := &daemon{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	d.cmd.Env = append(childEnv(), env...)
	d.cmd.Stdout = lockedWriter{&d.mu, &d.buf}
	d.cmd.Stderr = lockedWriter{&d.mu, &d.buf}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buf.String()
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the process to exit and reports whether it did.
func (d *daemon) wait(timeout time.Duration) bool {
	select {
	case <-d.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (d *daemon) kill() {
	d.cmd.Process.Kill()
	<-d.done
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// target is a directory a check runs in: a plain native directory for
// sanity, or a directory inside a tierfs mount on a given tier.
type target struct {
	name string
	dir  string
	fx   *fixture // nil for native
	rel  string   // dir relative to the mount
	tier string   // tier new plain-named files in dir land on
}

// tierDir is a directory, relative to the mount, that checks run in
// through tierfs, and the tier new files in it land on.
type tierDir struct{ name, rel, tier string }

// tierDirs lists one directory per tier and one that spans all tiers; each
// check makes its own directory inside.
func tierDirs() []tierDir {
	return []tierDir{
		{"tmp", "volatile/t", "tmp"},
		{"fast", "index/t", "fast"},
		{"slow", "mail/u/cur", "slow"},
		{"spanning", "span", "fast"}, // entries on all three tiers
	}
}

// onTargets runs check on a native directory first, then inside one tierfs
// mount in a directory on each tier and in one that spans all tiers, so a
// failure tells whether the test or tierfs is wrong.
func onTargets(t *testing.T, check func(t *testing.T, tg target)) {
	t.Helper()
	t.Run("native", func(t *testing.T) {
		check(t, target{name: "native", dir: t.TempDir()})
	})
	requireIntegration(t)
	fx := mountTierfs(t, defaultConfig())
	for i, td := range tierDirs() {
		t.Run("tierfs-"+td.name, func(t *testing.T) {
			rel := fmt.Sprintf("%s/c%d", td.rel, i)
			fx.mkdirAll(t, rel)
			if td.name == "spanning" {
				seedSpanning(t, fx, rel)
			}
			check(t, target{name: td.name, dir: fx.path(rel), fx: fx, rel: rel, tier: td.tier})
		})
	}
}

// seedSpanning puts one file on each tier into rel (a span/ directory) and
// checks the premise: the directory now exists on all three tiers.
func seedSpanning(t testing.TB, fx *fixture, rel string) {
	t.Helper()
	for _, name := range []string{"seed.tmp", "seed", "seed.slow"} {
		fx.writeFile(t, rel+"/"+name, name)
	}
	if got := fx.tiersHolding(rel); len(got) != 3 {
		t.Fatalf("premise: %s should exist on all three tiers after seeding, is on %v", rel, got)
	}
}

// errnoOf extracts the errno from err (0 when err is nil, -1 when err
// carries none), for messages that name the errno.
func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return ^unix.Errno(0)
}

// errName renders an error as its errno name when it has one.
func errName(err error) string {
	switch e := errnoOf(err); e {
	case 0:
		return "ok"
	case ^unix.Errno(0):
		return err.Error()
	default:
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
		return e.Error()
	}
}

// readLines returns a channel fed with the lines of r.
func readLines(r io.Reader) <-chan string {
	ch := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()
	return ch
}
