package main

import (
	"context"
	"fmt"
	"io"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/policy"
)

// runHash prints Dovecot's %2.256Nu directory for each user, one line per
// user, so an operator can find a user's files under the mount. The hash
// covers the exact bytes given: Dovecot 2.3 lower-cases user names by
// default (auth_username_format = %Lu), so pass them as Dovecot sees them.
// With --config, each line also names the members of the config's lists
// that hold the user's bucket.
func runHash(ctx context.Context, args []string, stdout io.Writer) error {
	fset := newFlagSet("hash")
	dovecot24 := fset.Bool("dovecot24", false, "also print the Dovecot 2.4 expression that gives the same directory")
	cfgPath := fset.String("config", "", "config `file` whose tier lists' members to print for each user")
	fset.Usage = func() {
		fmt.Fprintln(fset.Output(), "usage: tierfs hash [--dovecot24] [--config FILE] USER...")
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() == 0 {
		return usageError{"hash: no user given (usage: tierfs hash [--dovecot24] USER...)"}
	}
	for _, user := range fset.Args() {
		if user == "" {
			return usageError{"hash: empty user name"}
		}
	}
	var cfg *config.Config
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	for _, user := range fset.Args() {
		h := policy.UserHash(user)
		line := h
		if *dovecot24 {
			line += "  " + policy.Dovecot24HashExpr
		}
		if m := members(cfg, h); m != "" {
			line += "  " + m
		}
		if _, err := fmt.Fprintln(stdout, line); err != nil {
			return err
		}
	}
	return nil
}
