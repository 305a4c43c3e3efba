package dovecotfuzz

import (
	"maps"
	"regexp"
	"slices"
	"strings"
)

// logProblem is a problem a Dovecot log reported, waiting to be matched
// with one the other side logged.
type logProblem struct {
	lines []string // as logged, each with its host
	stage string   // the check that first read it
	old   bool     // a later check read the logs too
}

// readLogs collects the problems the Dovecot logs gained since the last
// check and fails on those one side logged and the other did not by the
// next check. Problems both sides log alike are Dovecot's own, as the
// plain side shows (a RENAME of a public folder to its parent's name
// fails to move the user's index of it: "Directory not empty"): they
// are noted, not failed. A problem gets until the next check to appear
// on the other side, because the log process writes it after the
// command's answer; final, once Dovecot stopped, fails on every one
// left.
func (r *run) readLogs(stage string, final bool) {
	r.t.Helper()
	for i, s := range r.sides() {
		if r.logs[i] == nil {
			r.logs[i] = map[string]*logProblem{}
		}
		for _, h := range s.hosts {
			problems := h.srv.LogProblems()
			for _, line := range problems[min(h.logged, len(problems)):] {
				k := problemKey(line, h.store.Root)
				p := r.logs[i][k]
				if p == nil {
					p = &logProblem{stage: stage}
					r.logs[i][k] = p
				}
				p.lines = append(p.lines, h.name+": dovecot log: "+line)
			}
			h.logged = len(problems)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.logs[0])) {
		if r.logs[1][k] != nil {
			r.note("  both sides logged: %s", k)
			r.t.Logf("%s: both Dovecots logged: %s", stage, k)
			r.bothLogged++
			delete(r.logs[0], k)
			delete(r.logs[1], k)
		}
	}
	for i := range r.logs {
		for k, p := range r.logs[i] {
			if !p.old && !final {
				p.old = true
				continue
			}
			for _, line := range p.lines {
				r.t.Errorf("%s: %s", p.stage, line)
			}
			delete(r.logs[i], k)
		}
	}
}

var (
	// logPrefix is a log line's time and process, which keeps the
	// service and user: "Dec 07 14:53:59 imap(alice)<23896><tYAj...>: ".
	logPrefix = regexp.MustCompile(`^\w{3} +\d+ [\d:]+ ([^:<]+)(<[^>]*>)*: `)
	// logStamp is the time Dovecot adds to an internal error.
	logStamp = regexp.MustCompile(` ?\[\d{4}-\d\d-\d\d [\d:]+\]`)
)

// problemKey is a problem's line without what differs between the
// sides: the time, process and session, and the storage's root.
func problemKey(line, root string) string {
	line = logPrefix.ReplaceAllString(line, "$1: ")
	line = logStamp.ReplaceAllString(line, "")
	return strings.ReplaceAll(line, root, "<root>")
}
