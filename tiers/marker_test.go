package tiers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A tier whose spec pins a UUID opens only over the marker with that
// UUID; a marker of the right name but another UUID (an old one on the
// bare directory under an unmounted NFS export) is refused.
func TestOpenPinnedUUID(t *testing.T) {
	dir := t.TempDir()
	m, err := WriteMarker(dir, "slow")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		uuid    string
		wantErr string // "" when Open must succeed
	}{
		{"not pinned", "", ""},
		{"pinned to the marker", m.UUID, ""},
		{"pinned in upper case", strings.ToUpper(m.UUID), ""},
		{"pinned to another", "00000000-0000-4000-8000-000000000000", "carries marker uuid " + m.UUID + ", but the config pins uuid 00000000-0000-4000-8000-000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := Open(Spec{Name: "slow", Path: dir, Kind: KindNFS, UUID: tt.uuid}, 0)
			if err == nil {
				tr.Close()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Open = %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `tier "slow"`)):
				t.Errorf("Open = %v, want an error naming the tier and containing %q", err, tt.wantErr)
			}
		})
	}
}

// The health probe re-reads the marker beneath the root descriptor only
// on the rounds that ask for it, keeps a failure until a re-read passes,
// and names the marker in its error: missing, replaced by another tier's
// or by one of another UUID, or garbled.
func TestProbeRechecksMarker(t *testing.T) {
	tr := newTestTier(t, "slow")
	marker := filepath.Join(tr.Path, MarkerName)
	saved, err := os.ReadFile(marker)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.probe(true); err != nil {
		t.Fatalf("probe with the marker in place: %v", err)
	}
	other := t.TempDir()
	if _, err := WriteMarker(other, "fast"); err != nil {
		t.Fatal(err)
	}
	otherMarker, err := os.ReadFile(filepath.Join(other, MarkerName))
	if err != nil {
		t.Fatal(err)
	}
	sameNameOtherUUID := strings.Replace(string(saved), tr.marker.UUID, "00000000-0000-4000-8000-000000000000", 1)
	for _, tt := range []struct {
		name, want string
		change     func() error
	}{
		{"removed", "is missing", func() error { return os.Remove(marker) }},
		{"another tier's", `names tier "fast"`, func() error { return os.WriteFile(marker, otherMarker, 0o644) }},
		{"another uuid", "uuid 00000000-0000-4000-8000-000000000000", func() error { return os.WriteFile(marker, []byte(sameNameOtherUUID), 0o644) }},
		{"garbled", "parse", func() error { return os.WriteFile(marker, []byte("{not json"), 0o644) }},
		{"a symlink to the right one", "too many levels", func() error {
			if err := os.WriteFile(filepath.Join(other, "copy"), saved, 0o644); err != nil {
				return err
			}
			os.Remove(marker)
			return os.Symlink(filepath.Join(other, "copy"), marker)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.change(); err != nil {
				t.Fatal(err)
			}
			if err := tr.probe(false); err != nil {
				t.Fatalf("probe on a round without the marker: %v; want it not read", err)
			}
			for _, marker := range []bool{true, false} {
				err := tr.probe(marker)
				if err == nil || !strings.Contains(err.Error(), MarkerName) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("probe(%v) = %v; want an error naming %s and containing %q", marker, err, MarkerName, tt.want)
				}
			}
			os.Remove(marker)
			if err := os.WriteFile(marker, saved, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tr.probe(false); err != nil {
				t.Fatalf("probe after the marker is back: %v", err)
			}
		})
	}
}

// Open reads the marker beneath the root it opened, as the probe does,
// so a marker the probe would refuse (a symlink, even to the right
// marker) is refused at mount.
func TestOpenRefusesSymlinkedMarker(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	if _, err := WriteMarker(other, "slow"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(other, MarkerName), filepath.Join(dir, MarkerName)); err != nil {
		t.Fatal(err)
	}
	tr, err := Open(Spec{Name: "slow", Path: dir, Kind: KindLocal}, 0)
	if err == nil {
		tr.Close()
		t.Fatal("Open accepted a marker that is a symlink")
	}
	if !strings.Contains(err.Error(), `tier "slow"`) || !strings.Contains(err.Error(), MarkerName) {
		t.Errorf("Open = %v, want an error naming the tier and the marker", err)
	}
}
