//go:build !windows

package tally

import (
	"os"
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
// helper ends, however it ends). It calls syscall.ForkExec itself rather
// than going through os/exec, which would add about 40 KB to every host.
func spawnHelper(env []string, lock *os.File) (helperProc, error) {
	exe, err := helperExe()
	if err != nil {
		return noHelper, err
	}
	null, err := syscall.Open(os.DevNull, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return noHelper, &os.PathError{Op: "open", Path: os.DevNull, Err: err}
	}
	defer syscall.Close(null)
	pid, err := syscall.ForkExec(exe, []string{exe, helperArg}, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{uintptr(null), uintptr(null), uintptr(null), lock.Fd()},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return noHelper, &os.PathError{Op: "fork/exec", Path: exe, Err: err}
	}
	return helperProc(pid), nil
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

// helperProc is a started helper: its pid. Not an *os.Process, whose
// methods (kept whole in a host that links text/template, as cobra does)
// would add about 7 KB to every host.
type helperProc int

const noHelper helperProc = 0

// reap collects the helper if it has ended, without waiting.
func reap(p helperProc) bool {
	pid, err := syscall.Wait4(int(p), nil, syscall.WNOHANG, nil)
	return pid == int(p) || err != nil
}
