package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tierfs/tierfs/config"
)

// writeConfig writes a config whose tiers "tmp" (tmpfs), "fast" and
// "slow" (local) get the subtrees as routes says (subtree → tier name).
func writeConfig(t *testing.T, routes map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("[[tier]]\nname = \"tmp\"\npath = \"/dev/shm/x\"\nkind = \"tmpfs\"\n")
	b.WriteString("[[tier]]\nname = \"fast\"\npath = \"/srv/fast\"\nkind = \"local\"\n")
	b.WriteString("[[tier]]\nname = \"slow\"\npath = \"/srv/slow\"\nkind = \"nfs\"\n")
	for _, s := range []string{"volatile", "listindex", "index", "mail"} {
		if tier, ok := routes[s]; ok {
			b.WriteString("[[rule]]\nmatch = \"" + s + "/{hash}/{user}/**\"\ntier = \"" + tier + "\"\n")
		}
	}
	b.WriteString("[[rule]]\nmatch = \"**\"\ntier = \"fast\"\n")
	path := filepath.Join(t.TempDir(), "tierfs.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunDovecotConfig(t *testing.T) {
	good := writeConfig(t, map[string]string{"volatile": "tmp", "listindex": "tmp", "index": "fast", "mail": "slow"})
	bad := writeConfig(t, map[string]string{"listindex": "tmp", "index": "tmp", "mail": "slow"})
	cluster := filepath.Join(t.TempDir(), "cluster.toml")
	clusterTOML, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	clusterTOML = bytes.ReplaceAll(clusterTOML, []byte("kind = \"local\"\n"), []byte("kind = \"local\"\nshared = true\n"))
	clusterTOML = bytes.ReplaceAll(clusterTOML, []byte("kind = \"nfs\"\n"), []byte("kind = \"nfs\"\nshared = true\n"))
	clusterTOML = append(clusterTOML, "[cluster]\nhost = \"mx1\"\n"...)
	if err := os.WriteFile(cluster, clusterTOML, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		out      []string // substrings of stdout
		notOut   []string
		warn     []string // substrings of stderr; none means stderr must be empty
		usage    bool     // want a usageError
		errWant  string   // want another error containing this
		flagFail bool
	}{
		{name: "default 2.3 maildir", args: []string{"/srv/mail"},
			out:    []string{"\nmail_location = maildir:/srv/mail/mail/%2.256Nu/%u:", ":CONTROL=/srv/mail/index/%2.256Nu/%u", "\nmail_nfs_index = no\n"},
			notOut: []string{"mail_driver"}},
		{name: "2.4 sdbox", args: []string{"--format", "sdbox", "--version", "2.4", "/srv/mail"},
			out:    []string{"\nmail_driver = sdbox\n", "\nmail_path = /srv/mail/mail/%{user | md5 | substr(0, 8) % 256 | hex(2)}/%{user}\n"},
			notOut: []string{"mail_location", "mail_control_path"}},
		{name: "mdbox", args: []string{"-format=mdbox", "/m"}, out: []string{"mail_location = mdbox:/m/mail/"}},
		{name: "good config, no warning", args: []string{"--config", good, "/srv/mail"}, out: []string{"mail_location = ", "\nmail_fsync = optimized\n"}},
		{name: "cluster", args: []string{"--config", cluster, "/srv/mail"},
			out:    []string{"mail_location = ", "\nmail_fsync = always\n", "\nmmap_disable = yes\n", "\nmail_nfs_index = no\n", "# A cluster: keep the director"},
			notOut: []string{"mail_fsync = optimized", "mmap_disable = no"}},
		{name: "bad config warns", args: []string{"--config", bad, "/srv/mail"},
			out: []string{"mail_location = "},
			warn: []string{
				"tierfs: warning: " + bad + `: volatile/ goes to tier "fast" (kind local); the preset wants a tmpfs tier`,
				`index/ goes to tmpfs tier "tmp"`,
			}},
		{name: "missing config", args: []string{"--config", "/nonexistent/tierfs.toml", "/m"}, errWant: "/nonexistent/tierfs.toml"},
		{name: "no mount point", args: nil, usage: true},
		{name: "two mount points", args: []string{"/a", "/b"}, usage: true},
		{name: "relative mount point", args: []string{"mnt"}, usage: true, errWant: `"mnt" is not an absolute path`},
		{name: "bad format", args: []string{"--format", "mbox", "/m"}, usage: true, errWant: `format "mbox": want one of maildir, sdbox, mdbox`},
		{name: "bad version", args: []string{"--version", "2.2", "/m"}, usage: true, errWant: `version "2.2": want one of 2.3, 2.4`},
		{name: "colon in mount point", args: []string{"/a:b"}, usage: true, errWant: "character ':'"},
		{name: "unknown flag", args: []string{"--dry", "/m"}, flagFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, stderr bytes.Buffer
			err := dovecotConfig(tt.args, &out, &stderr)
			var ue usageError
			switch {
			case tt.usage && !errors.As(err, &ue):
				t.Fatalf("error %v, want a usageError", err)
			case tt.flagFail && err == nil:
				t.Fatal("no error for a bad flag")
			case !tt.usage && !tt.flagFail && tt.errWant == "" && err != nil:
				t.Fatal(err)
			}
			if tt.errWant != "" && (err == nil || !strings.Contains(err.Error(), tt.errWant)) {
				t.Fatalf("error %v, want %q", err, tt.errWant)
			}
			if err != nil {
				if out.Len() != 0 {
					t.Errorf("printed %q on error", out.String())
				}
				return
			}
			for _, s := range tt.out {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tt.notOut {
				if strings.Contains(out.String(), s) {
					t.Errorf("stdout has %q:\n%s", s, out.String())
				}
			}
			if len(tt.warn) == 0 && stderr.Len() != 0 {
				t.Errorf("unexpected stderr %q", stderr.String())
			}
			for _, s := range tt.warn {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}
}

// TestRunDovecotConfigDefaultConfigClean checks the embedded default's
// rules agree with the preset: dovecot-config does not warn about them.
func TestRunDovecotConfigDefaultConfigClean(t *testing.T) {
	var out, stderr bytes.Buffer
	path := filepath.Join(t.TempDir(), "default.toml")
	data, err := defaultConfigTOML(t)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := dovecotConfig([]string{"--config", path, "/srv/mail"}, &out, &stderr); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Errorf("the embedded default config draws warnings: %s", stderr.String())
	}
}

func defaultConfigTOML(t *testing.T) ([]byte, error) {
	return config.Default(t.TempDir()).Marshal()
}
