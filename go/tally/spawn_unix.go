//go:build !windows

package tally

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
)

func helperExe() (string, error) {
	if runtime.GOOS == "linux" {
		// The running image itself, even if the file was replaced since.
		return "/proc/self/exe", nil
	}
	return os.Executable()
}

// spawnHelper starts the helper in a new session with stdio on /dev/null
// and the locked send.lock as its fd 3 (so the lock is held until the
// helper ends, however it ends).
func spawnHelper(env []string, lock *os.File) (*os.Process, error) {
	exe, err := helperExe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, helperArg)
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{lock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd.Process, nil
}

// inheritedLock is the send lock the starter handed over as fd 3.
func inheritedLock() *os.File {
	f := os.NewFile(3, "send.lock")
	if f == nil {
		return nil
	}
	if _, err := f.Stat(); err != nil {
		return nil
	}
	return f
}

// reap collects the helper if it has ended, without waiting.
func reap(p *os.Process) bool {
	var ws syscall.WaitStatus
	pid, err := syscall.Wait4(p.Pid, &ws, syscall.WNOHANG, nil)
	if pid == p.Pid || err != nil {
		_ = p.Release()
		return true
	}
	return false
}
