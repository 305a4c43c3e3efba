package integration

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tierfs/tierfs/internal/fusetest"
)

// envRoomSeeds sets how many seeds TestMoverMakesRoomRandom runs.
const envRoomSeeds = "TIERFS_ROOM_SEEDS"

// prFile is one file of the random room test and its model.
type prFile struct {
	rel   string
	size  int
	age   time.Duration
	open  bool
	small bool // below min_size: never demoted
}

// pages is what the file takes on tmpfs.
func (p prFile) pages() int64 { return int64(p.size+4095) / 4096 * 4096 }

// TestMoverMakesRoomRandom fills a 4 MiB fast tier past its target_free
// with mail of random sizes and ages (some open, some below min_size),
// and checks one pass against a model of the rules: the files kept for
// moving are the oldest that cover the shortfall and a quarter more;
// they move oldest first, open ones skipped, until the target is met.
// The dry run (which cannot know open files) and the real pass match
// the model's counts; every file keeps its content and inode number.
func TestMoverMakesRoomRandom(t *testing.T) {
	for _, seed := range fusetest.EnvSeeds(t, envRoomSeeds, 2) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { roomRandom(t, seed) })
	}
}

func roomRandom(t *testing.T, seed uint64) {
	const target = 2 << 20
	rng := rand.New(rand.NewPCG(seed, 7))
	f := prMount(t, prSetup{fast: prTmpfs(t, "4m"), aging: "min_size = 2048",
		fastReserve: `min_free = "256KiB"` + "\n" + `target_free = "2MiB"`})
	stop := int64(512<<10 + rng.IntN(1<<20)) // fill until this much is free
	var files []prFile
	content, inos := map[string][]byte{}, map[string]uint64{}
	base, ages := time.Now(), map[time.Duration]bool{}
	for i := 0; prAvail(t, f, "fast") > stop; i++ {
		p := prFile{rel: fmt.Sprintf("%s/cur/%d.M%dP%d.h:2,", mvUserDir, 1700000000+i, i, seed),
			size: 1 + rng.IntN(150<<10), open: rng.IntN(8) == 0}
		if rng.IntN(6) == 0 {
			p.size = 1 + rng.IntN(2047)
		}
		p.small = p.size < 2048
		for p.age == 0 || ages[p.age] { // distinct ages: one order
			p.age = time.Duration(1+rng.IntN(1000000)) * time.Second
		}
		ages[p.age] = true
		content[p.rel] = mvContent(p.rel, p.size)
		mvWrite(t, f, p.rel, content[p.rel], 0)
		if err := os.Chtimes(f.path(p.rel), base.Add(-p.age), base.Add(-p.age)); err != nil {
			t.Fatal(err)
		}
		inos[p.rel] = mvIno(t, f, p.rel)
		files = append(files, p)
	}
	need := target - prAvail(t, f, "fast")
	dryWant := roomModel(files, need, false)
	realWant := roomModel(files, need, true)

	dry := mvMigrate(t, f, "--dry-run")
	if dry.Files != int64(len(dryWant)) || dry.MadeRoom["fast"].Files != int64(len(dryWant)) {
		t.Errorf("seed %d: dry run %+v, model: %d files", seed, dry, len(dryWant))
	}
	var held []*os.File
	for _, p := range files {
		if p.open {
			h, err := os.Open(f.path(p.rel))
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, h)
		}
	}
	r := mvMigrate(t, f)
	for _, h := range held {
		h.Close()
	}
	if r.Files != int64(len(realWant)) || r.Failed != 0 {
		t.Errorf("seed %d: pass %+v, model: %d files (%d to free of %d files)", seed, r, len(realWant), need, len(files))
	}
	var names []string
	for _, p := range files {
		names = append(names, p.rel)
	}
	prRequireTiers(t, f, names, realWant, content, inos)
}

// roomModel lists the files a pass moves to free need bytes: the oldest
// that cover need and a quarter more, then, oldest first, those not
// open (when the pass knows it), until need is freed.
func roomModel(files []prFile, need int64, knowsOpen bool) []string {
	sorted := slices.Clone(files)
	slices.SortFunc(sorted, func(a, b prFile) int { return cmp.Or(cmp.Compare(b.age, a.age), cmp.Compare(a.rel, b.rel)) })
	keep, sum := need+need/4, int64(0)
	var kept []prFile
	for _, p := range sorted {
		if p.small {
			continue
		}
		if len(kept) > 0 && sum >= keep {
			break
		}
		kept, sum = append(kept, p), sum+p.pages()
	}
	var moved []string
	freed := int64(0)
	for _, p := range kept {
		if freed >= need {
			break
		}
		if knowsOpen && p.open {
			continue
		}
		moved, freed = append(moved, p.rel), freed+p.pages()
	}
	return moved
}
