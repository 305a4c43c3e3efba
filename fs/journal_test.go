package fs

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tierfs/tierfs/tiers"
)

// An intent naming every name of a message linked into many mailboxes
// is larger than one read returns; pending reads it back whole.
func TestJournalLargeIntent(t *testing.T) {
	dir := t.TempDir()
	if _, err := tiers.WriteMarker(dir, "fast"); err != nil {
		t.Fatal(err)
	}
	tr, err := tiers.Open(tiers.Spec{Name: "fast", Path: dir, Kind: tiers.KindLocal}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	j, err := openJournal(tr)
	if err != nil {
		t.Fatal(err)
	}
	in := intent{Op: opMoveLinked, Tiers: []string{"fast", "slow"}}
	for i := range 3000 {
		in.Paths = append(in.Paths, fmt.Sprintf("mail/%02x/user%d@example.com/cur/1700000000.M1P1.host,S=4000:2,S", i%256, i))
	}
	in.From = in.Paths[0]
	id, err := j.begin(in)
	if err != nil {
		t.Fatal(err)
	}
	pend, err := j.pending()
	if err != nil {
		t.Fatalf("pending: %v", err)
	}
	if got := pend[id]; got.Op != in.Op || !slices.Equal(got.Paths, in.Paths) {
		t.Errorf("intent read back with %d paths, want %d", len(got.Paths), len(in.Paths))
	}
}
