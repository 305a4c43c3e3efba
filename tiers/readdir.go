package tiers

import (
	"encoding/binary"
	"io"
	"time"

	"golang.org/x/sys/unix"
)

// Dirent is one directory entry as the tier reports it.
type Dirent struct {
	Name string
	Ino  uint64
	Type uint8 // DT_* value
}

// ReadDir lists the directory rel, without "." and "..".
func (t *Tier) ReadDir(rel string) ([]Dirent, error) {
	ents, _, err := t.ReadDirUpTo(rel, -1)
	return ents, err
}

// ReadDirUpTo is ReadDir that stops once it has read more than max
// entries (no limit if max < 0), reporting complete false: a caller
// that wants only small directories need not read a large one whole.
func (t *Tier) ReadDirUpTo(rel string, max int) (_ []Dirent, complete bool, err error) {
	defer t.observe("readdir", time.Now(), &err)
	fd, err := t.OpenDir(rel)
	if err != nil {
		return nil, false, err
	}
	defer unix.Close(fd)
	return readDirents(fd, max)
}

// ReadDirFd lists the directory open as fd (from OpenDir) from its
// start, without "." and "..": the directory itself, wherever it has
// been renamed since it was opened.
func (t *Tier) ReadDirFd(fd int) (_ []Dirent, err error) {
	defer t.observe("readdir", time.Now(), &err)
	if err := t.check(); err != nil {
		return nil, err
	}
	if _, err := unix.Seek(fd, 0, io.SeekStart); err != nil {
		return nil, err
	}
	ents, _, err := readDirents(fd, -1)
	return ents, err
}

// readDirents reads directory fd from its offset to its end, or until
// it has read more than max entries (no limit if max < 0).
func readDirents(fd, max int) (_ []Dirent, complete bool, err error) {
	var out []Dirent
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		if n <= 0 {
			return out, true, nil
		}
		out = parseDirents(buf[:n], out)
		if max >= 0 && len(out) > max {
			return out, false, nil
		}
	}
}

// parseDirents decodes struct linux_dirent64 records.
func parseDirents(b []byte, out []Dirent) []Dirent {
	for len(b) >= 19 {
		ino := binary.NativeEndian.Uint64(b[0:8])
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < 19 || reclen > len(b) {
			break
		}
		typ := b[18]
		name := b[19:reclen]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		b = b[reclen:]
		if s := string(name); s != "." && s != ".." {
			out = append(out, Dirent{Name: s, Ino: ino, Type: typ})
		}
	}
	return out
}

// EmptyLostFound reports whether rel is an empty lost+found at the tier
// root: the filesystem's own (mkfs.ext4 makes one), which a tier being
// retired may keep. One that holds what fsck found is not.
func (t *Tier) EmptyLostFound(rel string) bool {
	if rel != "lost+found" {
		return false
	}
	ents, err := t.ReadDir(rel)
	return err == nil && len(ents) == 0
}
