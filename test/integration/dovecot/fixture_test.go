package dovecot

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// fixture is one Dovecot on one storage for one mail format.
type fixture struct {
	t         *testing.T
	ctx       context.Context
	format    string
	store     *dovecottest.Storage
	srv       *dovecottest.Server
	opts      dovecottest.Options
	users     []dovecottest.User
	passwords map[string]string
}

// newFixture mounts a fresh storage and starts Dovecot on it with the
// settings `tierfs dovecot-config` prints for format. Everything is torn
// down at cleanup, and the logs are printed if the test failed.
func newFixture(t *testing.T, format string, mmapDisable bool) *fixture {
	t.Helper()
	ctx := t.Context()
	acct, err := dovecottest.EnsureMailUser(ctx, dovecottest.DefaultMailUser)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, format: format, users: testUsers(), passwords: map[string]string{}}
	for _, u := range f.users {
		f.passwords[u.Name] = u.Password
	}
	f.store, err = dovecottest.NewStorage(ctx, dovecottest.StorageOptions{
		Kind: env.kind, Dir: openDir(t), TierfsBin: env.tierfsBin, Owner: acct,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.store.Close(); err != nil {
			t.Errorf("close storage: %v", err)
		}
	})
	if env.kind == dovecottest.KindTierfs {
		if ok, err := dovecottest.IsMounted(f.store.Root, "fuse.tierfs"); err != nil || !ok {
			t.Fatalf("tierfs not mounted on %s (%v)", f.store.Root, err)
		}
	}
	settings, err := f.store.DovecotSettings(ctx, format)
	if err != nil {
		t.Fatal(err)
	}
	f.opts = dovecottest.Options{
		Dir:          openDir(t),
		MailSettings: settings,
		Users:        f.users,
		MmapDisable:  mmapDisable,
	}
	f.srv, err = dovecottest.Start(ctx, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after the storage's cleanup, so it runs before it:
	// Dovecot must be gone before tierfs is unmounted.
	t.Cleanup(func() {
		if err := f.srv.Close(); err != nil {
			t.Errorf("stop dovecot: %v", err)
		}
		if t.Failed() {
			t.Logf("dovecot log (%s):\n%s", f.srv.LogPath, f.srv.Log())
			if env.kind == dovecottest.KindTierfs {
				t.Logf("tierfs log:\n%s", f.store.Log())
			}
		}
	})
	f.checkMmap(mmapDisable)
	return f
}

// restart stops Dovecot and starts it again (new ports, same log).
func (f *fixture) restart() {
	f.t.Helper()
	if err := f.srv.Restart(f.ctx, f.opts); err != nil {
		f.t.Fatal(err)
	}
}

// stopAll stops Dovecot and unmounts the storage.
func (f *fixture) stopAll() {
	f.t.Helper()
	if err := f.srv.Close(); err != nil {
		f.t.Fatalf("stop dovecot: %v", err)
	}
	if err := f.store.Stop(); err != nil {
		f.t.Fatalf("unmount: %v", err)
	}
}

// startAll mounts the storage again and restarts Dovecot.
func (f *fixture) startAll() {
	f.t.Helper()
	if err := f.store.Start(f.ctx); err != nil {
		f.t.Fatalf("mount again: %v", err)
	}
	f.restart()
}

// checkMmap fails unless Dovecot runs with the mmap_disable the test
// asked for (the settings from tierfs carry their own value).
func (f *fixture) checkMmap(disable bool) {
	f.t.Helper()
	out, err := f.srv.Doveadm(f.ctx, "config", "-h", "mmap_disable")
	if err != nil {
		f.t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), yesNo(disable); got != want {
		f.t.Fatalf("dovecot runs with mmap_disable = %s, want %s", got, want)
	}
}

// checkLog fails the test for every problem line in Dovecot's log.
func (f *fixture) checkLog(stage string) {
	f.t.Helper()
	for _, line := range f.srv.LogProblems() {
		f.t.Errorf("%s: dovecot log: %s", stage, line)
	}
}

// openDir returns a new directory that Dovecot's unprivileged processes
// can traverse (t.TempDir's parent is private), short enough for unix
// socket paths and free of the characters mail_location cannot hold.
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tierfs-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testUsers are the logins: the named ones the suite delivers to, plus
// user1..user20 so that at least 20 users' directories are compared.
func testUsers() []dovecottest.User {
	names := []string{"alice", "bob", "carol", "alice@example.com", "bob@example.org"}
	for i := 1; i <= 20; i++ {
		names = append(names, fmt.Sprintf("user%d", i))
	}
	users := make([]dovecottest.User, len(names))
	for i, n := range names {
		users[i] = dovecottest.User{Name: n, Password: "pw-" + strings.ReplaceAll(n, "@", "-at-")}
	}
	return users
}
