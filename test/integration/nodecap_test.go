package integration

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Node cap test parameters: far more files than the cap, in directories
// of a thousand, on the fast tier (tier index 1).
const (
	capNodes    = 2000
	capFiles    = 20000
	capDirs     = 20
	capFastTier = 1
	// capSlack is how far the count may run over the cap while files
	// are being looked up as fast as one process can: the pruner runs
	// on its own goroutine and catches up within a pass.
	capSlack = capNodes / 2
)

// capLateDir is the directory a process enters halfway through the
// lookups, relative to the mount.
const capLateDir = "index/late/cwd"

// capFile is file i of the node cap test, relative to the mount.
func capFile(i int) string {
	return fmt.Sprintf("index/mem/d%02d/f%05d", i/(capFiles/capDirs), i)
}

// capContent is what file i holds; lengths differ so a mix-up shows.
func capContent(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("file %d\n", i)), 1+i%7)
}

// With [cache] max_nodes set, the daemon keeps no more nodes than the
// cap however many files are looked up: the pruner has the kernel drop
// the least recently used entries, the kernel forgets their inodes, and
// go-fuse frees the nodes. Pruning loses nothing: inode numbers and
// contents are the same afterwards, and an open file is left alone. On
// Linux 6.17+ the kernel is asked with FUSE_NOTIFY_PRUNE, which leaves
// any directory in use as a working directory alone, even one entered
// while pruning is under way.
func TestNodeCapBoundsLiveNodes(t *testing.T) {
	cfg := defaultConfig()
	cfg.Tiers[capFastTier].Path = tmpfsDir(t) // 20,000 creations on ext4 take seconds
	cfg.Extra = fmt.Sprintf("[cache]\nmax_nodes = %d\n", capNodes)
	f := newFixture(t, cfg)
	for i := range capFiles {
		p := f.tierPath("fast", capFile(i))
		if i%(capFiles/capDirs) == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(p, capContent(i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(f.tierPath("fast", capLateDir), 0o755); err != nil {
		t.Fatal(err)
	}
	f.mount(t)

	// The first file stays open through everything below, and another
	// process works in the second file's directory.
	held, err := os.OpenFile(f.path(capFile(0)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cwd := filepath.Dir(f.path(capFile(capFiles / capDirs)))
	worker := exec.Command("sleep", "600")
	worker.Dir = cwd
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { worker.Process.Kill(); worker.Wait() }()

	// Halfway through the lookups, with pruning under way, another
	// process enters a directory nothing else uses: its node is
	// eligible for pruning from then on.
	var late *cwdWatch
	defer func() {
		if late != nil {
			late.stop()
		}
	}()
	inos, peak := statAllSampling(t, f, func() { late = watchCwd(t, f.path(capLateDir)) })
	t.Logf("peak of %d live nodes while %d files were looked up (cap %d)", peak, capFiles, capNodes)
	if peak > capNodes+capSlack {
		t.Errorf("%d live nodes while looking up, more than the cap %d + %d", peak, capNodes, capSlack)
	}
	st := waitNodesSettle(t, f)
	t.Logf("settled: %+v, FORGET requests %d", st.Nodes, st.Requests["FORGET"])
	if st.Nodes.Max != capNodes || st.Nodes.Pruned == 0 || st.Requests["FORGET"] < st.Nodes.Forgotten {
		t.Errorf("status nodes %+v, FORGET requests %d: want max %d, some pruned, a FORGET for each forgotten node",
			st.Nodes, st.Requests["FORGET"], capNodes)
	}
	byPrune := kernelAtLeast(t, 6, 17)
	method, line := "inval_entry", "pruned by entry invalidation"
	if byPrune {
		method, line = "prune", "pruned by FUSE_NOTIFY_PRUNE"
	}
	if st.Nodes.Method != method {
		t.Errorf("status nodes method %q, want %q on Linux %s", st.Nodes.Method, method, kernelRelease(t))
	}
	if out, err := exec.Command(f.bin, "status", f.mnt).Output(); err != nil || !strings.Contains(string(out), line) {
		t.Errorf("tierfs status (%v): want the nodes line to say %q on Linux %s:\n%s", err, line, kernelRelease(t), out)
	}

	// Every file is still itself: same inode number (which is the
	// backing one with the tier in the top byte), same content.
	lookups := st.Requests["LOOKUP"]
	if err := checkAll(f, inos); err != nil {
		t.Fatal(err)
	}
	// Most of them had to be looked up again: their nodes were gone.
	st = opsStatusJSON(t, f.bin, f.mnt)
	if again := st.Requests["LOOKUP"] - lookups; again < capFiles-2*capNodes {
		t.Errorf("%d LOOKUPs for %d files after pruning; want at least %d (the kernel kept the rest)", again, capFiles, capFiles-2*capNodes)
	}
	st = waitNodesSettle(t, f)

	// The working directory kept its name too (getcwd() fails in a
	// directory whose entry was dropped), although every file in it was
	// pruned and it was unused.
	if link, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", worker.Process.Pid)); err != nil || link != cwd {
		t.Errorf("a process's working directory links to %q (%v), want %q: its entry was dropped", link, err, cwd)
	}
	// So did the one entered halfway, which the scan of /proc that
	// entry invalidation relies on can miss: only the kernel knows.
	if wd, bad := late.stop(); !byPrune {
		t.Logf("Linux %s has no FUSE_NOTIFY_PRUNE: getcwd() in a directory entered while pruning gave %q (%s)", kernelRelease(t), wd, bad)
	} else if bad != "" || wd != f.path(capLateDir) {
		t.Errorf("a process that entered %s while pruning: /proc/PID/cwd %s; pwd -P at the end %q", f.path(capLateDir), cmp.Or(bad, "right throughout"), wd)
	}

	// The open file kept its name: the kernel would show a dropped
	// entry of an open file as deleted (in /proc, lsof, tierfs's stop
	// log). And it kept working: one inode, and writes through the
	// descriptor show through its path.
	if link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", held.Fd())); err != nil || link != f.path(capFile(0)) {
		t.Errorf("the open file's descriptor links to %q (%v), want %q: its entry was dropped", link, err, f.path(capFile(0)))
	}
	var fst unix.Stat_t
	if err := unix.Fstat(int(held.Fd()), &fst); err != nil {
		t.Fatal(err)
	}
	if fresh := lstat(t, f.path(capFile(0))).Ino; fst.Ino != inos[0] || fresh != inos[0] {
		t.Errorf("open file: fstat st_ino %#x, stat by path %#x, before pruning %#x", fst.Ino, fresh, inos[0])
	}
	msg := []byte("written through the descriptor held across pruning\n")
	if _, err := held.WriteAt(msg, 0); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(f.path(capFile(0))); err != nil || !bytes.HasPrefix(data, msg) {
		t.Errorf("open file by path after a write through its descriptor: %q, %v; want it to start with %q", data, err, msg)
	}
}

// tmpfsDir mounts a tmpfs large enough for the test's files (each takes
// a page) and unmounts it at the end of the test.
func tmpfsDir(t *testing.T) string {
	t.Helper()
	requireIntegration(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256m,mode=0755", "tierfs-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v\n%s", dir, err, out)
	}
	t.Cleanup(func() { unmountPath(t, dir) })
	return dir
}

// statAllSampling stats every test file through the mount, checking each
// inode number against the backing file's, while a second goroutine
// samples the live node count. It calls halfway after half the files.
// It returns the inode numbers and the highest count seen.
func statAllSampling(t *testing.T, f *fixture, halfway func()) ([]uint64, int64) {
	t.Helper()
	done := make(chan struct{})
	var peak int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			peak = max(peak, opsStatusJSON(t, f.bin, f.mnt).Nodes.Live)
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	inos := make([]uint64, capFiles)
	for i := range capFiles {
		if i == capFiles/2 {
			halfway()
		}
		inos[i] = lstat(t, f.path(capFile(i))).Ino
		backing := lstat(t, f.tierPath("fast", capFile(i))).Ino
		if want := uint64(capFastTier+1)<<56 | backing; inos[i] != want {
			close(done)
			wg.Wait()
			t.Fatalf("%s: st_ino %#x, want %#x (fast tier, backing inode %d)", capFile(i), inos[i], want, backing)
		}
	}
	close(done)
	wg.Wait()
	return inos, peak
}

// checkAll stats and reads every test file through the mount, four at a
// time, and returns the first that is not as it was: its inode number
// as in inos, its content as written.
func checkAll(f *fixture, inos []uint64) error {
	const workers = 4
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < capFiles && errs[w] == nil; i += workers {
				errs[w] = checkFile(f.path(capFile(i)), inos[i], capContent(i))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func checkFile(p string, ino uint64, content []byte) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil || st.Ino != ino {
		return fmt.Errorf("%s after pruning: st_ino %#x (%v), %#x before", p, st.Ino, err, ino)
	}
	data, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(data, content) {
		return fmt.Errorf("%s after pruning: %q, %v; want %q", p, data, err, content)
	}
	return nil
}

// waitNodesSettle waits until the pruner has brought the count within
// the cap and every node it had dropped was forgotten.
func waitNodesSettle(t *testing.T, f *fixture) opsStatus {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := opsStatusJSON(t, f.bin, f.mnt)
		n := st.Nodes
		if n.Live <= capNodes && n.Forgotten >= n.Pruned {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("5s after the lookups: %+v; want at most %d live and every pruned node forgotten", n, capNodes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cwdWatch is a shell working in a directory, whose working directory
// a goroutine reads from /proc every few milliseconds.
type cwdWatch struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	quit  chan struct{}
	wg    sync.WaitGroup
	bad   string // the first wrong /proc/PID/cwd
	wd    string // what pwd -P printed at the end
	done  bool
}

// watchCwd starts a shell that enters dir (a LOOKUP per component, then
// nothing: the kernel holds the directory, FUSE does not hear of it)
// and waits; stop has it print its working directory.
func watchCwd(t *testing.T, dir string) *cwdWatch {
	t.Helper()
	w := &cwdWatch{cmd: exec.Command("sh", "-c", `cd "$1" && echo in && read x && pwd -P`, "sh", dir), quit: make(chan struct{})}
	var err error
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.cmd.Stderr = w.cmd.Stdout
	w.out = bufio.NewReader(stdout)
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := w.out.ReadString('\n'); err != nil || line != "in\n" {
		w.cmd.Process.Kill()
		w.cmd.Wait()
		t.Fatalf("sh -c 'cd %s': %q, %v", dir, line, err)
	}
	proc := fmt.Sprintf("/proc/%d/cwd", w.cmd.Process.Pid)
	w.wg.Go(func() {
		for {
			if link, err := os.Readlink(proc); err != nil || link != dir {
				w.bad = fmt.Sprintf("%q (%v)", link, err)
				return
			}
			select {
			case <-w.quit:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return w
}

// stop has the shell print its working directory (getcwd()) and exit,
// and returns what it printed and the first wrong /proc/PID/cwd seen
// ("" if none).
func (w *cwdWatch) stop() (wd, bad string) {
	if w.done {
		return w.wd, w.bad
	}
	w.done = true
	close(w.quit)
	w.wg.Wait()
	w.stdin.Write([]byte("\n"))
	w.stdin.Close()
	rest, _ := io.ReadAll(w.out)
	w.cmd.Wait()
	w.wd = strings.TrimSpace(string(rest))
	return w.wd, w.bad
}

// kernelRelease is uname -r.
func kernelRelease(t *testing.T) string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Release[:])
}

// kernelAtLeast reports whether the running kernel is Linux major.minor
// or later.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(kernelRelease(t), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", kernelRelease(t), err)
	}
	return ma > major || ma == major && mi >= minor
}
