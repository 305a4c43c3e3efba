// Package dovecot is the Dovecot preset: the subtrees a tierfs mount
// exposes to Dovecot, the placement rules that route them, and the
// Dovecot settings that point Dovecot at them. Both the default rules and
// `tierfs dovecot-config` come from the one table here, so they cannot
// drift apart.
package dovecot

// Tier roles of the preset. A config maps each role to one of its tiers.
const (
	RoleTmpfs = "tmpfs" // data may be lost at reboot: locks, the list index
	RoleFast  = "fast"  // durable and fast: indexes and control files
	RoleMail  = "mail"  // durable: the mail itself
)

// Subtree is one top-level directory of the preset. Per user it holds
// <Name>/{hash}/{user}, where {hash} is Dovecot's %2.256Nu.
type Subtree struct {
	Name   string  // top-level directory under the mount point
	Role   string  // RoleTmpfs, RoleFast or RoleMail
	Params []Param // the Dovecot settings that point here
	Why    string  // one line for the generated config's comments
}

// Param is one Dovecot setting pointing into a subtree.
type Param struct {
	Key23 string // 2.3 mail_location key; "" is the root (first field)
	Set24 string // the 2.4 setting
	// File is appended to the per-user directory: LISTINDEX and
	// mailbox_list_index_prefix name a file prefix, not a directory.
	File string
	// MaildirOnly: CONTROL moves maildir's dovecot-uidlist, rewritten on
	// every delivery, off the mail tier. dbox has no uidlist and keeps its
	// few control files beside the mail, so it needs no CONTROL.
	MaildirOnly bool
}

// Subtrees returns the preset's subtrees in rule order. Dovecot never
// renames or links between them (on a classic server they are separate
// filesystems), so every rename and link stays on one tier.
func Subtrees() []Subtree {
	return []Subtree{
		{
			Name: "volatile", Role: RoleTmpfs,
			Params: []Param{{Key23: "VOLATILEDIR", Set24: "mail_volatile_path"}},
			Why:    "lock files that need not survive a reboot",
		},
		{
			Name: "listindex", Role: RoleTmpfs,
			Params: []Param{{Key23: "LISTINDEX", Set24: "mailbox_list_index_prefix", File: "dovecot.list.index"}},
			Why:    "the mailbox list index, rebuilt from the mailboxes when lost",
		},
		{
			Name: "index", Role: RoleFast,
			Params: []Param{
				{Key23: "INDEX", Set24: "mail_index_path"},
				{Key23: "CONTROL", Set24: "mail_control_path", MaildirOnly: true},
			},
			Why: "indexes and maildir control files (dovecot-uidlist): durable and hot",
		},
		{
			Name: "mail", Role: RoleMail,
			Params: []Param{{Key23: "", Set24: "mail_path"}},
			Why:    "the messages",
		},
	}
}

// MountPath is the subtree's per-user directory as a rule glob,
// "<name>/{hash}/{user}".
func (s Subtree) MountPath() string { return s.Name + "/{hash}/{user}" }

// RuleSpec is one placement rule by tier name, as in the config file.
type RuleSpec struct{ Match, Tier, Role string }

// PresetRules returns the preset's rules for the tiers that play each
// role: every subtree to its role's tier, and everything else (the mount
// root, stray top-level files) to fast. The final rule is the catch-all
// "**" a rule list needs.
func PresetRules(tmpfs, fast, mail string) []RuleSpec {
	byRole := map[string]string{RoleTmpfs: tmpfs, RoleFast: fast, RoleMail: mail}
	var rules []RuleSpec
	for _, s := range Subtrees() {
		rules = append(rules, RuleSpec{Match: s.Name + "/**", Tier: byRole[s.Role], Role: s.Role})
	}
	return append(rules, RuleSpec{Match: "**", Tier: fast})
}
