package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

func TestRunHash(t *testing.T) {
	expr := "%{user | md5 | substr(0, 8) % 256 | hex(2)}"
	tests := []struct {
		args    []string
		want    string
		usage   bool // want a usageError
		anyFail bool // want some error (flag parsing)
	}{
		{args: []string{"alice"}, want: "f5\n"},
		{args: []string{"alice", "bob", "user1", "user4", "alice@example.com"}, want: "f5\nca\n7c\n09\nbf\n"},
		{args: []string{"hello", "user@example.com"}, want: "76\n87\n"},
		{args: []string{"--dovecot24", "alice"}, want: "f5  " + expr + "\n"},
		{args: []string{"-dovecot24", "alice", "bob"}, want: "f5  " + expr + "\nca  " + expr + "\n"},
		{args: []string{"--", "-x"}, want: "a9\n"},
		{args: nil, usage: true},
		{args: []string{"--dovecot24"}, usage: true},
		{args: []string{"alice", ""}, usage: true},
		{args: []string{"--nope", "alice"}, anyFail: true},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := runHash(context.Background(), tt.args, &out)
		var ue usageError
		switch {
		case tt.usage:
			if !errors.As(err, &ue) {
				t.Errorf("hash %q: error %v, want a usageError", tt.args, err)
			}
		case tt.anyFail:
			if err == nil || errors.Is(err, flag.ErrHelp) {
				t.Errorf("hash %q: error %v, want a flag error", tt.args, err)
			}
		case err != nil:
			t.Errorf("hash %q: %v", tt.args, err)
		case out.String() != tt.want:
			t.Errorf("hash %q printed %q, want %q", tt.args, out.String(), tt.want)
		}
		if (tt.usage || tt.anyFail) && out.Len() != 0 {
			t.Errorf("hash %q printed %q on error", tt.args, out.String())
		}
	}
}

// TestRunHashMembers: with --config, each user's line names the list
// members holding the user's bucket.
func TestRunHashMembers(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "tierfs.toml")
	text := `
[[tier]]
name = "fast"
path = "/srv/fast"
kind = "local"
[[tier]]
name = "nfs1"
path = "/srv/nfs1"
kind = "nfs"
[[tier]]
name = "nfs2"
path = "/srv/nfs2"
kind = "nfs"
[[tier]]
name = "nfs3"
path = "/srv/nfs3"
kind = "nfs"
[[rule]]
match = "mail/{hash}/{user}/**"
tier = "fast"
demote_to = ["nfs1", "nfs2", "nfs3"]
[[rule]]
match = "**"
tier = "fast"
`
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runHash(context.Background(), []string{"--config", cfg, "user4", "hello", "alice"}, &out); err != nil {
		t.Fatal(err)
	}
	want := "09  rule[1] demote_to=nfs1\n76  rule[1] demote_to=nfs2\nf5  rule[1] demote_to=nfs3\n"
	if out.String() != want {
		t.Errorf("hash --config printed %q, want %q", out.String(), want)
	}
}
