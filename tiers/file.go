package tiers

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// ReadFile reads at most max bytes of file rel beneath the root
// descriptor. An error from the open is the bare errno (ENOENT: there is
// none).
func (t *Tier) ReadFile(rel string, max int64) ([]byte, error) {
	fd, err := t.Open(rel, unix.O_RDONLY, 0, nil)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	// A large file can take more than one read.
	return io.ReadAll(io.LimitReader(f, max))
}

// ReplaceFile replaces file name at the tier root with data, durably
// and beneath the root descriptor: written to a temporary, fsynced,
// renamed into place and the root fsynced, so a crash leaves the old
// content or the new.
func (t *Tier) ReplaceFile(name string, data []byte) error { return t.replaceFile(name, data, nil) }

// replaceFile is ReplaceFile, calling renaming (if set) once the
// temporary is durable and before it is renamed into place (a test's
// crash point).
func (t *Tier) replaceFile(name string, data []byte, renaming func()) error {
	tmp := name + ".tmp"
	t.Unlink(tmp) // a crash's leftover
	fd, err := t.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600, nil)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, werr := f.Write(data) // all of it, or an error
	serr := f.Sync()
	f.Close()
	if err := errors.Join(werr, serr); err != nil {
		t.Unlink(tmp)
		return err
	}
	if renaming != nil {
		renaming()
	}
	if err := t.Rename(tmp, name, 0); err != nil {
		t.Unlink(tmp)
		return err
	}
	return t.FsyncDir("")
}
