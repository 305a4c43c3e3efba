package main

import (
	"slices"
	"strings"
	"testing"
)

func TestHelperArgs(t *testing.T) {
	tests := []struct {
		args     string
		want     string
		wantFake bool
		wantErr  string
	}{
		{args: "/etc/tierfs.toml /srv/mail -o rw,allow_other", want: "--config /etc/tierfs.toml -o rw,allow_other /srv/mail"},
		{args: "/etc/tierfs.toml /srv/mail", want: "--config /etc/tierfs.toml /srv/mail"},
		{args: "-o rw /etc/tierfs.toml /srv/mail -o noatime", want: "--config /etc/tierfs.toml -o rw,noatime /srv/mail"},
		{args: "/etc/tierfs.toml /srv/mail -orw", want: "--config /etc/tierfs.toml -o rw /srv/mail"},
		{args: "/etc/tierfs.toml /srv/mail -s -n -v -o rw", want: "--config /etc/tierfs.toml -o rw /srv/mail"},
		{args: "/etc/tierfs.toml /srv/mail -snv -t fuse.tierfs", want: "--config /etc/tierfs.toml /srv/mail"},
		{args: "/etc/tierfs.toml /srv/mail -f -o rw", want: "--config /etc/tierfs.toml -o rw /srv/mail", wantFake: true},
		{args: "/etc/tierfs.toml /srv/mail -t ext4", wantErr: `filesystem type "ext4" is not fuse.tierfs`},
		{args: "/etc/tierfs.toml /srv/mail -N 1234", wantErr: "-N (mount in another namespace) is not supported"},
		{args: "/etc/tierfs.toml /srv/mail -x", wantErr: "unknown flag -x"},
		{args: "/etc/tierfs.toml /srv/mail -o", wantErr: "-o needs an argument"},
		{args: "/srv/mail", wantErr: "usage: mount.fuse.tierfs CONFIG MOUNTPOINT"},
		{args: "a b c", wantErr: "got 3 arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			got, fake, err := helperArgs(strings.Fields(tt.args))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, strings.Fields(tt.want)) || fake != tt.wantFake {
				t.Errorf("helperArgs = %q fake=%v, want %q fake=%v", got, fake, tt.want, tt.wantFake)
			}
			// What it produces must be what "tierfs mount" accepts.
			a, err := parseMountArgs(got)
			if err != nil {
				t.Fatalf("parseMountArgs(%q): %v", got, err)
			}
			if a.mountpoint != "/srv/mail" || a.config != "/etc/tierfs.toml" {
				t.Errorf("parsed mountpoint %q config %q", a.mountpoint, a.config)
			}
		})
	}
}

func TestIsMountHelper(t *testing.T) {
	for argv0, want := range map[string]bool{
		"/sbin/mount.fuse.tierfs": true, "mount.fuse.tierfs": true, "/usr/bin/tierfs": false, "mount.fuse": false,
	} {
		if got := isMountHelper(argv0); got != want {
			t.Errorf("isMountHelper(%q) = %v", argv0, got)
		}
	}
}
