package cluster

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"time"

	"golang.org/x/sys/unix"
)

// maxFile bounds what is read of a heartbeat, lease or dotlock: each is
// one short line.
const maxFile = 512

// fileInfo is what a read of a small protocol file learns.
type fileInfo struct {
	data  string
	ino   uint64
	mtime time.Time
}

// readFile reads the small file rel and stats the descriptor it read,
// so content, inode and mtime belong to one file even while it is
// being replaced. ENOENT is returned bare.
func (l *Leases) readFile(rel string) (fileInfo, error) {
	fd, err := l.t.Open(rel, unix.O_RDONLY, 0, nil)
	if err != nil {
		return fileInfo{}, err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fileInfo{}, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFile))
	if err != nil {
		return fileInfo{}, err
	}
	return fileInfo{data: string(b), ino: st.Ino, mtime: time.Unix(st.Mtim.Unix())}, nil
}

// tmpName returns a new temporary name in this host's own directory.
func (l *Leases) tmpName(what string) string {
	return fmt.Sprintf("%s/%s.%016x", l.tmp, what, rand.Uint64())
}

// replace makes rel hold data durably: a fsynced temporary renamed over
// it and its directory fsynced, so that a crash at any step leaves the
// old content or the new. op prefixes the crash points. check, if set,
// is given the temporary's mtime (the tier's clock) and may refuse the
// replacement.
func (l *Leases) replace(rel, data, op string, check func(mtime time.Time) error) error {
	tmp := l.tmpName(op)
	mtime, err := l.writeNew(tmp, data)
	if err == nil && check != nil {
		if err = check(mtime); err != nil {
			l.t.Unlink(tmp)
		}
	}
	if err != nil {
		return err
	}
	l.crashAt(op + "-temp")
	if err := l.t.Rename(tmp, rel, 0); err != nil {
		l.t.Unlink(tmp)
		return fmt.Errorf("rename %s to %s: %w", tmp, rel, err)
	}
	l.crashAt(op + "-renamed")
	if err := l.t.FsyncDir(path.Dir(rel)); err != nil {
		return fmt.Errorf("fsync %s: %w", path.Dir(rel), err)
	}
	return nil
}

// writeNew creates rel (which must not exist), writes data and fsyncs;
// it returns the mtime the tier gave the file.
func (l *Leases) writeNew(rel, data string) (time.Time, error) {
	fd, err := l.t.Open(rel, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("create %s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), rel)
	_, werr := f.WriteString(data)
	serr := f.Sync()
	var st unix.Stat_t
	ferr := unix.Fstat(fd, &st)
	cerr := f.Close()
	if err := errors.Join(werr, serr, ferr, cerr); err != nil {
		l.t.Unlink(rel)
		return time.Time{}, fmt.Errorf("write %s: %w", rel, err)
	}
	return time.Unix(st.Mtim.Unix()), nil
}

// mkdirs makes the protocol's directories (and leaves existing ones).
func (l *Leases) mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := l.t.Mkdir(d, 0o755, nil); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mkdir %s: %w", d, err)
		}
	}
	return nil
}

// clearTmp removes what a crashed run of this host left in its
// temporaries directory: nobody else uses it.
func (l *Leases) clearTmp() error {
	ents, err := l.t.ReadDir(l.tmp)
	if err != nil {
		return fmt.Errorf("list %s: %w", l.tmp, err)
	}
	for _, e := range ents {
		if err := l.t.Unlink(l.tmp + "/" + e.Name); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove %s/%s: %w", l.tmp, e.Name, err)
		}
	}
	return nil
}
