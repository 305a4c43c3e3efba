package main

import (
	"slices"
	"strings"
	"testing"
)

// FuzzMountOptions feeds -o strings, as mount(8) passes an fstab line's
// options, to the option parser. It must not panic, must name the
// option in every refusal, and splitting what it split and joined
// again must give the same options (mount(8) hands a helper the
// options it was given, joined with commas).
//
// go test runs the seeds; `go test -fuzz FuzzMountOptions ./cmd/tierfs`
// explores.
func FuzzMountOptions(f *testing.F) {
	for _, s := range []string{
		"defaults,_netdev,nofail,x-systemd.requires=network-online.target",
		"rw,noatime,allow_other,default_permissions,fsname=tierfs",
		`fsname="mail,store",log_file=/var/log/tierfs.log,log_format=json`,
		"transport=io_uring,debug",
		"noallow_other,nodefault_permissions,ro,nosuid,suid,dev,exec",
		"allow_other,nodefault_permissions",
		`fsname="unclosed`,
		"user=mail,comment=tierfs,users",
		"log_file=relative",
		"bogus=1",
		" , ,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		opts, err := splitOptions(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "mount options ") {
				t.Fatalf("splitOptions(%q) = %q: does not name the options", s, err)
			}
			return
		}
		again, err := splitOptions(strings.Join(opts, ","))
		if err != nil || !slices.Equal(again, opts) {
			t.Fatalf("splitOptions(%q) = %q; of them joined: %q, %v", s, opts, again, err)
		}
		for _, o := range opts {
			if o == "" || strings.TrimSpace(o) != o {
				t.Fatalf("splitOptions(%q) gave option %q", s, o)
			}
		}
		for _, root := range []bool{false, true} {
			m, err := parseMountOptions(opts, root)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "mount option") {
					t.Fatalf("parseMountOptions(%q) = %q: does not name the option", opts, err)
				}
				continue
			}
			if m.fuse.AllowOther && !slices.Contains(m.fuse.Options, "default_permissions") {
				t.Fatalf("parseMountOptions(%q, root=%v) allows others without default_permissions", opts, root)
			}
			if m.fuse.DirectMountFlags == 0 {
				t.Fatalf("parseMountOptions(%q) left DirectMountFlags 0 (go-fuse reads it as nosuid,nodev)", opts)
			}
		}
	})
}
