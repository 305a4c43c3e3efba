// Package mover moves files between tiers in the background: ALT aging
// (old mail to the slow tier, for every mailbox format) and correcting
// misplaced files (a rename or a rule change left them on a tier their
// rule does not give). It finds candidates by walking the tiers' own
// directories, never the mount, and moves each with the filesystem's
// crash-safe move primitive, which skips files that are open, changed
// during the copy or whose names changed; those are retried on the next
// pass. A hard-linked file moves with all its names, when the scan found
// every one of them and their rules agree.
package mover

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tierfs/tierfs/fs"
	"github.com/tierfs/tierfs/tiers"
)

// Primitive moves one file (a path inside the mount) to tier dst and
// returns the bytes moved; MoveLinked moves a file with several names,
// given all of them. It also tells which files placement spilled (see
// Spills). *fs.Root implements it.
type Primitive interface {
	Move(ctx context.Context, p string, dst int) (int64, error)
	MoveLinked(ctx context.Context, paths []string, dst int) (int64, error)
	// CopyDir makes directory p exist on tier dst too (see dirCand).
	CopyDir(p string, dst int) error
	Spills
}

// Observer is told about every move and hold; metrics.Mover implements
// it.
type Observer interface {
	Moved(from, to string, bytes int64)
	Failed(from, to string)
	// MadeRoom is told, besides Moved, about a file demoted early to
	// make room on tier (below its target_free).
	MadeRoom(tier string, bytes int64)
	// Held is told the end of a hold (tierfs hold); the zero time, of
	// a release.
	Held(until time.Time)
}

// Config is what a Mover works with.
type Config struct {
	Tiers    []*tiers.Tier
	Policy   *Policy
	Move     Primitive
	Limits            // as at start; SetLimits changes them
	Observer Observer // may be nil
	Logger   *slog.Logger
	Now      func() time.Time // for tests; time.Now by default
}

// Limits are the mover's settings besides its rules that a config
// reload may change while it runs.
type Limits struct {
	Targets        []int         // tiers moves may go to (nil: all); see Targets
	Interval       time.Duration // between scheduled passes; 0: none
	BytesPerSecond int64         // 0: unlimited
	FilesPerSecond float64       // 0: unlimited
}

// Mover runs passes, one at a time, on a schedule and on demand.
type Mover struct {
	cfg     Config // its Limits only seed lim
	pol     atomic.Pointer[Policy]
	lim     atomic.Pointer[Limits]
	resched chan struct{} // the interval changed; buffered, holds one
	sem     chan struct{} // held by the running pass
	totals  totals

	mu       sync.Mutex
	progress *Progress // the running pass, nil when idle
	last     *Report
	runs     uint64
	logged   map[string]bool // notes logged once (logNotes)
	// missed are the spilled files' records, by tier, that the last
	// complete scan did not find; owned by the running pass (sem).
	missed []map[uint64]uint64
	// rebalanced clears finished old lists (SetRebalanced); nil: none.
	rebalanced func(keys []string) error
	// host and leader put the mover in a cluster (SetCluster).
	host       string
	leader     func() (string, error)
	lastLeader string // under mu: the leader the last pass found
	// heldUntil is the end of a hold (Hold); cancelPass cancels the
	// running pass. Both under mu.
	heldUntil  time.Time
	cancelPass context.CancelFunc
}

// New returns a mover; call Run to start its schedule.
func New(cfg Config) (*Mover, error) {
	if cfg.Policy == nil || cfg.Move == nil || len(cfg.Tiers) == 0 {
		return nil, errors.New("mover: tiers, policy and move primitive are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Mover{cfg: cfg, sem: make(chan struct{}, 1), resched: make(chan struct{}, 1)}
	m.pol.Store(cfg.Policy)
	l := cfg.Limits
	m.lim.Store(&l)
	return m, nil
}

// SetPolicy replaces the rules (after a config reload); the next pass
// uses them.
func (m *Mover) SetPolicy(p *Policy) { m.pol.Store(p) }

// SetLimits replaces the targets, interval and rate limits (after a
// config reload). A running pass adopts the rates at its next file and
// keeps the targets it scanned for; a changed interval restarts the
// wait for the next scheduled pass.
func (m *Mover) SetLimits(l Limits) {
	old := m.lim.Swap(&l)
	if old.Interval == l.Interval {
		return // rescheduling on every reload could put a pass off forever
	}
	select {
	case m.resched <- struct{}{}:
	default: // one already pending
	}
}

// limits returns the settings in force.
func (m *Mover) limits() *Limits { return m.lim.Load() }

// Options narrow one pass.
type Options struct {
	DryRun   bool   `json:"dry_run,omitempty"`
	User     string `json:"user,omitempty"`      // only files whose rule captures this {user}
	MaxBytes int64  `json:"max_bytes,omitempty"` // stop once this many bytes moved; 0: no limit
	// Scheduled scopes the pass as the schedule does: in a cluster,
	// the whole tree only on the mover leader (see Scope).
	Scheduled bool `json:"scheduled,omitempty"`
}

// Run runs a pass every interval until ctx ends; with no interval it
// waits for a reload to set one. It also starts a pass early when a tier
// it can make room on falls below its target_free (see pressureGap). A
// pass due while another runs (one asked for by tierfs migrate) is
// skipped.
func (m *Mover) Run(ctx context.Context) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	poll := time.NewTicker(pressurePoll)
	defer poll.Stop()
	m.schedule(tick)
	var pr pressureSchedule
	for {
		pressured := false
		select {
		case <-ctx.Done():
			return
		case <-m.resched:
			m.schedule(tick)
			continue
		case <-tick.C:
		case <-poll.C:
			tier := m.pressured()
			if tier == "" || !pr.due(time.Now()) || !m.HeldUntil().IsZero() {
				continue
			}
			pressured = true
			m.cfg.Logger.Info("mover: tier below target_free; starting a pass to make room", "tier", tier)
		}
		select {
		case m.sem <- struct{}{}:
		default:
			continue
		}
		pctx, end, err := m.begin(ctx)
		if err != nil { // held: the pass is skipped
			<-m.sem
			continue
		}
		r := m.pass(pctx, Options{Scheduled: true})
		end()
		<-m.sem
		if pressured {
			pr.ran(time.Now(), len(r.MadeRoom) > 0, m.limits().Interval)
		}
		m.logPass(r)
	}
}

// logPass logs a scheduled pass's outcome; in a cluster, with its scope.
func (m *Mover) logPass(r *Report) {
	args := []any{"files", r.Files, "bytes", r.Bytes, "skipped", r.Skipped, "failed", r.Failed, "made_room", r.MadeRoom}
	if r.Scope != nil {
		args = append(args, "scope", r.Scope.String(), "scanned", r.Scanned)
	}
	m.cfg.Logger.Info("mover pass finished", args...)
}

// The daemon looks at the health probe's space samples every
// pressurePoll and starts at most one pass per pressureGap for a tier
// below target_free. A pass that made no room (nothing old enough is
// movable: files open, quiet, or of rules without demote_to) doubles the
// wait, up to the interval, so that a tier whose files cannot move does
// not keep the mover scanning.
const (
	pressurePoll = 2 * time.Second
	pressureGap  = 30 * time.Second
)

// pressureSchedule is when the next pressure-started pass may run.
type pressureSchedule struct {
	next time.Time
	gap  time.Duration
}

func (p *pressureSchedule) due(now time.Time) bool { return !now.Before(p.next) }

// ran records a pressure-started pass that ended at now.
func (p *pressureSchedule) ran(now time.Time, madeRoom bool, interval time.Duration) {
	switch {
	case madeRoom || p.gap == 0:
		p.gap = pressureGap
	default:
		p.gap = min(2*p.gap, max(interval, pressureGap))
	}
	p.next = now.Add(p.gap)
}

// pressured names a tier below its target_free (by the last sample) that
// a rule demotes from to another filesystem that is up, or returns "". Only with a
// schedule: an interval of 0 means passes on demand only.
func (m *Mover) pressured() string {
	if m.limits().Interval <= 0 {
		return ""
	}
	pol, ts := m.pol.Load(), m.cfg.Tiers
	for ti, t := range ts {
		if !t.Up() || !t.BelowTarget() {
			continue
		}
		for _, d := range pol.demoteTiers(ti) {
			if ts[d].Up() && !t.SameFilesystem(ts[d]) {
				return t.Name
			}
		}
	}
	return ""
}

// schedule sets t to the interval in force, counted from now, or stops
// it when there is none.
func (m *Mover) schedule(t *time.Ticker) {
	if iv := m.limits().Interval; iv > 0 {
		t.Reset(iv)
	} else {
		t.Stop()
	}
}

// RunOnce runs one pass now, after waiting for a pass in progress, and
// returns its report. It fails with ErrHeld while the mover is held.
func (m *Mover) RunOnce(ctx context.Context, o Options) (*Report, error) {
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-m.sem }()
	ctx, end, err := m.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	return m.pass(ctx, o), nil
}

// pass scans the tiers and moves what should move, then makes room on
// the tiers below target_free.
func (m *Mover) pass(ctx context.Context, o Options) *Report {
	m.settleDead(ctx, o)
	r := &Report{DryRun: o.DryRun, User: o.User, MaxBytes: o.MaxBytes, Started: m.cfg.Now(), Skipped: map[string]int64{}}
	prog := &Progress{Phase: "scanning", Started: r.Started}
	m.setProgress(prog)
	pol := m.pol.Load()
	r.Scope = m.scope(o, pol)
	sp := newPressure(m.cfg.Tiers, !o.DryRun)
	s := newScan(pol, m.cfg.Tiers, r.Started, o.User)
	s.partial, s.roots = r.Scope.partial(), r.Scope.dirs()
	s.targets = m.limits().Targets
	s.spills = newSpillScan(m.cfg.Move.Spilled())
	s.room, s.roomTo, r.Notes = roomPlan(pol, m.cfg.Tiers, sp)
	m.logNotes(r.Notes)
	staleBefore, _ := m.staleChanges()
	s.run(ctx)
	r.Scanned = s.scanned
	if n := len(pol.Placement.Pending()); n > 0 {
		r.Rebalance = &RebalanceReport{Pending: n, Left: s.stale}
	}
	for _, err := range s.errs {
		r.fail("", err)
	}
	cands := append(s.cands, s.roomCands()...)
	m.mu.Lock()
	prog.Phase = "moving"
	for _, c := range cands {
		if c.skip == "" {
			prog.Files++
			prog.Bytes += c.size
		}
	}
	m.mu.Unlock()
	m.copyDirs(s.dirs, o, r)
	m.moveAll(ctx, pol, cands, o, r, prog, sp, &s.spills)
	if !o.DryRun {
		m.missed = s.spills.finish(ctx, m.cfg.Move, o.User == "" && !s.partial, m.missed, r)
	}
	if ctx.Err() != nil && r.Stopped == "" {
		r.Stopped = "canceled"
		if !m.HeldUntil().IsZero() {
			r.Stopped = "held (tierfs hold)"
		}
	}
	m.settleRebalance(pol, o, r, staleBefore)
	r.Notes = append(r.Notes, shortNotes(s.room, sp)...)
	r.Finished = m.cfg.Now()
	m.finish(r)
	return r
}

// moveAll moves the candidates in order, paced by the limits: the
// scan's in scan order, then those making room, oldest first, while
// their tier is below target_free.
func (m *Mover) moveAll(ctx context.Context, pol *Policy, cands []candidate, o Options, r *Report, prog *Progress, sp *pressure, spills *spillScan) {
	pace := &pacer{m: m}
	lb := newLeaseBatch(m.cfg.Move, o.DryRun)
	defer lb.note(r)
	defer lb.done()
	for _, c := range cands {
		if c.room && !sp.needsRoom(c.src) {
			continue // enough room made: the rest of the tier's files stay
		}
		if c.skip != "" {
			r.Skipped[c.skip]++
			continue
		}
		if o.MaxBytes > 0 && r.Bytes+c.size > o.MaxBytes {
			r.Stopped = "max-bytes reached"
			return
		}
		if ctx.Err() != nil {
			return
		}
		if reason := lb.take(ctx, c); reason != "" {
			r.Skipped[reason]++
			continue
		}
		reason, err := pace.admit(ctx, c, o.DryRun, sp)
		if err != nil {
			return
		}
		if reason != "" {
			r.Skipped[reason]++
			continue
		}
		if o.DryRun {
			r.moved(m.route(c), c.size, len(c.links))
			m.noteRoom(c, c.size, r, sp, true)
			m.noteReturned(c, c.size, r, nil)
		} else {
			n, err := m.moveOne(ctx, c)
			if m.record(c, n, err, r, sp) {
				m.noteReturned(c, n, r, spills)
				r.moveStale(pol, c)
			}
		}
		m.advance(prog, c.size)
	}
}

// pacer holds a pass's rate limiters, renewed when a reload changes
// the rates.
type pacer struct {
	m            *Mover
	lim          *Limits
	files, bytes *limiter
}

// admit waits for the rate limits (not in a dry run) and says why c may
// not move now ("" if it may), checking space before the wait (a
// refused file costs no rate) and after it, just before the copy, on a
// fresh sample. It fails when ctx ends during the wait.
func (p *pacer) admit(ctx context.Context, c candidate, dry bool, sp *pressure) (string, error) {
	if l := p.m.limits(); l != p.lim { // first file, or a reload changed the rates
		p.lim = l
		p.files, p.bytes = newLimiter(l.FilesPerSecond), newLimiter(float64(l.BytesPerSecond))
	}
	if reason := sp.refuse(c); reason != "" || dry {
		return reason, nil
	}
	if err := p.files.wait(ctx, 1); err != nil {
		return "", err
	}
	if err := p.bytes.wait(ctx, float64(c.size)); err != nil {
		return "", err
	}
	return sp.refuse(c), nil
}

// moveOne moves a candidate: a file with one name, or all the names
// of a hard-linked one.
func (m *Mover) moveOne(ctx context.Context, c candidate) (int64, error) {
	if len(c.links) > 1 {
		return m.cfg.Move.MoveLinked(ctx, c.links, c.dst)
	}
	return m.cfg.Move.Move(ctx, c.path, c.dst)
}

// record files one move's outcome in the report and the observer, and
// says whether the file moved.
func (m *Mover) record(c candidate, n int64, err error, r *Report, sp *pressure) bool {
	from, to := m.cfg.Tiers[c.src].Name, m.cfg.Tiers[c.dst].Name
	if reason := skipReason(err); reason != "" {
		r.Skipped[reason]++
		return false
	}
	if err != nil {
		r.fail(c.path, err)
		if m.cfg.Observer != nil {
			m.cfg.Observer.Failed(from, to)
		}
		m.cfg.Logger.Warn("mover: move failed", "path", c.path, "from", from, "to", to, "err", err)
		return false
	}
	r.moved(from+"->"+to, n, len(c.links))
	if m.cfg.Observer != nil {
		m.cfg.Observer.Moved(from, to, n)
	}
	m.noteRoom(c, n, r, sp, false)
	return true
}

// noteReturned counts a spilled file that went (or, in a dry run, would
// go) home, and drops its record after the pass.
func (m *Mover) noteReturned(c candidate, n int64, r *Report, spills *spillScan) {
	if !c.ret {
		return
	}
	r.returned(m.cfg.Tiers[c.src].Name, n)
	if spills != nil {
		spills.settle(c.src, c.spill)
	}
}

// noteRoom accounts for a move (real or, in a dry run, predicted) in the
// pass's space projection and, for an early demotion, in the room made.
func (m *Mover) noteRoom(c candidate, n int64, r *Report, sp *pressure, dry bool) {
	sp.moved(c.src, c.dst, c.space)
	if !c.room {
		return
	}
	tier := m.cfg.Tiers[c.src].Name
	r.madeRoom(tier, n)
	if !dry && m.cfg.Observer != nil {
		m.cfg.Observer.MadeRoom(tier, n)
	}
}

// skipReason maps the primitive's skip errors to reasons; "" for
// success and real failures.
func skipReason(err error) string {
	for _, s := range []struct {
		err    error
		reason string
	}{
		{fs.ErrOpen, SkipOpen}, {fs.ErrChanged, SkipChanged}, {fs.ErrHardLinked, SkipHardLinked},
		{fs.ErrNotFile, SkipNotFile}, {fs.ErrMoving, SkipMoving}, {fs.ErrDuplicate, SkipDuplicate},
	} {
		if errors.Is(err, s.err) {
			return s.reason
		}
	}
	if err != nil && isMissing(err) {
		return SkipGone
	}
	return ""
}

func (m *Mover) setProgress(p *Progress) {
	m.mu.Lock()
	m.progress = p
	m.mu.Unlock()
}

func (m *Mover) advance(p *Progress, size int64) {
	m.mu.Lock()
	p.FilesDone++
	p.BytesDone += size
	m.mu.Unlock()
}

// finish publishes a finished pass.
func (m *Mover) finish(r *Report) {
	m.totals.add(r)
	m.mu.Lock()
	m.progress = nil
	m.last = r
	m.runs++
	m.mu.Unlock()
}

func (r *Report) fail(p string, err error) {
	r.Failed++
	if len(r.Failures) < maxFailures {
		r.Failures = append(r.Failures, Failure{Path: p, Error: err.Error()})
	}
}

// route names a candidate's move as "from->to".
func (m *Mover) route(c candidate) string {
	return m.cfg.Tiers[c.src].Name + "->" + m.cfg.Tiers[c.dst].Name
}

// moved counts a file moved on route with n bytes and the given number
// of names (0 or 1: a file with one name).
func (r *Report) moved(route string, n int64, names int) {
	r.Files++
	if names > 1 {
		r.Linked++
	}
	r.Bytes += n
	r.Moves = addCount(r.Moves, route, n)
}

// returned counts a spilled file of n bytes that went home from tier.
func (r *Report) returned(tier string, n int64) { r.Returned = addCount(r.Returned, tier, n) }

// madeRoom counts an early demotion of n bytes from tier.
func (r *Report) madeRoom(tier string, n int64) { r.MadeRoom = addCount(r.MadeRoom, tier, n) }

// addCount adds a file of n bytes to m[k], making m if it is nil.
func addCount(m map[string]Count, k string, n int64) map[string]Count {
	if m == nil {
		m = map[string]Count{}
	}
	cnt := m[k]
	cnt.Files++
	cnt.Bytes += n
	m[k] = cnt
	return m
}

// logNotes logs each note once in the mover's life: a pass a minute
// would otherwise repeat a standing condition (the same filesystem) in
// every one.
func (m *Mover) logNotes(notes []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range notes {
		if m.logged[n] {
			continue
		}
		if m.logged == nil {
			m.logged = map[string]bool{}
		}
		m.logged[n] = true
		m.cfg.Logger.Warn("mover: " + n)
	}
}
