package policy

import "fmt"

// Buckets is the number of {hash} buckets: Dovecot's %2.256Nu gives 256.
const Buckets = 256

// Bucket returns the bucket a {hash} capture names (two lowercase hex
// digits, as the glob segment accepts), or -1 for anything else.
func Bucket(hash string) int {
	if len(hash) != 2 || !isLowerHex(hash[0]) || !isLowerHex(hash[1]) {
		return -1
	}
	return hexVal(hash[0])<<4 | hexVal(hash[1])
}

func hexVal(b byte) int {
	if b <= '9' {
		return int(b - '0')
	}
	return int(b-'a') + 10
}

// Member returns which of n members holds bucket b: floor(b*n/256), so
// each member holds one contiguous range of buckets.
func Member(b, n int) int { return b * n / Buckets }

// Spread is one tier or a list of tiers whose {hash} buckets spread over
// the members: nil is no tier (a rule that does not demote).
type Spread []int

// For returns the member for captures c: the one tier, or the member of
// c's bucket; -1 for an empty spread. A list needs a {hash} capture, which
// config and NewPlacement enforce; without one the first member answers.
func (s Spread) For(c Captures) int {
	switch len(s) {
	case 0:
		return -1
	case 1:
		return s[0]
	}
	b := Bucket(c.Hash)
	if b < 0 {
		return s[0]
	}
	return s[Member(b, len(s))]
}

// BucketRange returns the first and last bucket member m of n holds.
func BucketRange(m, n int) (first, last int) {
	first = (m*Buckets + n - 1) / n
	last = ((m+1)*Buckets+n-1)/n - 1
	return first, last
}

// FormatRange spells a bucket range as Dovecot's directories name it.
func FormatRange(first, last int) string {
	return fmt.Sprintf("%02x..%02x", first, last)
}

// HasHash reports whether g captures {hash}.
func (g *Glob) HasHash() bool {
	for _, s := range g.segs {
		if s.kind == segHash {
			return true
		}
	}
	return false
}

// bucketPrefix reports whether g may match path or a path below it
// (below), and the bucket it then captures: "" when that is not known
// at path (no {hash} up to there, or a `**` before it).
func (g *Glob) bucketPrefix(p string) (hash string, below bool) {
	var c Captures
	for i := range g.segs {
		s := &g.segs[i]
		if p == "" || s.kind == segAny {
			return c.Hash, true
		}
		head, rest := splitFirst(p)
		if !s.match(head, &c) {
			return "", false
		}
		p = rest
	}
	return c.Hash, p == ""
}
