package tiers

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// MembersName is the file at each persistent tier's root that lists the
// persistent tiers of the mount that last served it. A later mount
// whose config lacks one of them checks that it holds nothing the mount
// would hide (see the mount's retired-tier check). On a shared tier each
// host keeps its own (StateName): the hosts' configs differ in their
// tmpfs tiers, and one host's list must not replace another's.
const MembersName = ".tierfs-members"

// Member is one persistent tier of a mount, as its marker and config
// name it.
type Member struct {
	Name string `json:"name"`
	UUID string `json:"uuid"`
	Path string `json:"path"`
}

// Member returns t as a member of its mount.
func (t *Tier) Member() Member { return Member{Name: t.Name, UUID: t.marker.UUID, Path: t.Path} }

// ReadMembers returns this host's members file at the tier root (nil
// when there is none: the tier was never mounted by a tierfs that
// writes it). On a shared tier that this host has not mounted yet it
// reads the unsuffixed file of the daemon that served the tier before
// it became shared, so that the retired-tier check still sees the tiers
// that mount had. It is read beneath the root descriptor, as the marker
// is.
func (t *Tier) ReadMembers() ([]Member, error) {
	ms, err := t.readMembers(t.StateName(MembersName))
	if err == unix.ENOENT && t.Shared() {
		ms, err = t.readMembers(MembersName)
	}
	if err == unix.ENOENT {
		return nil, nil
	}
	return ms, err
}

// readMembers reads the members file name, ENOENT unwrapped.
func (t *Tier) readMembers(name string) ([]Member, error) {
	b, err := t.ReadFile(name, maxMembersSize)
	if err == unix.ENOENT {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("tier %q: read %s: %w", t.Name, name, err)
	}
	var ms []Member
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("tier %q: %s: %w", t.Name, filepath.Join(t.Path, name), err)
	}
	return ms, nil
}

// maxMembersSize bounds the members file read back (64 tiers' entries
// take a few KiB).
const maxMembersSize = 1 << 20

// WriteMembers replaces this host's members file at the tier root,
// durably and beneath the root descriptor: a crash leaves the old list
// or the new one.
func (t *Tier) WriteMembers(ms []Member) error {
	b, err := json.MarshalIndent(ms, "", "  ")
	if err != nil {
		return err
	}
	name := t.StateName(MembersName)
	if err := t.ReplaceFile(name, append(b, '\n')); err != nil {
		return fmt.Errorf("tier %q: write %s: %w", t.Name, name, err)
	}
	return nil
}
