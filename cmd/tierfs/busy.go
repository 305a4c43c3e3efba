package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// holder is a process that keeps a mount busy.
type holder struct {
	pid   int
	comm  string
	paths []string // open files, cwd or root under the mount (a few)
}

func (h holder) String() string {
	return fmt.Sprintf("%d (%s): %s", h.pid, h.comm, strings.Join(h.paths, ", "))
}

// maxHolderPaths bounds what is listed per process.
const maxHolderPaths = 3

// busyHolders lists the processes (other than this one) whose open
// descriptors, working directory or root lie under mountpoint, read from
// /proc, so that a refused unmount can say who is in the way. Processes
// that vanish or cannot be read while scanning are skipped.
func busyHolders(mountpoint string) []holder {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []holder
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if h, ok := holderOf(pid, mountpoint); ok {
			out = append(out, h)
		}
	}
	return out
}

func holderOf(pid int, mountpoint string) (holder, bool) {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	h := holder{pid: pid}
	add := func(p string) {
		if under(p, mountpoint) && len(h.paths) < maxHolderPaths && !slices.Contains(h.paths, p) {
			h.paths = append(h.paths, p)
		}
	}
	for _, l := range []string{"cwd", "root"} {
		if p, err := os.Readlink(filepath.Join(dir, l)); err == nil {
			add(p)
		}
	}
	fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
	for _, fd := range fds {
		if p, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err == nil {
			add(p)
		}
	}
	if len(h.paths) == 0 {
		return h, false
	}
	comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
	h.comm = strings.TrimSpace(string(comm))
	return h, true
}

// under reports whether p is mountpoint or lies beneath it.
func under(p, mountpoint string) bool {
	return p == mountpoint || strings.HasPrefix(p, strings.TrimSuffix(mountpoint, "/")+"/")
}
