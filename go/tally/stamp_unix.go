//go:build !windows && !darwin && !freebsd && !netbsd

package tally

import "syscall"

// mtimeOf is a stat's modification time in nanoseconds.
func mtimeOf(st *syscall.Stat_t) int64 { return st.Mtim.Nano() }
