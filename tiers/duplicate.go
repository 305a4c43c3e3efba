package tiers

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RecoveredDir holds, at a tier root, copies that lost a conflict: a
// name found on two tiers with different content. Nothing there is ever
// deleted by tierfs; "tierfs check" lists it.
const RecoveredDir = ".tierfs-recovered"

// Resolution says what ResolveDuplicate did.
type Resolution int

const (
	Unresolved  Resolution = iota // not a duplicate (one copy, or not both files)
	RemovedCopy                   // identical: the other copy was removed
	KeptBoth                      // different: the loser went to RecoveredDir
)

// ResolveDuplicate settles file rel present on tiers keep and other. If
// both copies hold the same bytes the one on other is removed. If they
// differ, the newer (by mtime; keep on a tie) stays at rel and the other
// is moved under RecoveredDir on its own tier, so no byte is lost. It
// returns where the loser went ("" if removed or nothing was done).
func ResolveDuplicate(keep, other *Tier, rel string) (Resolution, string, error) {
	if keep == other {
		return Unresolved, "", nil // one copy compared with itself is no duplicate
	}
	var sk, so unix.Stat_t
	if err := keep.Lstat(rel, &sk); err != nil {
		return Unresolved, "", ignoreMissing(err)
	}
	if err := other.Lstat(rel, &so); err != nil {
		return Unresolved, "", ignoreMissing(err)
	}
	if sk.Mode&unix.S_IFMT != unix.S_IFREG || so.Mode&unix.S_IFMT != unix.S_IFREG {
		return Unresolved, "", nil
	}
	same, err := SameContent(keep, other, rel)
	if err != nil {
		return Unresolved, "", err
	}
	if same {
		if err := other.Unlink(rel); err != nil {
			return Unresolved, "", err
		}
		return RemovedCopy, "", other.FsyncDir(dirOf(rel))
	}
	loser := other
	if later(so.Mtim, sk.Mtim) {
		loser = keep
	}
	dest, err := loser.SetAside(rel)
	if err != nil {
		return Unresolved, "", err
	}
	return KeptBoth, loser.Name + ":" + dest, nil
}

// SetAside moves rel under RecoveredDir on the same tier, durably, and
// returns where it went. It never replaces anything: a name already
// taken there, or a file where the path needs a directory, makes it try
// the next name (see asideName).
func (t *Tier) SetAside(rel string) (string, error) {
	for i := 0; i <= 2000; i++ {
		dest := asideName(rel, i)
		err := t.mkdirs(dirOf(dest))
		if err == nil {
			err = t.Rename(rel, dest, unix.RENAME_NOREPLACE)
		}
		switch {
		case err == nil:
			if err := t.FsyncDir(dirOf(dest)); err != nil {
				return "", err
			}
			return dest, t.FsyncDir(dirOf(rel))
		case err != unix.EEXIST && err != unix.ENOTDIR && err != unix.ENAMETOOLONG:
			return "", err
		}
	}
	return "", fmt.Errorf("set aside %s: no free name under %s: %w", rel, RecoveredDir, unix.EEXIST)
}

// asideTree prefixes the numbered subtrees of RecoveredDir that hold a
// set-aside copy under its own path when that path is taken.
const asideTree = ".tierfs-"

// asideName is the i-th name tried for a set-aside copy of rel: its path
// under RecoveredDir, then alternately that path with a number appended
// and that path under a numbered subtree. The subtree serves where the
// number would make the name too long or a file already set aside sits
// where the path needs a directory.
func asideName(rel string, i int) string {
	switch {
	case i == 0:
		return RecoveredDir + "/" + rel
	case i%2 == 1:
		return fmt.Sprintf("%s/%s.%d", RecoveredDir, rel, (i+1)/2)
	default:
		return fmt.Sprintf("%s/%s%d/%s", RecoveredDir, asideTree, i/2, rel)
	}
}

// AsideOrigin returns the path a set-aside copy at p (under
// RecoveredDir) had: without RecoveredDir and a numbered subtree.
func AsideOrigin(p string) string {
	rel := strings.TrimPrefix(p, RecoveredDir+"/")
	if tree, rest, ok := strings.Cut(rel, "/"); ok && strings.HasPrefix(tree, asideTree) {
		if _, err := strconv.Atoi(strings.TrimPrefix(tree, asideTree)); err == nil {
			return rest
		}
	}
	return rel
}

// mkdirs creates rel and its parents on the tier (mode 0700: tierfs's own).
func (t *Tier) mkdirs(rel string) error {
	p := ""
	for _, part := range strings.Split(rel, "/") {
		if p == "" {
			p = part
		} else {
			p += "/" + part
		}
		if err := t.Mkdir(p, 0o700, nil); err != nil && err != unix.EEXIST {
			return err
		}
	}
	return nil
}

func dirOf(rel string) string { d, _ := split(rel); return d }

func later(a, b unix.Timespec) bool {
	return a.Sec > b.Sec || (a.Sec == b.Sec && a.Nsec > b.Nsec)
}

func ignoreMissing(err error) error {
	if err == unix.ENOENT || err == unix.ENOTDIR {
		return nil
	}
	return err
}
