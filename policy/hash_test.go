package policy

import (
	"crypto/md5"
	"fmt"
	"testing"
)

func TestNewHash(t *testing.T) {
	tests := []struct {
		s     string
		width uint64
		pad   int
		want  string
	}{
		// Dovecot's own vectors (src/lib/test-var-expand.c).
		{"value", 50, 0, "25"},
		{"value2", 50, 0, "e"},
		// %2.256Nu vectors from the Dovecot docs and tests.
		{"hello", 256, 2, "76"},
		{"user@example.com", 256, 2, "87"},
		// No width: the low 32 bits of the first 8 bytes, unpadded.
		{"hello", 0, 0, "bc4b2a76"},
		// Padding never truncates.
		{"hello", 0, 2, "bc4b2a76"},
		{"value2", 50, 4, "000e"},
	}
	for _, tt := range tests {
		if got := NewHash(tt.s, tt.width, tt.pad); got != tt.want {
			t.Errorf("NewHash(%q, %d, %d) = %q, want %q", tt.s, tt.width, tt.pad, got, tt.want)
		}
	}
}

func TestUserHash(t *testing.T) {
	// The vectors the CLI contract promises.
	tests := map[string]string{
		"alice":             "f5",
		"bob":               "ca",
		"user1":             "7c",
		"user4":             "09",
		"alice@example.com": "bf",
		"hello":             "76",
		"":                  fmt.Sprintf("%02x", md5.Sum(nil)[7]),
	}
	for user, want := range tests {
		if got := UserHash(user); got != want {
			t.Errorf("UserHash(%q) = %q, want %q", user, got, want)
		}
	}
}

// TestUserHashIsEighthByte checks the shortcut the design relies on:
// because 256 divides 2^64, %2.256Nu is the 8th digest byte.
func TestUserHashIsEighthByte(t *testing.T) {
	for i := range 1000 {
		u := fmt.Sprintf("user%d@example.org", i)
		if got, want := UserHash(u), fmt.Sprintf("%02x", md5.Sum([]byte(u))[7]); got != want {
			t.Fatalf("UserHash(%q) = %q, want %q", u, got, want)
		}
	}
}
