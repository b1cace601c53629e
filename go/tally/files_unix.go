//go:build !windows

package tally

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// O_NONBLOCK: opening a FIFO would otherwise wait for a peer forever.
const noFollowFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC

func isLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }

// tryLock takes an exclusive flock on f without waiting.
func tryLock(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// lockWait takes an exclusive flock on f, waiting at most d.
func lockWait(f *os.File, d time.Duration) bool {
	deadline := time.Now().Add(d)
	pause := 50 * time.Microsecond
	for {
		if tryLock(f) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		if pause < 5*time.Millisecond {
			pause *= 2
		}
	}
}

func unlock(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// The hot paths (every command's exit) use raw system calls rather than
// os.File: an os.File sets up the runtime's network poller on first use,
// which a short command pays for in start-up time.

func pathErr(op, path string, err error) error {
	if err == syscall.ELOOP || err == syscall.ENXIO {
		err = ErrNotRegular
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}

// openRaw opens path without following a final symlink and refuses
// anything but a regular file.
func openRaw(path string, flags int, perm uint32) (int, int64, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, flags|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, perm)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return -1, 0, pathErr("open", path, err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return -1, 0, pathErr("stat", path, err)
	}
	if uint32(st.Mode)&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return -1, 0, pathErr("open", path, ErrNotRegular)
	}
	return fd, st.Size, nil
}

// readBounded reads at most max bytes of path; it returns nil, 0, nil when
// the file does not exist, and the file's size so a caller can tell what
// was left unread.
func readBounded(path string, max int64) ([]byte, int64, error) {
	fd, size, err := openRaw(path, syscall.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	defer syscall.Close(fd)
	n := size
	if n > max {
		n = max
	}
	buf := make([]byte, 0, n+1)
	for int64(len(buf)) < max {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		end := cap(buf)
		if int64(end) > max {
			end = int(max)
		}
		r, err := syscall.Read(fd, buf[len(buf):end])
		if err == syscall.EINTR || err == syscall.EAGAIN {
			continue
		}
		if err != nil {
			return buf, size, pathErr("read", path, err)
		}
		if r == 0 {
			break
		}
		buf = buf[:len(buf)+r]
	}
	return buf, size, nil
}

// appendFile appends data with one O_APPEND write, creating the file 0600.
func appendFile(path string, data []byte) error {
	fd, _, err := openRaw(path, syscall.O_WRONLY|syscall.O_APPEND|syscall.O_CREAT, 0o600)
	if err != nil {
		return err
	}
	for len(data) > 0 {
		n, err := syscall.Write(fd, data)
		if err == syscall.EINTR || err == syscall.EAGAIN {
			continue
		}
		if err != nil {
			syscall.Close(fd)
			return pathErr("write", path, err)
		}
		data = data[n:]
	}
	return syscall.Close(fd)
}

// lockPath takes an exclusive flock on the lock file path, waiting at most
// wait; the returned function releases it.
func lockPath(path string, wait time.Duration) (func(), error) {
	fd, _, err := openRaw(path, syscall.O_RDWR|syscall.O_CREAT, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	pause := 50 * time.Microsecond
	for syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			syscall.Close(fd)
			return nil, errors.New("timed out waiting for the lock " + path)
		}
		time.Sleep(pause)
		if pause < 5*time.Millisecond {
			pause *= 2
		}
	}
	return func() { _ = syscall.Flock(fd, syscall.LOCK_UN); syscall.Close(fd) }, nil
}
