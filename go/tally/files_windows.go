//go:build windows

package tally

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

const noFollowFlags = 0

func isLoop(error) bool { return false }

var (
	kernel32       = syscall.NewLazyDLL("kernel32.dll")
	procLockFileEx = kernel32.NewProc("LockFileEx")
	procUnlockFile = kernel32.NewProc("UnlockFileEx")
)

const (
	lockfileExclusiveLock   = 2
	lockfileFailImmediately = 1
)

func tryLock(f *os.File) bool {
	var ol syscall.Overlapped
	r, _, _ := procLockFileEx.Call(f.Fd(), lockfileExclusiveLock|lockfileFailImmediately, 0, 1, 0, uintptr(unsafe.Pointer(&ol)))
	return r != 0
}

func lockWait(f *os.File, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if tryLock(f) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

func unlock(f *os.File) {
	var ol syscall.Overlapped
	_, _, _ = procUnlockFile.Call(f.Fd(), 0, 1, 0, uintptr(unsafe.Pointer(&ol)))
}
