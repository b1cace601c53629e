//go:build darwin || freebsd || netbsd

package tally

import "syscall"

// mtimeOf is a stat's modification time in nanoseconds (the BSDs name
// the field Mtimespec).
func mtimeOf(st *syscall.Stat_t) int64 { return st.Mtimespec.Nano() }
