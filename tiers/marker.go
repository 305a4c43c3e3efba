package tiers

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MarkerName is the file at a persistent tier's root that proves the
// directory is the tier it claims to be. An NFS mount point whose export
// is not mounted is an empty directory without it.
const MarkerName = ".tierfs-tier"

// Marker is the content of the marker file.
type Marker struct {
	Name    string    `json:"name"`
	UUID    string    `json:"uuid"`
	Created time.Time `json:"created"`
}

// ReadMarker reads the marker at the root of dir.
func ReadMarker(dir string) (Marker, error) {
	var m Marker
	b, err := os.ReadFile(filepath.Join(dir, MarkerName))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dir, MarkerName), err)
	}
	return m, nil
}

// WriteMarker labels dir as tier name. It keeps an existing marker of the
// same name (init is idempotent) and refuses to relabel another tier's.
func WriteMarker(dir, name string) (Marker, error) {
	m, err := ReadMarker(dir)
	switch {
	case err == nil && m.Name == name:
		return m, nil
	case err == nil:
		return m, fmt.Errorf("%s already belongs to tier %q; refusing to relabel it as %q", dir, m.Name, name)
	case !errors.Is(err, fs.ErrNotExist):
		return m, err
	}
	m = Marker{Name: name, UUID: newUUID(), Created: time.Now().UTC().Truncate(time.Second)}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	return m, writeFileDurable(dir, MarkerName, append(b, '\n'))
}

// checkMarker fails unless the tier root carries this tier's marker,
// which it keeps for the health probe to compare with (recheckMarker).
// It reads the marker beneath the root descriptor, as the probe does:
// the marker of the directory opened, whatever the path leads to now.
func (t *Tier) checkMarker() error {
	m, err := readMarkerAt(t.root)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tier %q: %s has no tier marker (%s): is the filesystem mounted? If this is a new tier, run \"tierfs init\"", t.Name, t.Path, MarkerName)
	}
	if err != nil {
		return fmt.Errorf("tier %q: %s/%s: %w", t.Name, t.Path, MarkerName, err)
	}
	if m.Name != t.Name {
		return fmt.Errorf("tier %q: %s is marked as tier %q; check the config's tier paths", t.Name, t.Path, m.Name)
	}
	if t.UUID != "" && !strings.EqualFold(m.UUID, t.UUID) {
		return fmt.Errorf("tier %q: %s carries marker uuid %s, but the config pins uuid %s: is the right filesystem mounted there? (a marker left on the bare mount point directory looks like this)", t.Name, t.Path, m.UUID, t.UUID)
	}
	t.marker = m
	return nil
}

// maxMarkerSize bounds the read of a marker: a real one is ~150 bytes.
const maxMarkerSize = 4096

// recheckMarker reads the marker again beneath the root descriptor
// (a path could lead elsewhere by now) and compares it with the one
// Open read: a missing, unreadable or other marker means the directory
// is no longer the tier it was.
func (t *Tier) recheckMarker() error {
	m, err := readMarkerAt(t.root)
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("tier marker %s/%s is missing (removed while mounted?)", t.Path, MarkerName)
	case err != nil:
		return fmt.Errorf("tier marker %s/%s: %w", t.Path, MarkerName, err)
	case m.Name != t.marker.Name || !strings.EqualFold(m.UUID, t.marker.UUID):
		return fmt.Errorf("tier marker %s/%s changed while mounted: it names tier %q uuid %s, the tier mounted was %q uuid %s",
			t.Path, MarkerName, m.Name, m.UUID, t.marker.Name, t.marker.UUID)
	}
	return nil
}

// readMarkerAt reads the marker in the directory dirfd; O_NOFOLLOW keeps
// a symlink planted there from pointing the check elsewhere.
func readMarkerAt(dirfd int) (Marker, error) {
	var m Marker
	fd, err := unix.Openat(dirfd, MarkerName, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return m, fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	b := make([]byte, maxMarkerSize)
	n, err := unix.Read(fd, b)
	if err != nil {
		return m, fmt.Errorf("read: %w", err)
	}
	if err := json.Unmarshal(b[:n], &m); err != nil {
		return m, fmt.Errorf("parse: %w", err)
	}
	return m, nil
}

// writeFileDurable writes dir/name through a temporary file, fsyncs it,
// renames it into place and fsyncs dir, so a crash leaves the old file
// or the new one, never a torn one.
func writeFileDurable(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsync(fd)
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
