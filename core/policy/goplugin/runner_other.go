//go:build unix && !linux

package goplugin

import (
	"os"
	"syscall"
)

// sysProcAttr puts the plugin in a process group of its own, so that Kill reaches what
// it starts. (Without Linux's parent-death signal, a plugin outlives a gateway that
// dies without closing it.)
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// waitsWithoutReaping is false: other systems have no portable wait that leaves the
// process unreaped, so exit is seen when go-plugin reaps it (procRunner.Wait), and what
// the plugin left in its group is not killed then.
const waitsWithoutReaping = false

func waitExit(int) {}

func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// execPath is the binary's path: the file is checked, then executed by path.
func execPath(_ *os.File, path string) string { return path }
