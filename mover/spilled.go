package mover

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/fs"
	"github.com/tierfs/tierfs/tiers"
)

// Spills is how the mover learns which files placement spilled to their
// rule's demote_to tier (fs records them; *fs.Root implements it): such
// a file goes home while it is too young to be demoted, a file demoted
// early is not recorded and stays.
type Spills interface {
	// Spilled returns the records by tier: backing inode number ->
	// birth time (0: the tier records none).
	Spilled() []map[uint64]uint64
	// ForgetSpilled drops records of tier ti.
	ForgetSpilled(ti int, drop []fs.SpilledFile) error
}

// spillScan is what a pass knows of the spilled files: the records at
// its start, those the scan found (by the dirent's inode number, with a
// stat only for a recorded number), and those to drop after it.
type spillScan struct {
	recs    []map[uint64]uint64 // by tier, nil: none
	seen    []map[uint64]bool
	drop    [][]fs.SpilledFile // settled: old enough, or went home
	missing []bool             // the tier's scan was not complete
}

func newSpillScan(recs []map[uint64]uint64) spillScan {
	n := len(recs)
	return spillScan{recs: recs, seen: make([]map[uint64]bool, n), drop: make([][]fs.SpilledFile, n), missing: make([]bool, n)}
}

// partial notes that tier ti was not scanned completely: records not
// found there may still be there.
func (p *spillScan) partial(ti int) {
	if ti < len(p.missing) {
		p.missing[ti] = true
	}
}

// match says whether the file path with dirent inode number ino on tier
// t (index ti) is a recorded spilled file; for a record with a birth
// time it stats the file (returned for reuse) to tell it from a later
// file given that number.
func (p *spillScan) match(ti int, t *tiers.Tier, path string, ino uint64, st *unix.Stat_t) (bool, *unix.Stat_t) {
	if ti >= len(p.recs) {
		return false, st
	}
	gen, ok := p.recs[ti][ino]
	if !ok {
		return false, st
	}
	if gen != 0 {
		var s unix.Stat_t
		g, err := t.LstatGen(path, &s)
		if err != nil || g != gen || s.Ino != ino {
			return false, st
		}
		st = &s
	}
	if p.seen[ti] == nil {
		p.seen[ti] = map[uint64]bool{}
	}
	p.seen[ti][ino] = true
	return true, st
}

// record is the record of the spilled file of inode number ino on tier
// ti.
func (p *spillScan) record(ti int, ino uint64) fs.SpilledFile {
	return fs.SpilledFile{Ino: ino, Gen: p.recs[ti][ino]}
}

// settle drops record f of tier ti after the pass.
func (p *spillScan) settle(ti int, f fs.SpilledFile) {
	p.drop[ti] = append(p.drop[ti], f)
}

// finish drops the settled records and, where the tier was scanned
// completely (whole: no --user, not only the users held here; no
// error, not canceled), those that this scan
// and the one before (missed, by tier) did not find: the file was
// removed, or became another file. A file renamed within its tier keeps
// its inode number, so its record; one renamed across the scan's
// position (maildir's new/ to cur/ while it walked) is missed once. It
// returns the records missed this time, for the next pass.
func (p *spillScan) finish(ctx context.Context, sp Spills, whole bool, missed []map[uint64]uint64, r *Report) []map[uint64]uint64 {
	next := make([]map[uint64]uint64, len(p.recs))
	for ti, recs := range p.recs {
		drop := p.drop[ti]
		if ti < len(missed) {
			next[ti] = missed[ti]
		}
		if whole && !p.missing[ti] && ctx.Err() == nil {
			next[ti] = map[uint64]uint64{}
			drop = p.unseen(ti, recs, missed, next[ti], drop)
		}
		if len(drop) == 0 {
			continue
		}
		if err := sp.ForgetSpilled(ti, drop); err != nil {
			r.fail("", fmt.Errorf("forgetting spilled files: %w", err))
		}
	}
	return next
}

// unseen adds to drop the records of tier ti the scan did not find and
// the previous complete scan missed too; the others it did not find go
// into miss.
func (p *spillScan) unseen(ti int, recs map[uint64]uint64, missed []map[uint64]uint64, miss map[uint64]uint64, drop []fs.SpilledFile) []fs.SpilledFile {
	var before map[uint64]uint64
	if ti < len(missed) {
		before = missed[ti]
	}
	for ino, gen := range recs {
		if p.seen[ti][ino] {
			continue
		}
		if g, ok := before[ino]; ok && g == gen {
			drop = append(drop, fs.SpilledFile{Ino: ino, Gen: gen})
		} else {
			miss[ino] = gen
		}
	}
	return drop
}
