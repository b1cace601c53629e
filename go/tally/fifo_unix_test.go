//go:build !windows

package tally

import "syscall"

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }
