package slowfs

import (
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// serverClock is the emulated server's clock, offset from this host's
// (Options.ClockOffset): times the server reports are shifted by the
// offset, and times a client sets explicitly are shifted back before
// they reach the backing directory, so that a time set reads back as
// set and a time the server stamps (a create, a write, "now") reads
// back as the server's.
type serverClock struct{ offset time.Duration }

func shiftTime(sec *uint64, nsec *uint32, d time.Duration) {
	t := time.Unix(int64(*sec), int64(*nsec)).Add(d)
	*sec, *nsec = uint64(t.Unix()), uint32(t.Nanosecond())
}

// attr shifts the times of an answer.
func (c serverClock) attr(a *fuse.Attr) {
	if c.offset == 0 {
		return
	}
	shiftTime(&a.Atime, &a.Atimensec, c.offset)
	shiftTime(&a.Mtime, &a.Mtimensec, c.offset)
	shiftTime(&a.Ctime, &a.Ctimensec, c.offset)
}

func (c serverClock) statx(s *fuse.Statx) {
	if c.offset == 0 {
		return
	}
	for _, t := range []*fuse.SxTime{&s.Atime, &s.Btime, &s.Mtime, &s.Ctime} {
		if t.Sec != 0 || t.Nsec != 0 { // 0: not reported
			shiftTime(&t.Sec, &t.Nsec, c.offset)
		}
	}
}

// setattr returns in with the explicit times shifted back; "now" stays,
// as the backing filesystem stamps it, which attr then shifts.
func (c serverClock) setattr(in *fuse.SetAttrIn) *fuse.SetAttrIn {
	if c.offset == 0 {
		return in
	}
	cp := *in
	if cp.Valid&fuse.FATTR_ATIME != 0 && cp.Valid&fuse.FATTR_ATIME_NOW == 0 {
		shiftTime(&cp.Atime, &cp.Atimensec, -c.offset)
	}
	if cp.Valid&fuse.FATTR_MTIME != 0 && cp.Valid&fuse.FATTR_MTIME_NOW == 0 {
		shiftTime(&cp.Mtime, &cp.Mtimensec, -c.offset)
	}
	if cp.Valid&fuse.FATTR_CTIME != 0 {
		shiftTime(&cp.Ctime, &cp.Ctimensec, -c.offset)
	}
	return &cp
}
