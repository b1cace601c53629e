//go:build windows

package tally

import (
	"errors"
	"io"
	"io/fs"
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

// readBounded reads at most max bytes of path; it returns nil, 0, nil when
// the file does not exist, and the file's size.
func readBounded(path string, max int64) ([]byte, int64, error) {
	f, err := openChecked(path, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	buf, err := readAllInto(io.LimitReader(f, max), nil)
	return buf, fi.Size(), err
}

// appendFile appends data, creating the file 0600.
func appendFile(path string, data []byte) error {
	f, err := openAppend(path)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// lockPath takes an exclusive lock on path, waiting at most wait.
func lockPath(path string, wait time.Duration) (func(), error) {
	f, err := openChecked(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if !lockWait(f, wait) {
		f.Close()
		return nil, errors.New("timed out waiting for the lock " + path)
	}
	return func() { unlock(f); f.Close() }, nil
}
