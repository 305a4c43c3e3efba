package dovecotfuzz

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tierfs/tierfs/internal/fusetest"
	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

const (
	seedsEnv = "TIERFS_DOVECOT_SEEDS"
	opsEnv   = "TIERFS_DOVECOT_OPS"
	// CI runs one seed of each format, one of them with mmap_disable.
	defaultSeeds = 3
	// and two of the cluster, one with each public namespace layout.
	defaultClusterSeeds = 2
	defaultOps          = 80
)

var formats = []string{"maildir", "sdbox", "mdbox"}

// TestDovecotFuzz runs, for each seed, one random sequence of mail
// operations on a Dovecot over tierfs and on one over plain directories,
// in the mail format and with the mmap_disable the seed picks, and
// compares them as it goes (see the package documentation).
func TestDovecotFuzz(t *testing.T) { runSeeds(t, 1, defaultSeeds) }

// TestDovecotClusterFuzz is TestDovecotFuzz with two tierfs hosts
// sharing the persistent tiers, each with its own Dovecot and tmpfs
// tier, as behind a director: each user is served by one host at a
// time, and moves to the other between operations (its sessions closed
// on the one it leaves), or after its host crashed, while the host is
// still down. Crashes, remounts and tmpfs wipes hit one host at a time;
// mover passes run on either. The plain side stays one Dovecot. Both
// sides have a public namespace (see publicNS), whose folders both
// users change from their hosts: a host's command waits a shared name's
// attribute timeout after another host changed them, as NFS asks.
func TestDovecotClusterFuzz(t *testing.T) { runSeeds(t, 2, defaultClusterSeeds) }

// runSeeds runs the seeds of the environment (defaultSeeds by default)
// with nhosts tierfs hosts.
func runSeeds(t *testing.T, nhosts, defaultSeeds int) {
	tierfs.Require(t)
	seeds, ops := fusetest.EnvSeeds(t, seedsEnv, defaultSeeds), fusetest.EnvCount(t, opsEnv, defaultOps)
	for _, seed := range seeds {
		// Seeds 1 to 6 run each format with and without mmap.
		format, mmapDisable := formats[seed%3], seed/3%2 == 1
		name := fmt.Sprintf("seed=%d/%s", seed, format)
		var pub *publicNS
		if nhosts > 1 {
			pub, mmapDisable = newPublic(seed, mmapDisable)
			name += "/" + pub.String()
		}
		name += fmt.Sprintf("/mmap_disable=%v", mmapDisable)
		t.Run(name, func(t *testing.T) {
			r := newRun(t, seed, format, mmapDisable, nhosts, pub)
			defer func() {
				if t.Failed() {
					r.fail(fmt.Sprintf("(%s=%d,)", seedsEnv, seed))
				}
			}()
			for i := range ops {
				if r.step(i); t.Failed() {
					return
				}
			}
			r.check("at the end")
			r.stop()
			r.checkTiers()
			t.Logf("%d operations %v, %d refused by both; the checks compared %d messages (%d in public folders); %d problems both Dovecots logged",
				ops, r.ops, r.refused, r.compared, r.comparedPublic, r.bothLogged)
		})
	}
}

// run is one seed's sequence: the same commands on both sides.
type run struct {
	t      *testing.T
	seed   uint64
	format string
	rng    *rand.Rand // chooses the operations: the same on every run of a seed
	// local chooses what only tierfs does (which files to age, when to
	// crash), from a separate stream, so that the operations stay the
	// same whatever the storage holds.
	local *rand.Rand
	plain *side
	tfs   *side
	delim string
	pub   *publicNS         // the sides' public namespace (a cluster run), or nil
	sent  map[string][]byte // Message-ID → the message as sent
	msgs  int
	trace []string
	// What the run did, for its summary: operations by name, commands
	// both sides refused, and messages the checks compared (as each
	// user sees them, in all folders and in public ones).
	ops                      map[string]int
	refused, bothLogged      int
	compared, comparedPublic int
	// logs are the Dovecot log problems of each side (plain first) not
	// yet matched, by problemKey.
	logs [2]map[string]*logProblem
}

func newRun(t *testing.T, seed uint64, format string, mmapDisable bool, nhosts int, pub *publicNS) *run {
	r := &run{
		t: t, seed: seed, format: format,
		rng:   rand.New(rand.NewPCG(seed, 1)),
		local: rand.New(rand.NewPCG(seed, 2)),
		sent:  map[string][]byte{},
		ops:   map[string]int{},
	}
	r.plain = newSide(t, dovecottest.KindPlain, format, mmapDisable, 1, pub)
	r.tfs = newSide(t, dovecottest.KindTierfs, format, mmapDisable, nhosts, pub)
	r.pub = pub
	r.delim = r.delimiter()
	if pub != nil {
		r.openInboxes()
	}
	return r
}

// openInboxes has every user open INBOX on both sides, which creates
// it, before the steps start: with dotlocks, two deliveries that create
// a user's INBOX at once can race in Dovecot, which then logs a
// corrupted index header and rebuilds it (seed 25, on plain
// directories).
func (r *run) openInboxes() {
	for _, u := range userNames {
		r.both("SELECT INBOX of "+u, func(s *side) error {
			return s.inBox(u, "INBOX", func(*imapclient.Client, map[string][]imap.UID) error { return nil })
		})
	}
}

// sides returns both sides, the reference first.
func (r *run) sides() []*side { return []*side{r.plain, r.tfs} }

// note records what the run does next, for the report of a failure.
func (r *run) note(format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf(format, args...))
}

// fail logs the operations so far, and what the persistent tiers hold
// under mail/.
func (r *run) fail(where string) {
	r.t.Logf("failed %s; operations:\n  %s", where, strings.Join(r.trace, "\n  "))
	r.t.Logf("message files on the tiers (tier, path, inode, links):\n  %s", strings.Join(r.tierListing(), "\n  "))
}

// both runs f on each side and fails the run unless it succeeded on both
// or failed on both; it says whether it succeeded.
func (r *run) both(what string, f func(s *side) error) bool {
	r.t.Helper()
	var errs []error
	for _, s := range r.sides() {
		errs = append(errs, f(s))
	}
	if (errs[0] == nil) != (errs[1] == nil) {
		r.t.Errorf("%s: plain: %v; tierfs: %v", what, errs[0], errs[1])
	}
	if errs[0] != nil {
		r.note("  plain: %v", errs[0])
		r.refused++
	}
	return errs[0] == nil && errs[1] == nil
}

// delimiter asks the reference for the hierarchy delimiter.
func (r *run) delimiter() string {
	delim := "/"
	err := r.plain.imap("alice", func(c *imapclient.Client) error {
		list, err := c.List("", "", nil).Collect()
		if err != nil {
			return err
		}
		if len(list) > 0 && list[0].Delim != 0 {
			delim = string(list[0].Delim)
		}
		return nil
	})
	if err != nil {
		r.t.Fatalf("LIST delimiter: %v", err)
	}
	return delim
}
