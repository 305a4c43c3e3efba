package mover

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"strings"

	"github.com/tierfs/tierfs/policy"
	"github.com/tierfs/tierfs/tiers"
)

// roomHeap keeps the oldest files of a tier below its target_free, as
// few as cover what must be freed plus a quarter (so that files found
// open at move time can be replaced by the next oldest): a max-heap by
// mtime whose newest file goes as soon as the others cover that much.
// Its memory is bounded by the shortfall, not by the tier's file count.
type roomHeap struct {
	keep  uint64 // bytes the kept files must cover
	sum   uint64 // bytes of the kept files
	items []candidate
}

func newRoomHeap(need uint64) *roomHeap { return &roomHeap{keep: need + need/4} }

// newer orders candidates by mtime, then path: the newest is greatest.
func newer(a, b candidate) int {
	return cmp.Or(a.mtime.Compare(b.mtime), strings.Compare(a.path, b.path))
}

func (h *roomHeap) Len() int           { return len(h.items) }
func (h *roomHeap) Less(i, j int) bool { return newer(h.items[i], h.items[j]) > 0 }
func (h *roomHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *roomHeap) Push(x any)         { h.items = append(h.items, x.(candidate)) }
func (h *roomHeap) Pop() any {
	c := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return c
}

// add offers c; it stays only while it is among the oldest files that
// cover keep.
func (h *roomHeap) add(c candidate) {
	heap.Push(h, c)
	h.sum += uint64(c.space)
	for h.Len() > 1 && h.sum-uint64(h.items[0].space) >= h.keep {
		h.sum -= uint64(heap.Pop(h).(candidate).space)
	}
}

// oldestFirst returns the kept files, oldest first.
func (h *roomHeap) oldestFirst() []candidate {
	out := slices.Clone(h.items)
	slices.SortFunc(out, newer)
	return out
}

// pressure is what a pass knows about space: the tiers' space when it
// started, and the bytes and inodes its moves added to each tier since
// (the sample lags a pass's own moves).
type pressure struct {
	tiers []*tiers.Tier
	base  []tiers.Space
	bytes []int64 // added by this pass's moves (negative: freed)
	files []int64
	fresh bool   // resample before each check (a real pass; a dry run moves nothing)
	room  []bool // the tier was back at target_free once in this pass
}

// newPressure samples every tier now.
func newPressure(ts []*tiers.Tier, fresh bool) *pressure {
	p := &pressure{tiers: ts, base: make([]tiers.Space, len(ts)), bytes: make([]int64, len(ts)), files: make([]int64, len(ts)),
		room: make([]bool, len(ts)), fresh: fresh}
	for i, t := range ts {
		p.base[i] = t.Space()
		if t.Up() { // a statfs of a lost NFS tier could hang
			p.base[i], _ = t.SampleSpace() // on error, the last sample
		}
	}
	return p
}

// space is tier ti's space as projected through this pass's moves; in a
// real pass, a fresh sample that shows less (other writers) wins.
func (p *pressure) space(ti int) tiers.Space {
	s := p.base[ti]
	s.Avail = addClamped(s.Avail, -p.bytes[ti])
	if s.Files > 0 {
		s.FreeFiles = addClamped(s.FreeFiles, -p.files[ti])
	}
	if !p.fresh {
		return s
	}
	if !p.tiers[ti].Up() {
		return s
	}
	if now, err := p.tiers[ti].SampleSpace(); err == nil {
		s.Avail, s.FreeFiles = min(s.Avail, now.Avail), min(s.FreeFiles, now.FreeFiles)
	}
	return s
}

func addClamped(v uint64, d int64) uint64 {
	if d < 0 && uint64(-d) > v {
		return 0
	}
	return uint64(int64(v) + d)
}

// moved accounts for size bytes moved from src to dst.
func (p *pressure) moved(src, dst int, size int64) {
	p.bytes[dst] += size
	p.bytes[src] -= size
	p.files[dst]++
	p.files[src]--
}

// needsRoom reports whether tier ti is still below its target_free. Once
// it is not, the pass makes no more room there (and stops sampling it).
func (p *pressure) needsRoom(ti int) bool {
	if !p.room[ti] && !p.tiers[ti].BelowTargetIn(p.space(ti)) {
		p.room[ti] = true
	}
	return !p.room[ti]
}

// refuse says why c may not go to its destination now ("" if it may):
// no move leaves a tier below min_free, and a misplaced file goes home
// only while its home is not below target_free (or it would be demoted
// again to make room: files would ping-pong).
func (p *pressure) refuse(c candidate) string {
	t, s := p.tiers[c.dst], p.space(c.dst)
	switch {
	case c.back && t.BelowTargetIn(s):
		return SkipHomeBelowTarget
	case !t.FitsIn(s, uint64(c.space)):
		return SkipNoSpace
	}
	return ""
}

// roomPlan decides, at the start of a pass, which tiers the scan makes
// room on: those below target_free, for the rules that place files there
// and demote them to another filesystem that is up. It returns the heaps
// by tier, the allowed (tier, demote tier) pairs and notes for the report.
func roomPlan(pol *Policy, ts []*tiers.Tier, p *pressure) (map[int]*roomHeap, map[[2]int]bool, []string) {
	heaps, pairs := map[int]*roomHeap{}, map[[2]int]bool{}
	var notes []string
	for ti, t := range ts {
		need := t.Shortfall(p.base[ti])
		if need == 0 || !t.Up() {
			continue
		}
		to := pol.demoteTiers(ti)
		for _, d := range to {
			switch {
			case t.SameFilesystem(ts[d]):
				notes = append(notes, sameFSNote(t, ts[d]))
			case !ts[d].Up():
				notes = append(notes, fmt.Sprintf("tier %s is below target_free, but its demote_to tier %s is down", t.Name, ts[d].Name))
			default:
				pairs[[2]int{ti, d}] = true
				heaps[ti] = newRoomHeap(need)
			}
		}
		if len(to) == 0 {
			notes = append(notes, fmt.Sprintf("tier %s is below target_free, but no rule demotes its files", t.Name))
		}
	}
	return heaps, pairs, notes
}

// demoteTiers lists the tiers, other than ti, that the rules placing
// files on ti demote them to.
func (pol *Policy) demoteTiers(ti int) []int {
	var out []int
	for _, r := range pol.Placement.Rules() {
		for b := range policy.Buckets {
			c := policy.Captures{Hash: fmt.Sprintf("%02x", b)}
			if to := r.Demote(c); r.Home(c) == ti && to >= 0 && to != ti && !slices.Contains(out, to) {
				out = append(out, to)
			}
		}
	}
	return out
}

func sameFSNote(t, to *tiers.Tier) string {
	return fmt.Sprintf("tier %s is below target_free, but its demote_to tier %s is on the same filesystem: demoting early would free nothing, so it makes no room", t.Name, to.Name)
}

// shortNotes tells which tiers the pass left below target_free.
func shortNotes(heaps map[int]*roomHeap, p *pressure) []string {
	var notes []string
	for ti, t := range p.tiers {
		if heaps[ti] == nil {
			continue
		}
		if need := t.Shortfall(p.space(ti)); need > 0 {
			notes = append(notes, fmt.Sprintf("tier %s is still %d bytes below target_free after this pass", t.Name, need))
		}
	}
	return notes
}
