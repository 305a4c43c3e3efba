package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Guarantee 6: O_APPEND at open and toggled with F_SETFL, pwrite, ftruncate.
func TestAppendSetfl(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		p := filepath.Join(tg.dir, "dovecot.index.log")
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		mustWriteFd(t, fd, "abc")
		setFlags(t, fd, unix.O_APPEND, true)
		seek0(t, fd)
		mustWriteFd(t, fd, "DEF") // goes to the end despite the seek
		mustContent(t, p, "abcDEF")
		setFlags(t, fd, unix.O_APPEND, false)
		seek0(t, fd)
		mustWriteFd(t, fd, "X") // overwrites at offset 0 again
		mustContent(t, p, "XbcDEF")
	})
}

// Two descriptors opened with O_APPEND interleave writes without
// overwriting each other.
func TestAppendTwoDescriptors(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		p := filepath.Join(tg.dir, "log")
		var fds [2]int
		for i := range fds {
			fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY|unix.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			fds[i] = fd
		}
		want := ""
		for i, s := range []string{"1", "22", "333", "4444", "55555"} {
			mustWriteFd(t, fds[i%2], s)
			want += s
		}
		mustContent(t, p, want)
	})
}

// Processes appending to one log at the same time (Dovecot's
// dovecot.index.log) never overwrite each other's records.
func TestAppendBetweenProcesses(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		const n = 300
		p := filepath.Join(tg.dir, "dovecot.index.log")
		mustWrite(t, p, "")
		tags := []string{"a", "b", "c"}
		var hs []*helper
		for range tags {
			h := startHelper(t)
			h.must("open "+p+" wronly,append", "ok")
			hs = append(hs, h)
		}
		at := time.Now().Add(300 * time.Millisecond).UnixNano()
		for i, h := range hs {
			h.send(fmt.Sprintf("at %d writen %d %s", at, n, tags[i]))
		}
		for _, h := range hs {
			if got := h.answer("writen"); got != "ok" {
				t.Fatalf("appending: %s", got)
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		next := map[string]int{}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		for _, l := range lines {
			var tag string
			var i int
			if _, err := fmt.Sscanf(l, "%s %05d", &tag, &i); err != nil || next[tag] != i || len(l) != len(tag)+6 {
				t.Fatalf("log line %q is not the next record of its writer (want %s %05d); file has %d lines", l, tag, next[tag], len(lines))
			}
			next[tag]++
		}
		for _, tag := range tags {
			if next[tag] != n {
				t.Errorf("writer %s: %d records in the log, want %d", tag, next[tag], n)
			}
		}
	})
}

// pwrite writes at its offset without moving the file offset; ftruncate
// shrinks and extends with zeroes.
func TestPwriteFtruncate(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		p := filepath.Join(tg.dir, "f")
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		mustWriteFd(t, fd, "0123456789")
		if _, err := unix.Pwrite(fd, []byte("ab"), 3); err != nil {
			t.Fatal(err)
		}
		mustWriteFd(t, fd, "Z") // the offset is still 10
		mustContent(t, p, "012ab56789Z")
		if err := unix.Ftruncate(fd, 4); err != nil {
			t.Fatal(err)
		}
		mustContent(t, p, "012a")
		if err := unix.Ftruncate(fd, 6); err != nil {
			t.Fatal(err)
		}
		mustContent(t, p, "012a\x00\x00")
		buf := make([]byte, 3)
		if n, err := unix.Pread(fd, buf, 2); err != nil || string(buf[:n]) != "2a\x00" {
			t.Fatalf("pread: %q %v", buf[:n], err)
		}
	})
}

func mustWriteFd(t testing.TB, fd int, s string) {
	t.Helper()
	if n, err := unix.Write(fd, []byte(s)); err != nil || n != len(s) {
		t.Fatalf("write %q: n=%d %v", s, n, err)
	}
}

func seek0(t testing.TB, fd int) {
	t.Helper()
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		t.Fatal(err)
	}
}

// setFlags sets or clears flag with F_SETFL and checks F_GETFL agrees.
func setFlags(t testing.TB, fd, flag int, on bool) {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if on {
		fl |= flag
	} else {
		fl &^= flag
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl); err != nil {
		t.Fatalf("F_SETFL: %v", err)
	}
	got, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if (got&flag != 0) != on {
		t.Fatalf("F_GETFL after F_SETFL: flags %#o, want flag %#o set=%v", got, flag, on)
	}
}
