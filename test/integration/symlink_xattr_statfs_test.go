package integration

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Guarantee 11: symlink and readlink keep the target text exactly (relative
// and absolute), lstat sees a link, stat and open follow it, and a symlink
// onto an existing name gives EEXIST.
func TestSymlink(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		mustWrite(t, filepath.Join(tg.dir, "target"), "pointed at")
		cases := []struct{ name, text string }{
			{"rel", "target"},
			{"dotdot", "../" + filepath.Base(tg.dir) + "/target"},
			{"abs", "/nonexistent/elsewhere"},
			{"long", strings.Repeat("x/", 1000) + "y"},
		}
		for _, c := range cases {
			p := filepath.Join(tg.dir, c.name)
			if err := unix.Symlink(c.text, p); err != nil {
				t.Fatalf("symlink %s: %v", c.name, err)
			}
			got, err := os.Readlink(p)
			if err != nil || got != c.text {
				t.Errorf("readlink %s: %q (%v), want %q", c.name, got, err, c.text)
			}
			if st := lstat(t, p); st.Mode&unix.S_IFMT != unix.S_IFLNK || st.Size != int64(len(c.text)) {
				t.Errorf("lstat %s: mode %#o size %d, want a symlink of size %d", c.name, st.Mode, st.Size, len(c.text))
			}
		}
		mustContent(t, filepath.Join(tg.dir, "rel"), "pointed at")
		mustContent(t, filepath.Join(tg.dir, "dotdot"), "pointed at")
		if err := unix.Symlink("x", filepath.Join(tg.dir, "target")); !errors.Is(err, unix.EEXIST) {
			t.Errorf("symlink onto an existing name: got %s, want EEXIST", errName(err))
		}
	})
}

// Guarantee 11: user xattrs on files and directories: set, get, list,
// replace, XATTR_CREATE on an existing name, remove, ENODATA when missing.
func TestXattrs(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		f := filepath.Join(tg.dir, "f")
		mustWrite(t, f, "x")
		for _, p := range []string{f, tg.dir} {
			if err := unix.Setxattr(p, "user.dovecot", []byte("v1"), 0); err != nil {
				t.Fatalf("setxattr %s: %v", p, err)
			}
			if got := getxattr(t, p, "user.dovecot"); got != "v1" {
				t.Errorf("getxattr %s: %q, want v1", p, got)
			}
			if err := unix.Setxattr(p, "user.dovecot", []byte("v2"), unix.XATTR_CREATE); !errors.Is(err, unix.EEXIST) {
				t.Errorf("setxattr XATTR_CREATE on an existing attribute: got %s, want EEXIST", errName(err))
			}
			if err := unix.Setxattr(p, "user.dovecot", []byte("v2"), unix.XATTR_REPLACE); err != nil {
				t.Errorf("setxattr XATTR_REPLACE: %v", err)
			}
			if got := getxattr(t, p, "user.dovecot"); got != "v2" {
				t.Errorf("getxattr after replace %s: %q, want v2", p, got)
			}
			if names := listxattr(t, p); !slices.Contains(names, "user.dovecot") {
				t.Errorf("listxattr %s: %v, want user.dovecot among them", p, names)
			}
			if err := unix.Removexattr(p, "user.dovecot"); err != nil {
				t.Errorf("removexattr: %v", err)
			}
			if _, err := unix.Getxattr(p, "user.dovecot", make([]byte, 64)); !errors.Is(err, unix.ENODATA) {
				t.Errorf("getxattr after remove: got %s, want ENODATA", errName(err))
			}
		}
	})
}

func getxattr(t testing.TB, p, name string) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Getxattr(p, name, buf)
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", p, name, err)
	}
	return string(buf[:n])
}

func listxattr(t testing.TB, p string) []string {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := unix.Listxattr(p, buf)
	if err != nil {
		t.Fatalf("listxattr %s: %v", p, err)
	}
	return strings.FieldsFunc(string(buf[:n]), func(r rune) bool { return r == 0 })
}

// Guarantee 11: statfs of a directory reports the filesystem of the tier
// that new files in it are written to, not a sum. Each tier here is its
// own filesystem (tmpfs, the test's disk, a loop-mounted ext4 image), so
// their sizes tell them apart.
func TestStatfsReportsTier(t *testing.T) {
	cfg := defaultConfig()
	cfg.Tiers[2].Backing = "ext4"
	fx := mountTierfs(t, cfg)
	cases := []struct{ dir, tier string }{
		{"volatile/t", "tmp"},
		{"index/t", "fast"},
		{"mail/u/cur/x", "slow"},
	}
	for _, c := range cases {
		fx.mkdirAll(t, c.dir)
		var got, want unix.Statfs_t
		if err := unix.Statfs(fx.path(c.dir), &got); err != nil {
			t.Fatalf("statfs %s: %v", c.dir, err)
		}
		if err := unix.Statfs(fx.tiers[c.tier], &want); err != nil {
			t.Fatal(err)
		}
		if got.Blocks*uint64(got.Bsize) != want.Blocks*uint64(want.Bsize) || got.Files != want.Files {
			t.Errorf("statfs %s: %d blocks of %d, %d inodes; want tier %s's %d blocks of %d, %d inodes",
				c.dir, got.Blocks, got.Bsize, got.Files, c.tier, want.Blocks, want.Bsize, want.Files)
		}
	}
}
