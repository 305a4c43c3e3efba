package dovecotfuzz

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// operation is one kind of step, drawn with its weight.
type operation struct {
	name   string
	weight int
	do     func(r *run)
}

var operations = []operation{
	{"deliver", 18, (*run).deliver},
	{"burst", 3, (*run).burst},
	{"append", 8, (*run).append},
	{"store", 12, (*run).store},
	{"copy", 7, func(r *run) { r.transfer(false) }},
	{"move", 6, func(r *run) { r.transfer(true) }},
	{"expunge", 5, (*run).expunge},
	{"create", 5, (*run).create},
	{"rename", 4, (*run).rename},
	{"delete", 3, (*run).delete},
	{"age and pass", 6, (*run).ageAndPass},
	{"check", 5, func(r *run) { r.check("check") }},
	{"purge", 2, (*run).purge},
	{"restart dovecot", 2, (*run).restart},
	{"remount", 2, (*run).remount},
	{"wipe tmpfs", 1, (*run).wipe},
	{"crash", 2, (*run).crash},
}

// clusterOperations are drawn too when tierfs runs on several hosts.
var clusterOperations = []operation{
	{"switch host", 8, (*run).switchHost},
	{"public appends", 4, (*run).publicAppends},
}

// step draws one operation and runs it.
func (r *run) step(i int) {
	ops := r.operations()
	total := 0
	for _, op := range ops {
		total += op.weight
	}
	n := r.rng.IntN(total)
	// A shared index is written by whatever a user does: listing
	// refreshes the public namespace's list index.
	r.tfs.writing = r.pub != nil && r.pub.sharedIndex
	for _, op := range ops {
		if n -= op.weight; n < 0 {
			r.note("%d %s", i, op.name)
			r.ops[op.name]++
			op.do(r)
			return
		}
	}
}

// operations are those the run draws from.
func (r *run) operations() []operation {
	if len(r.tfs.hosts) > 1 {
		return slices.Concat(operations, clusterOperations)
	}
	return operations
}

var userNames = []string{"alice", "bob"}

// flagPool are the flags STORE and APPEND set; \Recent is the server's.
var flagPool = []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagAnswered, imap.FlagDraft, imap.FlagDeleted, "$Label1", "$Work"}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// boxPool are the mailbox names an operation may name besides the
// existing ones, some of them children of others.
func (r *run) boxPool() []string {
	d := r.delim
	pool := []string{"INBOX", "Archive", "Work", "Junk", "Work" + d + "2024", "Archive" + d + "Old", "Renamed", "Work" + d + "Moved"}
	if r.pub != nil {
		pool = append(pool, publicPrefix+d+"Shared", publicPrefix+d+"Lists", publicPrefix+d+"Shared"+d+"Team")
	}
	return pool
}

// touch notes that the step's next commands may change the boxes, which
// matters for public ones (see side.wrote).
func (r *run) touch(boxes ...string) {
	for _, b := range boxes {
		if isPublic(b) {
			r.tfs.writing = true
		}
	}
}

// existing lists user's selectable mailboxes, which must be the same on
// both sides. Each side is asked alike, so that what asking does (such
// as Dovecot creating INBOX when it is first opened) happens on both.
// A mailbox one side lists and the other does not counts only if the
// side listing it opens it: Dovecot's mailbox list index, which a
// cluster host drops when it takes a user another host served, can go
// on listing a parent that DELETE left for its children, and refuse to
// open it.
func (r *run) existing(user string) []string {
	var names [2][]string
	for i, s := range r.sides() {
		err := s.imap(user, func(c *imapclient.Client) error {
			list, err := c.List("", "*", nil).Collect()
			for _, l := range list {
				if selectable(l) {
					names[i] = append(names[i], l.Mailbox)
				}
			}
			return err
		})
		if err != nil {
			r.t.Fatalf("%s: LIST of %s: %v", s.name, user, err)
		}
		slices.Sort(names[i])
	}
	if !slices.Equal(names[0], names[1]) {
		for i, s := range r.sides() {
			names[i] = slices.DeleteFunc(names[i], func(box string) bool {
				return !slices.Contains(names[1-i], box) && s.refuses(user, box)
			})
		}
	}
	if !slices.Equal(names[0], names[1]) {
		r.t.Errorf("%s's mailboxes: plain %q, tierfs %q", user, names[0], names[1])
	}
	return names[0]
}

func selectable(l *imap.ListData) bool {
	return !slices.Contains(l.Attrs, imap.MailboxAttrNoSelect) && !slices.Contains(l.Attrs, imap.MailboxAttrNonExistent)
}

// pickBox picks an existing mailbox of user, or, sometimes when
// anyName, any name of the pool.
func (r *run) pickBox(user string, anyName bool) string {
	names := r.existing(user)
	if anyName && r.rng.IntN(6) == 0 {
		return pick(r.rng, r.boxPool())
	}
	return pick(r.rng, names) // INBOX always exists
}

// pickOther is like pickBox, but not INBOX unless the pool gives it.
func (r *run) pickOther(user string) string {
	names := slices.DeleteFunc(r.existing(user), func(n string) bool { return n == "INBOX" })
	if len(names) == 0 || r.rng.IntN(6) == 0 {
		return pick(r.rng, r.boxPool())
	}
	return pick(r.rng, names)
}

func (r *run) flags() []imap.Flag {
	var out []imap.Flag
	for _, f := range flagPool {
		if r.rng.IntN(4) == 0 {
			out = append(out, f)
		}
	}
	return out
}

// newMessage makes the next message, of a size between a line and a few
// hundred KiB, and remembers it.
func (r *run) newMessage(to string) dovecottest.Message {
	r.msgs++
	spec := dovecottest.MessageSpec{
		ID: fmt.Sprintf("%d.%d@fuzz.invalid", r.seed, r.msgs), From: "sender@example.net", To: to,
		BodySize: 100 + r.rng.IntN(6000), Seed: r.seed<<20 + uint64(r.msgs),
	}
	if r.rng.IntN(10) == 0 {
		spec.AttachSize = 20_000 + r.rng.IntN(200_000)
	}
	msg := dovecottest.NewMessage(spec)
	r.sent[msg.ID] = msg.Bytes
	return msg
}

// deliver sends a new message over LMTP to one user or both (Dovecot
// then links one file into both maildirs).
func (r *run) deliver() {
	rcpts, msg := r.delivery()
	r.both("LMTP delivery", func(s *side) error { return s.deliver(r.t.Context(), rcpts, msg) })
}

// burst delivers several messages at once, each over its own LMTP
// session, as a busy MX does: they land in one order or another, and
// the checks compare mailboxes by Message-ID.
func (r *run) burst() {
	n := 2 + r.rng.IntN(6)
	rcpts, msgs := make([][]string, n), make([]dovecottest.Message, n)
	for i := range n {
		rcpts[i], msgs[i] = r.delivery()
	}
	r.both("LMTP burst", func(s *side) error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.deliver(r.t.Context(), rcpts[i], msgs[i])
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	})
}

// delivery draws the recipients and the message of one delivery.
func (r *run) delivery() ([]string, dovecottest.Message) {
	rcpts := []string{pick(r.rng, userNames)}
	if r.rng.IntN(4) == 0 {
		rcpts = userNames
	}
	msg := r.newMessage(rcpts[0])
	r.note("  %s (%d bytes) to %v", msg.ID, len(msg.Bytes), rcpts)
	return rcpts, msg
}

func (r *run) append() {
	user := pick(r.rng, userNames)
	box := r.pickBox(user, true)
	r.touch(box)
	flags := r.flags()
	msg := r.newMessage(user)
	r.note("  %s: APPEND %q %v %s (%d bytes)", user, box, flags, msg.ID, len(msg.Bytes))
	r.both("APPEND", func(s *side) error {
		return s.imap(user, func(c *imapclient.Client) error { return appendMessage(c, box, flags, msg) })
	})
}

// appendMessage appends msg to box with flags over c.
func appendMessage(c *imapclient.Client, box string, flags []imap.Flag, msg dovecottest.Message) error {
	cmd := c.Append(box, int64(len(msg.Bytes)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write(msg.Bytes); err != nil {
		cmd.Close()
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

// publicAppends has every user append to one public folder at once,
// each from the host serving it, as users of two hosts file mail into a
// shared folder: Dovecot's dotlocks, exclusive creates on the shared
// tier, must keep the folder's UIDs apart. The messages land in one
// order or another; the checks compare them by Message-ID.
func (r *run) publicAppends() {
	box := r.pickPublic()
	r.touch(box)
	n := 1 + r.rng.IntN(4)
	msgs, flags := map[string][]dovecottest.Message{}, map[string][][]imap.Flag{}
	for _, u := range userNames {
		for range n {
			msgs[u] = append(msgs[u], r.newMessage(u))
			flags[u] = append(flags[u], r.flags())
		}
	}
	r.note("  %q: %d APPENDs by each of %q at once", box, n, userNames)
	r.both("APPENDs at once", func(s *side) error {
		return s.atOnce(userNames, func(user string, c *imapclient.Client) error {
			for i, m := range msgs[user] {
				if err := appendMessage(c, box, flags[user][i], m); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// pickPublic picks an existing public folder or, sometimes or when
// there is none, a public name of the pool.
func (r *run) pickPublic() string {
	names := slices.DeleteFunc(r.existing(pick(r.rng, userNames)), func(n string) bool { return !isPublic(n) })
	if len(names) == 0 || r.rng.IntN(6) == 0 {
		return pick(r.rng, slices.DeleteFunc(r.boxPool(), func(n string) bool { return !isPublic(n) }))
	}
	return pick(r.rng, names)
}

// chosen picks some of the messages in user's box, by Message-ID. Both
// sides must hold the same ones; each is asked alike (see existing). A
// mailbox that both refuse to select gives none: Dovecot can go on
// listing a mailbox that DELETE left as its children's parent.
func (r *run) chosen(user, box string) []string {
	var ids [2][]string
	selected := r.both("SELECT "+box, func(s *side) error {
		i := 0
		if s == r.tfs {
			i = 1
		}
		return s.inBox(user, box, func(_ *imapclient.Client, uids map[string][]imap.UID) error {
			ids[i] = slices.Sorted(maps.Keys(uids))
			return nil
		})
	})
	if selected && !slices.Equal(ids[0], ids[1]) {
		r.t.Errorf("%s %q holds plain %q, tierfs %q", user, box, ids[0], ids[1])
	}
	keep := 1 + r.rng.IntN(4) // keep one in keep
	return slices.DeleteFunc(ids[0], func(string) bool { return r.rng.IntN(keep) != 0 })
}

// uidSet returns the UIDs of the messages ids name.
func uidSet(uids map[string][]imap.UID, ids []string) (imap.UIDSet, error) {
	var set imap.UIDSet
	for _, id := range ids {
		if len(uids[id]) == 0 {
			return nil, fmt.Errorf("message %s is not in the mailbox", id)
		}
		set.AddNum(uids[id]...)
	}
	return set, nil
}

// inChosen runs f on the chosen messages of user's box on each side.
func (r *run) inChosen(what, user, box string, ids []string, f func(c *imapclient.Client, set imap.UIDSet) error) {
	r.both(what, func(s *side) error {
		return s.inBox(user, box, func(c *imapclient.Client, uids map[string][]imap.UID) error {
			set, err := uidSet(uids, ids)
			if err != nil {
				return err
			}
			return f(c, set)
		})
	})
}

func (r *run) store() {
	user := pick(r.rng, userNames)
	box := r.pickBox(user, false)
	r.touch(box)
	ids := r.chosen(user, box)
	flags := r.flags()
	if len(flags) == 0 {
		flags = []imap.Flag{imap.FlagSeen}
	}
	op := pick(r.rng, []imap.StoreFlagsOp{imap.StoreFlagsAdd, imap.StoreFlagsAdd, imap.StoreFlagsDel, imap.StoreFlagsSet})
	r.note("  %s: STORE %v %v on %d in %q", user, op, flags, len(ids), box)
	if len(ids) == 0 {
		return
	}
	r.inChosen("STORE", user, box, ids, func(c *imapclient.Client, set imap.UIDSet) error {
		return c.Store(set, &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close()
	})
}

// transfer copies or moves some messages to another mailbox (maildir
// links the copies).
func (r *run) transfer(move bool) {
	user := pick(r.rng, userNames)
	src, dst := r.pickBox(user, false), r.pickBox(user, true)
	r.touch(src, dst)
	ids := r.chosen(user, src)
	what := map[bool]string{false: "COPY", true: "MOVE"}[move]
	r.note("  %s: %s %d from %q to %q", user, what, len(ids), src, dst)
	if len(ids) == 0 {
		return
	}
	r.inChosen(what, user, src, ids, func(c *imapclient.Client, set imap.UIDSet) error {
		if move {
			_, err := c.Move(set, dst).Wait()
			return err
		}
		_, err := c.Copy(set, dst).Wait()
		return err
	})
}

func (r *run) expunge() {
	user := pick(r.rng, userNames)
	box := r.pickBox(user, false)
	r.touch(box)
	r.note("  %s: EXPUNGE %q", user, box)
	r.both("EXPUNGE", func(s *side) error {
		return s.inBox(user, box, func(c *imapclient.Client, _ map[string][]imap.UID) error {
			return c.Expunge().Close()
		})
	})
}

func (r *run) create() {
	user := pick(r.rng, userNames)
	box := pick(r.rng, r.boxPool())
	r.touch(box)
	r.note("  %s: CREATE %q", user, box)
	r.both("CREATE", func(s *side) error {
		return s.imap(user, func(c *imapclient.Client) error { return c.Create(box, nil).Wait() })
	})
	r.refreshOthers(user, box)
}

// rename renames a mailbox, with its children, on both sides.
func (r *run) rename() {
	user := pick(r.rng, userNames)
	src, dst := r.pickOther(user), pick(r.rng, r.boxPool())
	r.touch(src, dst)
	r.note("  %s: RENAME %q %q", user, src, dst)
	r.both("RENAME", func(s *side) error {
		return s.imap(user, func(c *imapclient.Client) error { return c.Rename(src, dst, nil).Wait() })
	})
	r.forget(user, src, dst)
	r.refreshOthers(user, src, dst)
}

func (r *run) delete() {
	user := pick(r.rng, userNames)
	box := r.pickOther(user)
	r.touch(box)
	r.note("  %s: DELETE %q", user, box)
	r.both("DELETE", func(s *side) error {
		return s.imap(user, func(c *imapclient.Client) error { return c.Delete(box).Wait() })
	})
	r.forget(user, box)
	r.refreshOthers(user, box)
}

// refreshOthers ends the other users' sessions on both sides after user
// created, renamed or deleted boxes, if one is public. A session's
// mailbox list index of the public namespace (per user) reads the
// folders from the disk only once, and afterwards learns only of its
// own user's changes: another user's session would go on listing what
// it first saw, for as long as it lasts, which differs between the
// sides (a cluster host ends sessions the plain side keeps).
func (r *run) refreshOthers(user string, boxes ...string) {
	if !slices.ContainsFunc(boxes, isPublic) {
		return
	}
	for _, s := range r.sides() {
		for _, u := range userNames {
			if u != user {
				s.serving[u].logout(u)
			}
		}
	}
}

// forget drops what the checks saw of the named mailboxes and their
// children: their UIDs may start anew. A public folder is every user's.
func (r *run) forget(user string, names ...string) {
	for _, s := range r.sides() {
		for u, boxes := range s.seen {
			for box := range boxes {
				for _, n := range names {
					if (u == user || isPublic(n)) && (box == n || strings.HasPrefix(box, n+r.delim)) {
						delete(boxes, box)
					}
				}
			}
		}
	}
}

// purge has Dovecot drop expunged mail from mdbox storage files (for
// the other formats it does nothing).
func (r *run) purge() {
	user := pick(r.rng, userNames)
	r.note("  %s", user)
	r.both("doveadm purge", func(s *side) error { return s.doveadm(r.t.Context(), user, "purge") })
}

// ageAndPass ages some of tierfs's message files and starts a mover
// pass on one host, which runs on while the next operations do.
func (r *run) ageAndPass() {
	n, err := r.tfs.age(r.format, func() bool { return r.local.IntN(3) != 0 })
	if err != nil {
		r.t.Errorf("age: %v", err)
	}
	h := pick(r.local, r.tfs.hosts)
	r.note("  aged %d files, pass on %s", n, h.name)
	h.startPass(r.t)
}

func (r *run) restart() {
	for _, s := range r.sides() {
		if err := s.stopDovecot(); err != nil {
			r.t.Errorf("%s: stop dovecot: %v", s.name, err)
		}
		s.startDovecot(r.t)
	}
}

// remount stops Dovecot, unmounts and mounts again, and checks.
func (r *run) remount() {
	r.offline(func(_ *side, h *host) error {
		if err := h.store.Stop(); err != nil {
			return err
		}
		return h.store.Start(r.t.Context())
	})
	r.check("after remount")
}

// wipe empties the tmpfs tier, as a reboot does, and checks.
func (r *run) wipe() {
	r.offline(func(_ *side, h *host) error {
		if err := h.store.Stop(); err != nil {
			return err
		}
		if err := h.store.WipeTmpfs(r.t.Context()); err != nil {
			return err
		}
		return h.store.Start(r.t.Context())
	})
	r.check("after tmpfs wipe")
}

// crash stops Dovecot, kills tierfs with SIGKILL while a mover pass
// runs, mounts again and checks. In a cluster, the other host sometimes
// takes the dead host's users before it is back, as a director fails
// them over: their first requests wait until the dead host's heartbeat
// is stale, and the check runs then too.
func (r *run) crash() {
	r.offline(func(s *side, h *host) error {
		if s != r.tfs {
			return nil
		}
		n, err := s.age(r.format, func() bool { return r.local.IntN(2) == 0 })
		if err != nil {
			return err
		}
		h.startPass(r.t)
		delay := time.Duration(r.local.IntN(300)) * time.Millisecond
		r.note("  aged %d files, killed %s %v into a pass", n, h.name, delay)
		time.Sleep(delay)
		if err := h.store.Kill(); err != nil {
			return err
		}
		h.joinPass() // it failed with the mount, or finished first
		if len(s.hosts) > 1 && r.local.IntN(2) == 0 {
			to := r.otherHost(h)
			r.note("  %s takes over %q", to.name, s.move(h, to))
			r.check("after crash, taken over")
		}
		return h.store.Start(r.t.Context())
	})
	r.check("after crash")
}

// offline runs f on one host of each side (tierfs's drawn at random)
// with that host's Dovecot stopped and its mover pass ended, and starts
// its Dovecot again.
func (r *run) offline(f func(s *side, h *host) error) {
	for _, s := range r.sides() {
		h := s.hosts[0]
		if s == r.tfs {
			h = pick(r.local, s.hosts)
			r.note("  on %s", h.name)
		}
		if err := h.stopDovecot(); err != nil {
			r.t.Errorf("%s: stop dovecot: %v", h.name, err)
		}
		h.joinPassChecked(r.t)
		if err := f(s, h); err != nil {
			r.t.Fatalf("%s: %v", h.name, err)
		}
		h.startDovecot(r.t)
	}
}

// switchHost moves one user, or every user of a host, to another tierfs
// host, as a director does: the user's sessions on the host it leaves
// end first.
func (r *run) switchHost() {
	from := pick(r.local, r.tfs.hosts)
	to := r.otherHost(from)
	var moved []string
	if r.local.IntN(3) == 0 {
		moved = r.tfs.move(from, to)
	} else {
		user := pick(r.local, userNames)
		from = r.tfs.serving[user]
		to = r.otherHost(from)
		r.tfs.hand(user, to)
		moved = []string{user}
	}
	r.note("  %q from %s to %s", moved, from.name, to.name)
}

// otherHost draws a tierfs host other than h.
func (r *run) otherHost(h *host) *host {
	others := slices.DeleteFunc(slices.Clone(r.tfs.hosts), func(o *host) bool { return o == h })
	return pick(r.local, others)
}
