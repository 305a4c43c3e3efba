package main

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	tfs "github.com/tierfs/tierfs/fs"
	"github.com/tierfs/tierfs/tiers"
)

// retiredTiers lists the persistent tiers that the members files of ts
// name but ts lacks: tiers removed from the config since the last mount
// (of this host: on a shared tier each host reads its own file).
func retiredTiers(ts []*tiers.Tier) ([]tiers.Member, error) {
	have := map[string]bool{}
	for _, t := range ts {
		if t != nil && t.Persistent() {
			have[strings.ToLower(t.Member().UUID)] = true
		}
	}
	var out []tiers.Member
	for _, t := range ts {
		if t == nil || !t.Persistent() {
			continue
		}
		ms, err := t.ReadMembers()
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if k := strings.ToLower(m.UUID); !have[k] {
				have[k] = true
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// checkRetired refuses a mount that would hide data: a tier removed
// from the config that still holds a file, a directory the other tiers
// lack, a set-aside copy or a journal intent, or that cannot be looked
// at (its filesystem not mounted, its marker gone). Every such tier is
// named at once.
func checkRetired(ts []*tiers.Tier) error { return errors.Join(retiredProblems(ts)...) }

// retiredProblems returns one error for each tier removed from the
// config that the mount would refuse (tierfs check reports each).
func retiredProblems(ts []*tiers.Tier) []error {
	ms, err := retiredTiers(ts)
	if err != nil {
		return []error{err}
	}
	var out []error
	for _, m := range ms {
		if err := retiredEmpty(m, ts); err != nil {
			out = append(out, err)
		}
	}
	return out
}

// retiredEmpty fails, saying why and what to do, unless retired tier m
// holds nothing that the tiers ts lack.
func retiredEmpty(m tiers.Member, ts []*tiers.Tier) error {
	what := fmt.Sprintf("tier %q (%s, uuid %s) was a tier of this mount and is not in the config", m.Name, m.Path, m.UUID)
	t, err := tiers.Open(tiers.Spec{Name: m.Name, Path: m.Path, Kind: tiers.KindLocal, UUID: m.UUID}, -1)
	if err != nil {
		return fmt.Errorf("%s, and it cannot be checked for files the mount would hide: %w; mount its filesystem there or put the tier back in the config; if its data is gone for good, \"tierfs init --forget %s\" forgets it", what, err, m.Name)
	}
	defer t.Close()
	hidden, err := hiddenOn(t, ts, "")
	if err != nil {
		return fmt.Errorf("%s, and it cannot be checked for files the mount would hide: %w", what, err)
	}
	if hidden != "" {
		return fmt.Errorf("%s, but it still holds %s, which the mount would hide; put it back in the config, with no rule naming it, and run \"tierfs migrate\" until \"tierfs check\" says it can be removed (README: Retiring or replacing a tier)", what, hidden)
	}
	return nil
}

// hiddenOn walks directory dir of t and names the first thing in it
// that no tier of ts shows: a file, a directory, or at the root a
// set-aside copy or an unfinished journal intent. "" when there is none.
func hiddenOn(t *tiers.Tier, ts []*tiers.Tier, dir string) (string, error) {
	ents, err := t.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read %q: %w", dir, err)
	}
	for _, e := range ents {
		p := join(dir, e.Name)
		if dir == "" && strings.HasPrefix(e.Name, ".tierfs") {
			if own := ownHidden(t, e.Name); own != "" {
				return own, nil
			}
			continue
		}
		var st unix.Stat_t
		if err := t.Lstat(p, &st); err != nil {
			return "", fmt.Errorf("stat %q: %w", p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return "file " + p, nil
		}
		if !dirOnAny(ts, p) && !t.EmptyLostFound(p) {
			return "directory " + p + ", on no other tier", nil
		}
		if h, err := hiddenOn(t, ts, p); h != "" || err != nil {
			return h, err
		}
	}
	return "", nil
}

// ownHidden names what tierfs's own entry name at a tier root holds that
// a person must see to: set-aside copies and journal intents (any
// host's, on a tier that was shared). Move temporaries, the lock, the
// marker and the rest are tierfs's alone.
func ownHidden(t *tiers.Tier, name string) string {
	switch {
	case name == tiers.RecoveredDir:
		if ents, _ := t.ReadDir(name); len(ents) > 0 {
			return "set-aside copies under " + name
		}
	case name == tfs.JournalDir || strings.HasPrefix(name, tfs.JournalDir+"."):
		ents, _ := t.ReadDir(name)
		for _, e := range ents {
			if strings.HasSuffix(e.Name, ".json") {
				return "an unfinished journal intent " + name + "/" + e.Name
			}
		}
	}
	return ""
}

// dirOnAny reports whether a tier of ts holds directory p.
func dirOnAny(ts []*tiers.Tier, p string) bool {
	var st unix.Stat_t
	for _, t := range ts {
		if t != nil && t.Lstat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return true
		}
	}
	return false
}

// recordMembers writes the persistent tiers of ts to each one's members
// file (this host's, on a shared tier), once checkRetired let the mount
// go ahead.
func recordMembers(ts []*tiers.Tier) error {
	var ms []tiers.Member
	for _, t := range ts {
		if t.Persistent() {
			ms = append(ms, t.Member())
		}
	}
	for _, t := range ts {
		if t.Persistent() {
			if err := t.WriteMembers(ms); err != nil {
				return err
			}
		}
	}
	return nil
}
