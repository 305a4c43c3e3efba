package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The systemd notify protocol (sd_notify(3)) without libsystemd: one
// datagram of newline-separated VAR=VALUE lines to the unix socket named
// by $NOTIFY_SOCKET. A name starting with "@" is in the abstract
// namespace; its leading "@" stands for a NUL byte.

const notifySocketEnv = "NOTIFY_SOCKET"

// notifyMessage formats state lines as one notification. A newline inside
// a value would start a new variable, so it is replaced by a space.
func notifyMessage(vars ...string) []byte {
	for i, v := range vars {
		vars[i] = strings.ReplaceAll(v, "\n", " ")
	}
	return []byte(strings.Join(vars, "\n") + "\n")
}

// notifyAddr turns $NOTIFY_SOCKET into a socket address. Go's syscall
// layer maps the leading "@" of an abstract name to its NUL byte, so the
// name is passed on as systemd spells it.
func notifyAddr(s string) (*net.UnixAddr, error) {
	if s == "" {
		return nil, nil
	}
	if s[0] != '@' && s[0] != '/' {
		return nil, fmt.Errorf("%s=%q: want an absolute path or an @abstract name", notifySocketEnv, s)
	}
	return &net.UnixAddr{Name: s, Net: "unixgram"}, nil
}

// sdNotify sends vars to the service manager, if there is one.
func sdNotify(vars ...string) error {
	addr, err := notifyAddr(os.Getenv(notifySocketEnv))
	if addr == nil || err != nil {
		return err
	}
	c, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return fmt.Errorf("notify %s: %w", addr.Name, err)
	}
	defer c.Close()
	if _, err := c.Write(notifyMessage(vars...)); err != nil {
		return fmt.Errorf("notify %s: %w", addr.Name, err)
	}
	return nil
}

// monotonicUsec is MONOTONIC_USEC= as RELOADING=1 wants it.
func monotonicUsec() string {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("MONOTONIC_USEC=%d", ts.Nano()/int64(time.Microsecond))
}
