package fs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// JournalDir holds intents of multi-tier changes, at the root of the
// first persistent tier. On a shared tier each host has its own
// (Tier.StateName): an intent may name the host's tmpfs tiers, and only
// that host can replay it.
const JournalDir = ".tierfs-journal"

const (
	opRenameDir  = "rename-dir"
	opRenameFile = "rename-file" // a file rename replacing copies on other tiers
)

// intent is one multi-tier change: written durably before the first
// step, removed after the last, replayed at mount if still present.
type intent struct {
	Op    string   `json:"op"`
	From  string   `json:"from"`
	To    string   `json:"to"`
	Paths []string `json:"paths,omitempty"` // move-linked: every name of the file
	Tiers []string `json:"tiers"`           // in the order the steps run
}

type journal struct {
	t   *tiers.Tier
	dir string // this daemon's JournalDir on t

	// mu guards live: the ids of this daemon's changes in progress,
	// which a settlement of the user (settleUser) must leave alone.
	mu   sync.Mutex
	live map[string]bool
}

func openJournal(t *tiers.Tier) (*journal, error) {
	if err := foreignIntents(t); err != nil {
		return nil, err
	}
	dir := t.StateName(JournalDir)
	if err := t.Mkdir(dir, 0o700, nil); err != nil && err != unix.EEXIST {
		return nil, fmt.Errorf("tier %q: create %s: %w", t.Name, dir, err)
	}
	return &journal{t: t, dir: dir}, nil
}

// foreignIntents refuses a mount while t holds intents that this daemon
// cannot replay and no other daemon will: the unsuffixed journal of a
// daemon that served t before it became shared, or on a tier that is no
// longer shared the journal of a host of the cluster that served it. A
// mount ignoring them would change the names they cover, and the
// replay that finally runs could then undo that or split a file. On a
// shared tier the other hosts' journals are theirs to replay.
func foreignIntents(t *tiers.Tier) error {
	hs, err := t.HostStates(JournalDir)
	if err != nil {
		return fmt.Errorf("tier %q: list the journals: %w", t.Name, err)
	}
	for _, h := range hs {
		if t.Own(h) || (t.Shared() && h.Host != "") {
			continue
		}
		ins, err := (&journal{t: t, dir: h.Name}).intents(false)
		if err != nil {
			return fmt.Errorf("tier %q: read %s: %w", t.Name, h.Name, err)
		}
		if len(ins) > 0 {
			return fmt.Errorf("tier %q: %s holds %d unfinished intents this mount cannot finish; %s", t.Name, h.Name, len(ins), foreignHow(h.Host))
		}
	}
	return nil
}

// begin writes an intent durably and returns its id.
func (j *journal) begin(in intent) (string, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return "", err
	}
	var r [8]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	tmp := j.dir + "/" + id + ".tmp"
	fd, err := j.t.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600, nil)
	if err != nil {
		return "", err
	}
	_, werr := unix.Write(fd, b)
	serr := unix.Fsync(fd)
	unix.Close(fd)
	if werr != nil || serr != nil {
		j.t.Unlink(tmp)
		return "", fmt.Errorf("write %s: %v %v", tmp, werr, serr)
	}
	j.setRunning(id, true)
	if err := j.t.Rename(tmp, j.dir+"/"+id+".json", 0); err != nil {
		j.setRunning(id, false)
		return "", err
	}
	return id, j.t.FsyncDir(j.dir)
}

// setRunning records whether this daemon's change id is in progress.
func (j *journal) setRunning(id string, on bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.live == nil {
		j.live = map[string]bool{}
	}
	if on {
		j.live[id] = true
	} else {
		delete(j.live, id)
	}
}

// running reports whether this daemon's change id is in progress.
func (j *journal) running(id string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.live[id]
}

// has reports whether intent id is still in the journal.
func (j *journal) has(id string) (bool, error) {
	var st unix.Stat_t
	err := j.t.Lstat(j.dir+"/"+id+".json", &st)
	if missing(err) {
		return false, nil
	}
	return err == nil, err
}

// end removes a finished intent.
func (j *journal) end(id string) error {
	defer j.setRunning(id, false)
	if err := j.t.Unlink(j.dir + "/" + id + ".json"); err != nil {
		return err
	}
	return j.t.FsyncDir(j.dir)
}

// pending returns the unfinished intents by id; torn temporaries (a
// crash before the intent was complete, so before any step) are removed.
func (j *journal) pending() (map[string]intent, error) { return j.intents(true) }

// intents reads the complete intents by id, removing torn temporaries
// when tidy is set.
func (j *journal) intents(tidy bool) (map[string]intent, error) {
	ents, err := j.t.ReadDir(j.dir)
	if err != nil {
		return nil, err
	}
	out := map[string]intent{}
	for _, d := range ents {
		p := j.dir + "/" + d.Name
		id, ok := strings.CutSuffix(d.Name, ".json")
		if !ok {
			if tidy {
				j.t.Unlink(p)
			}
			continue
		}
		in, err := j.read(p)
		if errors.Is(err, unix.ENOENT) {
			continue // finished since the listing (a running daemon's)
		}
		if err != nil {
			return nil, fmt.Errorf("journal %s: %w", p, err)
		}
		out[id] = in
	}
	return out, nil
}

func (j *journal) read(p string) (intent, error) {
	var in intent
	// An intent naming every name of a message delivered to many
	// recipients can be large.
	b, err := j.t.ReadFile(p, maxIntent)
	if err != nil {
		return in, err
	}
	return in, json.Unmarshal(b, &in)
}

// maxIntent bounds the intent read back (a move of a file with some
// 100,000 names).
const maxIntent = 16 << 20

// Replayed is one journal intent a replay settled, or failed to.
type Replayed struct {
	Op       string
	From, To string
	Paths    []string // move-linked: every name of the file
	Tiers    []string
	SetAside []string // tier:path of copies the replay kept aside (two different copies)
	Err      error    // why the intent stays in the journal; nil once settled
}

// replay finishes the intents a crash left behind, before the mount
// serves its first request. An intent that cannot be settled stays in
// the journal and is returned with its error, and the replay goes on
// with the others: intents were always replayed in no particular order,
// so that is the order in which the failed one comes last.
func (r *Root) replay() ([]Replayed, error) {
	pend, err := r.journal.pending()
	if err != nil {
		return nil, err
	}
	var out []Replayed
	for _, id := range slices.Sorted(maps.Keys(pend)) { // a stable report
		in := pend[id]
		release, err := r.holdIntentUsers(in)
		if err != nil {
			// Not a mount failure: the user's holder, or this host's
			// next acquisition of the user, finishes it (settleUser);
			// until then the user's requests fail with EIO.
			lvl := slog.LevelWarn
			if !errors.Is(err, ErrOtherHost) {
				lvl = slog.LevelError
			}
			r.log.Log(context.Background(), lvl, "cluster: leaving an unfinished change for the user's next acquisition",
				"op", in.Op, "from", in.From, "to", in.To, "err", err)
			continue
		}
		if r.leases != nil { // taking a lease may have finished it (settleUser)
			if ok, err := r.journal.has(id); err == nil && !ok {
				release()
				continue
			}
		}
		out = append(out, r.replayOne(id, in))
		release()
	}
	return out, nil
}

// replayOne replays intent id and removes it once settled.
func (r *Root) replayOne(id string, in intent) Replayed {
	rep := Replayed{Op: in.Op, From: in.From, To: in.To, Paths: in.Paths, Tiers: in.Tiers}
	rep.SetAside, rep.Err = r.replayIntent(in)
	if rep.Err == nil {
		// A crash here replays the intent again: each is idempotent.
		r.crashAt("replay-before-end", "intent", id)
		rep.Err = r.journal.end(id)
	}
	if rep.Err != nil {
		rep.Err = fmt.Errorf("journal %s: %w", id, rep.Err)
	}
	return rep
}

// replayErr joins the errors of the intents a replay could not settle.
func replayErr(done []Replayed) error {
	var errs []error
	for _, d := range done {
		if d.Err != nil {
			errs = append(errs, d.Err)
		}
	}
	return errors.Join(errs...)
}

// replayIntent finishes or settles one intent left by a crash and
// returns the copies it set aside.
func (r *Root) replayIntent(in intent) ([]string, error) {
	switch in.Op {
	case opMove:
		return r.replayMove(in)
	case opMoveLinked:
		return r.replayMoveLinked(in)
	case opRenameFile:
		return nil, r.replayRenameFile(in)
	case opRenameDir:
		r.log.Warn("finishing a directory rename interrupted by a crash", "from", in.From, "to", in.To, "tiers", in.Tiers)
		if e := r.applyRenameDir(in, nil); e != 0 {
			return nil, fmt.Errorf("rename %s to %s: %w", in.From, in.To, e)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("unknown operation %q", in.Op)
}

// foreignHow tells the operator how host's intents get finished.
func foreignHow(host string) string {
	if host == "" {
		return "mount the tiers once with shared = false and no [cluster] to finish them"
	}
	return fmt.Sprintf("mount tierfs once as host %q of the cluster, or run tierfs check --repair there, to finish them", host)
}

// PendingPaths returns the paths that the unfinished intents in the
// journal dir (JournalDir of some host, see Tier.HostStates) on tier t
// will change at the next mount (both names of a rename, every name of
// a hard-linked file being moved), without changing anything. tierfs
// check reports them as such, and check --repair leaves alone those of
// an intent its replay could not settle, or that another host's replay
// will: a repair there could make the next replay fail, undo it or
// split a linked file.
func PendingPaths(t *tiers.Tier, dir string) ([]string, error) {
	ins, err := (&journal{t: t, dir: dir}).intents(false)
	if err == unix.ENOENT {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, in := range ins {
		for _, p := range append([]string{in.From, in.To}, in.Paths...) {
			if p != "" {
				out = append(out, p)
			}
		}
	}
	return out, nil
}
