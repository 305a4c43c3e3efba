package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// opsNotifyListener is a fake service manager: a unixgram socket that
// collects the datagrams sent to $NOTIFY_SOCKET.
type opsNotifyListener struct {
	conn *net.UnixConn
	msgs chan string
}

func opsListenNotify(t *testing.T, addr string) *opsNotifyListener {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	l := &opsNotifyListener{conn: c, msgs: make(chan string, 16)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(l.msgs)
				return
			}
			l.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { c.Close() })
	return l
}

// next waits for the next notification.
func (l *opsNotifyListener) next(t *testing.T, d *daemon) string {
	t.Helper()
	select {
	case m, ok := <-l.msgs:
		if !ok {
			t.Fatal("notify socket closed")
		}
		return m
	case <-time.After(mountWait):
		t.Fatalf("no notification within %v; daemon log:\n%s", mountWait, d.log())
		return ""
	}
}

func TestOpsNotify(t *testing.T) {
	sockDir, err := os.MkdirTemp("", "ntf")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	for _, tc := range []struct{ name, addr string }{
		{"path", filepath.Join(sockDir, "notify")},
		{"abstract", fmt.Sprintf("@tierfs-test-notify-%d", os.Getpid())},
	} {
		t.Run(tc.name, func(t *testing.T) { opsCheckNotify(t, tc.addr) })
	}
}

// opsCheckNotify runs the daemon as systemd would (Type=notify) and checks
// READY=1 comes only once the mount answers, and STOPPING=1 on SIGTERM.
func opsCheckNotify(t *testing.T, addr string) {
	f := newFixture(t, defaultConfig())
	// A file already on the fast tier, to be read through the mount the
	// moment READY=1 arrives.
	if err := os.WriteFile(f.tierPath("fast", "seed"), []byte("seed"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := opsListenNotify(t, addr)
	d, err := startDaemon(f.bin, []string{"NOTIFY_SOCKET=" + addr},
		"mount", "--foreground", "--config", f.cfgPath, f.mnt)
	if err != nil {
		t.Fatal(err)
	}
	f.d = d // the fixture unmounts and reaps it if the test fails

	msg := l.next(t, d)
	// Checked before anything else: at READY=1 the mount must answer.
	got, readErr := os.ReadFile(f.path("seed"))
	listed := isTierfsMount(f.mnt)
	if !strings.Contains(msg, "READY=1\n") {
		t.Fatalf("first notification %q, want READY=1", msg)
	}
	if !listed || readErr != nil || string(got) != "seed" {
		t.Fatalf("at READY=1: mounted=%v, read seed = %q, %v; want the mount up and answering", listed, got, readErr)
	}
	if !strings.Contains(msg, "STATUS=serving "+f.mnt+"\n") {
		t.Errorf("READY notification %q lacks STATUS=serving %s", msg, f.mnt)
	}

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if msg := l.next(t, d); !strings.Contains(msg, "STOPPING=1\n") {
		t.Fatalf("notification after SIGTERM %q, want STOPPING=1", msg)
	}
	if !d.wait(mountWait) {
		t.Fatalf("daemon did not exit after SIGTERM:\n%s", d.log())
	}
	f.d = nil
	if d.waitErr != nil {
		t.Errorf("daemon exit after SIGTERM: %v, want success\n%s", d.waitErr, d.log())
	}
	if isMountPoint(f.mnt) {
		t.Errorf("%s still mounted after SIGTERM", f.mnt)
	}
	checkDaemonLog(t, d)
}

// TestOpsSigtermBusy holds a file open through the mount and checks that
// SIGTERM waits, names the holder, then detaches lazily; the holder keeps
// reading its file, and the daemon exits once it is closed. The test
// process itself holds the file.
func TestOpsSigtermBusy(t *testing.T) {
	f := newFixture(t, defaultConfig())
	d, err := startDaemon(f.bin, nil, "mount", "--foreground", "--stop-timeout", "1s", "--config", f.cfgPath, f.mnt)
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	for deadline := time.Now().Add(mountWait); !isTierfsMount(f.mnt); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) || d.exited() {
			t.Fatalf("not mounted:\n%s", d.log())
		}
	}
	f.writeFile(t, "held", "still readable")
	held, err := os.Open(f.path("held")) // this test process is the holder
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	d.cmd.Process.Signal(syscall.SIGTERM)
	log := opsWaitLog(t, d, "detaching lazily", 1)
	holder := fmt.Sprintf("%d (", os.Getpid())
	if !strings.Contains(log, "mount is busy") || !strings.Contains(log, holder) || !strings.Contains(log, f.path("held")) {
		t.Errorf("log does not name the holder %s with %s:\n%s", holder, f.path("held"), log)
	}
	for deadline := time.Now().Add(mountWait); isMountPoint(f.mnt) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if isMountPoint(f.mnt) {
		t.Errorf("%s still reachable after the lazy detach", f.mnt)
	}
	buf := make([]byte, 64)
	if n, err := held.ReadAt(buf, 0); string(buf[:n]) != "still readable" {
		t.Errorf("read through the detached mount: %q, %v", buf[:n], err)
	}
	time.Sleep(300 * time.Millisecond)
	if d.exited() {
		t.Fatalf("daemon exited while a file was still open:\n%s", d.log())
	}
	held.Close()
	if !d.wait(mountWait) {
		t.Fatalf("daemon did not exit after the last file closed:\n%s", d.log())
	}
	f.d = nil
	checkDaemonLog(t, d)
}
