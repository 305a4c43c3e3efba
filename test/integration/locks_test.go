package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// blockedFor is how long a waiter must stay unanswered to count as blocked.
// It only has to be long enough for an unblocked lock call to answer.
const blockedFor = 300 * time.Millisecond

// Guarantee 4: a fcntl write lock held by one process blocks another;
// F_GETLK names the holder; disjoint ranges do not conflict; a blocked
// F_SETLKW proceeds when the holder closes the file.
func TestFcntlLockBetweenProcesses(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		p := filepath.Join(tg.dir, "dovecot.index.log")
		mustWrite(t, p, strings.Repeat("x", 100))
		a, b := startHelper(t), startHelper(t)
		a.must("open "+p+" rdwr", "ok")
		b.must("open "+p+" rdwr", "ok")
		a.must("setlk w 0 10", "ok")
		for _, lk := range []string{"setlk w 0 0", "setlk r 5 1", "setlk w 9 20"} {
			if got := b.do(lk); got != "EAGAIN" && got != "EACCES" {
				t.Errorf("%s while another process holds a write lock on 0-9: got %s, want EAGAIN or EACCES", lk, got)
			}
		}
		if got, want := b.do("getlk w 0 0"), fmt.Sprintf("ok w pid=%d", a.pid()); got != want {
			t.Errorf("F_GETLK: got %q, want %q", got, want)
		}
		b.must("setlk w 10 10", "ok") // a disjoint range
		b.must("setlk u 10 10", "ok")

		b.send("setlkw w 0 0")
		if got, ok := b.tryAnswer(blockedFor); ok {
			t.Fatalf("F_SETLKW on a locked range returned %q instead of blocking", got)
		}
		a.must("close", "ok") // closing any fd of the holder releases its locks
		if got := b.answer("setlkw w 0 0"); got != "ok" {
			t.Fatalf("F_SETLKW after the holder closed: got %q, want ok", got)
		}
		a.must("open "+p+" rdwr", "ok")
		if got := a.do("setlk r 0 1"); got != "EAGAIN" && got != "EACCES" {
			t.Errorf("the former holder's read lock against the new write lock: got %s", got)
		}
	})
}

// Guarantee 4: flock between two processes: exclusive blocks exclusive and
// shared, shared coexists with shared, and LOCK_UN releases.
func TestFlockBetweenProcesses(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		p := filepath.Join(tg.dir, "dovecot-uidlist")
		mustWrite(t, p, "3 V1 N1\n")
		a, b := startHelper(t), startHelper(t)
		a.must("open "+p+" rdonly", "ok")
		b.must("open "+p+" rdonly", "ok")
		a.must("flock ex", "ok")
		b.must("flock ex-nb", "EAGAIN") // EWOULDBLOCK is EAGAIN on Linux
		b.must("flock sh-nb", "EAGAIN")
		b.send("flock ex")
		if got, ok := b.tryAnswer(blockedFor); ok {
			t.Fatalf("blocking flock on an exclusively locked file returned %q instead of blocking", got)
		}
		a.must("flock un", "ok")
		if got := b.answer("flock ex"); got != "ok" {
			t.Fatalf("blocking flock after LOCK_UN: got %q, want ok", got)
		}
		b.must("flock un", "ok")
		a.must("flock sh", "ok")
		b.must("flock sh-nb", "ok")
		a.must("flock ex-nb", "EAGAIN")
	})
}

// eintrLocker is a tiny C program: Go installs its signal handlers with
// SA_RESTART, so a Go process never sees F_SETLKW fail with EINTR. This one
// installs a SIGUSR1 handler without SA_RESTART, says "ready", blocks in
// F_SETLKW on a write lock over the whole file and prints the outcome.
const eintrLocker = `
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_usr1(int sig) { (void)sig; }

int main(int argc, char **argv) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = 0; /* no SA_RESTART */
	if (argc != 2 || sigaction(SIGUSR1, &sa, NULL) != 0) return 2;
	int fd = open(argv[1], O_RDWR);
	if (fd < 0) { printf("open: %s\n", strerror(errno)); return 1; }
	printf("ready\n");
	fflush(stdout);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	if (fcntl(fd, F_SETLKW, &fl) == 0) printf("locked\n");
	else if (errno == EINTR) printf("EINTR\n");
	else printf("errno %d %s\n", errno, strerror(errno));
	return 0;
}
`

// buildEintrLocker compiles eintrLocker with the system C compiler.
func buildEintrLocker(t testing.TB) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		if os.Getenv(envRequire) == "1" {
			t.Fatal("gcc is required to build the EINTR helper")
		}
		t.Skip("needs gcc")
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "locker.c"), filepath.Join(dir, "locker")
	if err := os.WriteFile(src, []byte(eintrLocker), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-O", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return bin
}

// Guarantee 4: a F_SETLKW blocked on another process's lock and
// interrupted by a signal (handler without SA_RESTART) returns EINTR.
func TestFcntlLockInterruptedEINTR(t *testing.T) {
	locker := buildEintrLocker(t)
	onTargets(t, func(t *testing.T, tg target) {
		p := filepath.Join(tg.dir, "dovecot.index")
		mustWrite(t, p, "index")
		holder := startHelper(t)
		holder.must("open "+p+" rdwr", "ok")
		holder.must("setlk w 0 0", "ok")

		cmd := exec.Command(locker, p)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		lines := readLines(stdout)
		if l := <-lines; l != "ready" {
			t.Fatalf("locker: %q, want ready", l)
		}
		if err := waitInSyscall(cmd.Process.Pid, unix.SYS_FCNTL, helperWait); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		select {
		case l := <-lines:
			if l != "EINTR" {
				t.Fatalf("blocked F_SETLKW interrupted by SIGUSR1: got %q, want EINTR", l)
			}
		case <-time.After(helperWait):
			t.Fatal("blocked F_SETLKW did not return after SIGUSR1")
		}
		// The holder still holds its lock, as a third process sees.
		other := startHelper(t)
		other.must("open "+p+" rdonly", "ok")
		other.must("getlk w 0 0", fmt.Sprintf("ok w pid=%d", holder.pid()))
	})
}

// waitInSyscall waits until process pid is blocked in system call nr, as
// /proc/PID/syscall shows, so a signal surely interrupts that call.
func waitInSyscall(pid int, nr uintptr, timeout time.Duration) error {
	path := fmt.Sprintf("/proc/%d/syscall", pid)
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		last = strings.TrimSpace(string(data))
		if f := strings.Fields(last); len(f) > 0 && f[0] == strconv.Itoa(int(nr)) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("process %d not blocked in syscall %d within %v (last %q)", pid, nr, timeout, last)
}
