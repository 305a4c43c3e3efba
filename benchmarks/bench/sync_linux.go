package bench

import "syscall"

func syncAll() error {
	syscall.Sync()
	return nil
}
