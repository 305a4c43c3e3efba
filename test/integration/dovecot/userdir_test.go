package dovecot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// knownHashes are Dovecot's %2.256Nu of a few users, computed
// independently of tierfs.
var knownHashes = map[string]string{
	"alice": "f5", "bob": "ca", "user1": "7c", "user4": "09", "alice@example.com": "bf",
}

// checkUserDirs asks Dovecot where each user's mail lives (doveadm user
// -f mail) and checks that every path of it is <root>/<subtree>/<hash>/<user>
// with the hash `tierfs hash` prints.
func checkUserDirs(t *testing.T, f *fixture) {
	t.Helper()
	if len(f.users) < 20 {
		t.Fatalf("only %d users; the check needs at least 20", len(f.users))
	}
	for _, u := range f.users {
		out, err := f.srv.Doveadm(f.ctx, "user", "-f", "mail", u.Name)
		if err != nil {
			t.Fatal(err)
		}
		mail := strings.TrimSpace(string(out))
		hash := tierfsHash(t, f, u.Name)
		if want, ok := knownHashes[u.Name]; ok && hash != want {
			t.Errorf("tierfs hash %s = %s, want %s", u.Name, hash, want)
		}
		paths := mailPaths(mail)
		if len(paths) < 4 {
			t.Errorf("%s: doveadm user -f mail = %q: want the mail root and VOLATILEDIR, LISTINDEX, INDEX", u.Name, mail)
		}
		for key, p := range paths {
			dir := p
			if key == "LISTINDEX" {
				dir = filepath.Dir(p)
			}
			rel, err := filepath.Rel(f.store.Root, dir)
			parts := strings.Split(rel, string(filepath.Separator))
			if err != nil || len(parts) != 3 || parts[1] != hash || parts[2] != u.Name {
				t.Errorf("%s: Dovecot's %s is %s, want %s/<subtree>/%s/%s", u.Name, key, p, f.store.Root, hash, u.Name)
			}
		}
	}
}

// tierfsHash runs `tierfs hash user`.
func tierfsHash(t *testing.T, f *fixture, user string) string {
	t.Helper()
	out, err := f.store.Tierfs(f.ctx, "hash", user)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		t.Fatalf("tierfs hash %s printed nothing", user)
	}
	return fields[len(fields)-1]
}

// mailPaths splits an expanded 2.3 mail_location into its paths by key
// ("" for the root).
func mailPaths(loc string) map[string]string {
	paths := map[string]string{}
	fields := strings.Split(loc, ":")
	if len(fields) < 2 {
		return paths
	}
	paths[""] = fields[1]
	for _, fl := range fields[2:] {
		if k, v, ok := strings.Cut(fl, "="); ok && strings.HasPrefix(v, "/") {
			paths[k] = v
		}
	}
	return paths
}

// checkDeliveredDirs fails unless each user who got mail has its mail
// directory, named by tierfs hash, in the fast tier's own tree.
func checkDeliveredDirs(t *testing.T, f *fixture, users []string) {
	t.Helper()
	for _, u := range users {
		dir := filepath.Join(f.store.Tiers.Fast, "mail", tierfsHash(t, f, u), u)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Errorf("%s: mail directory %s missing on the fast tier: %v", u, dir, err)
		}
	}
}
