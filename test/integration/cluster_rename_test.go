package integration

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// In a cluster a name beneath one user's directory belongs to that
// user's lease, which keeps every other host out of it. A rename that
// would carry a file or directory to another user (or between a user
// and the shared names) would leave the node under the old user's
// lease on this host, or under none. So such a rename fails with EXDEV,
// as one across two NFS mounts does, and mv(1) copies instead; a
// rename within one user's tree, or within the shared names, is a
// rename.
func TestClusterRenameAcrossUsers(t *testing.T) {
	const alice, bob = "mail/ab/alice/", "mail/cd/bob/"
	a, b := twoHosts(t, clusterOpts{leaseWait: "2s"})
	for _, d := range []string{alice + "cur", alice + "Work/cur", bob + "cur", "public/f"} {
		a.mkdirAll(t, d)
	}
	a.writeFile(t, alice+"cur/1", "alice's")
	a.writeFile(t, "public/f/1", "public")
	for _, tc := range []struct {
		name, from, to string
		want           unix.Errno
	}{
		{"file to another user", alice + "cur/1", bob + "cur/1", unix.EXDEV},
		{"directory to another user", alice + "Work", bob + "Work", unix.EXDEV},
		{"user directory renamed", alice, "mail/ab/alice2", unix.EXDEV},
		{"directory of users renamed", "mail/ab", "mail/ac", unix.EXDEV},
		{"shared directory among the users", "public/f", "mail/ee", unix.EXDEV},
		{"shared name into a user", "public/f/1", alice + "cur/2", unix.EXDEV},
		{"user's file to the shared names", alice + "cur/1", "public/f/2", unix.EXDEV},
		{"within one user", alice + "cur/1", alice + "Work/cur/1", 0},
		{"within the shared names", "public/f/1", "public/1", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := os.Rename(a.path(tc.from), a.path(tc.to))
			if got := errnoOf(err); got != tc.want {
				t.Fatalf("rename %s → %s: %v, want %s", tc.from, tc.to, err, errName(tc.want))
			}
			if tc.want == 0 {
				if err := os.Rename(a.path(tc.to), a.path(tc.from)); err != nil {
					t.Fatalf("rename back: %v", err)
				}
				return
			}
			if _, err := os.Lstat(a.path(tc.from)); err != nil {
				t.Errorf("source after the refused rename: %v", err)
			}
			if _, err := os.Lstat(a.path(tc.to)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("target after the refused rename: %v, want ENOENT", err)
			}
		})
	}
	// mv copies, and the copy is bob's: a serves it while b serves
	// alice. A renamed file's node would have stayed alice's on a, and
	// a's read of it failed with EIO after lease_wait.
	t.Run("mv copies", func(t *testing.T) {
		if out, err := exec.Command("mv", a.path(alice+"cur/1"), a.path(bob+"cur/1")).CombinedOutput(); err != nil {
			t.Fatalf("mv: %v\n%s", err, out)
		}
		if _, err := os.Lstat(a.path(alice + "cur/1")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("source after mv: %v, want ENOENT", err)
		}
		bobsDir, err := os.Open(a.path(bob + "cur")) // a keeps serving bob
		if err != nil {
			t.Fatal(err)
		}
		defer bobsDir.Close()
		aliceToB(t, a, b, alice+"Work")
		readOn(t, a, bob+"cur/1", "alice's")
	})
}
