package tiers

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// btrfsIocFsInfo is BTRFS_IOC_FS_INFO, _IOR(0x94, 31, struct
// btrfs_ioctl_fs_info_args) in linux/btrfs.h: golang.org/x/sys/unix
// does not define it. The _IOR encoding is the generic one, used by
// amd64 and arm64 alike.
const btrfsIocFsInfo = 0x8400941f

// btrfsFsInfo is struct btrfs_ioctl_fs_info_args (1024 bytes); only
// Fsid is read.
type btrfsFsInfo struct {
	MaxID        uint64
	NumDevices   uint64
	Fsid         [16]byte
	Nodesize     uint32
	Sectorsize   uint32
	CloneAlign   uint32
	CsumType     uint16
	CsumSize     uint16
	Flags        uint64
	Generation   uint64
	MetadataUUID [16]byte
	Reserved     [944]byte
}

// btrfsUUID returns the UUID of the btrfs filesystem holding the tier
// root, or ok false when the root is not on btrfs. Subvolumes of one
// btrfs filesystem show different st_dev and f_fsid but share it.
func btrfsUUID(root int) (uuid [16]byte, ok bool, err error) {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(root, &sfs); err != nil {
		return uuid, false, fmt.Errorf("statfs: %w", err)
	}
	if sfs.Type != unix.BTRFS_SUPER_MAGIC {
		return uuid, false, nil
	}
	// The root is an O_PATH descriptor, which ioctl refuses.
	fd, err := unix.Openat(root, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return uuid, false, fmt.Errorf("open root for BTRFS_IOC_FS_INFO: %w", err)
	}
	defer unix.Close(fd)
	var info btrfsFsInfo
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), btrfsIocFsInfo, uintptr(unsafe.Pointer(&info))); e != 0 {
		return uuid, false, fmt.Errorf("BTRFS_IOC_FS_INFO: %w", e)
	}
	return info.Fsid, true, nil
}
