package policy

import (
	"crypto/md5"
	"encoding/binary"
	"strconv"
	"strings"
)

// Dovecot24HashExpr is the Dovecot 2.4 expression that gives the same
// directory as 2.3's %2.256Nu. The substr(0, 8) matters: without it 2.4
// reduces the last digest bytes, which is a different directory.
const Dovecot24HashExpr = "%{user | md5 | substr(0, 8) % 256 | hex(2)}"

// NewHash computes Dovecot 2.3's %N ("new hash") modifier as written by
// %<pad>.<width>Nx: the MD5 digest of s, its first 8 bytes read as a
// big-endian uint64, reduced modulo width (when width > 0) before the
// result is cut to an unsigned 32-bit int, printed in lowercase hex and
// left-padded with '0' to at least pad digits. Dovecot pads but never
// truncates, and so does NewHash.
func NewHash(s string, width uint64, pad int) string {
	d := md5.Sum([]byte(s))
	v := binary.BigEndian.Uint64(d[:8])
	if width != 0 {
		v %= width
	}
	h := strconv.FormatUint(uint64(uint32(v)), 16)
	if len(h) < pad {
		h = strings.Repeat("0", pad-len(h)) + h
	}
	return h
}

// UserHash is the directory Dovecot's %2.256Nu gives for user: two
// lowercase hex digits, in effect the 8th byte of md5(user).
func UserHash(user string) string {
	return NewHash(user, 256, 2)
}
