package integration

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Guarantee 10: st_size is right at once after the process's own write,
// through fstat, stat of the path and another descriptor, and after
// another process extends the file.
func TestSizeAfterOwnWrite(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		p := filepath.Join(tg.dir, "dovecot.index.cache")
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		other, err := unix.Open(p, unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(other)
		steps := []struct {
			name string
			do   func() error
			want int64
		}{
			{"write 1000", func() error { _, err := unix.Write(fd, make([]byte, 1000)); return err }, 1000},
			{"pwrite past the end", func() error { _, err := unix.Pwrite(fd, []byte("x"), 1<<20); return err }, 1<<20 + 1},
			{"ftruncate down", func() error { return unix.Ftruncate(fd, 77) }, 77},
			{"truncate by path up", func() error { return unix.Truncate(p, 5000) }, 5000},
			{"write at offset 1000", func() error { _, err := unix.Write(fd, []byte("abc")); return err }, 5000},
		}
		for _, s := range steps {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			checkSize(t, s.name, p, s.want, fd, other)
		}
		h := startHelper(t)
		h.must("open "+p+" wronly", "ok")
		h.must("pwrite 9000 tail", "ok")
		checkSize(t, "another process's pwrite", p, 9004, fd, other)
	})
}

// checkSize checks the size seen by stat of p and fstat of every fd.
func checkSize(t testing.TB, step, p string, want int64, fds ...int) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil || st.Size != want {
		t.Errorf("after %s: stat size %d (%v), want %d", step, st.Size, err, want)
	}
	for i, fd := range fds {
		if err := unix.Fstat(fd, &st); err != nil || st.Size != want {
			t.Errorf("after %s: fstat of descriptor %d size %d (%v), want %d", step, i, st.Size, err, want)
		}
	}
}
