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
