package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The mover leader is the live host with the smallest name, this host
// counting as live: hosts stale, gone, without a heartbeat or with a
// malformed one do not lead, and a directory that cannot be listed
// makes this host lead (a doubt costs a walk, never the aging).
func TestLeader(t *testing.T) {
	t.Parallel()
	// Heartbeats are written when a subtest runs, which may be long
	// after the table is made on a busy machine.
	beat := func(h string, age time.Duration, suffix string) func() string {
		return func() string { return fmt.Sprintf("%s 7 %d%s\n", h, time.Now().Add(-age).UnixNano(), suffix) }
	}
	live := func(h string) func() string { return beat(h, 0, "") }
	stale := func(h string) func() string { return beat(h, time.Minute, "") }
	gone := func(h string) func() string { return beat(h, 0, " gone") }
	text := func(s string) func() string { return func() string { return s } }
	tests := []struct {
		name  string
		beats map[string]func() string // heartbeat files besides m's own
		want  string
		err   bool
	}{
		{"alone", nil, "m", false},
		{"smaller live", map[string]func() string{"a": live("a")}, "a", false},
		{"smallest live of two", map[string]func() string{"a": live("a"), "b": live("b")}, "a", false},
		{"smaller stale", map[string]func() string{"a": stale("a")}, "m", false},
		{"smaller gone", map[string]func() string{"a": gone("a")}, "m", false},
		{"smaller malformed", map[string]func() string{"a": text("a seven\n")}, "m", false},
		{"heartbeat of another name", map[string]func() string{"a": live("b")}, "m", false},
		{"stale then live", map[string]func() string{"a": stale("a"), "b": live("b")}, "b", false},
		{"gone then live", map[string]func() string{"a": gone("a"), "c": live("c")}, "c", false},
		{"larger live only", map[string]func() string{"z": live("z")}, "m", false},
		{"not a host name", map[string]func() string{"a b": live("a b")}, "m", false},
		{"missing heartbeat (a lease names a, no file)", map[string]func() string{}, "m", false},
		{"hosts directory unreadable", map[string]func() string{"/": nil}, "m", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := markedDir(t)
			m := openHost(t, dir, "m", quick, false)
			hosts := filepath.Join(dir, hostsDir)
			for h, data := range tc.beats {
				if h == "/" { // the directory replaced by a file
					must(t, os.Rename(hosts, hosts+".away"))
					must(t, os.WriteFile(hosts, nil, 0o644))
					continue
				}
				must(t, os.WriteFile(filepath.Join(hosts, h), []byte(data()), 0o644))
			}
			got, err := m.Leader()
			if got != tc.want || (err != nil) != tc.err {
				t.Errorf("Leader() = %q, %v; want %q, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// A leader that dies hands over once its heartbeat is stale, and one
// that leaves (gone) at once.
func TestLeaderHandover(t *testing.T) {
	t.Parallel()
	dir := markedDir(t)
	c := openHost(t, dir, "c", quick, true)
	b := openHost(t, dir, "b", quick, true)
	a := openHost(t, dir, "a", quick, false) // never renews: dies
	for _, l := range []*Leases{a, b, c} {
		if got, err := l.Leader(); got != "a" || err != nil {
			t.Fatalf("%s: Leader() = %q, %v; want a", l.Host(), got, err)
		}
	}
	waitFor(t, 10*time.Second, "a's heartbeat to go stale", func() bool { got, _ := c.Leader(); return got == "b" })
	if got, _ := b.Leader(); got != "b" {
		t.Errorf("b: Leader() = %q after a went stale, want b", got)
	}
	must(t, b.Close(t.Context()))
	if got, err := c.Leader(); got != "c" || err != nil {
		t.Errorf("c: Leader() = %q, %v after b left, want c", got, err)
	}
}
