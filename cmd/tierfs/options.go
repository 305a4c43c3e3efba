package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	tfs "github.com/tierfs/tierfs/fs"
)

// optionList collects -o arguments; each may hold several
// comma-separated options, as mount(8) passes them.
type optionList []string

func (o *optionList) String() string { return strings.Join(*o, ",") }

func (o *optionList) Set(v string) error {
	opts, err := splitOptions(v)
	if err != nil {
		return err
	}
	*o = append(*o, opts...)
	return nil
}

// splitOptions splits an option string at the commas outside double
// quotes: mount(8) keeps a value like fsname="a,b" quoted, commas and
// quotes included, when it passes it on. The quotes stay in the
// options; optionValue removes them.
func splitOptions(v string) ([]string, error) {
	var out []string
	start, quoted := 0, false
	for i := 0; i <= len(v); i++ {
		switch {
		case i < len(v) && v[i] == '"':
			quoted = !quoted
		case i == len(v) || v[i] == ',' && !quoted:
			if s := strings.TrimSpace(v[start:i]); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	if quoted {
		return nil, fmt.Errorf("mount options %q: a double quote is not closed", v)
	}
	return out, nil
}

// optionValue is an option's value as meant: without the double quotes
// mount(8) leaves around a quoted one.
func optionValue(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// mountFlags maps the standard mount(8) options that are flags.
var mountFlags = map[string]struct {
	set, clear uintptr
}{
	"ro":          {unix.MS_RDONLY, 0},
	"rw":          {0, unix.MS_RDONLY},
	"nosuid":      {unix.MS_NOSUID, 0},
	"suid":        {0, unix.MS_NOSUID},
	"nodev":       {unix.MS_NODEV, 0},
	"dev":         {0, unix.MS_NODEV},
	"noexec":      {unix.MS_NOEXEC, 0},
	"exec":        {0, unix.MS_NOEXEC},
	"noatime":     {unix.MS_NOATIME, unix.MS_RELATIME | unix.MS_STRICTATIME},
	"relatime":    {unix.MS_RELATIME, unix.MS_NOATIME | unix.MS_STRICTATIME},
	"strictatime": {unix.MS_STRICTATIME, unix.MS_NOATIME | unix.MS_RELATIME},
	"nodiratime":  {unix.MS_NODIRATIME, 0},
	"diratime":    {0, unix.MS_NODIRATIME},
	"sync":        {unix.MS_SYNCHRONOUS, 0},
	"async":       {0, unix.MS_SYNCHRONOUS},
	"dirsync":     {unix.MS_DIRSYNC, 0},
}

// ignoredOption reports options meant for mount(8), fstab or systemd,
// not for the filesystem.
func ignoredOption(o string) bool {
	switch o {
	case "defaults", "_netdev", "nofail", "auto", "noauto", "user", "users", "nouser", "owner", "group":
		return true
	}
	// mount(8) turns fstab's user into user=NAME (who mounted it) when it
	// runs a helper.
	return strings.HasPrefix(o, "x-") || strings.HasPrefix(o, "comment=") || strings.HasPrefix(o, "user=")
}

// mountOptions are the settings -o carries: the kernel's, and the
// daemon's own (an fstab line can pass nothing else).
type mountOptions struct {
	fuse      fuse.MountOptions
	transport tfs.Transport // transport=
	logFile   string        // log_file=
	logFormat string        // log_format=
}

// parseMountOptions turns -o options into mount settings. As root,
// allow_other and default_permissions are on unless turned off: Dovecot's
// mail processes run as other users, and the kernel must then check
// permissions itself.
func parseMountOptions(opts []string, root bool) (mountOptions, error) {
	var m mountOptions
	mo := &m.fuse
	mo.AllowOther = root
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	defaultPerms := root
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			flags = flags&^f.clear | f.set
			continue
		}
		key, val, hasVal := strings.Cut(o, "=")
		val = optionValue(val)
		switch {
		case ignoredOption(o):
		case o == "allow_other":
			mo.AllowOther = true
		case o == "noallow_other":
			mo.AllowOther = false
		case o == "default_permissions":
			defaultPerms = true
		case o == "nodefault_permissions":
			defaultPerms = false
		case o == "debug":
			// Logs every FUSE request and reply (go-fuse's trace): slow,
			// for finding out what the kernel asks.
			mo.Debug = true
		case hasVal && key == "fsname":
			mo.FsName = val
		case hasVal && key == "transport":
			t, err := tfs.ParseTransport(val)
			if err == nil {
				err = tfs.CheckTransport(t, root)
			}
			if err != nil {
				return m, fmt.Errorf("mount option transport: %w", err)
			}
			m.transport = t
		case hasVal && key == "log_file":
			if !filepath.IsAbs(val) {
				return m, fmt.Errorf("mount option log_file=%q: want an absolute path", val)
			}
			m.logFile = val
		case hasVal && key == "log_format":
			if _, err := parseLogFormat(val); err != nil {
				return m, fmt.Errorf("mount option log_format: %w", err)
			}
			m.logFormat = val
		default:
			return m, fmt.Errorf("mount option %q is not supported (supported: ro, rw, noatime, relatime, strictatime, nodiratime, nosuid, nodev, noexec, sync, dirsync, allow_other, default_permissions, fsname=, transport=, log_file=, log_format=, debug; ignored: defaults, _netdev, nofail, auto, noauto, user, user=, users, x-*, comment=)", o)
		}
	}
	if mo.AllowOther && !defaultPerms {
		return m, fmt.Errorf("mount option allow_other needs default_permissions: without it any local user could read every mailbox")
	}
	if defaultPerms {
		mo.Options = append(mo.Options, "default_permissions")
	}
	if flags == 0 {
		// go-fuse reads 0 as "nosuid,nodev"; the kernel ignores this
		// magic value, so the mount really gets no flags.
		flags = unix.MS_MGC_VAL
	}
	mo.DirectMountFlags = flags
	return m, nil
}
