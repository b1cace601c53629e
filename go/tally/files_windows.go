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

// readBounded reads at most max bytes of path; it returns nil, a zero
// stamp and no error when the file does not exist, and the file's stamp.
func readBounded(path string, max int64) ([]byte, fileStamp, error) {
	f, err := openChecked(path, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fileStamp{}, nil
		}
		return nil, fileStamp{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, err
	}
	buf, err := readAllInto(io.LimitReader(f, max), nil)
	return buf, stampOf(fi), err
}

// statStamp is the size and mtime of path, following links.
func statStamp(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return stampOf(fi)
}

func stampOf(fi fs.FileInfo) fileStamp {
	return fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano(), exists: true}
}

// appendFile appends data, creating the file 0600.
func appendFile(path string, data []byte) error {
	_, _, err := appendCapped(path, data, -1, 0)
	return err
}

// appendCapped appends data, creating the file 0600, unless the file and
// data together would pass limit (limit < 0: no limit): then it writes
// nothing and returns full. With head > 0 it reads the file's first head
// bytes afterwards through the same handle.
func appendCapped(path string, data []byte, limit int64, head int) (full bool, first []byte, err error) {
	f, err := openChecked(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return false, nil, err
	}
	if limit >= 0 {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return false, nil, err
		}
		if fi.Size()+int64(len(data)) > limit {
			f.Close()
			return true, nil, nil
		}
	}
	_, err = f.Write(data)
	if err == nil && head > 0 {
		b := make([]byte, head)
		if n, rerr := f.ReadAt(b, 0); rerr == nil || rerr == io.EOF {
			first = b[:n]
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return false, first, err
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
