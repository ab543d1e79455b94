package goplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"

	"github.com/wagate/wagate/core/policy"
	sdk "github.com/wagate/wagate/sdk/goplugin"
	"github.com/wagate/wagate/sdk/goplugin/policypb"
)

// proc is one running process of a plugin: go-plugin's client of it, its runner and
// its policy service.
type proc struct {
	client  *plugin.Client
	rpc     policypb.PolicyClient
	tail    *tail
	closeFn func() // instead of client, for an attached service

	mu     sync.Mutex
	runner *procRunner // set once go-plugin made it

	timeouts atomic.Int32 // calls in a row that timed out
	why      atomic.Value // error: why the host killed it, if it did
	killOnce sync.Once
}

// procEvent is a lifecycle event, seen by Runtime.trace in tests.
type procEvent struct {
	Kind  string // "started", "lost", "restart-failed", "exited"
	PID   int
	Err   error
	Delay time.Duration // lost, restart-failed: the wait before the next start
	At    time.Time
}

func (pr *proc) setRunner(r *procRunner) {
	pr.mu.Lock()
	pr.runner = r
	pr.mu.Unlock()
}

func (pr *proc) getRunner() *procRunner {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.runner
}

// pid is the process id, 0 before it started.
func (pr *proc) pid() int {
	r := pr.getRunner()
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pid
}

// kill kills the process group at once, then lets go-plugin clean up (its connection,
// socket directory and goroutines) and reap the process. It returns once the process is
// reaped; concurrent calls wait for the first.
func (pr *proc) kill(why error) {
	if why != nil {
		pr.why.CompareAndSwap(nil, why)
	}
	pr.killOnce.Do(func() {
		if r := pr.getRunner(); r != nil {
			_ = r.Kill(context.Background())
		}
		if pr.client != nil {
			pr.client.Kill()
		}
		if pr.closeFn != nil {
			pr.closeFn()
		}
	})
}

// exited reports whether the process exited (or was killed).
func (pr *proc) exited() bool {
	r := pr.getRunner()
	if r == nil {
		return false
	}
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

// killedBy is why the host killed the process; nil if it exited on its own.
func (pr *proc) killedBy() error {
	err, _ := pr.why.Load().(error)
	return err
}

// start starts a process of b: checksum, handshake, dial. logs receives the plugin's
// lines. onRunner, when set, is told of the process before it starts and may refuse it
// (the plugin was closed meanwhile). On error, whatever was started is killed.
func (r *Runtime) start(b *binary, pluginLog *slog.Logger, onRunner func(*procRunner) error) (*proc, error) {
	f, err := b.open()
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	pr := &proc{tail: newTail(r.o.StderrTail)}
	hl := newHCLogger(r.o.Logger.With("binary", b.Name), pluginLog, b.Name, &lineLimiter{max: r.o.LogLines})
	hl.debugOnly = true
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          plugin.PluginSet{sdk.PluginName: &sdk.GRPCPlugin{}},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		RunnerFunc: func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
			// spec carries go-plugin's environment (magic cookie, protocol versions,
			// socket directory); the operator's comes first, go-plugin's wins.
			env := append(append([]string(nil), b.Env...), spec.Env...)
			rn, err := newRunner(b.Name, execPath(f, b.Path), b.Path, env)
			if err != nil {
				return nil, err
			}
			if onRunner != nil {
				if err := onRunner(rn); err != nil {
					return nil, err
				}
			}
			pr.setRunner(rn)
			return rn, nil
		},
		StartTimeout:        r.o.StartTimeout,
		Logger:              hl,
		Stderr:              pr.tail,
		SyncStdout:          streamLogger(hl.pl, pr.tail, "stdout"),
		SyncStderr:          streamLogger(hl.pl, pr.tail, "stderr"),
		SkipHostEnv:         true,
		PluginLogBufferSize: logLineMax,
		GRPCDialOptions:     []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(r.o.MaxMessageSize))},
	}
	if r.o.SocketDir != "" {
		cfg.UnixSocketConfig = &plugin.UnixSocketConfig{TempDir: r.o.SocketDir}
	}
	pr.client = plugin.NewClient(cfg)
	cp, err := pr.client.Client()
	if err == nil {
		var raw any
		if raw, err = cp.Dispense(sdk.PluginName); err == nil {
			var ok bool
			if pr.rpc, ok = raw.(policypb.PolicyClient); !ok {
				err = fmt.Errorf("dispensed %T", raw)
			}
		}
	}
	if err != nil {
		pr.kill(err)
		return nil, fmt.Errorf("go-plugin binary %s: %w: %v%s", b.Name, ErrHandshake, err, lastLines(pr.tail, 3))
	}
	r.emit(procEvent{Kind: "started", PID: pr.pid()})
	return pr, nil
}

// info asks the process its Info.
func (pr *proc) info(ctx context.Context) (policy.Info, error) {
	resp, err := pr.rpc.Info(ctx, &policypb.InfoRequest{})
	if err != nil {
		return policy.Info{}, fmt.Errorf("%w: info: %w", ErrHandshake, callError(ctx, err))
	}
	var hs policy.Hooks
	for _, h := range resp.Hooks {
		if h < policypb.Hook_HOOK_ROUTE || h > policypb.Hook_HOOK_TRANSFORM {
			return policy.Info{}, fmt.Errorf("%w: info lists unknown hook %d", ErrHandshake, h)
		}
		hs |= policy.HooksOf(policy.Hook(h))
	}
	return policy.Info{ABIVersion: int(resp.AbiVersion), Hooks: hs}, nil
}

func (r *Runtime) emit(ev procEvent) {
	if r.trace != nil {
		ev.At = time.Now()
		r.trace(ev)
	}
}

// lastLines formats the last n lines of t to end an error message ("" when empty).
func lastLines(t *tail, n int) string {
	s := strings.TrimRight(t.String(), "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "; plugin output: " + policy.Clip(strings.Join(lines, " | "), 512)
}

// errClosedDuringStart refuses a process whose plugin was closed while it started.
var errClosedDuringStart = errors.New("plugin closed during start")
