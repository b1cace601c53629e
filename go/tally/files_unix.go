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
// anything but a regular file; it returns the file's size and mtime.
func openRaw(path string, flags int, perm uint32) (int, fileStamp, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, flags|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, perm)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return -1, fileStamp{}, pathErr("open", path, err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return -1, fileStamp{}, pathErr("stat", path, err)
	}
	if uint32(st.Mode)&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return -1, fileStamp{}, pathErr("open", path, ErrNotRegular)
	}
	return fd, fileStamp{size: st.Size, mtime: mtimeOf(&st), exists: true}, nil
}

// statStamp is the size and mtime of path, following links.
func statStamp(path string) fileStamp {
	var st syscall.Stat_t
	for {
		err := syscall.Stat(path, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fileStamp{}
		}
		return fileStamp{size: st.Size, mtime: mtimeOf(&st), exists: true}
	}
}

// readBounded reads at most max bytes of path; it returns nil, a zero
// stamp and no error when the file does not exist, and the file's stamp
// (its size tells a caller what was left unread).
func readBounded(path string, max int64) ([]byte, fileStamp, error) {
	fd, st, err := openRaw(path, syscall.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fileStamp{}, nil
		}
		return nil, fileStamp{}, err
	}
	defer syscall.Close(fd)
	buf, err := readFd(fd, path, st.size, max)
	return buf, st, err
}

// readFd reads at most max bytes from fd, whose size was size when it was
// opened.
func readFd(fd int, path string, size, max int64) ([]byte, error) {
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
			return buf, pathErr("read", path, err)
		}
		if r == 0 {
			break
		}
		buf = buf[:len(buf)+r]
		if int64(len(buf)) == size && len(buf) < cap(buf) {
			// All fstat counted, and the read came back short of the
			// room it had: the end, without a read that returns 0.
			break
		}
	}
	return buf, nil
}

// appendFile appends data with one O_APPEND write, creating the file 0600.
func appendFile(path string, data []byte) error {
	_, _, err := appendCapped(path, data, -1, 0)
	return err
}

// appendCapped appends data with one O_APPEND write, creating the file
// 0600, unless the file and data together would pass limit (limit < 0: no
// limit): then it writes nothing and returns full. With head > 0 it reads
// the file's first head bytes afterwards through the same descriptor, so
// a caller deciding on the spool's head needs no second open.
func appendCapped(path string, data []byte, limit int64, head int) (full bool, first []byte, err error) {
	fd, st, err := openRaw(path, syscall.O_RDWR|syscall.O_APPEND|syscall.O_CREAT, 0o600)
	if err != nil {
		return false, nil, err
	}
	if limit >= 0 && st.size+int64(len(data)) > limit {
		syscall.Close(fd)
		return true, nil, nil
	}
	for len(data) > 0 {
		n, err := syscall.Write(fd, data)
		if err == syscall.EINTR || err == syscall.EAGAIN {
			continue
		}
		if err != nil {
			syscall.Close(fd)
			return false, nil, pathErr("write", path, err)
		}
		data = data[n:]
	}
	if head > 0 {
		b := make([]byte, head)
		for {
			n, rerr := syscall.Pread(fd, b, 0)
			if rerr == syscall.EINTR || rerr == syscall.EAGAIN {
				continue
			}
			if rerr == nil {
				first = b[:n]
			}
			break
		}
	}
	return false, first, syscall.Close(fd)
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
