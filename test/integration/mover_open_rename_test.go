package integration

import (
	"os"
	"testing"
	"time"
)

// A moved file keeps its inode number but not its birth time, which
// tierfs uses as the generation: once the kernel's entry expires, a
// lookup makes a new node for it, while a descriptor opened before stays
// on the old node. The mover must still see that the file is open: a
// move would leave the descriptor writing to the removed source.
func TestMoverOpenOnOlderNode(t *testing.T) {
	cfg := mvConfig("")
	cfg.Extra += "\n[kernel]\nentry_timeout = \"1s\"\n"
	f := mountTierfs(t, cfg)
	rel := mvMisplaced(t, f, "doc", []byte("old content\n")) // on fast; its rule says slow
	time.Sleep(100 * time.Millisecond)                       // the kernel releases the written file asynchronously
	if r := mvMigrate(t, f); r.Files != 1 {
		t.Fatalf("premise: the first pass moved %d files, want 1: %+v", r.Files, r)
	}
	w, err := os.OpenFile(f.path(rel), os.O_WRONLY|os.O_APPEND, 0) // on the node the kernel had
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	time.Sleep(1100 * time.Millisecond) // the entry expires: the next lookup makes a new node
	back := "staging/doc"               // misplaced again: its rule says fast
	if err := os.Rename(f.path(rel), f.path(back)); err != nil {
		t.Fatal(err)
	}
	if r := mvMigrate(t, f); r.Files != 0 || r.Skipped["open"] != 1 {
		t.Errorf("pass with the file open: %+v, want it skipped as open", r)
	}
	if _, err := w.WriteString("appended\n"); err != nil {
		t.Fatal(err)
	}
	mustContent(t, f.path(back), "old content\nappended\n")
}
