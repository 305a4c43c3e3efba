package fs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tierfs/tierfs/tiers"
)

// In a cluster a multi-tier change of a user's files runs under the
// user's lease, and so does every replay of its intent: the host that
// takes a user's lease first finishes what it finds unfinished for the
// user, in its own journal (its mount left it while another host held
// the user) and in the journal of every dead host (it crashed holding
// the user). It replays another host's intents only while holding that
// host's lock (tiers.Tier.LockHostOf), which that host's daemon holds
// from before its own replay until it exits.

// intentUsers returns the users whose directories the paths of in lie
// at or beneath, sorted: the fixed order in which their leases are
// taken.
func (s *leaseSet) intentUsers(in intent) []userKey {
	seen := map[userKey]bool{}
	for _, p := range append([]string{in.From, in.To}, in.Paths...) {
		if k, _, ok := s.userKeyOf(p); ok && p != "" {
			seen[k] = true
		}
	}
	return slices.SortedFunc(maps.Keys(seen), func(a, b userKey) int {
		if c := strings.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		return strings.Compare(a.user, b.user)
	})
}

// settleUser finishes the intents that touch u, which this host has
// just acquired, before any request for u is served. An error leaves
// the acquisition failed (fail closed). Called with u.mu held.
func (r *Root) settleUser(u *userLease) error {
	if r.journal == nil {
		return nil
	}
	if err := r.settleJournal(u, r.journal, ""); err != nil {
		return err
	}
	if r.leases.dead == nil {
		return nil // no way to tell a dead host: each host settles its own
	}
	hs, err := otherHosts(r.journal.t, JournalDir)
	if err != nil {
		return err
	}
	for _, h := range hs {
		if err := r.settleHost(u, h); err != nil {
			return err
		}
	}
	return nil
}

// settleHost finishes the intents that touch u in the journal h of
// another host, if that host is dead and not mounting.
func (r *Root) settleHost(u *userLease, h tiers.HostState) error {
	t := r.journal.t
	j := &journal{t: t, dir: h.Name}
	ins, err := j.settling()
	if err != nil {
		return err
	}
	if !r.leases.touches(ins, u.key) {
		return nil
	}
	dead, err := r.leases.isDead(h.Host)
	if err != nil {
		return fmt.Errorf("cluster: is host %q alive: %w", h.Host, err)
	}
	if !dead {
		// Its change is in flight, or its mount left it: it finishes
		// it, and the user is not served half done meanwhile.
		return fmt.Errorf("cluster: live host %q has an unfinished change of the user: %w", h.Host, errLiveChange)
	}
	unlock, err := t.LockHostOf(h.Host)
	if err != nil {
		// Its daemon is mounting: its replay comes first, and the next
		// request takes the lease again.
		return fmt.Errorf("cluster: finish host %q's unfinished changes of the user: %w", h.Host, err)
	}
	defer unlock()
	r.crashAt("takeover-locked", "host", h.Host)
	return r.settleJournal(u, j, h.Host)
}

// settling reads j's intents for settling them: none when j does not
// exist, an error naming j otherwise.
func (j *journal) settling() (map[string]intent, error) {
	ins, err := j.intents(false)
	if missing(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tier %q: read %s: %w", j.t.Name, j.dir, err)
	}
	return ins, nil
}

// errLiveChange: a live host's journal holds an unfinished change of the
// user; that host finishes it.
var errLiveChange = errors.New("left for that host to finish")

// touches reports whether an intent of ins touches user k.
func (s *leaseSet) touches(ins map[string]intent, k userKey) bool {
	for _, in := range ins {
		if slices.Contains(s.intentUsers(in), k) {
			return true
		}
	}
	return false
}

// isDead reports whether host counts as dead; without a way to tell,
// as alive.
func (s *leaseSet) isDead(host string) (bool, error) {
	if s.dead == nil {
		return false, nil
	}
	return s.dead(host)
}

// settleJournal replays the intents of j that touch u (j is host's
// journal, "" for this host's own) whose other users this host holds
// too; the others stay for whoever next holds them all. An intent this
// host's own change is carrying out right now is left alone.
func (r *Root) settleJournal(u *userLease, j *journal, host string) error {
	ins, err := j.settling()
	if err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(ins)) {
		in := ins[id]
		users := r.leases.intentUsers(in)
		if !slices.Contains(users, u.key) || j.running(id) {
			continue
		}
		unlock, ok := r.leases.lockOthers(users, u)
		if !ok {
			r.log.Warn("cluster: an unfinished change also touches users this host does not hold; left for whoever holds them all",
				"op", in.Op, "from", in.From, "to", in.To, "host", host)
			continue
		}
		err := r.settleIntent(j, id, in, host)
		unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// lockOthers locks the leases of users other than u, each held and
// valid, without waiting (u.mu is held: waiting could deadlock).
func (s *leaseSet) lockOthers(users []userKey, u *userLease) (unlock func(), ok bool) {
	var locked []*userLease
	unlock = func() {
		for _, v := range locked {
			v.mu.Unlock()
			s.unpin(v)
		}
	}
	for _, k := range users {
		if k == u.key {
			continue
		}
		v := s.get(k)
		if !v.mu.TryLock() {
			s.unpin(v)
			unlock()
			return nil, false
		}
		locked = append(locked, v)
		if !v.valid(s.now()) {
			unlock()
			return nil, false
		}
	}
	return unlock, true
}

// settleIntent replays intent id of j and removes it. Another host's
// intent loses its steps on tiers this host does not have (localIntent).
func (r *Root) settleIntent(j *journal, id string, in intent, host string) error {
	r.tree.Lock() // as a directory rename does: moves wait
	defer r.tree.Unlock()
	what := "this host's"
	if host != "" {
		what = "dead host " + host + "'s"
	}
	r.log.Warn("cluster: finishing "+what+" unfinished change before serving the user", "op", in.Op, "from", in.From, "to", in.To, "tiers", in.Tiers)
	replay := true
	if host != "" {
		if in, replay = r.localIntent(in); !replay {
			r.log.Warn("cluster: the unfinished change has no step on a tier this host has; dropped", "op", in.Op, "from", in.From, "host", host)
		}
	}
	if replay {
		aside, err := r.replayIntent(in)
		if err != nil {
			return fmt.Errorf("journal %s/%s: %w", j.dir, id, err)
		}
		if len(aside) > 0 {
			r.log.Error("cluster: finishing the change kept two different copies", "set_aside", aside)
		}
	}
	r.crashAt("takeover-before-end", "intent", id)
	return j.end(id)
}

// localIntent is another host's intent in without its steps on tiers
// this host does not have: tiers of another name, and tmpfs tiers,
// which are per host (that host's state there is dropped when it takes
// the user again: hostchange). ok is false when nothing is left to do:
//   - rename-dir renames on the remaining tiers;
//   - rename-file: the source's tier decides whether the rename
//     happened, so with it gone the rename counts as not done (its
//     result was on that host only); else the replaced copies on the
//     remaining tiers go;
//   - move and move-linked: with either tier gone, nothing is removed
//     (a copy on a shared tier may be the only one left).
func (r *Root) localIntent(in intent) (intent, bool) {
	here := func(name string) bool {
		ti := r.tierIndex(name)
		return ti >= 0 && r.tiers[ti].Kind != tiers.KindTmpfs
	}
	switch in.Op {
	case opRenameDir:
		var ts []string
		for _, n := range in.Tiers {
			if here(n) {
				ts = append(ts, n)
			}
		}
		in.Tiers = ts
		return in, len(ts) > 0
	case opRenameFile:
		if len(in.Tiers) == 0 || !here(in.Tiers[0]) {
			return in, false
		}
		ts := []string{in.Tiers[0]}
		for _, n := range in.Tiers[1:] {
			if here(n) {
				ts = append(ts, n)
			}
		}
		in.Tiers = ts
		return in, len(ts) > 1
	case opMove, opMoveLinked:
		return in, !slices.ContainsFunc(in.Tiers, func(n string) bool { return !here(n) })
	}
	return in, true // replayIntent refuses what it does not know
}

// holdIntentUsers holds, at mount, the leases of the users in touches,
// in a fixed order, before its replay. Taking a lease settles the
// user's intents (settleUser), so the caller checks the intent is still
// there. ErrOtherHost: another live host holds one of them; that host,
// or this one's next acquisition of the user, settles it.
func (r *Root) holdIntentUsers(in intent) (release func(), err error) {
	var rels []func()
	release = func() {
		for _, f := range rels {
			f()
		}
	}
	if r.leases == nil {
		return release, nil
	}
	for _, k := range r.leases.intentUsers(in) {
		u := r.leases.get(k)
		// Waiting as a request would: a user left for want of a
		// moment's patience is served by no host until this one
		// takes it again.
		if err := u.hold(context.Background(), 0); err != nil {
			r.leases.unpin(u)
			release()
			return nil, fmt.Errorf("user %s/%s: %w", k.hash, k.user, err)
		}
		rels = append(rels, func() { u.opens.Add(-1); r.leases.unpin(u) })
	}
	return release, nil
}

// SettleDeadHosts takes over what dead hosts left, for the mover's
// pass: the leases of the users their unfinished intents touch (taking
// a lease finishes them, settleUser), the same for this host's own
// intents its mount left, and dead hosts' kept links of replaced files,
// which no open descriptor needs any more and which would keep those
// files from being moved. Outside a cluster it does nothing.
func (r *Root) SettleDeadHosts(ctx context.Context) error {
	s := r.leases
	if s == nil || s.dead == nil || r.journal == nil {
		return nil
	}
	errs := []error{r.settleDeadIntents(ctx), r.settleOutside()}
	for _, t := range r.tiers {
		if t.Shared() {
			errs = append(errs, r.clearDeadKept(t))
		}
	}
	return errors.Join(errs...)
}

// settleDeadIntents holds, briefly, the users of dead hosts' intents,
// and of this host's own that its mount left (another host held the
// user then): taking the lease finishes them. Without this, a user
// whose requests go to another host would be refused there for as
// long as this host's journal holds a change of the user.
func (r *Root) settleDeadIntents(ctx context.Context) error {
	t := r.journal.t
	hs, err := t.HostStates(JournalDir)
	if err != nil {
		return fmt.Errorf("tier %q: list the journals: %w", t.Name, err)
	}
	var errs []error
	for _, h := range hs {
		if h.Host == "" {
			continue
		}
		j := r.journal
		if !t.Own(h) {
			j = &journal{t: t, dir: h.Name}
		}
		ins, err := j.intents(false)
		if err != nil || len(ins) == 0 {
			continue
		}
		if !t.Own(h) {
			if dead, err := r.leases.isDead(h.Host); err != nil || !dead {
				continue
			}
		}
		for id, in := range ins {
			if j.running(id) {
				continue // this host's change in progress, under its lease
			}
			for _, k := range r.leases.intentUsers(in) {
				if err := r.holdBriefly(ctx, k); err != nil {
					errs = append(errs, fmt.Errorf("host %q's change of user %s/%s: %w", h.Host, k.hash, k.user, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// outsideEvery is how often a mount in a cluster looks for dead hosts'
// unfinished changes outside the per-user directories: no request
// settles those (a user's are settled by taking the lease), and the
// mover may run only hourly.
const outsideEvery = 10 * time.Second

// settleOutsideLoop runs settleOutside every outsideEvery until ctx
// ends, logging a failure when it differs from the last one.
func (r *Root) settleOutsideLoop(ctx context.Context) {
	tick := time.NewTicker(outsideEvery)
	defer tick.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := r.settleOutside()
		if msg := fmt.Sprint(err); err != nil && msg != last {
			r.log.Warn("cluster: cannot finish a dead host's unfinished changes outside the users' directories; trying again", "err", err)
		}
		last = fmt.Sprint(err)
	}
}

// settleOutside finishes the intents of dead hosts that touch no
// per-user directory (settleDeadOutside).
func (r *Root) settleOutside() error {
	if r.leases == nil || r.leases.dead == nil || r.journal == nil {
		return nil
	}
	t := r.journal.t
	hs, err := otherHosts(t, JournalDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range hs {
		j := &journal{t: t, dir: h.Name}
		ins, err := j.intents(false)
		if err != nil || !r.leases.anyOutside(ins) {
			continue
		}
		if dead, err := r.leases.isDead(h.Host); err != nil || !dead {
			continue
		}
		errs = append(errs, r.settleDeadOutside(j, h.Host))
	}
	return errors.Join(errs...)
}

// anyOutside reports whether an intent of ins touches no per-user
// directory.
func (s *leaseSet) anyOutside(ins map[string]intent) bool {
	for _, in := range ins {
		if len(s.intentUsers(in)) == 0 {
			return true
		}
	}
	return false
}

// settleDeadOutside finishes dead host's intents in j that touch no
// per-user directory. No lease covers their names, so that host's lock
// alone orders the replay: while it is busy (another live host settling
// them, or that host mounting again, which replays them itself) they
// are left, and whoever comes next reads them again under the lock.
func (r *Root) settleDeadOutside(j *journal, host string) error {
	unlock, err := j.t.LockHostOf(host)
	if errors.Is(err, tiers.ErrLocked) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster: finish host %q's unfinished changes outside the users' directories: %w", host, err)
	}
	defer unlock()
	ins, err := j.settling() // again, under the lock: another host may have finished them
	if err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(ins)) {
		in := ins[id]
		if len(r.leases.intentUsers(in)) > 0 {
			continue
		}
		err := r.settleIntent(j, id, in, host)
		r.forgetIntentNames(in) // a replay that failed half way changed names too
		if err != nil {
			return err
		}
	}
	return nil
}

// forgetIntentNames makes tierfs and the kernel forget what they knew of
// the names a settled intent changed behind them, and the attributes of
// their directories: the kernel may hold them, since no lease release
// dropped them as it does a user's. Never from a FUSE handler.
func (r *Root) forgetIntentNames(in intent) {
	for _, p := range append([]string{in.From, in.To}, in.Paths...) {
		if p == "" {
			continue
		}
		dir, name := splitPath(p)
		pn := r.knownNode(dir)
		if pn == nil {
			r.forgetPath(p)
			continue
		}
		pn.forget(name)
		if pn.GetChild(name) != nil {
			r.notifyEntry(pn.EmbeddedInode(), name)
		}
		pn.NotifyContent(0, 0) // its mtime and link count changed
	}
}

// holdBriefly takes k's lease, which settles its user's intents, and
// lets the worker release it.
func (r *Root) holdBriefly(ctx context.Context, k userKey) error {
	u := r.leases.get(k)
	defer r.leases.unpin(u)
	if err := u.hold(ctx, holdWait); err != nil {
		return err
	}
	u.opens.Add(-1)
	return nil
}

// otherHosts lists the state directories dir of the other hosts of the
// cluster on shared tier t (Tier.HostStates without this host's own
// and the unsuffixed one).
func otherHosts(t *tiers.Tier, dir string) ([]tiers.HostState, error) {
	hs, err := t.HostStates(dir)
	if err != nil {
		return nil, fmt.Errorf("tier %q: list %s of the hosts: %w", t.Name, dir, err)
	}
	return slices.DeleteFunc(hs, func(h tiers.HostState) bool { return t.Own(h) || h.Host == "" }), nil
}

// clearDeadKept removes, on shared tier t, the kept links of every dead
// host whose lock is free: they kept files open on that host, and its
// open descriptors died with it.
func (r *Root) clearDeadKept(t *tiers.Tier) error {
	hs, err := otherHosts(t, KeptDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range hs {
		if dead, err := r.leases.isDead(h.Host); err != nil || !dead {
			continue
		}
		n, err := RemoveKept(t, h)
		if n > 0 {
			r.log.Warn("cluster: removed a dead host's links kept for replaced open files", "tier", t.Name, "host", h.Host, "links", n)
		}
		if err != nil && !errors.Is(err, tiers.ErrLocked) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveKept removes the kept links of another host, h on t, and their
// directory, holding that host's lock (tiers.Tier.LockHostOf): that
// host's daemon is not running, so none of its descriptors needs them.
// It returns how many links it removed.
func RemoveKept(t *tiers.Tier, h tiers.HostState) (int, error) {
	unlock, err := t.LockHostOf(h.Host)
	if err != nil {
		return 0, err
	}
	defer unlock()
	ents, err := t.ReadDir(h.Name)
	if missing(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("tier %q: list %s: %w", t.Name, h.Name, err)
	}
	n := 0
	for _, d := range ents {
		if err := t.Unlink(h.Name + "/" + d.Name); err != nil && !missing(err) {
			return n, fmt.Errorf("tier %q: remove %s/%s: %w", t.Name, h.Name, d.Name, err)
		}
		n++
	}
	if err := t.Rmdir(h.Name); err != nil && !missing(err) {
		return n, fmt.Errorf("tier %q: remove %s: %w", t.Name, h.Name, err)
	}
	return n, nil
}
