package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/mover"
	"github.com/tierfs/tierfs/policy"
	"github.com/tierfs/tierfs/tiers"
)

// rebalanceRecord is this host's record of its rules' tier lists and of
// the older lists whose rebalance has not finished, kept in a copy on
// every persistent tier (tiers.RebalanceName). Copies are merged when
// read (policy.MergeRebalance), so a crash between writing two of them,
// or a tier added since, never loses a pending entry.
type rebalanceRecord struct {
	mu    sync.Mutex
	ts    []*tiers.Tier // the persistent tiers
	rec   policy.RebalanceRecord
	crash string // TIERFS_CRASHPOINT
}

// loadRebalance reads the record from the persistent tiers of ts, adds
// the lists of cfg that changed since as pending, and writes it back.
func loadRebalance(cfg *config.Config, ts []*tiers.Tier, now time.Time) (*rebalanceRecord, error) {
	b := &rebalanceRecord{crash: os.Getenv("TIERFS_CRASHPOINT")}
	for _, t := range ts {
		if t != nil && t.Persistent() {
			b.ts = append(b.ts, t)
		}
	}
	recs, err := readRebalance(b.ts)
	if err != nil {
		return nil, err
	}
	return b, b.write(policy.MergeRebalance(recs, cfg.ListRules(), now), stepRecord)
}

// readRebalance reads every copy of this host's record (nil where a
// tier has none).
func readRebalance(ts []*tiers.Tier) ([]*policy.RebalanceRecord, error) {
	var out []*policy.RebalanceRecord
	for _, t := range ts {
		b, err := t.ReadRebalance()
		if err != nil {
			return nil, err
		}
		if b == nil {
			out = append(out, nil)
			continue
		}
		var r policy.RebalanceRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("tier %q: %s is not a rebalance record (%w); it records tier lists whose rebalance has not finished: restore it, or remove it if no tier list changed since it was written", t.Name, t.StateName(tiers.RebalanceName), err)
		}
		out = append(out, &r)
	}
	return out, nil
}

// write replaces every copy with r, then keeps r. A crash leaves each
// copy old or new; the crash points STEP-before-rename (the first
// copy's temporary is durable) and STEP-after-first (the first copy is
// replaced, the others not yet) stop the daemon there in tests.
func (b *rebalanceRecord) write(r policy.RebalanceRecord, step string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("rebalance record: %w", err)
	}
	for i, t := range b.ts {
		var renaming func()
		if i == 0 {
			renaming = func() { b.crashAt(step + "-before-rename") }
		}
		if err := t.WriteRebalance(append(data, '\n'), renaming); err != nil {
			return err
		}
		if i == 0 {
			b.crashAt(step + "-after-first")
		}
	}
	b.rec = r
	return nil
}

// The record's writes, as crash points name them.
const (
	stepRecord = "rebalance-record" // a mount or reload records its lists
	stepClear  = "rebalance-clear"  // a finished rebalance is cleared
)

// crashAt kills the daemon at a named step when a test asked for it.
func (b *rebalanceRecord) crashAt(point string) {
	if b.crash == point {
		slog.Warn("crash point reached; killing the daemon", "point", point)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}

// pending returns the pending entries.
func (b *rebalanceRecord) pending() []policy.PendingRebalance {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.rec.Pending)
}

// placement returns cfg's rules knowing the pending old lists.
func (b *rebalanceRecord) placement(cfg *config.Config) (*policy.Placement, error) {
	old, err := cfg.OldLists(b.pending())
	if err != nil {
		return nil, err
	}
	return cfg.Placement.WithPending(old), nil
}

// reload records the lists of a reloaded cfg, adding the ones it changed
// as pending. A record that cannot be written is still applied in
// memory (the next mount finds the change again against the copies
// not rewritten); the error says so.
func (b *rebalanceRecord) reload(cfg *config.Config, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := policy.MergeRebalance([]*policy.RebalanceRecord{&b.rec}, cfg.ListRules(), now)
	if equalRecords(r, b.rec) {
		return nil
	}
	err := b.write(r, stepRecord)
	b.rec = r
	return err
}

// finish drops the pending entries with the given keys, which a mover
// pass proved finished. On an error the daemon keeps them.
func (b *rebalanceRecord) finish(keys []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.write(b.rec.WithoutPending(keys), stepClear)
}

// equalRecords compares records as they are written.
func equalRecords(a, b policy.RebalanceRecord) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// rebalanced clears the old lists a complete mover pass proved finished
// from the record and from the rules in force (mover.SetRebalanced).
func (d *mountd) rebalanced(keys []string) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	before := d.rebalance.pending()
	if err := d.rebalance.finish(keys); err != nil {
		return err
	}
	if err := d.applyPending(d.cfg.Load()); err != nil {
		return err
	}
	for _, p := range before {
		if slices.Contains(keys, p.Key()) {
			d.log.Info("rebalance finished: no file is left on the old members", "rule", p.Match, "old", pendingLists(p))
		}
	}
	return nil
}

// applyPending puts cfg's rules, knowing the pending old lists, in force
// for lookups and the mover.
func (d *mountd) applyPending(cfg *config.Config) error {
	p, err := d.rebalance.placement(cfg)
	if err != nil {
		return err
	}
	c := *cfg
	c.Placement = p
	pol, err := mover.PolicyFrom(&c)
	if err != nil {
		return err
	}
	if err := d.root.SetPlacement(p); err != nil {
		return err
	}
	d.mover.SetPolicy(pol)
	d.cfg.Store(&c)
	return nil
}

// pendingLists spells an entry's old lists: "tier=fast demote_to=[nfs1, nfs2]".
func pendingLists(p policy.PendingRebalance) string {
	s := "tier=" + config.TierNames(p.Tier).String()
	if len(p.DemoteTo) > 0 {
		s += " demote_to=" + config.TierNames(p.DemoteTo).String()
	}
	return s
}

// pendingLine tells a person about one pending entry.
func pendingLine(p policy.PendingRebalance) string {
	return fmt.Sprintf("rule %q was %s (since %s): its old members may still hold files of buckets they gave up; an outage of one fails those buckets with EIO until a complete mover pass or tierfs check finds none left",
		p.Match, pendingLists(p), p.Since.Local().Format(time.DateTime))
}

// pendingSummary joins the entries' lines for a log attribute.
func pendingSummary(ps []policy.PendingRebalance) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s was %s", p.Match, pendingLists(p))
	}
	return strings.Join(parts, "; ")
}

// openRebalance reads and updates this host's record at mount and puts
// its pending old lists into cfg's rules, before anything is served.
func (d *mountd) openRebalance(cfg *config.Config, ts []*tiers.Tier) error {
	rb, err := loadRebalance(cfg, ts, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Source, err)
	}
	d.rebalance = rb
	if cfg.Placement, err = rb.placement(cfg); err != nil {
		return fmt.Errorf("%s: %w", cfg.Source, err)
	}
	if ps := rb.pending(); len(ps) > 0 {
		d.log.Warn("rebalance pending: old members keep failing their old buckets with EIO while down, until a complete mover pass finds nothing left on them", "pending", pendingSummary(ps))
	}
	return nil
}

// reloadRebalance records the lists of a reloaded cfg and puts the
// pending old lists into its rules.
func (d *mountd) reloadRebalance(cfg *config.Config) error {
	before := len(d.rebalance.pending())
	if err := d.rebalance.reload(cfg, time.Now()); err != nil {
		d.log.Error("cannot write the rebalance record; the change is kept in memory and found again at the next mount", "err", err)
	}
	if ps := d.rebalance.pending(); len(ps) > before {
		d.log.Warn("reload changed a tier list: rebalance pending", "pending", pendingSummary(ps))
	}
	p, err := d.rebalance.placement(cfg)
	if err != nil {
		return err
	}
	cfg.Placement = p
	return nil
}
