// Command slowfs mounts a directory through a FUSE loopback that adds a
// fixed delay to every metadata call and fsync, emulating an NFS tier for
// tests and benchmarks. It serves in the foreground until SIGINT/SIGTERM
// or until the mount point is unmounted.
//
// Usage:
//
//	slowfs [-delay 250us] [-fsync-delay 250us] [-clock-offset 0s] [-stats-socket PATH] BACKING MOUNTPOINT
//
// With -stats-socket, GET /counts over that unix socket returns the
// number of delayed calls per operation as JSON.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/tierfs/tierfs/benchmarks/slowfs"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "slowfs:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	o := slowfs.DefaultOptions()
	fset := flag.NewFlagSet("slowfs", flag.ContinueOnError)
	fset.DurationVar(&o.Delay, "delay", o.Delay, "delay added to each metadata call")
	fset.DurationVar(&o.FsyncDelay, "fsync-delay", o.FsyncDelay, "delay added to each fsync/fsyncdir")
	fset.DurationVar(&o.AttrTimeout, "attr-timeout", o.AttrTimeout, "kernel attribute cache timeout")
	fset.DurationVar(&o.EntryTimeout, "entry-timeout", o.EntryTimeout, "kernel name cache timeout")
	fset.DurationVar(&o.NegativeTimeout, "negative-timeout", o.NegativeTimeout, "kernel negative name cache timeout")
	fset.BoolVar(&o.Passthrough, "passthrough", false, "let reads/writes bypass the daemon (breaks passthrough of a FUSE fs stacked on top)")
	fset.BoolVar(&o.UserXattrsOnly, "user-xattrs-only", false, "refuse xattrs outside user.* at once, as the Linux NFS client does")
	fset.DurationVar(&o.ClockOffset, "clock-offset", 0, "how far the emulated server's clock is ahead of this host's (negative: behind); it stamps file times with it")
	fset.BoolVar(&o.Debug, "debug", false, "log every FUSE request")
	statsSock := fset.String("stats-socket", "", "serve GET /counts on this unix socket")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() != 2 {
		return errors.New("usage: slowfs [flags] BACKING MOUNTPOINT")
	}
	srv, err := slowfs.Mount(fset.Arg(0), fset.Arg(1), o)
	if err != nil {
		return err
	}
	if *statsSock != "" {
		if err := serveStats(*statsSock, srv); err != nil {
			srv.Unmount()
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		if err := srv.Unmount(); err != nil {
			fmt.Fprintln(os.Stderr, "slowfs: unmount:", err)
		}
	}()
	srv.Wait()
	return nil
}

// serveStats answers GET /counts with the delayed-call counters.
func serveStats(path string, srv *slowfs.Server) error {
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("stats socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /counts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(srv.Counts())
	})
	go http.Serve(l, mux)
	return nil
}
