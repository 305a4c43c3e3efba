package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/dovecot"
)

// runDovecotConfig prints the Dovecot settings for the preset layout
// under a mount point.
func runDovecotConfig(ctx context.Context, args []string, stdout io.Writer) error {
	return dovecotConfig(args, stdout, os.Stderr)
}

// dovecotConfig is runDovecotConfig with its warnings' destination made
// explicit for tests.
func dovecotConfig(args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("dovecot-config")
	configPath := fset.String("config", "", "check the rules of this config file against the preset's subtrees")
	format := fset.String("format", "maildir", "mailbox format: maildir, sdbox or mdbox")
	version := fset.String("version", "2.3", "Dovecot version: 2.3 (mail_location) or 2.4 (mail_* settings)")
	fset.Usage = func() {
		fmt.Fprintln(fset.Output(), "usage: tierfs dovecot-config [--config FILE] [--format maildir|sdbox|mdbox] [--version 2.3|2.4] MOUNTPOINT")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() != 1 {
		return usageError{fmt.Sprintf("dovecot-config: want exactly one MOUNTPOINT, got %d arguments", fset.NArg())}
	}
	mountpoint := fset.Arg(0)
	if !filepath.IsAbs(mountpoint) {
		return usageError{fmt.Sprintf("dovecot-config: mount point %q is not an absolute path", mountpoint)}
	}
	var c *config.Config
	if *configPath != "" {
		var err error
		if c, err = config.Load(*configPath); err != nil {
			return err
		}
	}
	out, err := dovecot.Settings(mountpoint, *format, *version, c != nil && c.Cluster != nil)
	if err != nil {
		return usageError{"dovecot-config: " + err.Error()}
	}
	if c != nil {
		for _, w := range presetWarnings(c) {
			fmt.Fprintln(stderr, "tierfs: warning:", w)
		}
	}
	_, err = io.WriteString(stdout, out)
	return err
}

// presetWarnings reports subtrees that c's rules send to a tier of the
// wrong kind: locks and the list index belong on tmpfs (on durable
// storage they cost writes; on NFS they are what the preset avoids), and
// indexes and mail must never be on tmpfs, where a reboot loses them. A
// sample path inside each subtree stands for the subtree.
func presetWarnings(c *config.Config) []string {
	var warns []string
	for _, s := range dovecot.Subtrees() {
		sample := s.Name + "/00/user/file"
		t := c.Tiers[c.Placement.Tier(sample)]
		isTmpfs := t.Kind == config.KindTmpfs
		switch {
		case s.Role == dovecot.RoleTmpfs && !isTmpfs:
			warns = append(warns, fmt.Sprintf("%s: %s/ goes to tier %q (kind %s); the preset wants a tmpfs tier for %s",
				c.Source, s.Name, t.Name, t.Kind, s.Why))
		case s.Role != dovecot.RoleTmpfs && isTmpfs:
			warns = append(warns, fmt.Sprintf("%s: %s/ goes to tmpfs tier %q: %s would be lost at reboot",
				c.Source, s.Name, t.Name, s.Why))
		}
	}
	return warns
}
