package dovecotfuzz

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tierfs/tierfs/test/integration/dovecot/dovecottest"
)

// publicPrefix is dovecottest.PublicNamespace's prefix: its folders
// are "Public/<name>", the same for every user.
const publicPrefix = "Public"

// publicNS is the public maildir namespace a cluster run adds to both
// sides, as an operator adds one to a cluster: its folders are shared
// names of the tierfs cluster (no lease; both hosts serve them), written
// by alice and bob from whichever host serves each.
type publicNS struct {
	// sharedIndex keeps the folders' index in the folders themselves,
	// written by both hosts, with dotlocks; otherwise each user has an
	// index of them beneath the user's own (leased) index directory, as
	// `tierfs dovecot-config` advises.
	sharedIndex bool
	// nfsIndex sets mail_nfs_index, as that advice does too; Dovecot
	// allows it only with mmap_disable.
	nfsIndex bool
}

// newPublic returns the namespace of a cluster seed run with
// mmapDisable, and the mmap_disable the run needs then. Seeds 0 to 11
// run each format and mmap_disable with either index.
func newPublic(seed uint64, mmapDisable bool) (*publicNS, bool) {
	p := &publicNS{sharedIndex: (seed+seed/6)%2 == 1}
	mmapDisable = mmapDisable || p.sharedIndex
	p.nfsIndex = mmapDisable
	return p, mmapDisable
}

func (p *publicNS) String() string {
	if p.sharedIndex {
		return "public=shared-index"
	}
	return "public=index-per-user"
}

// config is the Dovecot configuration of the namespace under a mount's
// root, with the settings Dovecot's NFS guide gives for mail several
// hosts change. It goes last in dovecot.conf, so it wins over the
// seed's.
func (p *publicNS) config(root string) string {
	location := fmt.Sprintf("maildir:%s/public:INDEX=%s/index/%%2.256Nu/%%u/public", root, root)
	extra := ""
	if p.sharedIndex {
		location = "maildir:" + root + "/public"
		// fcntl and flock locks are each host's own.
		extra = "lock_method = dotlock\n"
	}
	if p.nfsIndex {
		extra += "mail_nfs_index = yes\n"
	}
	return dovecottest.PublicNamespace(location) + "mail_nfs_storage = yes\nmail_fsync = always\n" + extra
}

// mailSettings adapts the mount's mail settings to the namespace:
// dotlocks need a mail_location without VOLATILEDIR.
func (p *publicNS) mailSettings(settings string) string {
	if !p.sharedIndex {
		return settings
	}
	return dovecottest.WithoutVolatileDir(settings)
}

// prepare makes the namespace's root directory, owned by the mail user,
// as an operator does once (in a cluster, through one host's mount).
func (p *publicNS) prepare(h *host) error {
	dir := filepath.Join(h.store.Root, "public")
	if err := os.Mkdir(dir, 0o750); err != nil && !os.IsExist(err) {
		return err
	}
	owner := h.srv.Account
	return os.Chown(dir, owner.UID, owner.GID)
}

// isPublic reports whether box is a folder of the public namespace.
func isPublic(box string) bool { return strings.HasPrefix(box, publicPrefix+"/") }

// hostSettle is how long after a host's last command another host's
// command waits: a shared name's change shows on another host within
// the cluster's shared_timeout (1 s, its default), as on NFS with
// actimeo=1, and Dovecot expects no more of NFS. The margin covers the
// kernel's tick.
const hostSettle = time.Second + 100*time.Millisecond
