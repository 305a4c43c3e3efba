package dovecot

import (
	"regexp"
	"strings"
	"testing"
)

// confLine is what dovecot.conf accepts for a plain setting.
var confLine = regexp.MustCompile(`^([a-z_]+) = (\S.*)$`)

// parseConf splits Settings' output into settings, failing on any line
// that is neither a comment, blank nor "key = value", or a key set twice.
func parseConf(t *testing.T, out string) map[string]string {
	t.Helper()
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("output does not end in a newline")
	}
	set := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := confLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %q is not a dovecot.conf setting", line)
		}
		if _, dup := set[m[1]]; dup {
			t.Fatalf("%s set twice", m[1])
		}
		set[m[1]] = m[2]
	}
	return set
}

const h24 = "%{user | md5 | substr(0, 8) % 256 | hex(2)}"

var fsWant = map[string]string{
	"mmap_disable":     "no",
	"mail_fsync":       "optimized",
	"mail_nfs_storage": "no",
	"mail_nfs_index":   "no",
}

func TestSettings(t *testing.T) {
	tests := []struct {
		mount, format, version string
		want                   map[string]string
	}{
		{"/srv/mail", "maildir", "2.3", map[string]string{
			"mail_location": "maildir:/srv/mail/mail/%2.256Nu/%u" +
				":VOLATILEDIR=/srv/mail/volatile/%2.256Nu/%u" +
				":LISTINDEX=/srv/mail/listindex/%2.256Nu/%u/dovecot.list.index" +
				":INDEX=/srv/mail/index/%2.256Nu/%u" +
				":CONTROL=/srv/mail/index/%2.256Nu/%u",
		}},
		{"/srv/mail/", "sdbox", "2.3", map[string]string{
			"mail_location": "sdbox:/srv/mail/mail/%2.256Nu/%u" +
				":VOLATILEDIR=/srv/mail/volatile/%2.256Nu/%u" +
				":LISTINDEX=/srv/mail/listindex/%2.256Nu/%u/dovecot.list.index" +
				":INDEX=/srv/mail/index/%2.256Nu/%u",
		}},
		{"/m", "mdbox", "2.3", map[string]string{
			"mail_location": "mdbox:/m/mail/%2.256Nu/%u:VOLATILEDIR=/m/volatile/%2.256Nu/%u" +
				":LISTINDEX=/m/listindex/%2.256Nu/%u/dovecot.list.index:INDEX=/m/index/%2.256Nu/%u",
		}},
		{"/srv/mail", "maildir", "2.4", map[string]string{
			"mail_driver":               "maildir",
			"mail_path":                 "/srv/mail/mail/" + h24 + "/%{user}",
			"mail_index_path":           "/srv/mail/index/" + h24 + "/%{user}",
			"mail_control_path":         "/srv/mail/index/" + h24 + "/%{user}",
			"mail_volatile_path":        "/srv/mail/volatile/" + h24 + "/%{user}",
			"mailbox_list_index_prefix": "/srv/mail/listindex/" + h24 + "/%{user}/dovecot.list.index",
		}},
		{"//srv//mail", "mdbox", "2.4", map[string]string{
			"mail_driver":               "mdbox",
			"mail_path":                 "/srv/mail/mail/" + h24 + "/%{user}",
			"mail_index_path":           "/srv/mail/index/" + h24 + "/%{user}",
			"mail_volatile_path":        "/srv/mail/volatile/" + h24 + "/%{user}",
			"mailbox_list_index_prefix": "/srv/mail/listindex/" + h24 + "/%{user}/dovecot.list.index",
		}},
	}
	for _, tt := range tests {
		out, err := Settings(tt.mount, tt.format, tt.version, false)
		if err != nil {
			t.Fatalf("Settings(%q, %q, %q): %v", tt.mount, tt.format, tt.version, err)
		}
		got := parseConf(t, out)
		for k, v := range fsWant {
			tt.want[k] = v
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s %s: %s = %q, want %q", tt.format, tt.version, k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := tt.want[k]; !ok {
				t.Errorf("%s %s: unexpected setting %s = %q", tt.format, tt.version, k, got[k])
			}
		}
		// Each NFS-guide setting carries its reason on the line above.
		for k := range fsWant {
			i := strings.Index(out, "\n"+k+" = ")
			prev := out[strings.LastIndex(out[:i], "\n")+1 : i]
			if !strings.HasPrefix(prev, "# ") || len(prev) < 20 {
				t.Errorf("%s has no reason comment above it (got %q)", k, prev)
			}
		}
	}
}

// TestSettingsCoverSubtrees checks every param of every subtree appears,
// pointing into that subtree, for each format and version.
func TestSettingsCoverSubtrees(t *testing.T) {
	for _, version := range Versions() {
		for _, format := range Formats() {
			out, err := Settings("/mnt", format, version, false)
			if err != nil {
				t.Fatal(err)
			}
			set := parseConf(t, out)
			for _, s := range Subtrees() {
				for _, p := range s.Params {
					var found bool
					prefix := "/mnt/" + s.Name + "/"
					if version == "2.4" {
						found = strings.HasPrefix(set[p.Set24], prefix)
					} else if p.Key23 == "" {
						found = strings.HasPrefix(set["mail_location"], format+":"+prefix)
					} else {
						found = strings.Contains(set["mail_location"], ":"+p.Key23+"="+prefix)
					}
					if wantIt := !p.MaildirOnly || format == "maildir"; found != wantIt {
						t.Errorf("%s %s: %s/%s into %s: present %v, want %v", version, format, p.Key23, p.Set24, s.Name, found, wantIt)
					}
				}
				if !strings.Contains(out, "#   /mnt/"+s.Name+"/") {
					t.Errorf("%s %s: subtree %s missing from the header", version, format, s.Name)
				}
			}
		}
	}
}

func TestSettingsErrors(t *testing.T) {
	tests := []struct{ mount, format, version, want string }{
		{"/m", "mbox", "2.3", `format "mbox": want one of maildir, sdbox, mdbox`},
		{"/m", "", "2.3", `format "": want one of`},
		{"/m", "maildir", "2.2", `version "2.2": want one of 2.3, 2.4`},
		{"/m", "maildir", "2.4.1", `version "2.4.1"`},
		{"m", "maildir", "2.3", `mount point "m" is not an absolute path`},
		{"", "maildir", "2.3", `mount point "" is not an absolute path`},
		{"/srv/a:b", "maildir", "2.3", `character ':' at byte 6`},
		{"/srv/%u", "maildir", "2.4", `character '%'`},
		{"/srv/a b", "maildir", "2.3", `character ' '`},
		{"/srv/#x", "maildir", "2.3", `character '#'`},
		{"/srv/{x}", "maildir", "2.4", `character '{'`},
		{"/srv/a\nb", "maildir", "2.4", `character '\n'`},
	}
	for _, tt := range tests {
		_, err := Settings(tt.mount, tt.format, tt.version, false)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Settings(%q, %q, %q) error = %v, want %q", tt.mount, tt.format, tt.version, err, tt.want)
		}
	}
}

// TestSettingsCluster checks that a cluster gets the NFS guide's
// settings for shared storage, each with its reason above it.
func TestSettingsCluster(t *testing.T) {
	out, err := Settings("/srv/mail", "maildir", "2.3", true)
	if err != nil {
		t.Fatal(err)
	}
	got := parseConf(t, out)
	want := map[string]string{"mmap_disable": "yes", "mail_fsync": "always", "mail_nfs_storage": "no", "mail_nfs_index": "no"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
		i := strings.Index(out, "\n"+k+" = ")
		if prev := out[strings.LastIndex(out[:i], "\n")+1 : i]; !strings.HasPrefix(prev, "# ") || len(prev) < 20 {
			t.Errorf("%s has no reason comment above it (got %q)", k, prev)
		}
	}
}

// TestSettingsClusterPublic checks that a cluster's settings say where a
// public namespace's index goes, in each version's syntax, and that a
// single host's say nothing of it.
func TestSettingsClusterPublic(t *testing.T) {
	tests := []struct {
		version string
		cluster bool
		want    string
	}{
		{"2.3", true, "# each host's own: give a public namespace an index per user (INDEX=/srv/mail/index/%2.256Nu/%u/public)\n"},
		{"2.4", true, "(mail_index_path = /srv/mail/index/" + userDir24 + "/public)\n"},
		{"2.3", false, ""},
	}
	for _, tt := range tests {
		out, err := Settings("/srv/mail", "maildir", tt.version, tt.cluster)
		if err != nil {
			t.Fatal(err)
		}
		if tt.want == "" {
			if strings.Contains(out, "ublic") {
				t.Errorf("%s, single host: mentions public folders:\n%s", tt.version, out)
			}
			continue
		}
		if !strings.Contains(out, tt.want) {
			t.Errorf("%s, cluster: no %q in\n%s", tt.version, tt.want, out)
		}
	}
}
