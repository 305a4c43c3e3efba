package main

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	tfs "github.com/tierfs/tierfs/fs"
)

func TestParseMountOptions(t *testing.T) {
	const base = unix.MS_NOSUID | unix.MS_NODEV // tierfs's default flags
	tests := []struct {
		name        string
		opts        string
		root        bool
		wantFlags   uintptr
		allowOther  bool
		defaultPerm bool
		fsName      string
		logFile     string
		logFormat   string
		debug       bool
		transport   tfs.Transport
		wantErr     string
	}{
		// Accepted flag options, one by one.
		{name: "ro", opts: "ro", wantFlags: base | unix.MS_RDONLY},
		{name: "rw", opts: "ro,rw", wantFlags: base},
		{name: "noatime", opts: "noatime", wantFlags: base | unix.MS_NOATIME},
		{name: "relatime", opts: "noatime,relatime", wantFlags: base | unix.MS_RELATIME},
		{name: "strictatime", opts: "relatime,strictatime", wantFlags: base | unix.MS_STRICTATIME},
		{name: "nodiratime", opts: "nodiratime", wantFlags: base | unix.MS_NODIRATIME},
		{name: "diratime", opts: "nodiratime,diratime", wantFlags: base},
		{name: "nosuid", opts: "nosuid", wantFlags: base},
		{name: "suid", opts: "suid", wantFlags: unix.MS_NODEV},
		{name: "nodev", opts: "nodev", wantFlags: base},
		{name: "dev", opts: "dev", wantFlags: unix.MS_NOSUID},
		// No flags at all must reach the kernel as none, not as go-fuse's
		// default (0 means nosuid,nodev there).
		{name: "suid,dev", opts: "suid,dev", wantFlags: unix.MS_MGC_VAL},
		{name: "suid,dev,noexec", opts: "suid,dev,noexec", wantFlags: unix.MS_NOEXEC},
		{name: "noexec", opts: "noexec", wantFlags: base | unix.MS_NOEXEC},
		{name: "exec", opts: "noexec,exec", wantFlags: base},
		{name: "sync", opts: "sync", wantFlags: base | unix.MS_SYNCHRONOUS},
		{name: "async", opts: "sync,async", wantFlags: base},
		{name: "dirsync", opts: "dirsync", wantFlags: base | unix.MS_DIRSYNC},
		// FUSE options.
		{name: "allow_other", opts: "allow_other,default_permissions", wantFlags: base, allowOther: true, defaultPerm: true},
		{name: "default_permissions", opts: "default_permissions", wantFlags: base, defaultPerm: true},
		{name: "root defaults", opts: "", root: true, wantFlags: base, allowOther: true, defaultPerm: true},
		{name: "root noallow_other", opts: "noallow_other,nodefault_permissions", root: true, wantFlags: base},
		{name: "fsname", opts: "fsname=mail", wantFlags: base, fsName: "mail"},
		{name: "quoted fsname with comma", opts: `fsname="my,fs",noatime`, wantFlags: base | unix.MS_NOATIME, fsName: "my,fs"},
		{name: "quoted fsname empty", opts: `fsname=""`, wantFlags: base},
		// The daemon's own.
		{name: "log_file", opts: "log_file=/var/log/tierfs.log", wantFlags: base, logFile: "/var/log/tierfs.log"},
		{name: "quoted log_file", opts: `log_file="/var/log/tier,fs.log"`, wantFlags: base, logFile: "/var/log/tier,fs.log"},
		{name: "log_format", opts: "log_format=json", wantFlags: base, logFormat: "json"},
		{name: "quoted log_format", opts: `log_format="json"`, wantFlags: base, logFormat: "json"},
		{name: "debug", opts: "debug", wantFlags: base, debug: true},
		{name: "transport io_uring, not root", opts: "transport=io_uring", wantErr: "mount option transport: io_uring needs root"},
		{name: "transport dev", opts: "transport=dev", wantFlags: base, transport: tfs.TransportDev},
		// Ignored: they are for mount(8), fstab or systemd.
		{name: "ignored", opts: "defaults,_netdev,nofail,auto,noauto,user,users,nouser,owner,group,x-systemd.requires=nfs.mount,x-gvfs-hide,comment=systemd.automount", wantFlags: base},
		{name: "user mount", opts: "user=alice,noauto", wantFlags: base},
		{name: "fstab line", opts: "defaults,allow_other,default_permissions,_netdev,noatime", wantFlags: base | unix.MS_NOATIME, allowOther: true, defaultPerm: true},
		// Rejected.
		{name: "unknown", opts: "rw,bogus", wantErr: `mount option "bogus" is not supported`},
		{name: "unknown with value", opts: "uid=1000", wantErr: `mount option "uid=1000" is not supported`},
		{name: "writeback cache", opts: "writeback_cache", wantErr: `"writeback_cache" is not supported`},
		{name: "bare fsname", opts: "fsname", wantErr: `"fsname" is not supported`},
		{name: "allow_other alone", opts: "allow_other", wantErr: "allow_other needs default_permissions"},
		{name: "root without perms", opts: "nodefault_permissions", root: true, wantErr: "allow_other needs default_permissions"},
		{name: "relative log_file", opts: "log_file=tierfs.log", wantErr: `log_file="tierfs.log": want an absolute path`},
		{name: "relative quoted log_file", opts: `log_file="tierfs.log"`, wantErr: `log_file="tierfs.log": want an absolute path`},
		{name: "unclosed quote", opts: `fsname="my,fs`, wantErr: `mount options "fsname=\"my,fs": a double quote is not closed`},
		{name: "bare user= is no user", opts: "userx=1", wantErr: `mount option "userx=1" is not supported`},
		{name: "bad log_format", opts: "log_format=xml", wantErr: `"xml" is not a log format`},
		{name: "bad transport", opts: "transport=splice", wantErr: `mount option transport: "splice" is not a transport`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ol optionList
			err := ol.Set(tt.opts)
			var m mountOptions
			if err == nil {
				m, err = parseMountOptions(ol, tt.root)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mo := m.fuse
			if mo.DirectMountFlags != tt.wantFlags {
				t.Errorf("flags = %#x, want %#x", mo.DirectMountFlags, tt.wantFlags)
			}
			if mo.AllowOther != tt.allowOther {
				t.Errorf("AllowOther = %v, want %v", mo.AllowOther, tt.allowOther)
			}
			if got := slices.Contains(mo.Options, "default_permissions"); got != tt.defaultPerm {
				t.Errorf("default_permissions = %v, want %v (Options %q)", got, tt.defaultPerm, mo.Options)
			}
			if len(mo.Options) > 1 || len(mo.Options) == 1 && mo.Options[0] != "default_permissions" {
				t.Errorf("Options passed to the kernel = %q; only default_permissions may be", mo.Options)
			}
			if mo.Debug != tt.debug {
				t.Errorf("Debug = %v, want %v", mo.Debug, tt.debug)
			}
			if m.transport != tt.transport {
				t.Errorf("transport = %q, want %q", m.transport, tt.transport)
			}
			if mo.FsName != tt.fsName || m.logFile != tt.logFile || m.logFormat != tt.logFormat {
				t.Errorf("fsname, log_file, log_format = %q, %q, %q; want %q, %q, %q",
					mo.FsName, m.logFile, m.logFormat, tt.fsName, tt.logFile, tt.logFormat)
			}
		})
	}
}

func TestOptionListSet(t *testing.T) {
	var ol optionList
	ol.Set("rw, noatime,,allow_other")
	ol.Set("default_permissions")
	want := optionList{"rw", "noatime", "allow_other", "default_permissions"}
	if !slices.Equal(ol, want) {
		t.Errorf("optionList = %q, want %q", ol, want)
	}
}

func TestSplitOptions(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"a,b", []string{"a", "b"}, false},
		{`fsname="a,b",ro`, []string{`fsname="a,b"`, "ro"}, false},
		{`a="x,y",b="",c="z"`, []string{`a="x,y"`, `b=""`, `c="z"`}, false},
		{`ro,fsname="a,b`, nil, true},
		{`"`, nil, true},
	}
	for _, tt := range tests {
		got, err := splitOptions(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("splitOptions(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
