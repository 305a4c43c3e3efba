package dovecot

import (
	"strings"
)

// MustSurvive reports whether p (a path inside the mount) is a file
// Dovecot cannot lose at a reboot without losing mail or state it
// cannot rebuild, so it must never live on tmpfs:
//
//   - mailbox indexes dovecot.index* (for dbox they are the only record
//     of flags and, for mdbox, of which message is where), except their
//     transient .tmp and lock files;
//   - the mdbox map index storage/dovecot.map.index*;
//   - dovecot-uidlist (maildir UIDs), dovecot-keywords, subscriptions,
//     dovecot-uidvalidity*;
//   - mail: maildir messages in new/ and cur/, sdbox u.N in dbox-Mails/,
//     mdbox m.N in storage/.
//
// The mailbox list index (dovecot.list.index*) and VOLATILEDIR's locks
// are rebuilt or recreated and may live on tmpfs.
func MustSurvive(p string) bool {
	dir, name := splitLast(p)
	_, parent := splitLast(dir)
	switch {
	case transient(name):
		return false
	case strings.HasPrefix(name, "dovecot.index"), strings.HasPrefix(name, "dovecot.map.index"):
		return true
	case name == "dovecot-uidlist", name == "dovecot-keywords", name == "subscriptions",
		strings.HasPrefix(name, "dovecot-uidvalidity"):
		return true
	case parent == "dbox-Mails" && numbered(name, "u."), parent == "storage" && numbered(name, "m."):
		return true
	}
	return IsMaildirMessage(p)
}

// transient names are temporaries and lock files that Dovecot recreates.
func transient(name string) bool {
	for _, s := range []string{".tmp", ".lock", ".newlock"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return strings.HasPrefix(name, ".temp.")
}

// numbered reports whether name is prefix followed by decimal digits.
func numbered(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
