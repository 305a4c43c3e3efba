package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"
)

// An operation through the mount while a move is between its copy and
// its commit must never lose or duplicate data. The copy becomes visible
// on its destination only under the move's lock, after the check that
// the source is unchanged: an operation during the copy makes the move
// give up (its copy was never in place), one that arrives while the copy
// is being put in place waits for the commit and then acts on the moved
// file. Each case pauses the daemon at one of the two points, runs the
// operation, and checks what the mount shows after the pass and again
// after a remount (which replays the journal).
func TestMoverWindow(t *testing.T) {
	pauses := []struct {
		point  string
		copied func(f *fixture, rel string) bool // the premise: the move reached the point
		moved  int64                             // files the pass moves
		crash  string                            // a point the move must not reach
	}{
		{"move-after-copy", func(f *fixture, _ string) bool {
			ents, _ := os.ReadDir(f.tierPath("slow", ".tierfs-moving"))
			return len(ents) > 0
		}, 0, "move-after-rename"},
		{"move-after-rename", func(f *fixture, rel string) bool {
			return fileExists(f.tierPath("slow", rel))
		}, 1, ""},
	}
	newer := []byte("written while the move was in its window\n")
	ops := []struct {
		name string
		do   func(t *testing.T, f *fixture, rel string)
		want map[string][]byte // what the mount must show afterwards; nil: the name is gone
	}{
		{"append", func(t *testing.T, f *fixture, rel string) {
			w, err := os.OpenFile(f.path(rel), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(newer); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}, map[string][]byte{"archive/doc": append(windowOld(), newer...)}},
		{"replace by rename", func(t *testing.T, f *fixture, rel string) {
			if err := os.WriteFile(f.path(rel+".new"), newer, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(f.path(rel+".new"), f.path(rel)); err != nil {
				t.Fatal(err)
			}
		}, map[string][]byte{"archive/doc": newer, "archive/doc.new": nil}},
		{"unlink and create", func(t *testing.T, f *fixture, rel string) {
			if err := os.Remove(f.path(rel)); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f.path(rel), newer, 0o644); err != nil {
				t.Fatal(err)
			}
		}, map[string][]byte{"archive/doc": newer}},
		{"unlink", func(t *testing.T, f *fixture, rel string) {
			if err := os.Remove(f.path(rel)); err != nil {
				t.Fatal(err)
			}
		}, map[string][]byte{"archive/doc": nil}},
		{"rename", func(t *testing.T, f *fixture, rel string) {
			if err := os.Rename(f.path(rel), f.path(rel+",S")); err != nil {
				t.Fatal(err)
			}
		}, map[string][]byte{"archive/doc": nil, "archive/doc,S": windowOld()}},
		{"rename the directory", func(t *testing.T, f *fixture, rel string) {
			if err := os.Rename(f.path("archive"), f.path("box")); err != nil {
				t.Fatal(err)
			}
		}, map[string][]byte{"archive": nil, "box/doc": windowOld()}},
	}
	for _, p := range pauses {
		for _, op := range ops {
			t.Run(p.point+"/"+op.name, func(t *testing.T) {
				f := newFixture(t, mvConfig(""))
				f.mount(t, "TIERFS_PAUSEPOINT="+p.point+":2s", crashPointEnv+"="+p.crash)
				rel := mvMisplaced(t, f, "doc", windowOld()) // on fast; its rule says slow
				done := make(chan []byte, 1)
				go func() {
					out, err := mvMigrateErr(f)
					if err != nil { // the daemon was killed at the crash point
						out = append(out, err.Error()...)
					}
					done <- out
				}()
				waitFor(t, "the move reached "+p.point, func() bool { return p.copied(f, rel) })
				op.do(t, f, rel)
				var r mvReport
				if out := <-done; json.Unmarshal(out, &r) != nil || r.Files != p.moved {
					t.Fatalf("pass: %s, want a report of %d files moved", out, p.moved)
				}
				checkWindow(t, f, op.want)
				f.unmount(t)
				f.mount(t)
				checkWindow(t, f, op.want)
			})
		}
	}
}

// windowOld is the file's content before the operation.
func windowOld() []byte { return mvContent("window", 1<<20) }

// checkWindow checks that each name shows the wanted content from exactly
// one tier, or is gone from the mount and every tier.
func checkWindow(t *testing.T, f *fixture, want map[string][]byte) {
	t.Helper()
	for rel, content := range want {
		got, err := os.ReadFile(f.path(rel))
		held := f.tiersHolding(rel)
		if content == nil {
			if !errors.Is(err, os.ErrNotExist) || len(held) != 0 {
				t.Errorf("%s: %d bytes (%v), on tiers %v; want it gone", rel, len(got), err, held)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("%s: %d bytes (%v), want the %d written", rel, len(got), err, len(content))
		}
		if len(held) != 1 {
			t.Errorf("%s is on tiers %v, want exactly one", rel, held)
		}
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(mountWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("premise: %s never happened", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
