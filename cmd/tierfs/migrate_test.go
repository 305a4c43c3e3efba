package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tierfs/tierfs/mover"
)

func TestParseMigrateArgs(t *testing.T) {
	a, err := parseMigrateArgs([]string{"--dry-run", "/srv/mail", "--user", "alice", "--max-bytes", "2MiB"})
	if err != nil {
		t.Fatal(err)
	}
	if !a.opts.DryRun || a.opts.User != "alice" || a.opts.MaxBytes != 2<<20 || a.mountpoint != "/srv/mail" {
		t.Errorf("parsed %+v", a)
	}
	for _, args := range [][]string{{}, {"a", "b"}, {"--max-bytes", "lots", "/m"}, {"--max-bytes", "0", "/m"}, {"--bogus", "/m"}} {
		var ue usageError
		if _, err := parseMigrateArgs(args); !errors.As(err, &ue) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

func TestPrintReport(t *testing.T) {
	start := time.Unix(1700000000, 0)
	r := &mover.Report{
		DryRun: true, Started: start, Finished: start.Add(1500 * time.Millisecond), Scanned: 40, Files: 3, Bytes: 3 << 20,
		Moves:   map[string]mover.Count{"fast->slow": {Files: 3, Bytes: 3 << 20}},
		Skipped: map[string]int64{"open": 2, "hard-linked": 1},
		Failed:  1, Failures: []mover.Failure{{Path: "mail/x", Error: "EIO"}},
	}
	var b bytes.Buffer
	printReport(&b, r)
	for _, want := range []string{
		"would move 3 files, 3.0 MiB (fast->slow 3 files 3.0 MiB)",
		"scanned 40 files in 1.5s",
		"skipped 3 (retried next pass): hard-linked 1, open 2",
		"failed 1\n  mail/x: EIO",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestPrintReportRoom(t *testing.T) {
	r := &mover.Report{Files: 2, Bytes: 2 << 20, Skipped: map[string]int64{mover.SkipNoSpace: 1},
		MadeRoom: map[string]mover.Count{"fast": {Files: 2, Bytes: 2 << 20}},
		Returned: map[string]mover.Count{"slow": {Files: 1, Bytes: 1 << 10}},
		Notes:    []string{"tier fast is still 5 bytes below target_free after this pass"}}
	var b bytes.Buffer
	printReport(&b, r)
	for _, want := range []string{"made room: 2 files, 2.0 MiB on fast\n", "no-space 1", "note: tier fast is still 5 bytes",
		"returned: 1 files, 1.0 KiB from slow, spilled there while their tier was short\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	r.DryRun = true
	b.Reset()
	printReport(&b, r)
	if !strings.Contains(b.String(), "would make room: 2 files") {
		t.Errorf("dry-run report:\n%s", b.String())
	}
}

func TestProgressLine(t *testing.T) {
	got := progressLine(&mover.Progress{Phase: "moving", Files: 4, FilesDone: 2, Bytes: 1000, BytesDone: 500})
	if want := "[###############...............] 2/4 files, 500 B/1000 B"; got != want {
		t.Errorf("progressLine = %q, want %q", got, want)
	}
	if got := progressLine(&mover.Progress{Phase: "scanning", Started: time.Now()}); !strings.HasPrefix(got, "scanning") {
		t.Errorf("scanning line = %q", got)
	}
}
