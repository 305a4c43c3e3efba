package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"60s", time.Minute, true},
		{"1m30s", 90 * time.Second, true},
		{"0", 0, true},
		{"30d", 30 * day, true},
		{"1d12h", day + 12*time.Hour, true},
		{"-2d", -2 * day, true},
		{"-5s", -5 * time.Second, true},
		{"", 0, false},
		{"60", 0, false},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"+1d", 0, false},
		{"1d-1h", 0, false},
		{"1dx", 0, false},
		{"999999999d", 0, false},
		{"2 minutes", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := map[time.Duration]string{
		0:                       "0s",
		60 * time.Second:        "1m",
		10 * time.Second:        "10s",
		36 * time.Hour:          "36h",
		30 * 24 * time.Hour:     "30d",
		1500 * time.Millisecond: "1.5s",
		-48 * time.Hour:         "-2d",
	}
	for d, want := range tests {
		got := FormatDuration(d)
		if got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := ParseDuration(got); err != nil || back != d {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", d, back, err)
		}
	}
}
