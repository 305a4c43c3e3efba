package fs

import (
	"bytes"
	"context"
	"strings"
	"syscall"

	"github.com/tierfs/tierfs/tiers"
)

// tierXattr names the virtual attribute that tells which tier holds a
// file ("tierfs where" reads it). It is not listed, so copies made with
// cp -a or rsync -X do not try to set it.
const tierXattr = "user.tierfs.tier"

const capabilityXattr = "security.capability"

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr == capabilityXattr && n.r.nosuid.Load() {
		// The kernel asks before the first write after every attribute
		// refresh. On a nosuid mount file capabilities have no effect,
		// so answer before any other work: no path, no backend call (an
		// NFS round trip on a slow tier).
		return 0, syscall.ENODATA
	}
	if e := n.leased(ctx); e != 0 {
		return 0, e
	}
	p, e := n.relPath()
	if e != 0 {
		return 0, e
	}
	if attr == tierXattr {
		return copyOut(n.whereName(), dest)
	}
	ti := n.primary(p)
	if ti < 0 {
		return 0, syscall.ENOENT
	}
	sz, err := n.r.tiers[ti].Getxattr(p, attr, dest)
	return uint32(sz), errno(err)
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return n.changeXattr(ctx, attr, func(t *tiers.Tier, p string) error {
		return t.Setxattr(p, attr, data, int(flags))
	})
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return n.changeXattr(ctx, attr, func(t *tiers.Tier, p string) error {
		return t.Removexattr(p, attr)
	})
}

// changeXattr applies change to attr on every copy of n. A change on the
// source while a move puts its copy in place would be lost with the
// source, so it interrupts a move of n first.
func (n *node) changeXattr(ctx context.Context, attr string, change func(t *tiers.Tier, p string) error) syscall.Errno {
	if e := n.leased(ctx); e != 0 {
		return e
	}
	if ownXattr(attr) {
		return syscall.EPERM
	}
	p, e := n.relPath()
	if e != 0 {
		return e
	}
	n.r.moves.interrupt(p)
	defer n.forgetSelf()
	for _, ti := range n.holders() {
		if err := change(n.r.tiers[ti], p); err != nil {
			return errno(err)
		}
	}
	return 0
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	if e := n.leased(ctx); e != 0 {
		return 0, e
	}
	p, e := n.relPath()
	if e != 0 {
		return 0, e
	}
	ti := n.primary(p)
	if ti < 0 {
		return 0, syscall.ENOENT
	}
	buf := make([]byte, 64<<10)
	sz, err := n.r.tiers[ti].Listxattr(p, buf)
	if err != nil {
		return 0, errno(err)
	}
	return copyNames(hideOwn(buf[:sz]), dest)
}

// ownXattr reports attributes that belong to tierfs, which users may
// neither set nor copy.
func ownXattr(attr string) bool {
	return attr == tierXattr || strings.HasPrefix(attr, tiers.OwnXattrPrefix)
}

// hideOwn drops tierfs's own names from a NUL-separated list.
func hideOwn(list []byte) []byte {
	out := list[:0:0]
	for _, name := range bytes.SplitAfter(list, []byte{0}) {
		if len(name) > 0 && !ownXattr(string(bytes.TrimRight(name, "\x00"))) {
			out = append(out, name...)
		}
	}
	return out
}

// copyNames answers a listxattr with a filtered list.
func copyNames(list, dest []byte) (uint32, syscall.Errno) {
	if len(dest) == 0 {
		return uint32(len(list)), 0
	}
	if len(dest) < len(list) {
		return uint32(len(list)), syscall.ERANGE
	}
	return uint32(copy(dest, list)), 0
}

// primary is the tier whose copy answers reads of the node's metadata.
func (n *node) primary(p string) int {
	if !n.IsDir() {
		return int(n.tier.Load())
	}
	mask := n.dirs.Load()
	for _, ti := range n.r.placement().Order(p) {
		if mask&bit(ti) != 0 {
			return ti
		}
	}
	return -1
}

// whereName is the value of user.tierfs.tier: the tier of a file, or
// the comma-separated tiers of a directory.
func (n *node) whereName() string {
	if !n.IsDir() {
		return n.tierOf().Name
	}
	s := ""
	for _, ti := range n.holders() {
		if s != "" {
			s += ","
		}
		s += n.r.tiers[ti].Name
	}
	return s
}

// copyOut answers a getxattr with a value computed by tierfs.
func copyOut(v string, dest []byte) (uint32, syscall.Errno) {
	if len(dest) == 0 {
		return uint32(len(v)), 0
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}
