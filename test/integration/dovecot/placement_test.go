package dovecot

import (
	"errors"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	preset "github.com/tierfs/tierfs/dovecot"
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
func checkPlacement(t *testing.T, f *fixture, stage string, wiped bool) {
	t.Helper()
	count := map[string]map[fileClass]int{}
	var others []string
	for _, fl := range tierFiles(t, f.store.Tiers) {
		if count[fl.tier] == nil {
			count[fl.tier] = map[fileClass]int{}
		}
		count[fl.tier][fl.class]++
		if fl.tier == dovecottest.TierTmp && preset.MustSurvive(fl.rel) {
			t.Errorf("%s: %s is on tmpfs but must survive a reboot (dovecot.MustSurvive)", stage, fl.rel)
		}
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
	checkRequired(t, f, stage, wiped)
}

// required are paths (relative to a tier root, as regular expressions)
// that must exist on a tier after the scenario, per format: they prove
// each kind of file was written where the settings point, through the
// mount, onto the tier its rule names. alice (f5) has created mailboxes,
// so her mailbox-list locks went to volatile/; she has a keyword.
var required = map[string][]struct {
	tier    string
	pattern string
	// beforeWipe: made only by the scenario's first part, so gone
	// after the tmpfs wipe.
	beforeWipe bool
}{
	"": {
		{dovecottest.TierTmp, `^volatile/f5/alice$`, true},
		{dovecottest.TierTmp, `^listindex/f5/alice/dovecot\.list\.index(\.log)?$`, false},
		{dovecottest.TierTmp, `^listindex/09/user4/dovecot\.list\.index(\.log)?$`, false},
		{dovecottest.TierFast, `^index/bf/alice@example\.com/`, false},
	},
	"maildir": {
		{dovecottest.TierFast, `^index/f5/alice/\.INBOX/dovecot\.index\.log$`, false},
		{dovecottest.TierFast, `^index/f5/alice/\.INBOX/dovecot-uidlist$`, false},
		{dovecottest.TierFast, `^index/f5/alice/\.INBOX/dovecot-keywords$`, false},
		{dovecottest.TierFast, `^index/f5/alice/\.Archive/dovecot-uidlist$`, false},
		{dovecottest.TierFast, `^mail/09/user4/cur/[^/]+$`, false},
		{dovecottest.TierFast, `^mail/f5/alice/\.Work\.Q1/(cur|new)/[^/]+$`, false},
	},
	"sdbox": {
		{dovecottest.TierFast, `^index/f5/alice/mailboxes/INBOX/dovecot\.index\.log$`, false},
		{dovecottest.TierFast, `^index/f5/alice/mailboxes/Archive/dovecot\.index(\.log)?$`, false},
		{dovecottest.TierFast, `^mail/09/user4/mailboxes/INBOX/dbox-Mails/u\.[0-9]+$`, false},
		{dovecottest.TierFast, `^mail/f5/alice/mailboxes/Work/Q1/dbox-Mails/u\.1$`, false},
	},
	"mdbox": {
		{dovecottest.TierFast, `^index/f5/alice/storage/dovecot\.map\.index(\.log)?$`, false},
		{dovecottest.TierFast, `^index/09/user4/storage/dovecot\.map\.index(\.log)?$`, false},
		{dovecottest.TierFast, `^index/f5/alice/mailboxes/INBOX/dovecot\.index\.log$`, false},
		{dovecottest.TierFast, `^mail/09/user4/storage/m\.[0-9]+$`, false},
	},
}

// checkRequired fails for each required path no file or directory on its
// tier matches.
func checkRequired(t *testing.T, f *fixture, stage string, wiped bool) {
	t.Helper()
	for _, key := range []string{"", f.format} {
		for _, r := range required[key] {
			if wiped && r.beforeWipe {
				continue
			}
			re := regexp.MustCompile(r.pattern)
			if !tierHas(t, f.store.Tiers.Dir(r.tier), re) {
				t.Errorf("%s: nothing on the %s tier matches %s", stage, r.tier, r.pattern)
			}
		}
	}
}

// tierHas reports whether any path below root matches re.
func tierHas(t *testing.T, root string, re *regexp.Regexp) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(root, p); re.MatchString(rel) {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return found
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
