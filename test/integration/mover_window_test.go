package integration

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// While a move has copied a file into place on its destination and not
// yet committed, both copies exist. When the destination is the tier a
// lookup asks first (a misplaced file moving back to its rule's tier), a
// fresh lookup must still find the source: a write to the copy would be
// lost when the move, seeing the open, gives up and removes the copy.
func TestMoverWindowWriteGoesToSource(t *testing.T) {
	f := newFixture(t, mvConfig(""))
	f.mount(t, "TIERFS_PAUSEPOINT=move-after-rename:3s")
	want := mvContent("window", 1<<20)
	rel := mvMisplaced(t, f, "window", want) // on fast; its rule says slow
	extra := []byte("written while both copies existed\n")
	copied := f.tierPath("slow", rel)
	done := make(chan mvReport, 1)
	go func() { done <- mvMigrate(t, f) }()
	deadline := time.Now().Add(mountWait)
	for !fileExists(copied) {
		if time.Now().After(deadline) {
			t.Fatal("premise: the copy never appeared in place on slow")
		}
		time.Sleep(time.Millisecond)
	}
	// Make the kernel forget the name, so the open below looks it up
	// afresh while both copies exist.
	if out, err := exec.Command("sh", "-c", "sync; echo 2 > /proc/sys/vm/drop_caches").CombinedOutput(); err != nil {
		t.Fatalf("drop_caches: %v %s", err, out)
	}
	w, err := os.OpenFile(f.path(rel), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(extra); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	want = append(want, extra...)
	if r.Files != 0 || r.Skipped["open"]+r.Skipped["changed"] != 1 {
		t.Errorf("pass with a write in the window: %+v, want the file skipped (open or changed)", r)
	}
	mvMustBytes(t, f, rel, want)
	f.requireOnTier(t, rel, "fast")
	if r := mvMigrate(t, f); r.Files != 1 {
		t.Errorf("next pass: %+v, want the file moved", r)
	}
	f.requireOnTier(t, rel, "slow")
	mvMustBytes(t, f, rel, want)
}
