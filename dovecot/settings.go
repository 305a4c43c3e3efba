package dovecot

import (
	"fmt"
	"path"
	"strings"

	"github.com/tierfs/tierfs/policy"
)

// Formats returns the mailbox formats Settings knows.
func Formats() []string { return []string{"maildir", "sdbox", "mdbox"} }

// Versions returns the Dovecot versions Settings writes for.
func Versions() []string { return []string{"2.3", "2.4"} }

// Per-user directory expressions: the hash directory, then the user.
const (
	userDir23 = "%2.256Nu/%u"
	userDir24 = policy.Dovecot24HashExpr + "/%{user}"
)

// fsSetting is one of the settings the NFS guide discusses, as it applies
// to tierfs, with the reason.
type fsSetting struct{ key, value, why string }

// fsSettings returns the NFS guide's settings as they apply to a mount;
// cluster is a mount whose persistent tiers several hosts share.
func fsSettings(cluster bool) []fsSetting {
	if cluster {
		return []fsSetting{
			{"mmap_disable", "yes", "in a cluster the index files live on NFS, which another host writes between this host's turns: read them, as the NFS guide says, rather than map them"},
			{"mail_fsync", "always", "in a cluster what a host wrote and did not fsync dies with it, and the next host serves the user from the NFS server: the NFS guide's setting"},
			{"mail_nfs_storage", "no", "tierfs's per-user lease keeps a user on one host at a time and drops every cached entry of the user before another host's changes are seen, so there are no NFS caches to flush"},
			{"mail_nfs_index", "no", "index files are never used by two hosts at once: tierfs's lease refuses the second (EIO, a temporary failure) until the first lets the user go"},
		}
	}
	return []fsSetting{
		{"mmap_disable", "no", "tierfs is a local filesystem to Dovecot: mmap works through FUSE passthrough and sees other processes' writes"},
		{"mail_fsync", "optimized", "fsync reaches the backing tier; optimized syncs where Dovecot needs durability (the default)"},
		{"mail_nfs_storage", "no", "locks and caches are kernel-local to this host, so there are no NFS caches to flush"},
		{"mail_nfs_index", "no", "index files are never shared with another host at the same time"},
	}
}

// Settings renders the Dovecot settings for a tierfs mount at mountpoint
// running the preset layout: what `tierfs dovecot-config` prints. Every
// line is a comment or a dovecot.conf "key = value" line. format is
// maildir, sdbox or mdbox; version is 2.3 (one mail_location) or 2.4
// (the mail_* settings that replaced it). cluster is a mount whose
// persistent tiers several hosts share ([cluster]).
func Settings(mountpoint, format, version string, cluster bool) (string, error) {
	if err := checkChoice("format", format, Formats()); err != nil {
		return "", err
	}
	if err := checkChoice("version", version, Versions()); err != nil {
		return "", err
	}
	mount, err := cleanMountpoint(mountpoint)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Dovecot %s settings for the tierfs mount at %s (%s), from `tierfs dovecot-config`.\n", version, mount, format)
	if version == "2.4" {
		b.WriteString("# Put them after dovecot_config_version in dovecot.conf.\n")
	}
	b.WriteString("# Subtrees under the mount point and the tier role the preset rules give each:\n")
	for _, s := range Subtrees() {
		fmt.Fprintf(&b, "#   %-22s %-6s %s\n", path.Join(mount, s.Name)+"/", s.Role, s.Why)
	}
	if version == "2.3" {
		writeSettings23(&b, mount, format)
	} else {
		writeSettings24(&b, mount, format)
	}
	b.WriteString("\n")
	if cluster {
		b.WriteString("# A cluster: keep the director (or proxy) in front of the hosts. tierfs's leases\n" +
			"# refuse a user on a second host, and never let two hosts serve one user at once.\n")
		writePublicNote(&b, mount, version)
	}
	for _, s := range fsSettings(cluster) {
		fmt.Fprintf(&b, "# %s.\n%s = %s\n", s.why, s.key, s.value)
	}
	return b.String(), nil
}

// writePublicNote says where a cluster keeps a public namespace's index.
// A public folder has no lease, so every host serves it at once, and
// fcntl and flock locks are each host's own: no index file may be shared.
func writePublicNote(b *strings.Builder, mount, version string) {
	setting := "INDEX=" + path.Join(mount, "index") + "/" + userDir23 + "/public"
	if version == "2.4" {
		setting = "mail_index_path = " + path.Join(mount, "index") + "/" + userDir24 + "/public"
	}
	fmt.Fprintf(b, "# Public folders are served by every host at once, and fcntl and flock locks are\n"+
		"# each host's own: give a public namespace an index per user (%s)\n"+
		"# and, with one, mail_nfs_storage = yes and mail_nfs_index = yes instead of the\n"+
		"# no below (README: Several hosts, Shared names).\n", setting)
}

// params calls fn for each setting that applies to format, with the
// per-user path it points at (ending in userDir).
func params(mount, format, userDir string, fn func(p Param, value string)) {
	for _, s := range Subtrees() {
		for _, p := range s.Params {
			if p.MaildirOnly && format != "maildir" {
				continue
			}
			v := path.Join(mount, s.Name) + "/" + userDir
			if p.File != "" {
				v += "/" + p.File
			}
			fn(p, v)
		}
	}
}

func writeSettings23(b *strings.Builder, mount, format string) {
	var root string
	var keys []string
	params(mount, format, userDir23, func(p Param, v string) {
		if p.Key23 == "" {
			root = v
		} else {
			keys = append(keys, p.Key23+"="+v)
		}
	})
	fmt.Fprintf(b, "mail_location = %s:%s:%s\n", format, root, strings.Join(keys, ":"))
}

func writeSettings24(b *strings.Builder, mount, format string) {
	fmt.Fprintf(b, "mail_driver = %s\n", format)
	params(mount, format, userDir24, func(p Param, v string) {
		fmt.Fprintf(b, "%s = %s\n", p.Set24, v)
	})
}

func checkChoice(what, got string, want []string) error {
	for _, w := range want {
		if got == w {
			return nil
		}
	}
	return fmt.Errorf("%s %q: want one of %s", what, got, strings.Join(want, ", "))
}

// cleanMountpoint checks that the mount point can be written into
// Dovecot settings as is: absolute, and free of what mail_location or
// variable expansion would read as syntax (':' separates mail_location
// fields, '%' and braces start variables, '#' a comment).
func cleanMountpoint(mp string) (string, error) {
	if !path.IsAbs(mp) {
		return "", fmt.Errorf("mount point %q is not an absolute path", mp)
	}
	if i := strings.IndexFunc(mp, func(r rune) bool {
		return r <= ' ' || r == 0x7f || strings.ContainsRune(`:%#{}"'\`, r)
	}); i >= 0 {
		return "", fmt.Errorf("mount point %q: character %q at byte %d cannot be written into Dovecot settings", mp, mp[i], i)
	}
	return path.Clean(mp), nil
}
