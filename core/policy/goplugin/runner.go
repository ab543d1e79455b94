package goplugin

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"

	"github.com/hashicorp/go-plugin/runner"
)

// procRunner runs a plugin's process for go-plugin (its runner.Runner), so that the
// host knows at once when the process exits and can kill it, and what it started, at
// once and for sure:
//
//   - the process leads a process group of its own, and dies with the gateway
//     (Linux: the parent-death signal) — see sysProcAttr;
//   - Kill sends SIGKILL to the whole group, without go-plugin's graceful wait;
//   - when the process exits, whatever it left in its group is killed too (Linux: the
//     exit is seen before the process is reaped, while its pid cannot be reused);
//   - exited is closed when the process exits, reaped when go-plugin has read all of
//     its output and reaped it.
type procRunner struct {
	cmd    *exec.Cmd
	name   string
	stdout io.ReadCloser
	stderr io.ReadCloser

	mu      sync.Mutex
	pid     int
	dead    bool // exited: signal nothing any more
	exited  chan struct{}
	reaped  chan struct{}
	waitErr error // the exit status, once reaped
}

// newRunner prepares the process of binary name: the executable at exe (see
// execPath), with environment env.
func newRunner(name, exe, argv0 string, env []string) (*procRunner, error) {
	cmd := exec.Command(exe)
	cmd.Args = []string{argv0}
	cmd.Env = env
	cmd.SysProcAttr = sysProcAttr()
	r := &procRunner{cmd: cmd, name: name, exited: make(chan struct{}), reaped: make(chan struct{})}
	var err error
	if r.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if r.stderr, err = cmd.StderrPipe(); err != nil {
		return nil, err
	}
	return r, nil
}

// Start starts the process and the goroutine that sees it exit.
func (r *procRunner) Start(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return os.ErrProcessDone // killed before it started (Close during a restart)
	}
	if err := r.cmd.Start(); err != nil {
		r.dead = true
		close(r.exited)
		close(r.reaped)
		return err
	}
	r.pid = r.cmd.Process.Pid
	if waitsWithoutReaping {
		go r.watch()
	}
	return nil
}

// watch waits for the process to exit, kills what it left in its group and closes
// exited.
func (r *procRunner) watch() {
	waitExit(r.pid)
	r.mu.Lock()
	killGroup(r.pid)
	r.dead = true
	r.mu.Unlock()
	close(r.exited)
}

// Wait reaps the process, once go-plugin has drained its output.
func (r *procRunner) Wait(context.Context) error {
	if waitsWithoutReaping {
		<-r.exited
	}
	err := r.cmd.Wait()
	if !waitsWithoutReaping {
		r.mu.Lock()
		r.dead = true
		r.mu.Unlock()
		close(r.exited)
	}
	r.waitErr = err
	close(r.reaped)
	return err
}

// Kill sends SIGKILL to the process's group; a no-op once the process exited or
// before it started (it then never starts).
func (r *procRunner) Kill(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dead {
		return nil
	}
	if r.pid == 0 {
		r.dead = true
		return nil
	}
	killGroup(r.pid)
	return nil
}

// exitStatus is the process's exit status once reaped.
func (r *procRunner) exitStatus() string {
	select {
	case <-r.reaped:
	default:
		return "running"
	}
	if r.waitErr != nil {
		return r.waitErr.Error()
	}
	return "exit status 0"
}

func (r *procRunner) Stdout() io.ReadCloser { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser { return r.stderr }
func (r *procRunner) Name() string          { return r.name }
func (r *procRunner) Diagnose(context.Context) string {
	return "the binary may not be a wagate policy plugin built with sdk/goplugin, or not for this platform"
}

// ID is the process id.
func (r *procRunner) ID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pid == 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

func (r *procRunner) PluginToHost(n, a string) (string, string, error) { return n, a, nil }
func (r *procRunner) HostToPlugin(n, a string) (string, string, error) { return n, a, nil }

var _ runner.Runner = (*procRunner)(nil)
