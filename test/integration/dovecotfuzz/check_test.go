package dovecotfuzz

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// boxView is what IMAP shows of one mailbox.
type boxView struct {
	validity uint32
	msgs     []msgView
}

type msgView struct {
	uid   imap.UID
	id    string // Message-ID
	flags string // canonical, without \Recent
	body  []byte
}

// view examines every selectable mailbox of user.
func (s *side) view(user string) (map[string]boxView, error) {
	out := map[string]boxView{}
	err := s.imap(user, func(c *imapclient.Client) error {
		list, err := c.List("", "*", nil).Collect()
		if err != nil {
			return err
		}
		for _, l := range list {
			if !selectable(l) {
				continue
			}
			if isPublic(l.Mailbox) {
				s.writing = true // Dovecot may sync the folder
			}
			bv, err := examine(c, l.Mailbox)
			if refusal(err) {
				continue // see existing
			}
			if err != nil {
				return fmt.Errorf("%q: %w", l.Mailbox, err)
			}
			out[l.Mailbox] = bv
		}
		if len(out) == 0 {
			return nil
		}
		return c.Unselect().Wait()
	})
	return out, err
}

// refusal reports whether err is the server's NO.
func refusal(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo
}

// examine opens box read-only and fetches every message.
func examine(c *imapclient.Client, box string) (boxView, error) {
	sel, err := c.Select(box, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return boxView{}, err
	}
	bv := boxView{validity: sel.UIDValidity}
	if sel.NumMessages == 0 {
		return bv, nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(dovecottest.AllSeqs(), &imap.FetchOptions{
		UID: true, Flags: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		return boxView{}, err
	}
	for _, m := range msgs {
		mv := msgView{uid: m.UID, flags: dovecottest.FlagString(m.Flags), body: m.FindBodySection(section)}
		if m.Envelope != nil {
			mv.id = m.Envelope.MessageID
		}
		bv.msgs = append(bv.msgs, mv)
	}
	return bv, nil
}

// check compares both sides' mailboxes, and on each side the bodies
// with what was sent and the UIDs with what the last check saw; then it
// reads the Dovecot logs (see readLogs).
func (r *run) check(stage string) {
	r.t.Helper()
	for _, user := range userNames {
		var views []map[string]boxView
		for _, s := range r.sides() {
			v, err := s.view(user)
			if err != nil {
				r.t.Errorf("%s: %s: %s's mailboxes: %v", stage, s.name, user, err)
				return
			}
			r.verify(stage, s, user, v)
			views = append(views, v)
		}
		r.compare(stage, user, views[0], views[1])
	}
	r.readLogs(stage, false)
}

// compare fails unless both sides show the same mailboxes holding the
// same messages (by Message-ID, as many times each) with the same flags.
func (r *run) compare(stage, user string, plain, tfs map[string]boxView) {
	r.t.Helper()
	if a, b := slices.Sorted(maps.Keys(plain)), slices.Sorted(maps.Keys(tfs)); !slices.Equal(a, b) {
		r.t.Errorf("%s: %s's mailboxes: plain %q, tierfs %q", stage, user, a, b)
	}
	for name, pv := range plain {
		tv, ok := tfs[name]
		if !ok {
			continue
		}
		r.compared += len(tv.msgs)
		if isPublic(name) {
			r.comparedPublic += len(tv.msgs)
		}
		onlyPlain, onlyTfs := diff(contents(pv), contents(tv))
		if len(onlyPlain)+len(onlyTfs) > 0 {
			r.t.Errorf("%s: %s %q: only on plain %q; only on tierfs %q", stage, user, name, onlyPlain, onlyTfs)
		}
	}
}

// contents lists a mailbox's messages as "Message-ID flags", sorted.
func contents(bv boxView) []string {
	var out []string
	for _, m := range bv.msgs {
		out = append(out, m.id+" ["+m.flags+"]")
	}
	slices.Sort(out)
	return out
}

// diff returns the elements of two sorted lists that the other lacks.
func diff(a, b []string) (onlyA, onlyB []string) {
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || len(a) > 0 && a[0] < b[0]:
			onlyA, a = append(onlyA, a[0]), a[1:]
		case len(a) == 0 || b[0] < a[0]:
			onlyB, b = append(onlyB, b[0]), b[1:]
		default:
			a, b = a[1:], b[1:]
		}
	}
	return onlyA, onlyB
}

// verify fails for a body that is not the message sent under its
// Message-ID, and for a UID or UIDVALIDITY that changed since the last
// check while the mailbox was not renamed or deleted; then it records
// what it saw.
func (r *run) verify(stage string, s *side, user string, v map[string]boxView) {
	r.t.Helper()
	seen := map[string]uidRecord{}
	for name, bv := range v {
		rec := uidRecord{validity: bv.validity, ids: map[imap.UID]string{}}
		for _, m := range bv.msgs {
			rec.ids[m.uid] = m.id
			want, ok := r.sent[m.id]
			if body := dovecottest.StripTrace(m.body); !ok || !bytes.Equal(body, want) {
				r.t.Errorf("%s: %s: %s %q UID %d: %d bytes of %q, not the %d sent", stage, s.name, user, name, m.uid, len(body), m.id, len(want))
			}
		}
		seen[name] = rec
		old, ok := s.seen[user][name]
		if !ok {
			continue
		}
		if old.validity != bv.validity {
			r.t.Errorf("%s: %s: %s %q: UIDVALIDITY %d, was %d", stage, s.name, user, name, bv.validity, old.validity)
			continue
		}
		for uid, id := range rec.ids {
			if was, ok := old.ids[uid]; ok && was != id {
				r.t.Errorf("%s: %s: %s %q: UID %d is %q, was %q", stage, s.name, user, name, uid, id, was)
			}
		}
	}
	s.seen[user] = seen
}

// stop ages every message file, runs one last pass on each host, checks,
// and stops Dovecot and tierfs.
func (r *run) stop() {
	r.t.Helper()
	if _, err := r.tfs.age(r.format, func() bool { return true }); err != nil {
		r.t.Errorf("age: %v", err)
	}
	r.tfs.joinPasses(r.t)
	for _, h := range r.tfs.hosts {
		h.startPass(r.t)
		h.joinPassChecked(r.t)
	}
	r.check("after the last pass")
	onSlow := len(r.messageFiles(dovecottest.TierSlow))
	onFast := r.messageFiles(dovecottest.TierFast)
	r.t.Logf("%d message files on slow, %d on fast after the last pass", onSlow, len(onFast))
	if onSlow == 0 && len(onFast) > 0 {
		r.t.Errorf("premise: the mover moved no message file to slow; on fast: %q", onFast)
	}
	for _, s := range r.sides() {
		if err := s.stopDovecot(); err != nil {
			r.t.Errorf("%s: stop dovecot: %v", s.name, err)
		}
	}
	r.readLogs("at the end", true)
	for _, s := range r.sides() {
		for _, h := range s.hosts {
			if err := h.store.Stop(); err != nil {
				r.t.Errorf("%s: unmount: %v", h.name, err)
			}
		}
	}
}

// messageFiles lists the message files in tier's own directory of the
// tierfs side.
func (r *run) messageFiles(tier string) []string {
	var out []string
	root := r.tfs.hosts[0].store.Tiers.Dir(tier) // shared in a cluster
	filepath.WalkDir(filepath.Join(root, "mail"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && dovecottest.IsMessageFile(r.format, p) {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// tierListing lists the files under mail/ on the tierfs side's
// persistent tiers, with their inode numbers and link counts.
func (r *run) tierListing() []string {
	var out []string
	for _, tier := range []string{dovecottest.TierFast, dovecottest.TierSlow} {
		root := r.tfs.hosts[0].store.Tiers.Dir(tier)
		filepath.WalkDir(filepath.Join(root, "mail"), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			var st syscall.Stat_t
			if syscall.Lstat(p, &st) != nil {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			out = append(out, fmt.Sprintf("%s %s %d %d", tier, rel, st.Ino, st.Nlink))
			return nil
		})
	}
	return out
}

// checkTiers runs tierfs check on the unmounted tiers (in a cluster,
// as the first host, which reports every host's state): it must find
// nothing but files the mover has yet to move.
func (r *run) checkTiers() {
	r.t.Helper()
	st := r.tfs.hosts[0].store
	out, err := st.Tierfs(r.t.Context(), "check", "--config", st.ConfigPath)
	var bad []string
	for _, line := range strings.Split(string(out), "\n") {
		kind, _, ok := strings.Cut(line, ": ")
		if ok && kind != "misplaced" && !strings.HasPrefix(line, "tierfs") {
			bad = append(bad, line)
		}
	}
	if len(bad) > 0 || err != nil && !strings.Contains(string(out), "problems found") {
		r.t.Errorf("tierfs check: %v\n%s", err, out)
	}
}
