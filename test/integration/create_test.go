package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Guarantee 3: O_CREAT|O_EXCL gives EEXIST under concurrent creators.
// Several processes try to create the same names at the same time; for every
// name exactly one wins, every other gets EEXIST, and the file holds the
// winner's id.
func TestCreateExclusiveRace(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		const procs, names = 4, 60
		var list []string
		for i := range names {
			list = append(list, fmt.Sprintf("race%d%s", i, []string{"", ".tmp", ".slow"}[i%3]))
		}
		hs := make([]*helper, procs)
		for i := range hs {
			hs[i] = startHelper(t)
			hs[i].must(fmt.Sprintf("id p%d", i), "ok")
		}
		at := time.Now().Add(300 * time.Millisecond).UnixNano()
		cmd := fmt.Sprintf("excl %s %d %s", tg.dir, at, strings.Join(list, " "))
		for _, h := range hs {
			h.send(cmd)
		}
		winners := map[string][]string{}
		for i, h := range hs {
			for _, res := range strings.Fields(h.answer(cmd)) {
				name, r, _ := strings.Cut(res, "=")
				switch r {
				case "ok":
					winners[name] = append(winners[name], fmt.Sprintf("p%d", i))
				case "EEXIST":
				default:
					t.Errorf("p%d: create %s: got %s, want ok or EEXIST", i, name, r)
				}
			}
		}
		for _, name := range list {
			w := winners[name]
			if len(w) != 1 {
				t.Errorf("%s: %d winners %v, want exactly 1", name, len(w), w)
				continue
			}
			got, err := os.ReadFile(filepath.Join(tg.dir, name))
			if err != nil || string(got) != w[0] {
				t.Errorf("%s: content %q (%v), want the winner's id %q", name, got, err, w[0])
			}
		}
	})
}

// O_EXCL, O_CREAT, O_TRUNC and mkdir on existing and missing names.
func TestCreateFlags(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		p := filepath.Join(tg.dir, "f")
		if _, err := unix.Open(p, unix.O_RDONLY, 0); !errors.Is(err, unix.ENOENT) {
			t.Fatalf("open missing without O_CREAT: got %s, want ENOENT", errName(err))
		}
		mustWrite(t, p, "hello")
		if _, err := unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644); !errors.Is(err, unix.EEXIST) {
			t.Errorf("O_CREAT|O_EXCL on existing file: got %s, want EEXIST", errName(err))
		}
		if err := unix.Mkdir(p, 0o755); !errors.Is(err, unix.EEXIST) {
			t.Errorf("mkdir over existing file: got %s, want EEXIST", errName(err))
		}
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_RDWR, 0o644)
		if err != nil {
			t.Fatalf("O_CREAT on existing file: %v", err)
		}
		unix.Close(fd)
		mustContent(t, p, "hello")
		fd, err = unix.Open(p, unix.O_CREAT|unix.O_TRUNC|unix.O_WRONLY, 0o644)
		if err != nil {
			t.Fatalf("O_TRUNC: %v", err)
		}
		unix.Close(fd)
		mustContent(t, p, "")
		d := filepath.Join(tg.dir, "d")
		if err := unix.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mkdir(d, 0o750); !errors.Is(err, unix.EEXIST) {
			t.Errorf("mkdir twice: got %s, want EEXIST", errName(err))
		}
		if _, err := unix.Open(d, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644); !errors.Is(err, unix.EEXIST) {
			t.Errorf("O_CREAT|O_EXCL over a directory: got %s, want EEXIST", errName(err))
		}
	})
}

// A file renamed to a name whose rule points at another tier stays where it
// is; creating that name again with O_EXCL must see it (EEXIST) rather than
// create a second copy on the rule's tier.
func TestCreateExclSeesNameOnOtherTier(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	fx.mkdirAll(t, "span/d")
	fx.writeFile(t, "span/d/a", "on fast")
	if err := os.Rename(fx.path("span/d/a"), fx.path("span/d/b.slow")); err != nil {
		t.Fatal(err)
	}
	fx.requireOnTier(t, "span/d/b.slow", "fast")
	_, err := unix.Open(fx.path("span/d/b.slow"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
	if !errors.Is(err, unix.EEXIST) {
		t.Errorf("O_EXCL create of a name held by another tier: got %s, want EEXIST", errName(err))
	}
	fd, err := unix.Open(fx.path("span/d/b.slow"), unix.O_CREAT|unix.O_WRONLY|unix.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(fd, []byte("+"))
	unix.Close(fd)
	mustContent(t, fx.path("span/d/b.slow"), "on fast+")
	fx.requireOnTier(t, "span/d/b.slow", "fast")
}

// ENAMETOOLONG for a 256-byte name is passed through for every call that
// takes a name; a 255-byte name works.
func TestNameTooLong(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		long := filepath.Join(tg.dir, strings.Repeat("n", 256))
		ok := filepath.Join(tg.dir, strings.Repeat("k", 255))
		mustWrite(t, ok, "255")
		calls := []struct {
			name string
			call func() error
		}{
			{"open O_CREAT", func() error {
				fd, err := unix.Open(long, unix.O_CREAT|unix.O_WRONLY, 0o644)
				if err == nil {
					unix.Close(fd)
				}
				return err
			}},
			{"stat", func() error { var st unix.Stat_t; return unix.Lstat(long, &st) }},
			{"mkdir", func() error { return unix.Mkdir(long, 0o755) }},
			{"rename to", func() error { return unix.Rename(ok, long) }},
			{"link to", func() error { return unix.Link(ok, long) }},
			{"symlink to", func() error { return unix.Symlink("x", long) }},
			{"unlink", func() error { return unix.Unlink(long) }},
		}
		for _, c := range calls {
			if err := c.call(); !errors.Is(err, unix.ENAMETOOLONG) {
				t.Errorf("%s with a 256-byte name: got %s, want ENAMETOOLONG", c.name, errName(err))
			}
		}
		mustContent(t, ok, "255")
	})
}

func mustWrite(t testing.TB, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustContent(t testing.TB, p, want string) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	if string(got) != want {
		t.Fatalf("%s: content %q, want %q", p, got, want)
	}
}

// A caller allowed to create in a directory only through a supplementary
// group (Dovecot's mail_access_groups, shared folders) creates there as
// natively, and owns what it creates.
func TestCreateThroughSupplementaryGroup(t *testing.T) {
	const uid, gid, group = 1000, 1000, 2000
	onTargets(t, func(t *testing.T, tg target) {
		searchable(t, tg.dir)
		d := filepath.Join(tg.dir, "shared")
		if err := os.Mkdir(d, 0o770); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, 0, group); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o770); err != nil { // past the umask
			t.Fatal(err)
		}
		script := `cd "$1" && echo x > file && mkdir dir && ln -s file link && mkfifo fifo`
		cmd := exec.Command("/bin/sh", "-c", script, "sh", d)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{group}}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("create as uid %d with supplementary group %d: %v: %s", uid, group, err, out)
		}
		for _, name := range []string{"file", "dir", "link", "fifo"} {
			if st := lstat(t, filepath.Join(d, name)); st.Uid != uid || st.Gid != gid {
				t.Errorf("%s is owned by %d:%d, want %d:%d", name, st.Uid, st.Gid, uid, gid)
			}
		}
	})
}

// searchable lets every user through the test's own directories above
// dir (made 0700), up to the system's temporary directory.
func searchable(t testing.TB, dir string) {
	t.Helper()
	top := filepath.Clean(os.TempDir())
	for p := filepath.Clean(dir); strings.HasPrefix(p, top+"/"); p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, st.Mode().Perm()|0o011); err != nil {
			t.Fatal(err)
		}
	}
}
