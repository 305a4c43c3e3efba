package tiers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// MembersName is the file at each persistent tier's root that lists the
// persistent tiers of the mount that last served it. A later mount
// whose config lacks one of them checks that it holds nothing the mount
// would hide (see the mount's retired-tier check).
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

// ReadMembers returns the members file at the tier root (nil when there
// is none: the tier was never mounted by a tierfs that writes it).
func (t *Tier) ReadMembers() ([]Member, error) {
	b, err := os.ReadFile(filepath.Join(t.Path, MembersName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tier %q: %w", t.Name, err)
	}
	var ms []Member
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("tier %q: %s: %w", t.Name, filepath.Join(t.Path, MembersName), err)
	}
	return ms, nil
}

// WriteMembers replaces the members file at the tier root, durably: a
// crash leaves the old list or the new one.
func (t *Tier) WriteMembers(ms []Member) error {
	b, err := json.MarshalIndent(ms, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileDurable(t.Path, MembersName, append(b, '\n')); err != nil {
		return fmt.Errorf("tier %q: write %s: %w", t.Name, MembersName, err)
	}
	return nil
}
