package cluster

import (
	"errors"
	"fmt"
	"strings"
)

// Dir is the directory at the lease tier's root that holds the
// protocol's files. The ".tierfs" prefix keeps it out of the mount.
const Dir = ".tierfs-cluster"

const (
	hostsDir  = Dir + "/hosts"
	leasesDir = Dir + "/leases"
	locksDir  = Dir + "/locks"
	tmpDir    = Dir + "/tmp"
	breaksDir = Dir + "/breaks"
)

// noHash names the lease directory of users whose glob has no {hash}.
const noHash = "_"

// Name bounds: a user or hash is one file name (NAME_MAX); a host name
// is what config accepts.
const (
	maxName = 255
	maxHost = 64
)

// ErrBadName is wrapped by the error for a host, hash or user that
// cannot name a file beneath the lease directory.
var ErrBadName = errors.New("not usable as a lease file name")

// checkName refuses what is not exactly one file name: it never becomes
// a path outside the lease directory.
func checkName(kind, s string) error {
	switch {
	case s == "", len(s) > maxName, s == ".", s == "..", strings.ContainsAny(s, "/\x00"):
		return fmt.Errorf("cluster: %s %q: %w", kind, s, ErrBadName)
	}
	return nil
}

// checkHost accepts what config accepts for cluster.host: letters,
// digits, '-', '_' and '.', at most 64. A host name is also a field of
// the space-separated heartbeat and lease lines.
func checkHost(s string) error {
	if err := checkName("host", s); err != nil {
		return err
	}
	if len(s) > maxHost || strings.IndexFunc(s, badHostRune) >= 0 {
		return fmt.Errorf("cluster: host %q: %w (use at most %d letters, digits, '-', '_' and '.')", s, ErrBadName, maxHost)
	}
	return nil
}

func badHostRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
}

// key names one user's lease and dotlock.
type key struct {
	hash, user string
}

// newKey validates hash and user; an empty hash is noHash.
func newKey(hash, user string) (key, error) {
	if hash == "" {
		hash = noHash
	}
	if err := checkName("hash", hash); err != nil {
		return key{}, err
	}
	if err := checkName("user", user); err != nil {
		return key{}, err
	}
	return key{hash, user}, nil
}

func (k key) lease() string    { return leasesDir + "/" + k.hash + "/" + k.user }
func (k key) lock() string     { return locksDir + "/" + k.hash + "/" + k.user }
func (k key) String() string   { return k.hash + "/" + k.user }
func hostFile(h string) string { return hostsDir + "/" + h }
