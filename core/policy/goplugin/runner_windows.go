package goplugin

import (
	"os"
	"syscall"
)

// createNewProcessGroup is Windows' CREATE_NEW_PROCESS_GROUP: the plugin does not get
// the console's Ctrl-C meant for the gateway.
const createNewProcessGroup = 0x00000200

// sysProcAttr starts the plugin in a process group of its own. (Windows has no
// parent-death signal: a plugin outlives a gateway that dies without closing it.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: createNewProcessGroup}
}

// waitsWithoutReaping is false: exit is seen when go-plugin waits for the process
// (procRunner.Wait).
const waitsWithoutReaping = false

func waitExit(int) {}

// killGroup kills the plugin process; Windows has no signal for a whole group, so
// processes the plugin started itself are not reached.
func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

// execPath is the binary's path: the file is checked, then executed by path.
func execPath(_ *os.File, path string) string { return path }
