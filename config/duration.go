package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in TOML as a string such as "60s",
// "1m30s" or "30d". The unit d (24h) is accepted because aging rules are
// naturally written in days.
type Duration struct{ time.Duration }

const maxDays = int64(1<<63-1) / int64(24*time.Hour)

// ParseDuration parses what time.ParseDuration accepts, optionally preceded
// by a whole number of days: "30d", "1d12h", "-2d".
func ParseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf(`%q is not a duration (want a number with a unit (s, m, h, d), e.g. "60s" or "30d")`, s)
	i := strings.IndexByte(s, 'd')
	if i < 0 {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad
		}
		return d, nil
	}
	num, rest := s[:i], s[i+1:]
	neg := strings.HasPrefix(num, "-")
	num = strings.TrimPrefix(num, "-")
	days, err := strconv.ParseInt(num, 10, 64)
	if err != nil || days > maxDays || strings.HasPrefix(num, "+") {
		return 0, bad
	}
	d := time.Duration(days) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 || d+r < d {
			return 0, bad
		}
		d += r
	}
	if neg {
		d = -d
	}
	return d, nil
}

// FormatDuration writes d in the largest whole unit (d, h, m, s) that
// represents it exactly, else as time.Duration.String does.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.name
		}
	}
	return d.String()
}

// UnmarshalTOML accepts only strings, so `entry_timeout = 60` is refused
// instead of silently meaning 60 nanoseconds.
func (d *Duration) UnmarshalTOML(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf(`duration must be a quoted string with a unit, e.g. "60s", not %v`, v)
	}
	return d.UnmarshalText([]byte(s))
}

// UnmarshalText parses a duration with ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration with FormatDuration.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(FormatDuration(d.Duration)), nil
}

// String returns the duration as the config file would write it.
func (d Duration) String() string { return FormatDuration(d.Duration) }

var errNegative = errors.New("is negative")
