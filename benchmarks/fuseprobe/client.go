package fuseprobe

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// probeXattr is an attribute no file has.
const probeXattr = "user.fuseprobe.none"

// Rate runs parallel loops of getxattr of an attribute that path does
// not have, each on its own thread, for about d, and returns the round
// trips a second of all of them together. Any answer but ENODATA is an
// error.
func Rate(path string, d time.Duration, parallel int) (float64, error) {
	if parallel < 1 {
		return 0, fmt.Errorf("fuseprobe: %d loops", parallel)
	}
	deadline := time.Now().Add(d)
	counts := make([]int, parallel)
	errs := make([]error, parallel)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			counts[i], errs[i] = loop(path, deadline)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	return float64(total) / elapsed, nil
}

// loop calls getxattr until deadline, looking at the clock every 256
// calls, and returns how many it made.
func loop(path string, deadline time.Time) (int, error) {
	var buf [64]byte
	n := 0
	for ; n%256 != 0 || time.Now().Before(deadline); n++ {
		if _, err := unix.Lgetxattr(path, probeXattr, buf[:]); err != unix.ENODATA {
			return n, fmt.Errorf("fuseprobe: getxattr %s: %v, want ENODATA", path, err)
		}
	}
	return n, nil
}
