package tally

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// smallFileMax bounds every read of a small state or config file.
const smallFileMax = 1 << 20

// ErrNotRegular is returned for a state or config path that is a symbolic
// link, a directory, a FIFO or a device: tally only reads and writes
// regular files it can trust.
var ErrNotRegular = errors.New("not a regular file")

// openChecked opens path without following a final symlink and refuses
// anything that is not a regular file.
func openChecked(path string, flag int, perm fs.FileMode) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	f, err := os.OpenFile(path, flag|noFollowFlags, perm)
	if err != nil {
		if isLoop(err) {
			return nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	return f, nil
}

func readAllInto(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// fileStamp is a cheap fingerprint of a file: its size and mtime (the zero
// stamp: absent or unreadable).
type fileStamp struct {
	size, mtime int64
	exists      bool
}

// readOptional reads a small file, nil when it does not exist.
func readOptional(path string) ([]byte, error) {
	b, _, err := readBounded(path, smallFileMax)
	return b, err
}

// ensurePrivateDir creates dir (and its parents) with mode 0700, or checks
// that an existing one is a real directory.
func ensurePrivateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s: not a directory", dir)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			_ = os.Chmod(dir, 0o700)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.MkdirAll(dir, 0o700)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeAtomic replaces path with data (temp file in the same directory,
// mode 0600, then rename).
func writeAtomic(path string, data []byte, durable bool) error {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	dir, name := filepath.Split(path)
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.%d.%s.tmp", name, os.Getpid(), randomHex(8)))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollowFlags, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// removeIfExists removes a file; a missing one is not an error.
func removeIfExists(path string) (bool, error) {
	err := os.Remove(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}
