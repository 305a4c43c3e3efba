package integration

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A tier on NFS holds user.* extended attributes only (NFSv4.2 carries
// no others, NFSv3 none), so the inode number a moved file keeps in
// trusted.tierfs.ino cannot go there. Mail still moves to such a tier,
// with its content and its user.* attributes.
func TestMoverToNFSTier(t *testing.T) {
	cfg := mvConfig("")
	cfg.Tiers[2].Kind, cfg.Tiers[2].Backing = "nfs", "nfs" // slow
	f := mountTierfs(t, cfg)
	rel := mvUserDir + "/cur/1.M1P1.h:2,S"
	want := mvContent(rel, 100000)
	mvWrite(t, f, rel, want, 40*24*time.Hour)
	if err := unix.Setxattr(f.path(rel), "user.flag", []byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	if r := mvMigrate(t, f); r.Files != 1 || r.Failed != 0 {
		t.Fatalf("pass: %+v, want the file moved", r)
	}
	f.requireOnTier(t, rel, "slow")
	mvMustBytes(t, f, rel, want)
	buf := make([]byte, 16)
	if n, err := unix.Getxattr(f.path(rel), "user.flag", buf); err != nil || string(buf[:n]) != "kept" {
		t.Errorf("user.flag after the move: %q (%v), want \"kept\"", buf[:max(n, 0)], err)
	}
	if r := mvMigrate(t, f); r.Files != 0 || r.Failed != 0 {
		t.Errorf("second pass: %+v, want nothing left to move", r)
	}
}
