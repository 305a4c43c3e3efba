package tiers

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// Getxattr answers the same through getxattrat(2) and through the /proc
// path it falls back to on older kernels: values, size queries, errno
// values, and a symlink's own attributes rather than its target's.
func TestGetxattr(t *testing.T) {
	tr := newTestTier(t, "local")
	makeDirs(t, tr, "d")
	if err := create(t, tr, "d/f"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Setxattr("d/f", "user.a", []byte("value-a"), 0); err != nil {
		t.Skipf("the test directory's filesystem has no user xattrs: %v", err)
	}
	if err := tr.Symlink("f", "d/link", nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, rel, attr string
		buf             int
		want            string
		wantN           int
		wantErr         error
	}{
		{"value", "d/f", "user.a", 64, "value-a", 7, nil},
		{"size query", "d/f", "user.a", 0, "", 7, nil},
		{"buffer too small", "d/f", "user.a", 3, "", 0, unix.ERANGE},
		{"no such attribute", "d/f", "user.b", 64, "", 0, unix.ENODATA},
		{"no such file", "d/g", "user.a", 64, "", 0, unix.ENOENT},
		{"symlink not followed", "d/link", "user.a", 64, "", 0, unix.ENODATA},
		{"directory", "d", "user.a", 64, "", 0, unix.ENODATA},
	}
	for _, fallback := range []bool{false, true} {
		tr.noXattrat.Store(fallback)
		for _, c := range cases {
			buf := make([]byte, c.buf)
			n, err := tr.Getxattr(c.rel, c.attr, buf)
			if !errors.Is(err, c.wantErr) || (err == nil && (n != c.wantN || string(buf[:min(n, len(buf))]) != c.want)) {
				t.Errorf("fallback=%v %s: Getxattr(%s, %s) = %d %q, %v; want %d %q, %v",
					fallback, c.name, c.rel, c.attr, n, buf[:min(n, len(buf))], err, c.wantN, c.want, c.wantErr)
			}
		}
	}
}

// On this kernel the direct call is taken and stays taken: a fallback
// latched by mistake would cost every lookup on a tier that receives
// moved files its /proc path walk.
func TestGetxattratUsed(t *testing.T) {
	tr := newTestTier(t, "local")
	if err := create(t, tr, "f"); err != nil {
		t.Fatal(err)
	}
	var b [8]byte
	if _, err := getxattrat(tr.root, "f", "user.none", b[:]); errors.Is(err, unix.ENOSYS) {
		t.Skip("kernel without getxattrat(2)")
	}
	if _, err := tr.Getxattr("f", "user.none", b[:]); !errors.Is(err, unix.ENODATA) {
		t.Fatalf("Getxattr: %v, want ENODATA", err)
	}
	if tr.noXattrat.Load() {
		t.Error("fell back to the /proc path although getxattrat(2) works")
	}
}

// BenchmarkGetxattr compares the direct call with the /proc fallback,
// for the inode-number read every lookup does on a tier that receives
// moved files: go test -run - -bench Getxattr ./tiers
func BenchmarkGetxattr(b *testing.B) {
	tr := newTestTier(b, "bench")
	makeDirs(b, tr, "d")
	if err := create(b, tr, "d/f"); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		fallback bool
	}{{"getxattrat", false}, {"proc-path", true}} {
		b.Run(c.name, func(b *testing.B) {
			tr.noXattrat.Store(c.fallback)
			var v [8]byte
			for b.Loop() {
				if _, err := tr.Getxattr("d/f", "user.none", v[:]); !errors.Is(err, unix.ENODATA) {
					b.Fatal(err)
				}
			}
		})
	}
}
