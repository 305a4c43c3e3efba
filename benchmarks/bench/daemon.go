package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// daemon is a FUSE server the benchmark started as a child process.
type daemon struct {
	name   string
	mnt    string
	cmd    *exec.Cmd
	logf   *os.File
	exited chan struct{}
}

// startDaemon runs argv with stdout and stderr going to logPath and waits
// until mnt shows up in /proc/self/mountinfo with type fstype.
func startDaemon(ctx context.Context, name, logPath, mnt, fstype string, argv []string) (*daemon, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the benchmark dies without cleaning up, the daemon goes too
	// (its mount then fails with ENOTCONN instead of hanging).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, mnt: mnt, cmd: cmd, logf: logf, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(d.exited) }()
	if err := waitMounted(ctx, mnt, fstype, d.exited, 30*time.Second); err != nil {
		stopErr := d.stop()
		return nil, errors.Join(fmt.Errorf("%s: %w%s", name, err, logTail(logPath)), stopErr)
	}
	return d, nil
}

// stop unmounts the daemon's mount point and ends the process: SIGTERM,
// then SIGKILL if it has not exited after ten seconds.
func (d *daemon) stop() error {
	defer d.logf.Close()
	var errs []error
	if fstype, err := mountedAs(d.mnt); err == nil && fstype != "" {
		if err := unmount(d.mnt); err != nil {
			errs = append(errs, err)
		}
	}
	select {
	case <-d.exited:
	default:
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-d.exited
			errs = append(errs, fmt.Errorf("%s did not exit on SIGTERM; killed", d.name))
		}
	}
	return errors.Join(errs...)
}

// logTail returns the last lines of a daemon log for an error message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if lines := strings.Split(s, "\n"); len(lines) > 15 {
		s = strings.Join(lines[len(lines)-15:], "\n")
	}
	return "\n--- " + path + " ---\n" + s
}
