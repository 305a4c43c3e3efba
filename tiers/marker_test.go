package tiers

import (
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
