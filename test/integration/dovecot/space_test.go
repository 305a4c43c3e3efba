package dovecot

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// A message delivered over LMTP while the fast tier is below its
// min_free lands on slow (the next persistent tier: the preset's mail
// rule has no demote_to here), one delivered before stays on fast, and
// both read back over IMAP byte for byte.
func TestDeliveryWhileFastShort(t *testing.T) {
	requireIntegration(t)
	if env.kind != dovecottest.KindTierfs {
		t.Skip("placement under space pressure is tierfs's; the plain storage has none")
	}
	f := newFixture(t, "maildir", false)
	want := mailbox{}
	before := batch("before-short", "alice", 1)
	deliver(t, f, before, map[string]mailbox{"alice": want})

	f.stopAll()
	setFastMinFree(t, f)
	f.startAll()
	if out, err := f.store.Tierfs(f.ctx, "status", f.store.Root); err != nil || !strings.Contains(string(out), "fast ") || !strings.Contains(string(out), "short (min_free") {
		t.Fatalf("premise: tierfs status does not show fast short (%v):\n%s", err, out)
	}
	after := batch("while-short", "alice", 2)
	deliver(t, f, after, map[string]mailbox{"alice": want})

	tiers := f.store.Tiers
	if got := messageTiers(t, tiers, before[0].msg.ID); len(got) != 1 || got[0] != dovecottest.TierFast {
		t.Errorf("message delivered before: on %v, want fast", got)
	}
	for _, it := range after {
		if got := messageTiers(t, tiers, it.msg.ID); len(got) != 1 || got[0] != dovecottest.TierSlow {
			t.Errorf("message %s delivered while fast was short: on %v, want slow", it.msg.ID, got)
		}
	}
	c := login(t, f, "alice")
	_, got := fetchAll(t, c, "INBOX")
	checkBodies(t, "INBOX", got, want)
	f.checkLog("delivery while fast is short")
}

// setFastMinFree gives the fast tier a min_free above what its
// filesystem has free now, so that it is short from the mount on.
func setFastMinFree(t *testing.T, f *fixture) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(f.store.Tiers.Fast, &st); err != nil {
		t.Fatal(err)
	}
	free := 100 * float64(st.Bavail) / float64(st.Blocks)
	if free > 98 {
		t.Skipf("premise: the fast tier's filesystem is %.1f%% free, too empty to make it short", free)
	}
	minFree := free + (100-free)/2 // other tests on this filesystem come and go
	cfg, err := os.ReadFile(f.store.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	tier := fmt.Sprintf("name = %q\n", dovecottest.TierFast)
	if !bytes.Contains(cfg, []byte(tier)) {
		t.Fatalf("premise: the storage's config has no fast tier:\n%s", cfg)
	}
	space := fmt.Sprintf("min_free = \"%.3f%%\"\ntarget_free = \"%.3f%%\"\n", minFree, minFree+(100-minFree)/2)
	cfg = bytes.Replace(cfg, []byte(tier), []byte(tier+space), 1)
	if err := os.WriteFile(f.store.ConfigPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
}

// messageTiers lists the tiers whose own mail/ tree holds a message file
// (in new/ or cur/) with Message-ID id.
func messageTiers(t *testing.T, tiers dovecottest.Tiers, id string) []string {
	t.Helper()
	var out []string
	header := []byte("Message-ID: <" + id + ">")
	for _, name := range []string{dovecottest.TierFast, dovecottest.TierSlow} {
		root := filepath.Join(tiers.Dir(name), "mail")
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return nil // no mail on this tier
			}
			if err != nil || d.IsDir() || !maildirDirs[filepath.Base(filepath.Dir(p))] || filepath.Base(filepath.Dir(p)) == "tmp" {
				return err
			}
			data, err := os.ReadFile(p)
			if err == nil && bytes.Contains(data, header) {
				out = append(out, name)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}
