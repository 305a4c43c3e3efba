package integration

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// mvMisplaced writes content at staging/NAME (on fast) and renames it to
// archive/NAME, whose rule says slow: a misplaced file the mover moves
// whatever its age.
func mvMisplaced(t *testing.T, f *fixture, name string, content []byte) string {
	t.Helper()
	mvWrite(t, f, "staging/"+name, content, 0)
	f.mkdirAll(t, "archive")
	rel := "archive/" + name
	if err := os.Rename(f.path("staging/"+name), f.path(rel)); err != nil {
		t.Fatal(err)
	}
	f.requireOnTier(t, rel, "fast")
	return rel
}

// mvWhenCopying calls fn once a copy to the slow tier has begun (its
// temporary appeared in slow's .tierfs-moving), in a goroutine; the
// returned function waits for it and reports whether it ran.
func mvWhenCopying(t *testing.T, f *fixture, fn func()) func() bool {
	dir := f.tierPath("slow", ".tierfs-moving")
	ran := make(chan bool, 1)
	go func() {
		deadline := time.Now().Add(mountWait)
		for time.Now().Before(deadline) {
			if ents, _ := os.ReadDir(dir); len(ents) > 0 {
				fn()
				ran <- true
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
		ran <- false
	}()
	return func() bool { return <-ran }
}

// A file held open is not moved; once closed, it is.
func TestMoverSkipsOpenFile(t *testing.T) {
	f := mountTierfs(t, mvConfig(""))
	rel := mvUserDir + "/cur/1.M1P1.h:2,S"
	want := mvContent(rel, 100000)
	mvWrite(t, f, rel, want, 40*24*time.Hour)
	fd, err := os.Open(f.path(rel))
	if err != nil {
		t.Fatal(err)
	}
	r := mvMigrate(t, f)
	if r.Files != 0 || r.Skipped["open"] != 1 {
		t.Errorf("pass with the file open: %+v, want it skipped as open", r)
	}
	f.requireOnTier(t, rel, "fast")
	got, err := io.ReadAll(fd)
	fd.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("reading the open file: %d bytes, %v", len(got), err)
	}
	if r := mvMigrate(t, f); r.Files != 1 || r.Bytes != int64(len(want)) {
		t.Errorf("pass after close: %+v, want the file moved", r)
	}
	f.requireOnTier(t, rel, "slow")
	mustContent(t, f.path(rel), string(want))
}

// A file appended to (open, write, close through the mount) while the
// mover copies it is not moved and loses nothing; the next pass moves it.
func TestMoverWriteDuringCopy(t *testing.T) {
	f := mountTierfs(t, mvConfig(""))
	want := mvContent("big", 96<<20)
	rel := mvMisplaced(t, f, "big", want)
	extra := []byte("appended while the mover copied\n")
	done := mvWhenCopying(t, f, func() {
		w, err := os.OpenFile(f.path(rel), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Errorf("open for append during the copy: %v", err)
			return
		}
		if _, err := w.Write(extra); err != nil {
			t.Errorf("append during the copy: %v", err)
		}
		w.Close()
	})
	r := mvMigrate(t, f)
	if !done() {
		t.Fatal("premise: the copy's temporary never appeared on slow")
	}
	want = append(want, extra...)
	if r.Files != 0 || r.Skipped["open"]+r.Skipped["changed"] != 1 {
		t.Errorf("pass with a write during the copy: %+v, want the file skipped (open or changed)", r)
	}
	f.requireOnTier(t, rel, "fast")
	mvMustBytes(t, f, rel, want)
	if left := mvOwnEntries(f, ".tierfs-moving"); len(left) > 0 {
		t.Errorf("the abandoned copy's temporary is left: %v", left)
	}
	if r := mvMigrate(t, f); r.Files != 1 || r.Bytes != int64(len(want)) {
		t.Errorf("next pass: %+v, want the file moved", r)
	}
	f.requireOnTier(t, rel, "slow")
	mvMustBytes(t, f, rel, want)
}

// A reader that opens the file while it is copied and keeps reading
// sees the right bytes, and the file stays; readers opening, reading
// and closing files in a loop while they move always read the right
// bytes.
func TestMoverReadersAcrossMoves(t *testing.T) {
	f := mountTierfs(t, mvConfig(""))
	want := mvContent("big", 96<<20)
	rel := mvMisplaced(t, f, "big", want)
	var got []byte
	var rerr error
	done := mvWhenCopying(t, f, func() {
		r, err := os.Open(f.path(rel))
		if err != nil {
			rerr = err
			return
		}
		defer r.Close()
		got, rerr = io.ReadAll(r)
	})
	r := mvMigrate(t, f)
	if !done() {
		t.Fatal("premise: the copy's temporary never appeared on slow")
	}
	if rerr != nil || !bytes.Equal(got, want) {
		t.Errorf("reader opened during the copy read %d bytes (%v), want %d as written", len(got), rerr, len(want))
	}
	if r.Files != 0 || r.Skipped["open"] != 1 {
		t.Errorf("pass with a reader during the copy: %+v, want the file skipped as open", r)
	}

	// Many small files, read in a loop by two readers while passes move them.
	files := map[string][]byte{}
	for i := range 40 {
		rel := mvMisplaced(t, f, fmt.Sprintf("f%02d", i), mvContent(fmt.Sprint(i), 200000+i*1000))
		files[rel] = nil
	}
	for rel := range files {
		files[rel], _ = os.ReadFile(f.path(rel))
	}
	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				for rel, want := range files {
					got, err := os.ReadFile(f.path(rel))
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("read %s during moves: %d bytes, %v; want %d", rel, len(got), err, len(want))
						stop.Store(true)
						return
					}
					reads.Add(1)
				}
			}
		}()
	}
	for pass := 0; pass < 50; pass++ {
		mvMigrate(t, f)
		moved := 0
		for rel := range files {
			if held := f.tiersHolding(rel); len(held) == 1 && held[0] == "slow" {
				moved++
			}
		}
		if moved == len(files) || stop.Load() {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d reads during the moves", reads.Load())
	mvMigrate(t, f)
	for rel, want := range files {
		f.requireOnTier(t, rel, "slow")
		mvMustBytes(t, f, rel, want)
	}
	f.requireOnTier(t, "archive/big", "slow")
	mvMustBytes(t, f, "archive/big", want)
}

func mvMustBytes(t *testing.T, f *fixture, rel string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(f.path(rel))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s through tierfs: %d bytes (%v), want %d as written", rel, len(got), err, len(want))
	}
}
