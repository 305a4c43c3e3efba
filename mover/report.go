package mover

import (
	"errors"
	"maps"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maxFailures bounds the failures a report lists one by one.
const maxFailures = 100

// Report is the outcome of one pass. In a dry run, Files and Bytes are
// what the pass would have moved.
type Report struct {
	DryRun   bool             `json:"dry_run"`
	User     string           `json:"user,omitempty"`
	MaxBytes int64            `json:"max_bytes,omitempty"`
	Started  time.Time        `json:"started"`
	Finished time.Time        `json:"finished"`
	Scanned  int64            `json:"scanned"` // regular files looked at
	Files    int64            `json:"files"`
	Bytes    int64            `json:"bytes"`
	Linked   int64            `json:"linked,omitempty"` // of Files, those moved with several names
	Dirs     int64            `json:"dirs,omitempty"`   // directories copied off tiers no rule names
	Moves    map[string]Count `json:"moves,omitempty"`  // by "from->to"
	Skipped  map[string]int64 `json:"skipped"`          // by reason (Skip*)
	Failed   int64            `json:"failed"`
	Failures []Failure        `json:"failures,omitempty"` // the first maxFailures
	Stopped  string           `json:"stopped,omitempty"`  // why the pass ended early
	// MadeRoom counts, by the tier they left, the files of Files demoted
	// early because that tier was below its target_free.
	MadeRoom map[string]Count `json:"made_room,omitempty"`
	// Returned counts, by the tier they left, the files of Files that
	// placement had spilled there (their rule's tier was short) and
	// that went home while still too young to be demoted.
	Returned map[string]Count `json:"returned,omitempty"`
	Notes    []string         `json:"notes,omitempty"` // about space: why no room was made, what is still short
	// OtherHosts counts the users, in a cluster, whose files the pass
	// left alone because another host serves them (their files count
	// in Skipped as SkipOtherHost).
	OtherHosts int64 `json:"other_hosts,omitempty"`
	// Scope is how much of the tree the pass scanned, in a cluster; nil
	// outside one and for a --user pass.
	Scope *Scope `json:"scope,omitempty"`
	// Rebalance is what the pass found of an unfinished rebalance; nil
	// when none is pending.
	Rebalance *RebalanceReport `json:"rebalance,omitempty"`
}

// Count is a number of files and their bytes.
type Count struct {
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
}

// Failure is one move that failed (Path is empty for a scan error).
type Failure struct {
	Path  string `json:"path,omitempty"`
	Error string `json:"error"`
}

// Progress is the state of the running pass.
type Progress struct {
	Phase     string    `json:"phase"` // scanning, moving
	Started   time.Time `json:"started"`
	Files     int64     `json:"files"` // to move, known once the scan ends
	Bytes     int64     `json:"bytes"`
	FilesDone int64     `json:"files_done"`
	BytesDone int64     `json:"bytes_done"`
}

// Stats is what the mover did since the daemon started, for tierfs
// status and metrics.
type Stats struct {
	Running  *Progress        `json:"running,omitempty"`
	Runs     uint64           `json:"runs"`
	Last     *Report          `json:"last,omitempty"`
	Files    int64            `json:"files"` // moved by real passes
	Bytes    int64            `json:"bytes"`
	Skipped  map[string]int64 `json:"skipped"`
	Failed   int64            `json:"failed"`
	MadeRoom map[string]Count `json:"made_room,omitempty"` // by tier, of Files
	Interval time.Duration    `json:"interval_ns"`
	// HeldUntil is the end of a hold in force (tierfs hold).
	HeldUntil *time.Time `json:"held_until,omitempty"`

	BytesPerSecond int64   `json:"bytes_per_second"` // 0: unlimited
	FilesPerSecond float64 `json:"files_per_second"` // 0: unlimited
}

// totals accumulate the real (not dry-run) passes.
type totals struct {
	mu      sync.Mutex
	files   int64
	bytes   int64
	failed  int64
	skipped map[string]int64
	room    map[string]Count
}

func (t *totals) add(r *Report) {
	if r.DryRun {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.files += r.Files
	t.bytes += r.Bytes
	t.failed += r.Failed
	if t.skipped == nil {
		t.skipped = map[string]int64{}
	}
	for k, v := range r.Skipped {
		t.skipped[k] += v
	}
	for k, v := range r.MadeRoom {
		if t.room == nil {
			t.room = map[string]Count{}
		}
		c := t.room[k]
		c.Files, c.Bytes = c.Files+v.Files, c.Bytes+v.Bytes
		t.room[k] = c
	}
}

// Stats returns a snapshot; it is safe to call from any goroutine.
func (m *Mover) Stats() Stats {
	l := m.limits()
	s := Stats{Skipped: map[string]int64{}, Interval: l.Interval, BytesPerSecond: l.BytesPerSecond, FilesPerSecond: l.FilesPerSecond}
	m.totals.mu.Lock()
	s.Files, s.Bytes, s.Failed = m.totals.files, m.totals.bytes, m.totals.failed
	for k, v := range m.totals.skipped {
		s.Skipped[k] = v
	}
	if len(m.totals.room) > 0 {
		s.MadeRoom = maps.Clone(m.totals.room)
	}
	m.totals.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.progress != nil {
		p := *m.progress
		s.Running = &p
	}
	s.Runs, s.Last = m.runs, m.last
	if m.heldLocked() {
		t := m.heldUntil
		s.HeldUntil = &t
	}
	return s
}

func isMissing(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)
}
