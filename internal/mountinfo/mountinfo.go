// Package mountinfo reads the kernel's table of mounts.
package mountinfo

import (
	"os"
	"strings"
)

// Entry is one line of /proc/self/mountinfo.
type Entry struct {
	MountPoint   string
	Dev          string // major:minor of the mounted filesystem
	FSType       string // e.g. "fuse.tierfs"
	Source       string
	SuperOptions string
}

// Read parses /proc/self/mountinfo. Later entries for one mount point
// are mounted on top of earlier ones.
func Read() ([]Entry, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, line := range strings.Split(string(data), "\n") {
		if e, ok := ParseLine(line); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// ParseLine reads "id parent maj:min root mountpoint opts [optional...]
// - fstype source superopts".
func ParseLine(line string) (Entry, bool) {
	pre, post, ok := strings.Cut(line, " - ")
	if !ok {
		return Entry{}, false
	}
	f, g := strings.Fields(pre), strings.Fields(post)
	if len(f) < 5 || len(g) < 2 {
		return Entry{}, false
	}
	e := Entry{MountPoint: Unescape(f[4]), Dev: f[2], FSType: g[0], Source: Unescape(g[1])}
	if len(g) > 2 {
		e.SuperOptions = g[2]
	}
	return e, true
}

// Unescape undoes the \040-style octal escapes the kernel writes for
// spaces, tabs, newlines and backslashes in /proc/self/mountinfo and
// /proc/mounts.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
