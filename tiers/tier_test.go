package tiers

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// newTestTier makes a marked local tier in a temporary directory.
func newTestTier(t testing.TB, name string) *Tier {
	t.Helper()
	return openMarked(t, name, t.TempDir())
}

// Every path is resolved beneath the tier root: "..", absolute symlinks
// and symlinks in a directory component never lead out of it.
func TestConfinement(t *testing.T) {
	tr := newTestTier(t, "fast")
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(tr.Path, "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../..", filepath.Join(tr.Path, "rel")); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(tr.Path, filepath.Join(outside, "secret"))
	tests := []struct {
		name string
		path string
	}{
		{"dot-dot", rel},
		{"absolute symlink as a directory", "abs/secret"},
		{"relative symlink as a directory", "rel/" + strings.TrimPrefix(rel, "../../")},
		{"proc magic link", "../../../../../../proc/1/cwd/etc/passwd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st unix.Stat_t
			err := tr.Lstat(tt.path, &st)
			if err == nil {
				t.Fatalf("Lstat(%q) escaped the tier", tt.path)
			}
			if !errors.Is(err, unix.EXDEV) && !errors.Is(err, unix.ELOOP) {
				t.Errorf("Lstat(%q) = %v, want EXDEV or ELOOP", tt.path, err)
			}
			if fd, err := tr.Open(tt.path, unix.O_RDONLY, 0, nil); err == nil {
				unix.Close(fd)
				t.Fatalf("Open(%q) escaped the tier", tt.path)
			}
		})
	}
	// A symlink as the last component is the link itself, never followed.
	var st unix.Stat_t
	if err := tr.Lstat("abs", &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Errorf("Lstat(abs) = mode %o, %v; want the symlink itself", st.Mode, err)
	}
	if fd, err := tr.Open("abs", unix.O_RDONLY, 0, nil); err == nil {
		unix.Close(fd)
		t.Error("Open(abs) followed a final symlink")
	}
}

// A mount is refused without the tier's own marker, and init never
// relabels another tier's directory.
func TestMarkers(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(Spec{Name: "slow", Path: dir, Kind: KindNFS}, 0)
	if err == nil || !strings.Contains(err.Error(), "tierfs init") || !strings.Contains(err.Error(), `"slow"`) {
		t.Fatalf("open without marker: %v; want an error naming the tier and tierfs init", err)
	}
	m1, err := WriteMarker(dir, "slow")
	if err != nil {
		t.Fatal(err)
	}
	m2, err := WriteMarker(dir, "slow")
	if err != nil || m2.UUID != m1.UUID {
		t.Fatalf("second init: %v, uuid %s then %s; want the same marker kept", err, m1.UUID, m2.UUID)
	}
	if _, err := WriteMarker(dir, "fast"); err == nil {
		t.Fatal("relabelled tier slow as fast")
	}
	if _, err := Open(Spec{Name: "fast", Path: dir, Kind: KindLocal}, 0); err == nil || !strings.Contains(err.Error(), `marked as tier "slow"`) {
		t.Fatalf("open with another tier's marker: %v", err)
	}
}

// ResolveDuplicate removes only a proven copy and sets a differing one
// aside instead of deleting it.
func TestResolveDuplicate(t *testing.T) {
	a, b := newTestTier(t, "a"), newTestTier(t, "b")
	write := func(tr *Tier, rel, data string) {
		t.Helper()
		p := filepath.Join(tr.Path, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "d/same", "one")
	write(b, "d/same", "one")
	res, _, err := ResolveDuplicate(a, b, "d/same")
	if err != nil || res != RemovedCopy {
		t.Fatalf("identical: %v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(b.Path, "d/same")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("identical copy on b not removed: %v", err)
	}
	write(a, "d/diff", "old")
	write(b, "d/diff", "newer content")
	past := unix.NsecToTimespec(1e9)
	unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(a.Path, "d/diff"), []unix.Timespec{past, past}, 0)
	res, where, err := ResolveDuplicate(a, b, "d/diff")
	if err != nil || res != KeptBoth {
		t.Fatalf("different: %v, %v", res, err)
	}
	if got, _ := os.ReadFile(filepath.Join(b.Path, "d/diff")); string(got) != "newer content" {
		t.Errorf("the newer copy should stay in place, got %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(a.Path, RecoveredDir, "d/diff")); string(got) != "old" || !strings.HasPrefix(where, "a:") {
		t.Errorf("the older copy should be set aside on its tier: %q at %s", got, where)
	}
}

func TestParseDirents(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "bb", strings.Repeat("c", 255)} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	tr, err := Open(Spec{Name: "t", Path: dir, Kind: KindLocal}, 0)
	if err == nil {
		tr.Close()
		t.Fatal("opened a tier without a marker")
	}
	WriteMarker(dir, "t")
	tr, err = Open(Spec{Name: "t", Path: dir, Kind: KindLocal}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ents, err := tr.ReadDir("")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint8{}
	for _, e := range ents {
		got[e.Name] = e.Type
	}
	want := map[string]uint8{"a": unix.DT_REG, "bb": unix.DT_REG, strings.Repeat("c", 255): unix.DT_REG, "sub": unix.DT_DIR, MarkerName: unix.DT_REG}
	if len(got) != len(want) {
		t.Fatalf("ReadDir = %v, want %v", got, want)
	}
	for n, typ := range want {
		if got[n] != typ {
			t.Errorf("%q: type %d, want %d", n, got[n], typ)
		}
	}
}

// ReadDirFd lists the directory it was opened on, renamed since, from
// its start each time.
func TestReadDirFd(t *testing.T) {
	tr := newTestTier(t, "fast")
	if err := os.MkdirAll(filepath.Join(tr.Path, "d/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := tr.OpenDir("d")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := os.Rename(filepath.Join(tr.Path, "d"), filepath.Join(tr.Path, "e")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(tr.Path, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		ents, err := tr.ReadDirFd(fd)
		if err != nil || len(ents) != 1 || ents[0].Name != "sub" || ents[0].Type != unix.DT_DIR {
			t.Fatalf("read %d: ReadDirFd = %v, %v; want the renamed directory's sub", i, ents, err)
		}
	}
}
