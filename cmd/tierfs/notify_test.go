package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNotifyMessage(t *testing.T) {
	tests := []struct {
		vars []string
		want string
	}{
		{[]string{"READY=1"}, "READY=1\n"},
		{[]string{"READY=1", "STATUS=serving /srv/mail"}, "READY=1\nSTATUS=serving /srv/mail\n"},
		{[]string{"STOPPING=1", "STATUS=line one\nline two"}, "STOPPING=1\nSTATUS=line one line two\n"},
	}
	for _, tt := range tests {
		if got := string(notifyMessage(tt.vars...)); got != tt.want {
			t.Errorf("notifyMessage(%q) = %q, want %q", tt.vars, got, tt.want)
		}
	}
	if m := monotonicUsec(); !strings.HasPrefix(m, "MONOTONIC_USEC=") || len(m) < len("MONOTONIC_USEC=1") {
		t.Errorf("monotonicUsec() = %q", m)
	}
}

func TestNotifyAddr(t *testing.T) {
	if a, err := notifyAddr(""); a != nil || err != nil {
		t.Errorf("empty: %v %v", a, err)
	}
	if _, err := notifyAddr("run/notify"); err == nil {
		t.Error("relative socket accepted")
	}
}

// TestSdNotify sends to a path socket and to an abstract one.
func TestSdNotify(t *testing.T) {
	dir, err := os.MkdirTemp("", "nfy")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{filepath.Join(dir, "notify"), "@tierfs-notify-test-" + filepath.Base(dir)} {
		t.Run(name, func(t *testing.T) {
			c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			t.Setenv(notifySocketEnv, name)
			if err := sdNotify("READY=1", "STATUS=ok"); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4096)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(buf[:n]); got != "READY=1\nSTATUS=ok\n" {
				t.Errorf("received %q", got)
			}
		})
	}
	t.Setenv(notifySocketEnv, "")
	if err := sdNotify("READY=1"); err != nil {
		t.Errorf("without a service manager: %v", err)
	}
}
