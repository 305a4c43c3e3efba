package integration

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mountRefused runs tierfs mount (foreground or daemonizing) and checks it
// exits non-zero, mounts nothing and says every one of want in its output.
func mountRefused(t *testing.T, fx *fixture, foreground bool, want ...string) {
	t.Helper()
	mountRefusedAt(t, fx, fx.mnt, foreground, want...)
}

// mountRefusedAt is mountRefused at mount point mp. Where fx's own daemon
// serves mp, only the refusal is checked.
func mountRefusedAt(t *testing.T, fx *fixture, mp string, foreground bool, want ...string) {
	t.Helper()
	args := []string{"mount"}
	if foreground {
		args = append(args, "--foreground")
	}
	args = append(args, "--config", fx.cfgPath, "--state-dir", fx.stateDir)
	if len(fx.opts) > 0 {
		args = append(args, "-o", strings.Join(fx.opts, ","))
	}
	args = append(args, mp)
	d, err := startDaemon(fx.bin, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	served := mp == fx.mnt && fx.d != nil
	if !served {
		t.Cleanup(func() { unmountPath(t, mp) })
	}
	if !d.wait(mountWait) {
		d.kill()
		t.Fatalf("tierfs %v did not exit within %v; output:\n%s", args, mountWait, d.log())
	}
	out := d.log()
	if d.waitErr == nil {
		t.Errorf("tierfs %v exited 0, want a refusal; output:\n%s", args, out)
	}
	if !served && isMountPoint(mp) {
		t.Errorf("something is mounted on %s after a refused mount", mp)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("refusal message does not mention %q:\n%s", w, out)
		}
	}
}

// A persistent tier without its .tierfs-tier marker (an NFS export that is
// not mounted looks like that) or with another tier's marker is refused,
// naming the tier and telling to run tierfs init.
func TestFailClosedMarker(t *testing.T) {
	for _, foreground := range []bool{true, false} {
		name := map[bool]string{true: "foreground", false: "daemon"}[foreground]
		t.Run("missing-"+name, func(t *testing.T) {
			fx := newFixture(t, defaultConfig())
			if err := os.Remove(fx.tierPath("slow", ".tierfs-tier")); err != nil {
				t.Fatalf("premise: tierfs init should have written slow's marker: %v", err)
			}
			mountRefused(t, fx, foreground, `slow`, "tierfs init")
			if fileExists(fx.tierPath("slow", ".tierfs-tier")) {
				t.Error("tierfs mount created a marker by itself")
			}
		})
		t.Run("wrong-"+name, func(t *testing.T) {
			fx := newFixture(t, defaultConfig())
			data, err := os.ReadFile(fx.tierPath("fast", ".tierfs-tier"))
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, fx.tierPath("slow", ".tierfs-tier"), string(data))
			mountRefused(t, fx, foreground, `slow`)
		})
	}
}

// A tmpfs-kind tier whose directory is not on tmpfs is refused.
func TestFailClosedTmpfsKind(t *testing.T) {
	cfg := defaultConfig()
	cfg.Tiers[0].Path = t.TempDir() // the test's disk, not tmpfs
	fx := newFixture(t, cfg)
	mountRefused(t, fx, true, `tmp`, "tmpfs")
}

// Lazily unmounting the tmpfs under the tmp tier while tierfs is mounted
// turns stat, open and create under volatile/ into EIO within a bounded
// time, never ENOENT, and nothing is written into the directory that the
// unmount uncovered.
func TestFailClosedLazyUnmount(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	fx.mkdirAll(t, "volatile/f5/alice")
	fx.writeFile(t, "volatile/f5/alice/seen", "x")
	lstat(t, fx.path("volatile/f5/alice/seen"))
	if out, err := exec.Command("umount", "-l", fx.tiers["tmp"]).CombinedOutput(); err != nil {
		t.Fatalf("umount -l the tmp tier: %v %s", err, out)
	}
	underneath := fx.tiers["tmp"]
	checkEmpty := func() {
		t.Helper()
		if ents, err := os.ReadDir(underneath); err != nil || len(ents) != 0 {
			t.Errorf("directory under the unmounted tmpfs: %d entries (%v), want none", len(ents), err)
		}
	}
	checkEmpty()
	i := 0
	ops := []struct {
		name string
		op   func() error
	}{
		{"stat of a name never looked up", func() error {
			i++
			var st unix.Stat_t
			return unix.Lstat(fx.path("volatile/f5/alice/fresh"+string(rune('a'+i%26))), &st)
		}},
		{"open of an existing file", func() error {
			fd, err := unix.Open(fx.path("volatile/f5/alice/seen"), unix.O_RDONLY, 0)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		{"create", func() error {
			fd, err := unix.Open(fx.path("volatile/f5/alice/new"), unix.O_CREAT|unix.O_WRONLY, 0o644)
			if err == nil {
				unix.Close(fd)
			}
			return err
		}},
		{"mkdir", func() error { return unix.Mkdir(fx.path("volatile/f5/alice/dir"), 0o755) }},
		{"stat of a cached file", func() error { var st unix.Stat_t; return unix.Lstat(fx.path("volatile/f5/alice/seen"), &st) }},
	}
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			deadline := time.Now().Add(10 * time.Second)
			for {
				err := o.op()
				if errors.Is(err, unix.EIO) {
					return
				}
				if err != nil && !errors.Is(err, unix.EEXIST) {
					t.Fatalf("%s under a vanished tier: got %s, want EIO", o.name, errName(err))
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s under a vanished tier still answers %s after 10s, want EIO", o.name, errName(err))
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	checkEmpty()
}

// A file opened before its tier is lazily unmounted must not report its
// data safe: fsync and close answer EIO once the tier is down, rather
// than success for data left on a filesystem nobody can reach.
func TestFailClosedOpenFileSync(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	fx.mkdirAll(t, "volatile/f5/alice")
	fd, err := unix.Open(fx.path("volatile/f5/alice/msg"), unix.O_CREAT|unix.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	mustWriteFd(t, fd, "Subject: x\n")
	if err := unix.Fsync(fd); err != nil {
		t.Fatalf("premise: fsync before the unmount: %s", errName(err))
	}
	if out, err := exec.Command("umount", "-l", fx.tiers["tmp"]).CombinedOutput(); err != nil {
		t.Fatalf("umount -l the tmp tier: %v %s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := unix.Fsync(fd)
		if errors.Is(err, unix.EIO) {
			break
		}
		if err != nil {
			t.Fatalf("fsync of a file on a vanished tier: got %s, want EIO", errName(err))
		}
		if time.Now().After(deadline) {
			t.Fatal("fsync of a file on a vanished tier still succeeds after 10s, want EIO")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := unix.Fdatasync(fd); !errors.Is(err, unix.EIO) {
		t.Errorf("fdatasync of a file on a vanished tier: got %s, want EIO", errName(err))
	}
}

// A tier that goes away takes only what is on it: with the tmp tier
// lazily unmounted, mail on fast is still read and delivered (the
// directories above it have no copy on tmp, though the mount's root
// does), while volatile/ answers EIO. With entry_timeout 0 every access
// looks the directories up again, which must not need the lost tier
// either.
func TestFailClosedOtherTiersServe(t *testing.T) {
	for name, extra := range map[string]string{"cached": "", "entry_timeout=0": "[kernel]\nentry_timeout = \"0s\"\nattr_timeout = \"0s\"\n"} {
		t.Run(name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Extra = extra
			fx := mountTierfs(t, cfg)
			fx.mkdirAll(t, "volatile/f5/alice")
			fx.mkdirAll(t, "mail/u/new")
			fx.writeFile(t, "volatile/f5/alice/lock", "1")
			fx.writeFile(t, "mail/u/new/1", "first")
			fx.requireOnTier(t, "mail/u/new/1", "fast")
			if out, err := exec.Command("umount", "-l", fx.tiers["tmp"]).CombinedOutput(); err != nil {
				t.Fatalf("umount -l the tmp tier: %v %s", err, out)
			}
			opsWaitLog(t, fx.d, `msg="tier is down; operations that need it fail with EIO" tier=tmp`, 1)
			if err := os.WriteFile(fx.path("mail/u/new/2"), []byte("second"), 0o600); err != nil {
				t.Errorf("delivery to fast with tmp down: %s, want success", errName(err))
			}
			got, err := os.ReadFile(fx.path("mail/u/new/1"))
			if err != nil || string(got) != "first" {
				t.Errorf("read of mail on fast with tmp down: %q, %s; want \"first\"", got, errName(err))
			}
			if names, err := outageReadDir(fx.path("mail/u/new")); err != nil || strings.Join(names, " ") != "1 2" {
				t.Errorf("list mail/u/new with tmp down: %q, %s; want [1 2]", names, errName(err))
			}
			if _, err := os.ReadFile(fx.path("volatile/f5/alice/lock")); !errors.Is(err, unix.EIO) {
				t.Errorf("read of a file on the lost tmp tier: %s, want EIO", errName(err))
			}
			if _, err := os.ReadDir(fx.path("")); !errors.Is(err, unix.EIO) {
				t.Errorf("listing the root, which has a copy on tmp: %s, want EIO", errName(err))
			}
		})
	}
}

// With fast gone (its directory replaced by an empty one), volatile/,
// which only tmp holds, is still listed and read, though fast comes
// first in the rule order of the name volatile itself: tierfs knows the
// directory has no copy there. Every access looks it up again
// (entry_timeout 0).
func TestFailClosedKnownDirectoryServes(t *testing.T) {
	cfg := defaultConfig()
	cfg.Extra = "[kernel]\nentry_timeout = \"0s\"\nattr_timeout = \"0s\"\n"
	fx := mountTierfs(t, cfg)
	fx.mkdirAll(t, "volatile/f5/alice")
	fx.writeFile(t, "volatile/f5/alice/lock", "1")
	fx.mkdirAll(t, "index")
	fx.writeFile(t, "index/x", "2")
	fast := fx.tiers["fast"]
	if err := os.Rename(fast, fast+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(fast, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(fast); os.Rename(fast+".away", fast) })
	opsWaitLog(t, fx.d, `msg="tier is down; operations that need it fail with EIO" tier=fast`, 1)
	if names, err := outageReadDir(fx.path("volatile/f5/alice")); err != nil || strings.Join(names, " ") != "lock" {
		t.Errorf("list volatile/f5/alice with fast down: %q, %s; want [lock]", names, errName(err))
	}
	if got, err := os.ReadFile(fx.path("volatile/f5/alice/lock")); err != nil || string(got) != "1" {
		t.Errorf("read volatile/f5/alice/lock with fast down: %q, %s; want \"1\"", got, errName(err))
	}
	if _, err := os.ReadFile(fx.path("index/x")); !errors.Is(err, unix.EIO) {
		t.Errorf("read of a file on the lost fast tier: %s, want EIO", errName(err))
	}
	if ents, err := os.ReadDir(fast); err != nil || len(ents) != 0 {
		t.Errorf("the empty directory in fast's place: %d entries (%v), want none", len(ents), err)
	}
}

// A tier that comes back leaves the kernel its directory entries, so
// that another tier lost soon after (a flapping one, say) does not find
// the directories forgotten: without their nodes tierfs cannot know
// they have no copy on the lost tier, and all mail below them would
// answer EIO. Here slow goes away and comes back, and once the kernel
// had time to forget what the return made it drop, tmp goes away: mail
// on fast must still be read.
func TestFailClosedFlapKeepsDirectories(t *testing.T) {
	fx := mountTierfs(t, defaultConfig())
	fx.mkdirAll(t, "mail/u/new")
	fx.writeFile(t, "mail/u/new/1", "first")
	slow := fx.tiers["slow"]
	if err := os.Rename(slow, slow+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(slow, 0o755); err != nil {
		t.Fatal(err)
	}
	opsWaitLog(t, fx.d, `msg="tier is down; operations that need it fail with EIO" tier=slow`, 1)
	before := opsStatusJSON(t, fx.bin, fx.mnt).Nodes.Forgotten
	if err := os.Remove(slow); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(slow+".away", slow); err != nil {
		t.Fatal(err)
	}
	opsWaitLog(t, fx.d, `msg="tier is back" tier=slow`, 1)
	// Not touching the mount, wait for the kernel to forget the three
	// directories (it does when their entries are dropped), or 3 s.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if opsStatusJSON(t, fx.bin, fx.mnt).Nodes.Forgotten >= before+3 {
			break
		}
	}
	if out, err := exec.Command("umount", "-l", fx.tiers["tmp"]).CombinedOutput(); err != nil {
		t.Fatalf("umount -l the tmp tier: %v %s", err, out)
	}
	opsWaitLog(t, fx.d, `msg="tier is down; operations that need it fail with EIO" tier=tmp`, 1)
	if got, err := os.ReadFile(fx.path("mail/u/new/1")); err != nil || string(got) != "first" {
		t.Errorf("read of mail on fast after slow flapped and tmp went down: %q, %s; want \"first\"", got, errName(err))
	}
}
