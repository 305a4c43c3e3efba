package dovecot

import (
	"fmt"
	"testing"
	"time"
)

// perUser is how many corpus messages each delivery user gets; with the
// multi-recipient copies, the big attachments and the concurrent batch a
// run delivers a few hundred messages.
const perUser = 30

// TestDovecot runs the whole scenario for each mail format, with and
// without mmap.
func TestDovecot(t *testing.T) {
	requireIntegration(t)
	// One corpus for every run: each run has its own storage, and
	// generating multi-MiB messages is slow under the race detector.
	items := corpus("corpus", perUser)
	for _, format := range []string{"maildir", "sdbox", "mdbox"} {
		for _, mmapDisable := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/mmap_disable=%v", format, yesNo(mmapDisable)), func(t *testing.T) {
				runScenario(t, format, mmapDisable, items)
			})
		}
	}
}

func runScenario(t *testing.T, format string, mmapDisable bool, items []corpusItem) {
	start := time.Now()
	phase := func(name string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), name) }
	f := newFixture(t, format, mmapDisable)
	phase("started")
	checkUserDirs(t, f)
	phase("user dirs checked")

	want := map[string]mailbox{}
	deliver(t, f, items, want)
	phase("delivered")
	checkDeliveredDirs(t, f, deliveryUsers)
	for _, u := range deliveryUsers {
		c := login(t, f, u)
		_, msgs := fetchAll(t, c, "INBOX")
		checkBodies(t, u+" INBOX", msgs, want[u])
		c.Logout().Wait()
	}
	phase("fetched")
	imapOperations(t, f, "alice", want)
	phase("imap operations")
	concurrentSessions(t, f, "user4", 30, want)
	phase("concurrent sessions")
	f.checkLog("after delivery and IMAP")
	if t.Failed() {
		return
	}

	before := snapshot(t, f, deliveryUsers)
	phase("snapshot")
	t.Logf("state: %s", boxSummary(before))

	f.stopAll()
	phase("stopped")
	checkPlacement(t, f, "after unmount", false)
	f.startAll()
	phase("restarted")
	compareSnapshots(t, "after remount and restart", before, snapshot(t, f, deliveryUsers))
	f.checkLog("after remount")

	f.stopAll()
	if err := f.store.WipeTmpfs(f.ctx); err != nil {
		t.Fatal(err)
	}
	checkTmpfsEmpty(t, f)
	f.startAll()
	compareSnapshots(t, "after tmpfs wipe", before, snapshot(t, f, deliveryUsers))
	f.checkLog("after tmpfs wipe")
	f.stopAll()
	f.checkLog("after shutdown")
	checkPlacement(t, f, "after tmpfs wipe", true)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
