package config

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a size in bytes, written in TOML as an integer or as a
// string with a binary unit: "64MiB", "512KiB", "2GiB".
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// ParseByteSize reads "64MiB", "1024" and the like.
func ParseByteSize(orig string) (ByteSize, error) {
	s := strings.TrimSpace(orig)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (want e.g. \"64MiB\", \"512KiB\" or a number of bytes)", orig)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", orig)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalTOML accepts an integer or a string with a unit.
func (b *ByteSize) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("%d is negative", x)
		}
		*b = ByteSize(x)
		return nil
	case string:
		n, err := ParseByteSize(x)
		*b = n
		return err
	}
	return fmt.Errorf("want a size like \"64MiB\" or a number of bytes, got %v", v)
}

// MarshalText writes the size in the largest exact unit.
func (b ByteSize) MarshalText() ([]byte, error) {
	for _, u := range byteUnits {
		if int64(b) >= u.mult && int64(b)%u.mult == 0 {
			return []byte(strconv.FormatInt(int64(b)/u.mult, 10) + u.suffix), nil
		}
	}
	return []byte(strconv.FormatInt(int64(b), 10)), nil
}
