package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Guarantee 5: a read-only MAP_SHARED mapping sees another process's
// pwrite at once (Dovecot mmaps its index files and other processes update
// them with pwrite). Both a writer process and a write from this process
// through a fresh descriptor are checked, several rounds each.
func TestMmapSeesOtherProcessPwrite(t *testing.T) {
	onTargets(t, func(t *testing.T, tg target) {
		const size = 8192
		p := filepath.Join(tg.dir, "dovecot.index")
		mustWrite(t, p, strings.Repeat(".", size))
		reader, writer := startHelper(t), startHelper(t)
		reader.must("open "+p+" rdonly", "ok")
		reader.must(fmt.Sprintf("mmap %d", size), "ok")
		reader.must("mread 0 4", `ok "...."`)
		writer.must("open "+p+" rdwr", "ok")
		for round, off := range []int{0, 4000, size - 8, 100} {
			data := fmt.Sprintf("rnd%d", round)
			writer.must(fmt.Sprintf("pwrite %d %s", off, data), "ok")
			want := "ok " + strconv.Quote(data)
			if got := reader.do(fmt.Sprintf("mread %d %d", off, len(data))); got != want {
				t.Errorf("round %d: mapping at %d after another process's pwrite: got %s, want %s", round, off, got, want)
			}
		}
		fd, err := unix.Open(p, unix.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		for round := range 3 {
			data := fmt.Sprintf("own%d", round)
			if _, err := unix.Pwrite(fd, []byte(data), int64(200+round)); err != nil {
				t.Fatal(err)
			}
			want := "ok " + strconv.Quote(data)
			if got := reader.do(fmt.Sprintf("mread %d %d", 200+round, len(data))); got != want {
				t.Errorf("mapping after pwrite through a new descriptor: got %s, want %s", got, want)
			}
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got[4000:4004]) != "rnd1" {
			t.Errorf("read(2) after the writes: %q at 4000, want rnd1", got[4000:4004])
		}
	})
}
