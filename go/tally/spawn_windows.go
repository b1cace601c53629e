//go:build windows

package tally

import (
	"os"
	"os/exec"
	"syscall"
)

const (
	createNewProcessGroup = 0x00000200
	detachedProcess       = 0x00000008
)

// spawnHelper starts the helper detached. Windows cannot hand over the
// lock: the starter releases it and the helper takes it again.
func spawnHelper(env []string, lock *os.File) (*os.Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, helperArg)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: createNewProcessGroup | detachedProcess}
	unlock(lock)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd.Process, nil
}

func inheritedLock() *os.File { return nil }

func reap(p *os.Process) bool { _ = p.Release(); return true }
