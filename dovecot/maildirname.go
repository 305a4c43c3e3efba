package dovecot

import (
	"strconv"
	"strings"
	"time"
)

// MaildirName is what a maildir message's file name tells without a
// stat: `1700000000.M123P456.host,S=1234,W=1260:2,S` was delivered at
// Unix time 1700000000, is 1234 bytes long and carries the flag S.
type MaildirName struct {
	Delivered time.Time
	Size      int64  // the S= field; -1 when absent
	Flags     string // the letters after ":2," ("" in new/ or when unflagged)
	HasInfo   bool   // the name has the ":2," part (a cur/ name)
}

// Seen reports whether the message carries the S (seen) flag.
func (m MaildirName) Seen() bool { return strings.IndexByte(m.Flags, 'S') >= 0 }

// ParseMaildirName reads a maildir message file name (a base name, no
// directory). ok is false for names Dovecot does not give messages:
// control files, temporaries, dotfiles.
func ParseMaildirName(name string) (m MaildirName, ok bool) {
	base, info, hasInfo := strings.Cut(name, ":2,")
	if !hasInfo {
		// Some systems use '!' or ';' for ':'; Dovecot's default is ':'.
		base, info, hasInfo = cutAny(name, "!2,", ";2,")
	}
	dot := strings.IndexByte(base, '.')
	if dot <= 0 || dot == len(base)-1 {
		return m, false
	}
	sec, err := strconv.ParseInt(base[:dot], 10, 64)
	if err != nil || sec < 0 {
		return m, false
	}
	m = MaildirName{Delivered: time.Unix(sec, 0), Size: -1, Flags: info, HasInfo: hasInfo}
	fields := strings.Split(base[dot+1:], ",")
	for _, f := range fields[1:] {
		if v, ok := strings.CutPrefix(f, "S="); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
				m.Size = n
			}
		}
	}
	return m, true
}

func cutAny(s string, seps ...string) (before, after string, found bool) {
	for _, sep := range seps {
		if b, a, ok := strings.Cut(s, sep); ok {
			return b, a, true
		}
	}
	return s, "", false
}

// IsMaildirMessage reports whether p (a path with "/" separators) names a
// maildir message: a parseable name directly inside new/ or cur/.
func IsMaildirMessage(p string) bool {
	dir, name := splitLast(p)
	_, parent := splitLast(dir)
	if parent != "new" && parent != "cur" {
		return false
	}
	_, ok := ParseMaildirName(name)
	return ok
}

func splitLast(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}
