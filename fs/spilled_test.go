package fs

import (
	"bytes"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tierfs/tierfs/tiers"
)

func spillTier(t *testing.T) *tiers.Tier {
	t.Helper()
	dir := t.TempDir()
	if _, err := tiers.WriteMarker(dir, "slow"); err != nil {
		t.Fatal(err)
	}
	tr, err := tiers.Open(tiers.Spec{Name: "slow", Path: dir, Kind: tiers.KindLocal}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// Lines a crash tore or garbled are skipped: a line without its
// newline, a torn line joined to the next append, a wrong checksum,
// NUL bytes a crash can leave at the end of a file.
func TestParseSpilled(t *testing.T) {
	a, b := spilledLine(SpilledFile{Ino: 12, Gen: 1700000000123456789}), spilledLine(SpilledFile{Ino: 99, Gen: 0})
	var in []byte
	in = append(in, a...)
	in = append(in, a[:5]...) // torn, then joined to the next record
	in = append(in, b...)
	in = append(in, "13 5 00000000\n"...) // bad checksum
	in = append(in, "garbage\n\x00\x00\x00\n"...)
	in = append(in, b...)
	in = append(in, spilledLine(SpilledFile{Ino: 7, Gen: 8})[:6]...) // torn last line
	got, bad := parseSpilled(in)
	want := map[uint64]uint64{12: 1700000000123456789, 99: 0}
	if !maps.Equal(got, want) || bad != 5 {
		t.Errorf("parseSpilled = %v, %d bad; want %v, 5 bad", got, bad, want)
	}
}

// Records survive a reopen; garbage is dropped from the file at open;
// forget removes only records whose birth time matches, rewrites the
// file (gone once empty) and later appends land in the new file.
func TestSpilledSet(t *testing.T) {
	tr := spillTier(t)
	log := slog.New(slog.DiscardHandler)
	s := openSpilled(tr, log)
	s.add(SpilledFile{Ino: 1, Gen: 10})
	s.add(SpilledFile{Ino: 2, Gen: 20})
	p := filepath.Join(tr.Path, spilledName)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("3 30 dead") // torn by a crash
	f.Close()
	s.close()
	s = openSpilled(tr, log)
	if got := s.snapshot(); !maps.Equal(got, map[uint64]uint64{1: 10, 2: 20}) {
		t.Errorf("reopened: %v", got)
	}
	if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("dead")) {
		t.Errorf("the torn line is still in the file:\n%s", b)
	}
	if err := s.forget([]SpilledFile{{Ino: 1, Gen: 10}, {Ino: 2, Gen: 21}}); err != nil {
		t.Fatal(err)
	}
	s.add(SpilledFile{Ino: 4, Gen: 40})
	s.close()
	if got := openSpilled(tr, log).snapshot(); !maps.Equal(got, map[uint64]uint64{2: 20, 4: 40}) {
		t.Errorf("after forget and an append: %v", got)
	}
	if err := s.forget([]SpilledFile{{Ino: 2, Gen: 20}, {Ino: 4, Gen: 40}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("%s with no record left: %v, want it removed", spilledName, err)
	}
	if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary left: %v", err)
	}
}

// Appends racing rewrites lose none of the records added.
func TestSpilledSetConcurrent(t *testing.T) {
	tr := spillTier(t)
	s := openSpilled(tr, slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				s.add(SpilledFile{Ino: uint64(w*1000 + i + 1), Gen: 1})
			}
		}()
	}
	for i := range 200 {
		if err := s.forget([]SpilledFile{{Ino: uint64(i + 1), Gen: 1}}); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	s.close()
	got := openSpilled(tr, slog.New(slog.DiscardHandler)).snapshot()
	if len(got) != len(s.snapshot()) || !maps.Equal(got, s.snapshot()) {
		t.Errorf("file holds %d records, memory %d", len(got), len(s.snapshot()))
	}
	for w := 1; w < 4; w++ {
		for i := range 200 {
			if _, ok := got[uint64(w*1000+i+1)]; !ok {
				t.Fatalf("record %d lost", w*1000+i+1)
			}
		}
	}
}

// Beyond maxSpilled a spilled file is not recorded.
func TestSpilledSetCap(t *testing.T) {
	tr := spillTier(t)
	s := openSpilled(tr, slog.New(slog.DiscardHandler))
	for i := range maxSpilled {
		s.files[uint64(i+1)] = 1 // as if added
	}
	s.add(SpilledFile{Ino: maxSpilled + 1, Gen: 1})
	if s.count() != maxSpilled {
		t.Errorf("%d records, want the cap %d", s.count(), maxSpilled)
	}
}
