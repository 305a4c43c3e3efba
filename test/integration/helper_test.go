package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Multi-process guarantees (locks, O_EXCL races, mmap coherence) need real
// separate processes. The test binary re-executes itself as a helper
// (TestHelperProcess with TIERFS_TEST_HELPER=shell) that reads one command a
// line from stdin and answers one line on stdout; see helperCommands for the
// command set. Answers are "ok", "ok VALUE" or an errno name like "EAGAIN".

// helperWait bounds how long the parent waits for one helper answer.
const helperWait = 15 * time.Second

// TestHelperProcess is not a test: it is the body of a helper process.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) != "shell" {
		t.Skip("helper process body; runs only when re-executed by another test")
	}
	sh := &shell{fd: -1, out: bufio.NewWriter(os.Stdout)}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if fields[0] == "exit" {
			break
		}
		fmt.Fprintln(sh.out, sh.exec(fields))
		sh.out.Flush()
	}
	os.Exit(0)
}

// shell is the helper's state: one open file and at most one mapping.
type shell struct {
	fd  int
	mem []byte
	id  string
	out *bufio.Writer
}

// exec runs one command and returns its answer line. A command prefixed
// with "at UNIXNANO" starts at that wall-clock time, so that several
// helpers can start one together.
func (s *shell) exec(f []string) string {
	if f[0] == "at" && len(f) > 2 {
		at, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return err.Error()
		}
		waitUntil(time.Unix(0, at))
		f = f[2:]
	}
	cmd, ok := helperCommands()[f[0]]
	if !ok {
		return "unknown command " + f[0]
	}
	if len(f)-1 < cmd.args {
		return fmt.Sprintf("%s needs %d arguments", f[0], cmd.args)
	}
	return cmd.run(s, f[1:])
}

type helperCommand struct {
	args int
	run  func(s *shell, a []string) string
}

// helperCommands is the helper's command set.
func helperCommands() map[string]helperCommand {
	return map[string]helperCommand{
		"pid":    {0, func(s *shell, a []string) string { return fmt.Sprintf("ok %d", os.Getpid()) }},
		"id":     {1, func(s *shell, a []string) string { s.id = a[0]; return "ok" }},
		"open":   {2, (*shell).open},                                                          // open PATH FLAGS (rdonly,wronly,rdwr,creat,excl,append,trunc)
		"close":  {0, (*shell).close},                                                         // close the open file (releases this process's fcntl locks)
		"setlk":  {3, func(s *shell, a []string) string { return s.setlk(unix.F_SETLK, a) }},  // setlk r|w|u START LEN
		"setlkw": {3, func(s *shell, a []string) string { return s.setlk(unix.F_SETLKW, a) }}, // setlkw r|w|u START LEN
		"getlk":  {3, (*shell).getlk},                                                         // getlk r|w START LEN → "ok unlocked" | "ok w pid=N"
		"flock":  {1, (*shell).flock},                                                         // flock sh|ex|un|sh-nb|ex-nb
		"mmap":   {1, (*shell).mmap},                                                          // mmap LEN (PROT_READ, MAP_SHARED)
		"mread":  {2, (*shell).mread},                                                         // mread OFF LEN → "ok QUOTED"
		"pwrite": {2, (*shell).pwrite},                                                        // pwrite OFF DATA
		"excl":   {3, (*shell).excl},                                                          // excl DIR AT NAME... → "NAME=ok NAME=EEXIST ..."
		"writen": {2, (*shell).writen},                                                        // writen COUNT TAG: COUNT write(2)s of "TAG NNNNN\n"
	}
}

func (s *shell) open(a []string) string {
	flags := 0
	for _, fl := range strings.Split(a[1], ",") {
		v, ok := map[string]int{"rdonly": unix.O_RDONLY, "wronly": unix.O_WRONLY, "rdwr": unix.O_RDWR,
			"creat": unix.O_CREAT, "excl": unix.O_EXCL, "append": unix.O_APPEND, "trunc": unix.O_TRUNC}[fl]
		if !ok {
			return "bad flag " + fl
		}
		flags |= v
	}
	fd, err := unix.Open(a[0], flags|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return errName(err)
	}
	s.fd = fd
	return "ok"
}

func (s *shell) close(a []string) string {
	err := unix.Close(s.fd)
	s.fd = -1
	return errName(err)
}

func parseLock(a []string) (*unix.Flock_t, error) {
	typ, ok := map[string]int16{"r": unix.F_RDLCK, "w": unix.F_WRLCK, "u": unix.F_UNLCK}[a[0]]
	if !ok {
		return nil, fmt.Errorf("bad lock type %q", a[0])
	}
	start, err := strconv.ParseInt(a[1], 10, 64)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(a[2], 10, 64)
	if err != nil {
		return nil, err
	}
	return &unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: start, Len: n}, nil
}

func (s *shell) setlk(cmd int, a []string) string {
	lk, err := parseLock(a)
	if err != nil {
		return err.Error()
	}
	return errName(unix.FcntlFlock(uintptr(s.fd), cmd, lk))
}

func (s *shell) getlk(a []string) string {
	lk, err := parseLock(a)
	if err != nil {
		return err.Error()
	}
	if err := unix.FcntlFlock(uintptr(s.fd), unix.F_GETLK, lk); err != nil {
		return errName(err)
	}
	switch lk.Type {
	case unix.F_UNLCK:
		return "ok unlocked"
	case unix.F_WRLCK:
		return fmt.Sprintf("ok w pid=%d", lk.Pid)
	default:
		return fmt.Sprintf("ok r pid=%d", lk.Pid)
	}
}

func (s *shell) flock(a []string) string {
	how, ok := map[string]int{"sh": unix.LOCK_SH, "ex": unix.LOCK_EX, "un": unix.LOCK_UN,
		"sh-nb": unix.LOCK_SH | unix.LOCK_NB, "ex-nb": unix.LOCK_EX | unix.LOCK_NB}[a[0]]
	if !ok {
		return "bad flock op " + a[0]
	}
	return errName(unix.Flock(s.fd, how))
}

func (s *shell) mmap(a []string) string {
	n, err := strconv.Atoi(a[0])
	if err != nil {
		return err.Error()
	}
	s.mem, err = unix.Mmap(s.fd, 0, n, unix.PROT_READ, unix.MAP_SHARED)
	return errName(err)
}

func (s *shell) mread(a []string) string {
	off, err1 := strconv.Atoi(a[0])
	n, err2 := strconv.Atoi(a[1])
	if err1 != nil || err2 != nil || off+n > len(s.mem) {
		return "bad range"
	}
	return "ok " + strconv.Quote(string(s.mem[off:off+n]))
}

func (s *shell) pwrite(a []string) string {
	off, err := strconv.ParseInt(a[0], 10, 64)
	if err != nil {
		return err.Error()
	}
	_, err = unix.Pwrite(s.fd, []byte(a[1]), off)
	return errName(err)
}

// writen writes COUNT numbered records, one write(2) each.
func (s *shell) writen(a []string) string {
	n, err := strconv.Atoi(a[0])
	if err != nil {
		return err.Error()
	}
	for i := range n {
		rec := fmt.Sprintf("%s %05d\n", a[1], i)
		if w, err := unix.Write(s.fd, []byte(rec)); err != nil || w != len(rec) {
			return fmt.Sprintf("record %d: wrote %d: %s", i, w, errName(err))
		}
	}
	return "ok"
}

// excl waits until the wall clock reaches AT (Unix nanoseconds, so that
// several helpers start together), then tries O_CREAT|O_EXCL on every name
// in DIR and writes the helper's id into each file it wins.
func (s *shell) excl(a []string) string {
	at, err := strconv.ParseInt(a[1], 10, 64)
	if err != nil {
		return err.Error()
	}
	waitUntil(time.Unix(0, at))
	var res []string
	for _, name := range a[2:] {
		fd, err := unix.Open(a[0]+"/"+name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err == nil {
			_, err = unix.Write(fd, []byte(s.id))
			if cerr := unix.Close(fd); err == nil {
				err = cerr
			}
		}
		res = append(res, name+"="+errName(err))
	}
	return strings.Join(res, " ")
}

// waitUntil sleeps until shortly before t, then spins to start close to t.
func waitUntil(t time.Time) {
	time.Sleep(time.Until(t) - time.Millisecond)
	for time.Now().Before(t) {
	}
}

// helper is the parent's handle on one helper process.
type helper struct {
	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines <-chan string
	mu    sync.Mutex
	errb  bytes.Buffer
	done  chan struct{}
}

// startHelper re-executes the test binary as a helper process; it is
// stopped at the end of the test.
func startHelper(t testing.TB) *helper {
	t.Helper()
	h := &helper{t: t, done: make(chan struct{})}
	h.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	h.cmd.Env = append(childEnv(), envHelper+"=shell")
	h.cmd.Stderr = lockedWriter{&h.mu, &h.errb}
	var err error
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.lines = readLines(stdout)
	go func() { h.cmd.Wait(); close(h.done) }()
	t.Cleanup(h.stop)
	return h
}

// send writes one command without waiting for the answer.
func (h *helper) send(line string) {
	h.t.Helper()
	if _, err := io.WriteString(h.stdin, line+"\n"); err != nil {
		h.t.Fatalf("helper %d: send %q: %v", h.cmd.Process.Pid, line, err)
	}
}

// answer waits for the next answer line.
func (h *helper) answer(what string) string {
	h.t.Helper()
	line, ok := h.tryAnswer(helperWait)
	if !ok {
		h.t.Fatalf("helper %d: no answer to %q within %v; stderr:\n%s", h.cmd.Process.Pid, what, helperWait, h.stderr())
	}
	return line
}

// tryAnswer waits up to d for an answer line.
func (h *helper) tryAnswer(d time.Duration) (string, bool) {
	select {
	case line, ok := <-h.lines:
		return line, ok
	case <-time.After(d):
		return "", false
	}
}

// do sends a command and returns its answer.
func (h *helper) do(line string) string {
	h.t.Helper()
	h.send(line)
	return h.answer(line)
}

// must sends a command and fails the test unless the answer is want.
func (h *helper) must(line, want string) {
	h.t.Helper()
	if got := h.do(line); got != want {
		h.t.Fatalf("helper: %q answered %q, want %q", line, got, want)
	}
}

func (h *helper) pid() int { return h.cmd.Process.Pid }

func (h *helper) stderr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.errb.String()
}

// stop ends the helper: exit command, then a kill if it hangs (for
// example in a lock wait).
func (h *helper) stop() {
	io.WriteString(h.stdin, "exit\n")
	h.stdin.Close()
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		h.cmd.Process.Kill()
		<-h.done
	}
}
