package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseHoldArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		hold time.Duration
		err  string // part of the error; "" for none
	}{
		{args: []string{"/srv/mail"}, hold: time.Hour},
		{args: []string{"--for", "6h", "/srv/mail"}, hold: 6 * time.Hour},
		{args: []string{"/srv/mail", "--for=2d"}, hold: 48 * time.Hour},
		{args: []string{"--release", "/srv/mail"}, hold: 0},
		{args: []string{"--for", "7d", "/srv/mail"}, hold: 7 * 24 * time.Hour},
		{args: []string{"--for", "8d", "/srv/mail"}, err: `--for: "8d" is not a duration in (0, 7d]`},
		{args: []string{"--for", "0s", "/srv/mail"}, err: "--for"},
		{args: []string{"--for", "-1h", "/srv/mail"}, err: "--for"},
		{args: []string{"--for", "soon", "/srv/mail"}, err: "--for"},
		{args: []string{"--for", "1h", "--release", "/srv/mail"}, err: "--for and --release exclude each other"},
		{args: nil, err: "want exactly one MOUNTPOINT"},
		{args: []string{"/a", "/b"}, err: "want exactly one MOUNTPOINT"},
	} {
		a, err := parseHoldArgs(tc.args)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseHoldArgs(%q) = %v, want an error with %q", tc.args, err, tc.err)
			} else if exitCode(err) != 2 {
				t.Errorf("parseHoldArgs(%q): exit code %d, want 2", tc.args, exitCode(err))
			}
		case err != nil:
			t.Errorf("parseHoldArgs(%q): %v", tc.args, err)
		case a.hold != tc.hold || a.mountpoint != "/srv/mail":
			t.Errorf("parseHoldArgs(%q) = %+v, want hold %v of /srv/mail", tc.args, a, tc.hold)
		}
	}
}
