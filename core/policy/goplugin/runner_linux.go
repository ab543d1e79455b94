package goplugin

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysProcAttr puts the plugin in a process group of its own (so that Kill reaches what
// it starts) and has the kernel kill it if the gateway dies without closing it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// waitsWithoutReaping: Linux's waitid(WNOWAIT) sees the exit before the reaping.
const waitsWithoutReaping = true

// waitExit returns when process pid exits, without reaping it: until it is reaped its
// pid, which is also its group's id, cannot be given to another process.
func waitExit(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// execPath returns the path that executes the very file f was opened on (the one whose
// checksum was verified), so that replacing the file between the check and the start
// cannot swap the binary: /proc/self/fd/N, resolved by the kernel in the new process
// (f is inherited across fork and closed at exec), when /proc is mounted.
func execPath(f *os.File, path string) string {
	p := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	if _, err := os.Stat(p); err != nil {
		return path
	}
	return p
}
