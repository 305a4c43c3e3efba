package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tierfs/tierfs/tiers"
)

// Reserve is an amount of free space on a tier, written in TOML as a size
// ("20GiB", a number of bytes) or as a percentage of the tier's capacity
// ("5%"). The zero Reserve is no reserve; tiers.Reserve is the same
// amount as a tier applies it.
type Reserve struct {
	Bytes   int64   // when Percent is 0
	Percent float64 // of the filesystem's capacity, 0 < Percent < 100
}

// ParseReserve reads "5%", "20GiB" or "1024".
func ParseReserve(orig string) (Reserve, error) {
	s := strings.TrimSpace(orig)
	if num, ok := strings.CutSuffix(s, "%"); ok {
		p, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || p != p || p < 0 || p >= 100 {
			return Reserve{}, fmt.Errorf("%q is not a percentage (want e.g. \"5%%\", from 0 to below 100)", orig)
		}
		return Reserve{Percent: p}, nil
	}
	n, err := ParseByteSize(s)
	if err != nil {
		return Reserve{}, fmt.Errorf("%q is not a size or a percentage (want e.g. \"5%%\", \"20GiB\" or a number of bytes)", orig)
	}
	return Reserve{Bytes: int64(n)}, nil
}

// IsZero reports whether r reserves nothing.
func (r Reserve) IsZero() bool { return r.Bytes == 0 && r.Percent == 0 }

// String writes r as ParseReserve reads it.
func (r Reserve) String() string {
	if r.Percent > 0 {
		return strconv.FormatFloat(r.Percent, 'f', -1, 64) + "%"
	}
	b, _ := ByteSize(r.Bytes).MarshalText()
	return string(b)
}

// UnmarshalTOML accepts an integer number of bytes or a string.
func (r *Reserve) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("%d is negative", x)
		}
		*r = Reserve{Bytes: x}
		return nil
	case string:
		n, err := ParseReserve(x)
		*r = n
		return err
	}
	return fmt.Errorf("want a size like \"20GiB\" or a percentage like \"5%%\", got %v", v)
}

// MarshalText writes r as a string.
func (r Reserve) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// validateSpace checks min_free and target_free and fills in the default
// target_free, twice min_free. The two can only be compared here when
// they share a unit; Check compares them on the tier's capacity.
func (t *Tier) validateSpace(f string, fail failFunc) {
	lo, hi := t.MinFree, t.TargetFree
	if hi.IsZero() && !lo.IsZero() {
		t.TargetFree = Reserve{Bytes: 2 * lo.Bytes, Percent: 2 * lo.Percent}
		if t.TargetFree.Percent >= 100 {
			fail(f+".min_free", "%q leaves no room for the default target_free (twice min_free); set target_free", lo)
		}
		return
	}
	switch {
	case hi.IsZero():
	case lo.Percent > 0 && hi.Percent > 0 && hi.Percent < lo.Percent,
		lo.Percent == 0 && hi.Percent == 0 && hi.Bytes < lo.Bytes:
		fail(f+".target_free", "%q is below min_free (%q)", hi, lo)
	}
}

// checkSpace compares min_free and target_free on a tier of capacity
// bytes, for the cases validateSpace could not.
func (t *Tier) checkSpace(capacity uint64) error {
	if tiers.Reserve(t.TargetFree).Of(capacity) < tiers.Reserve(t.MinFree).Of(capacity) {
		return fmt.Errorf("%q is below min_free (%q) on a tier of %d bytes", t.TargetFree, t.MinFree, capacity)
	}
	return nil
}
