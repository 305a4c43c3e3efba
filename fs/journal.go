package fs

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// JournalDir holds intents of multi-tier changes, at the root of the
// first persistent tier.
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
	t *tiers.Tier
}

func openJournal(t *tiers.Tier) (*journal, error) {
	if err := t.Mkdir(JournalDir, 0o700, nil); err != nil && err != unix.EEXIST {
		return nil, fmt.Errorf("tier %q: create %s: %w", t.Name, JournalDir, err)
	}
	return &journal{t: t}, nil
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
	tmp := JournalDir + "/" + id + ".tmp"
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
	if err := j.t.Rename(tmp, JournalDir+"/"+id+".json", 0); err != nil {
		return "", err
	}
	return id, j.t.FsyncDir(JournalDir)
}

// end removes a finished intent.
func (j *journal) end(id string) error {
	if err := j.t.Unlink(JournalDir + "/" + id + ".json"); err != nil {
		return err
	}
	return j.t.FsyncDir(JournalDir)
}

// pending returns the unfinished intents by id; torn temporaries (a
// crash before the intent was complete, so before any step) are removed.
func (j *journal) pending() (map[string]intent, error) { return j.intents(true) }

// intents reads the complete intents by id, removing torn temporaries
// when tidy is set.
func (j *journal) intents(tidy bool) (map[string]intent, error) {
	ents, err := j.t.ReadDir(JournalDir)
	if err != nil {
		return nil, err
	}
	out := map[string]intent{}
	for _, d := range ents {
		p := JournalDir + "/" + d.Name
		id, ok := strings.CutSuffix(d.Name, ".json")
		if !ok {
			if tidy {
				j.t.Unlink(p)
			}
			continue
		}
		in, err := j.read(p)
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
		out = append(out, rep)
	}
	return out, nil
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

// PendingPaths returns the paths that the unfinished intents in the
// journal on tier t will change at the next mount (both names of a
// rename, every name of a hard-linked file being moved), without
// changing anything. tierfs check reports them as such, and check
// --repair leaves alone those of an intent its replay could not settle:
// a repair there could make the next replay fail, undo it or split a
// linked file.
func PendingPaths(t *tiers.Tier) ([]string, error) {
	ins, err := (&journal{t: t}).intents(false)
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
