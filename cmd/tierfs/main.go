// Command tierfs mounts and manages a tiered FUSE filesystem for Dovecot.
//
// Usage:
//
//	mount.fuse.tierfs CONFIG MOUNTPOINT [-o OPTIONS]   (as mount(8) runs it; see "tierfs install")
//	tierfs mount [--config FILE] [--foreground] [--log-file FILE] [--log-format text|json] [-o OPTIONS] MOUNTPOINT
//	tierfs init [--config FILE]
//	tierfs status [--json] [MOUNTPOINT...]
//	tierfs reload MOUNTPOINT...
//	tierfs migrate [--dry-run] [--user U] [--max-bytes N] [--json] MOUNTPOINT
//	tierfs hold [--for DURATION | --release] MOUNTPOINT
//	tierfs check [--config FILE] [--repair] [MOUNTPOINT]
//	tierfs where PATH...
//	tierfs install [--prefix DIR] [--dest DIR] [--remove]
//	tierfs hash [--dovecot24] USER...
//	tierfs dovecot-config [--config FILE] [--format F] [--version V] MOUNTPOINT
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand: it parses its own flags from args and
// writes its normal output to stdout.
type command struct {
	name  string
	usage string
	run   func(ctx context.Context, args []string, stdout io.Writer) error
}

func commands() []command {
	return []command{
		{"mount", "mount [--config FILE] [--state-dir DIR] [--foreground] [--log-file FILE] [--log-format text|json] [--stop-timeout D] [-o OPTIONS] MOUNTPOINT", runMount},
		{"init", "init [--config FILE] [--state-dir DIR] [--forget TIER]", runInit},
		{"status", "status [--json] [MOUNTPOINT...]", runStatus},
		{"reload", "reload MOUNTPOINT...", runReload},
		{"where", "where PATH...", runWhere},
		{"migrate", "migrate [--config FILE] [--dry-run] [--user U] [--scheduled] [--max-bytes N] [--json] MOUNTPOINT", runMigrate},
		{"hold", "hold [--for DURATION | --release] MOUNTPOINT", runHold},
		{"check", "check [--config FILE] [--repair] [MOUNTPOINT]", runCheck},
		{"install", "install [--prefix DIR] [--dest DIR] [--remove]", runInstall},
		{"hash", "hash [--dovecot24] USER...", runHash},
		{"dovecot-config", "dovecot-config [--config FILE] [--format maildir|sdbox|mdbox] [--version 2.3|2.4] MOUNTPOINT", runDovecotConfig},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if isMountHelper(os.Args[0]) {
		err = runHelper(ctx, os.Args[1:], os.Stdout)
	} else {
		err = dispatch(ctx, os.Args[1:], os.Stdout)
	}
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tierfs:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError marks an error in how the command was called (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func dispatch(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(os.Stderr)
		if len(args) == 0 {
			return usageError{"no command given"}
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout)
		}
	}
	printUsage(os.Stderr)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage:")
	for _, c := range commands() {
		fmt.Fprintln(w, "  tierfs", c.usage)
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting,
// so every subcommand fails the same way on bad flags.
func newFlagSet(name string) *flag.FlagSet {
	fset := flag.NewFlagSet("tierfs "+name, flag.ContinueOnError)
	fset.SetOutput(os.Stderr)
	return fset
}
