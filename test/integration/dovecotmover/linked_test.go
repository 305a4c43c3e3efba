package dovecotmover

import (
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// LMTP delivering one message to two local recipients saves it once and
// links it into the second mailbox. After aging, one tierfs migrate
// moves the file with both names to slow, and both users read the
// message over IMAP from there.
func TestMoverLinkedLMTPDelivery(t *testing.T) {
	tierfs.Require(t)
	e := setup(t, "maildir")
	e.deliverTo([]string{"alice", "bob"}, 20000)
	names := e.age("maildir")
	if len(names) != 2 {
		t.Fatalf("premise: %d message files after one delivery to two users, want 2: %v", len(names), names)
	}
	ino := e.sameFile(names, "")
	if r := e.migrate(); r.Files != 1 || r.Failed != 0 || len(r.Skipped) != 0 {
		t.Errorf("migrate: %+v, want the message moved once with both names", r)
	}
	for _, n := range names {
		if got := e.holders(n); len(got) != 1 || got[0] != dovecottest.TierSlow {
			t.Errorf("%s on tiers %v after migrate, want only slow", n, got)
		}
	}
	if got := e.sameFile(names, dovecottest.TierSlow); got != ino {
		t.Errorf("st_ino through tierfs %#x after the move, was %#x", got, ino)
	}
	e.readAllAndStop()
}

// deliverTo sends one message to several users in one LMTP transaction
// and records it for each.
func (e *env) deliverTo(to []string, size int) {
	n := e.seq.Add(1)
	msg := dovecottest.NewMessage(dovecottest.MessageSpec{
		ID: fmt.Sprintf("%d.list@mover.invalid", n), From: "list@example.net", To: to[0], BodySize: size, Seed: uint64(n),
	})
	l, err := dovecottest.DialLMTP(e.ctx, e.srv.LMTPAddr)
	if err != nil {
		e.t.Fatalf("LMTP: %v", err)
	}
	defer l.Close()
	if err := l.Deliver("list@example.net", to, msg.Bytes); err != nil {
		e.t.Fatalf("deliver to %v: %v", to, err)
	}
	for _, u := range to {
		if e.want[u] == nil {
			e.want[u] = map[string][]byte{}
		}
		e.want[u][msg.ID] = msg.Bytes
	}
}

// sameFile checks that names (paths inside the mount) are one file
// through tierfs (one st_ino, st_nlink the number of names) and, if
// tier is set, one file on that tier; it returns the st_ino.
func (e *env) sameFile(names []string, tier string) uint64 {
	e.t.Helper()
	var ino, backing uint64
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(e.store.Root, n), &st); err != nil {
			e.t.Fatalf("stat %s through tierfs: %v", n, err)
		}
		if ino == 0 {
			ino = st.Ino
		}
		if st.Ino != ino || uint64(st.Nlink) != uint64(len(names)) {
			e.t.Errorf("%s through tierfs: st_ino %#x nlink %d, want %#x and %d (one file)", n, st.Ino, st.Nlink, ino, len(names))
		}
		if tier == "" {
			continue
		}
		var bst unix.Stat_t
		if err := unix.Lstat(filepath.Join(e.store.Tiers.Dir(tier), n), &bst); err != nil {
			e.t.Errorf("%s on tier %s: %v", n, tier, err)
			continue
		}
		if backing == 0 {
			backing = bst.Ino
		}
		if bst.Ino != backing || uint64(bst.Nlink) != uint64(len(names)) {
			e.t.Errorf("%s on tier %s: inode %d nlink %d, want %d and %d", n, tier, bst.Ino, bst.Nlink, backing, len(names))
		}
	}
	return ino
}
