package dovecot

import (
	"errors"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// fileClass is what a file in a tier is, judged by its name and place.
type fileClass string

const (
	classLock      fileClass = "lock"       // locks of every kind
	classListIndex fileClass = "list index" // dovecot.list.index*
	classIndex     fileClass = "index"      // mailbox and map indexes, uidlist, keywords
	classMessage   fileClass = "message"    // maildir files, sdbox u.N, mdbox m.N
	classOther     fileClass = "other"
)

var (
	dboxMailFile = regexp.MustCompile(`^[um]\.[0-9]+$`)
	maildirDirs  = map[string]bool{"cur": true, "new": true, "tmp": true}
)

// classify names the class of the file at rel (relative to a tier root).
func classify(rel string) fileClass {
	name := filepath.Base(rel)
	parent := filepath.Base(filepath.Dir(rel))
	switch {
	case strings.Contains(name, "lock") || strings.Contains(rel, ".locks/"):
		return classLock
	case strings.HasPrefix(name, "dovecot.list.index"):
		return classListIndex
	case strings.HasPrefix(name, "dovecot.index"), strings.HasPrefix(name, "dovecot.map.index"),
		strings.HasPrefix(name, "dovecot-uidlist"), strings.HasPrefix(name, "dovecot-keywords"):
		return classIndex
	case maildirDirs[parent] && !strings.HasPrefix(name, "."), dboxMailFile.MatchString(name):
		return classMessage
	}
	return classOther
}

// tierFile is one regular file found in a tier's own directory.
type tierFile struct {
	tier, rel string
	class     fileClass
}

// tierFiles lists every non-directory in every tier, skipping tierfs's
// own names at the tier roots.
func tierFiles(t *testing.T, tiers dovecottest.Tiers) []tierFile {
	t.Helper()
	var files []tierFile
	for _, name := range tiers.Names() {
		root := tiers.Dir(name)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if p == root && errors.Is(err, fs.ErrNotExist) {
					return nil // a wiped tmpfs tier is created at mount
				}
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if strings.HasPrefix(rel, ".tierfs") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() {
				files = append(files, tierFile{name, rel, classify(rel)})
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk tier %s: %v", name, err)
		}
	}
	return files
}

// checkPlacement fails for every file on the wrong tier or in the wrong
// subtree, and unless the tiers hold the files the format must have
// written: list indexes on tmpfs, indexes on fast under index/, messages
// on fast under mail/. Call it with Dovecot stopped.
func checkPlacement(t *testing.T, f *fixture, stage string) {
	t.Helper()
	count := map[string]map[fileClass]int{}
	var others []string
	for _, fl := range tierFiles(t, f.store.Tiers) {
		if count[fl.tier] == nil {
			count[fl.tier] = map[fileClass]int{}
		}
		count[fl.tier][fl.class]++
		if fl.class == classOther {
			others = append(others, fl.tier+":"+fl.rel)
		}
		if why := misplaced(fl); why != "" {
			t.Errorf("%s: %s tier: %s (%s): %s", stage, fl.tier, fl.rel, fl.class, why)
		}
	}
	need := []struct {
		tier  string
		class fileClass
	}{
		{dovecottest.TierTmp, classListIndex},
		{dovecottest.TierFast, classIndex},
		{dovecottest.TierFast, classMessage},
	}
	for _, n := range need {
		if count[n.tier][n.class] == 0 {
			t.Errorf("%s: no %s file on the %s tier (counts: %v)", stage, n.class, n.tier, count)
		}
	}
	t.Logf("%s: files per tier and class: %v; other files: %v", stage, count, others)
}

// misplaced says why fl is not where the rules put it, or "".
func misplaced(fl tierFile) string {
	top, _, _ := strings.Cut(fl.rel, string(filepath.Separator))
	switch fl.tier {
	case dovecottest.TierTmp:
		if top != "volatile" && top != "listindex" {
			return "only volatile/ and listindex/ belong on tmpfs"
		}
		if fl.class != classLock && fl.class != classListIndex {
			return "only locks and the list index may be on tmpfs: it is lost at reboot"
		}
		if fl.class == classListIndex && top != "listindex" {
			return "list index outside listindex/"
		}
	case dovecottest.TierFast:
		switch {
		case fl.class == classLock:
			return "lock file left on a persistent tier"
		case fl.class == classListIndex:
			return "the list index belongs on tmpfs"
		case fl.class == classIndex && top != "index":
			return "index files belong under index/"
		case fl.class == classMessage && top != "mail":
			return "messages belong under mail/"
		case top == "volatile" || top == "listindex":
			return "a tmpfs subtree's file on the fast tier"
		}
	case dovecottest.TierSlow:
		return "nothing may reach the slow tier without the mover"
	}
	return ""
}

// checkTmpfsEmpty fails unless the tmp tier holds no file: after a wipe.
func checkTmpfsEmpty(t *testing.T, f *fixture) {
	t.Helper()
	for _, fl := range tierFiles(t, f.store.Tiers) {
		if fl.tier == dovecottest.TierTmp {
			t.Fatalf("tmpfs not empty after wipe: %s", fl.rel)
		}
	}
}
