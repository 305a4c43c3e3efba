package tiers

import (
	"fmt"
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
	dest, err := loser.setAside(rel)
	if err != nil {
		return Unresolved, "", err
	}
	return KeptBoth, loser.Name + ":" + dest, nil
}

// setAside moves rel under RecoveredDir on the same tier, durably.
func (t *Tier) setAside(rel string) (string, error) {
	dest := RecoveredDir + "/" + rel
	if err := t.mkdirs(dirOf(dest)); err != nil {
		return "", err
	}
	for i := 1; ; i++ {
		err := t.Rename(rel, dest, unix.RENAME_NOREPLACE)
		if err == nil {
			break
		}
		if err != unix.EEXIST || i > 1000 {
			return "", err
		}
		dest = fmt.Sprintf("%s/%s.%d", RecoveredDir, rel, i)
	}
	if err := t.FsyncDir(dirOf(dest)); err != nil {
		return "", err
	}
	return dest, t.FsyncDir(dirOf(rel))
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
