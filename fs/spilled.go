package fs

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"log/slog"
	"maps"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/tierfs/tierfs/tiers"
)

// spilledName records, at a tier's root, the new files placement put
// there because their rule's tier was short and this is the rule's
// demote_to tier: one line per file with its backing inode number and
// birth time. The mover brings those files home while they are young;
// a file demoted early is not recorded, so it never comes back. The
// ".tierfs" prefix hides it from the mount, the mover's scan and check.
// On a shared tier each host records its own placements
// (Tier.StateName), and its mover reads only those: hosts append and
// rewrite the file independently.
const spilledName = ".tierfs-spilled"

// maxSpilled caps the records kept per tier: beyond it a spilled file
// is not recorded and stays where it is, as an early-demoted one does.
const maxSpilled = 100_000

// SpilledFile identifies a spilled file on its tier: the backing inode
// number and birth time (0 where the tier records none), which tells it
// from a later file given the same number.
type SpilledFile struct {
	Ino, Gen uint64
}

// spilledSet is one tier's records. mu orders appends against the
// rewrite, so that no append lands in a file being replaced.
type spilledSet struct {
	t      *tiers.Tier
	log    *slog.Logger
	mu     sync.Mutex
	files  map[uint64]uint64 // inode number -> birth time
	fd     int               // open for appending, -1: not yet
	capped bool              // logged reaching maxSpilled
}

// openSpilled reads tier t's records; garbled or torn lines are
// dropped, and the file rewritten without them. A tier that cannot be
// read starts with none (its files then stay where they are).
func openSpilled(t *tiers.Tier, log *slog.Logger) *spilledSet {
	s := &spilledSet{t: t, log: log, files: map[uint64]uint64{}, fd: -1}
	if !t.Persistent() {
		return s
	}
	b, err := s.read()
	if err != nil {
		if err != unix.ENOENT {
			log.Warn("spilled files unreadable; they stay where they are", "tier", t.Name, "err", err)
		}
		return s
	}
	files, bad := parseSpilled(b)
	s.files = files
	if bad > 0 {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.rewriteLocked(); err != nil {
			log.Warn("rewriting spilled files", "tier", t.Name, "err", err)
		}
	}
	return s
}

func (s *spilledSet) read() ([]byte, error) {
	// The cap bounds the records; a line takes at most some 50 bytes.
	return s.t.ReadFile(s.t.StateName(spilledName), 64*maxSpilled)
}

// spilledLine is one record: "INO GEN CRC\n", CRC over "INO GEN", so
// that a torn append joined to the next one is not taken for a record.
func spilledLine(f SpilledFile) []byte {
	body := strconv.FormatUint(f.Ino, 10) + " " + strconv.FormatUint(f.Gen, 10)
	return fmt.Appendf(nil, "%s %08x\n", body, crc32.ChecksumIEEE([]byte(body)))
}

// parseSpilled reads records, skipping lines that are not one (torn by
// a crash, garbled); it returns the records and the lines skipped.
func parseSpilled(b []byte) (map[uint64]uint64, int) {
	files, bad := map[uint64]uint64{}, 0
	for len(b) > 0 {
		line, rest, complete := bytes.Cut(b, []byte{'\n'})
		b = rest
		f, ok := parseSpilledLine(line)
		if !complete || !ok {
			bad++
			continue
		}
		files[f.Ino] = f.Gen
	}
	return files, bad
}

func parseSpilledLine(line []byte) (SpilledFile, bool) {
	fields := bytes.Fields(line)
	if len(fields) != 3 {
		return SpilledFile{}, false
	}
	ino, err1 := strconv.ParseUint(string(fields[0]), 10, 64)
	gen, err2 := strconv.ParseUint(string(fields[1]), 10, 64)
	f := SpilledFile{Ino: ino, Gen: gen}
	// The canonical form carries the checksum: any other text is garbled.
	want := spilledLine(f)
	if err1 != nil || err2 != nil || !bytes.Equal(want[:len(want)-1], line) {
		return SpilledFile{}, false
	}
	return f, true
}

// add records f with one O_APPEND write and no fsync: a record lost in
// a crash only leaves its file where it is.
func (s *spilledSet) add(f SpilledFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.files) >= maxSpilled {
		if !s.capped {
			s.capped = true
			s.log.Warn("too many spilled files recorded; later ones stay where they are", "tier", s.t.Name, "max", maxSpilled)
		}
		return
	}
	s.files[f.Ino] = f.Gen // kept for this mount even if the write fails; the next rewrite persists it
	if s.fd < 0 {
		fd, err := s.t.Open(s.t.StateName(spilledName), unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC, 0o600, nil)
		if err != nil {
			s.log.Warn("recording a spilled file", "tier", s.t.Name, "err", err)
			return
		}
		s.fd = fd
	}
	if _, err := unix.Write(s.fd, spilledLine(f)); err != nil {
		s.log.Warn("recording a spilled file", "tier", s.t.Name, "err", err)
	}
}

// snapshot copies the records.
func (s *spilledSet) snapshot() map[uint64]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.files)
}

func (s *spilledSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.files)
}

// forget drops the given records (those added since with the same
// inode number and another birth time stay) and rewrites the file.
func (s *spilledSet) forget(drop []SpilledFile) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.files)
	for _, f := range drop {
		if g, ok := s.files[f.Ino]; ok && g == f.Gen {
			delete(s.files, f.Ino)
		}
	}
	if len(s.files) == n {
		return nil
	}
	s.capped = false
	return s.rewriteLocked()
}

// rewriteLocked replaces the file with the records held (tiers
// ReplaceFile: a crash leaves the old records or the new), or removes it
// when none are left. The append descriptor is closed, so the next
// append opens the new file.
func (s *spilledSet) rewriteLocked() error {
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
	if len(s.files) == 0 {
		if err := s.t.Unlink(s.t.StateName(spilledName)); err != nil && err != unix.ENOENT {
			return fmt.Errorf("tier %s: remove %s: %w", s.t.Name, s.t.StateName(spilledName), err)
		}
		return nil
	}
	var b []byte
	for ino, gen := range s.files {
		b = append(b, spilledLine(SpilledFile{Ino: ino, Gen: gen})...)
	}
	if err := s.t.ReplaceFile(s.t.StateName(spilledName), b); err != nil {
		return fmt.Errorf("tier %s: rewrite %s: %w", s.t.Name, s.t.StateName(spilledName), err)
	}
	return nil
}

func (s *spilledSet) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// Spilled returns, by tier, a copy of the records of files placement
// spilled there (inode number -> birth time); the mover reads them at
// the start of a pass.
func (r *Root) Spilled() []map[uint64]uint64 {
	out := make([]map[uint64]uint64, len(r.spilled))
	for ti, s := range r.spilled {
		out[ti] = s.snapshot()
	}
	return out
}

// spilledCount is how many files are recorded as spilled to tier ti.
func (r *Root) spilledCount(ti int) int {
	if ti >= len(r.spilled) {
		return 0
	}
	return r.spilled[ti].count()
}

// ForgetSpilled drops records of tier ti: files that went home, that
// complete scans did not find, or that are old enough to stay. Records
// added meanwhile stay.
func (r *Root) ForgetSpilled(ti int, drop []SpilledFile) error {
	if ti < 0 || ti >= len(r.spilled) {
		return fmt.Errorf("tier %d out of range", ti)
	}
	r.crashAt("spilled-before-rewrite", "tier", r.tiers[ti].Name)
	if err := r.spilled[ti].forget(drop); err != nil {
		return err
	}
	r.crashAt("spilled-after-rewrite", "tier", r.tiers[ti].Name)
	return nil
}

// noteSpilled records a new regular file made on tier ti with stat st
// and birth time gen, when placement spilled it to its rule's demote_to
// tier.
func (r *Root) noteSpilled(ti int, spilled bool, st *unix.Stat_t, gen uint64) {
	if spilled && st.Mode&unix.S_IFMT == unix.S_IFREG && ti < len(r.spilled) {
		r.spilled[ti].add(SpilledFile{Ino: st.Ino, Gen: gen})
	}
}
