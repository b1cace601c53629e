//go:build windows

package tally

import (
	"os"
	"syscall"
)

const (
	createNewProcessGroup = 0x00000200
	detachedProcess       = 0x00000008
)

// spawnHelper starts the helper detached. Windows cannot hand over the
// lock: the starter releases it and the helper takes it again.
func spawnHelper(env []string, lock *os.File) (helperProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// os.StartProcess rather than os/exec (about 40 KB less in every
	// host), with stdio on NUL as exec.Cmd would set it up.
	in, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	out, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	unlock(lock)
	return os.StartProcess(exe, []string{exe, helperArg}, &os.ProcAttr{
		Env:   env,
		Files: []*os.File{in, out, out},
		Sys:   &syscall.SysProcAttr{CreationFlags: createNewProcessGroup | detachedProcess},
	})
}

func inheritedLock() *os.File { return nil }

// helperProc is a started helper.
type helperProc = *os.Process

var noHelper helperProc

func reap(p helperProc) bool { _ = p.Release(); return true }
