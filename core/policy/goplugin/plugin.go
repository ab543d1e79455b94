package goplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/sdk/goplugin/policypb"
)

// Plugin is a loaded go-plugin policy: one supervised process serving one binding. Safe
// for concurrent use.
type Plugin struct {
	rt     *Runtime
	bin    *binary
	tenant string
	name   string
	log    *slog.Logger // the operator's, for the lifecycle
	plog   *slog.Logger // the policy's (Spec.Log), for the plugin's lines; nil discards
	info   policy.Info

	mu         sync.Mutex
	cur        *proc // nil while down or closed
	down       error // why calls fail while cur is nil
	config     json.RawMessage
	configured bool
	closed     bool
	inflight   int
	drained    chan struct{} // closed when the last call in flight returns after Close
	timer      *time.Timer   // the pending restart
	starting   *procRunner   // the process a restart is starting
	restarting sync.WaitGroup

	streak   atomic.Int32 // losses since the last successful call
	restarts atomic.Int64
	attached bool // Attach: no process of ours, no restart
}

func newPlugin(r *Runtime, b *binary, spec policy.Spec) *Plugin {
	p := &Plugin{rt: r, bin: b, tenant: spec.Tenant, name: spec.Name,
		log: r.o.Logger.With("runtime", "goplugin", "tenant", spec.Tenant, "policy", spec.Name, "binary", b.Name)}
	if spec.Log != nil {
		p.plog = spec.Log.With("tenant", spec.Tenant, "policy", spec.Name)
	}
	return p
}

// load starts the first process and asks its Info.
func (p *Plugin) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.rt.o.StartTimeout)
	defer cancel()
	pr, err := p.rt.start(p.bin, p.plog, nil)
	if err != nil {
		return err
	}
	info, err := pr.info(ctx)
	if err != nil {
		pr.kill(err)
		return err
	}
	p.info, p.cur = info, pr
	go p.watch(pr)
	return nil
}

// Attach returns the policy service rpc, already connected, as a Plugin: it asks its
// Info, and calls run under the runtime's deadlines and error mapping, but there is no
// process to check, supervise or restart: Close calls closeFn (which may be nil), and a
// broken connection leaves the plugin down. sdk/goplugin/goplugintest uses it to serve a
// plugin in process. Binaries a tenant's chain runs are started by Load only.
func (r *Runtime) Attach(ctx context.Context, rpc policypb.PolicyClient, spec policy.Spec, closeFn func()) (*Plugin, error) {
	p := newPlugin(r, &binary{Binary: Binary{Name: "attached"}}, spec)
	p.attached = true
	pr := &proc{rpc: rpc, tail: newTail(0), closeFn: closeFn}
	ctx, cancel := context.WithTimeout(ctx, r.o.StartTimeout)
	defer cancel()
	info, err := pr.info(ctx)
	if err != nil {
		pr.kill(err)
		return nil, err
	}
	p.info, p.cur = info, pr
	return p, nil
}

// Info implements policy.Plugin: what the process reported when it was loaded.
func (p *Plugin) Info() policy.Info { return p.info }

// PID is the process id of the plugin's process, 0 while it is down or closed.
func (p *Plugin) PID() int {
	p.mu.Lock()
	pr := p.cur
	p.mu.Unlock()
	if pr == nil {
		return 0
	}
	return pr.pid()
}

// Restarts counts the processes started after the first.
func (p *Plugin) Restarts() int { return int(p.restarts.Load()) }

// Configure sends the configuration to the process and keeps it for restarts. A
// configuration the plugin refuses is an error matching policy.ErrBadConfig.
func (p *Plugin) Configure(ctx context.Context, config json.RawMessage) error {
	pr, err := p.acquire()
	if err != nil {
		return err
	}
	defer p.release()
	ctx, cancel := context.WithTimeout(ctx, p.rt.o.StartTimeout)
	defer cancel()
	if _, err := pr.rpc.Configure(ctx, p.configureRequest(config)); err != nil {
		return p.failed(ctx, pr, err)
	}
	p.mu.Lock()
	p.config, p.configured = append(json.RawMessage(nil), config...), true
	p.mu.Unlock()
	return nil
}

func (p *Plugin) configureRequest(config json.RawMessage) *policypb.ConfigureRequest {
	return &policypb.ConfigureRequest{Config: config, Tenant: p.tenant, Policy: p.name}
}

// Close lets the calls in flight finish (at most Options.CloseGrace), kills the process
// and returns once it is reaped, a restart under way included. Later calls fail with
// policy.ErrClosed.
func (p *Plugin) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	if p.timer != nil && p.timer.Stop() {
		p.restarting.Done() // the pending restart will not run
	}
	if p.starting != nil {
		_ = p.starting.Kill(context.Background())
	}
	pr := p.cur
	p.cur = nil
	var drained chan struct{}
	if p.inflight > 0 {
		p.drained = make(chan struct{})
		drained = p.drained
	}
	p.mu.Unlock()
	if drained != nil {
		t := time.NewTimer(p.rt.o.CloseGrace)
		select {
		case <-drained:
		case <-t.C:
		}
		t.Stop()
	}
	if pr != nil {
		pr.kill(policy.ErrClosed)
	}
	p.restarting.Wait()
	return nil
}

// acquire returns the live process for a call, or why there is none.
func (p *Plugin) acquire() (*proc, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return nil, policy.ErrClosed
	case p.cur == nil:
		return nil, p.down
	}
	p.inflight++
	return p.cur, nil
}

func (p *Plugin) release() {
	p.mu.Lock()
	p.inflight--
	if p.inflight == 0 && p.drained != nil {
		close(p.drained)
		p.drained = nil
	}
	p.mu.Unlock()
}

// begin starts a hook call: the live process and the call's context, bounded by
// Options.CallTimeout when ctx has no deadline. end must be called after.
func (p *Plugin) begin(ctx context.Context, h policy.Hook) (*proc, context.Context, context.CancelFunc, error) {
	if !p.info.Hooks.Has(h) {
		return nil, nil, nil, fmt.Errorf("%w: %s", policy.ErrNotImplemented, h)
	}
	pr, err := p.acquire()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := policy.WithBudget(ctx, p.rt.o.CallTimeout)
	return pr, ctx, cancel, nil
}

func (p *Plugin) end(cancel context.CancelFunc) {
	cancel()
	p.release()
}

// succeeded ends a run of timeouts and the restart backoff's run of losses.
func (p *Plugin) succeeded(pr *proc) {
	if pr.timeouts.Load() != 0 {
		pr.timeouts.Store(0)
	}
	if p.streak.Load() != 0 {
		p.streak.Store(0)
	}
}

// failed classifies a failed RPC and acts on it: a crashed process, or one whose calls
// time out HungAfter times in a row, is lost (killed, restarted).
func (p *Plugin) failed(ctx context.Context, pr *proc, err error) error {
	err = callError(ctx, err)
	if ctx.Err() == nil && !errors.Is(err, ErrCrashed) && pr.exited() {
		// The process died under the call and the host closed the connection before
		// the call saw the transport break.
		err = fmt.Errorf("%w: %w", ErrCrashed, err)
	}
	switch {
	case errors.Is(err, ErrCrashed):
		p.lost(pr, err)
	case errors.Is(err, policy.ErrTimeout):
		if n := pr.timeouts.Add(1); int(n) >= p.rt.o.HungAfter {
			p.lost(pr, fmt.Errorf("%w: %d calls in a row timed out", ErrHung, n))
		}
	}
	return err
}

// lost takes pr out of service (once), kills it and schedules a restart.
func (p *Plugin) lost(pr *proc, why error) {
	p.mu.Lock()
	if p.cur != pr || p.closed {
		p.mu.Unlock()
		return
	}
	p.cur = nil
	if p.attached {
		p.down = fmt.Errorf("%w: %w", ErrUnavailable, why)
		p.mu.Unlock()
		go pr.kill(why)
		return
	}
	d := p.scheduleLocked(why)
	p.mu.Unlock()
	p.log.Warn("go-plugin process lost; restarting", "pid", pr.pid(), "error", why, "restart_in", d)
	p.rt.emit(procEvent{Kind: "lost", PID: pr.pid(), Err: why, Delay: d})
	go pr.kill(why)
}

// scheduleLocked schedules a restart after the backoff and returns it. p.mu is held.
func (p *Plugin) scheduleLocked(why error) time.Duration {
	d := p.rt.o.backoff(p.streak.Add(1))
	p.down = fmt.Errorf("%w (restart in %s): %w", ErrUnavailable, d, why)
	p.restarting.Add(1)
	p.timer = time.AfterFunc(d, p.restart)
	return d
}

// restart starts a new process, checks that it reports the same Info and configures it
// as the first was; on failure it schedules the next attempt.
func (p *Plugin) restart() {
	defer p.restarting.Done()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	config, configured := p.config, p.configured
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), p.rt.o.StartTimeout)
	defer cancel()
	pr, err := p.rt.start(p.bin, p.plog, func(rn *procRunner) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return errClosedDuringStart
		}
		p.starting = rn
		return nil
	})
	if err == nil {
		var info policy.Info
		if info, err = pr.info(ctx); err == nil && info != p.info {
			err = fmt.Errorf("%w: the new process reports ABI %d and hooks %s, the first reported ABI %d and %s",
				ErrHandshake, info.ABIVersion, info.Hooks, p.info.ABIVersion, p.info.Hooks)
		}
	}
	if err == nil && configured {
		if _, cerr := pr.rpc.Configure(ctx, p.configureRequest(config)); cerr != nil {
			err = fmt.Errorf("configure: %w", callError(ctx, cerr))
		}
	}

	p.mu.Lock()
	p.starting = nil
	closed := p.closed
	var d time.Duration
	switch {
	case closed:
	case err != nil:
		d = p.scheduleLocked(err)
	default:
		p.cur = pr
	}
	p.mu.Unlock()

	switch {
	case closed:
		if pr != nil {
			pr.kill(policy.ErrClosed)
		}
	case err != nil:
		if pr != nil {
			pr.kill(err)
		}
		p.log.Error("go-plugin restart failed", "error", err, "restart_in", d)
		p.rt.emit(procEvent{Kind: "restart-failed", Err: err, Delay: d})
	default:
		p.restarts.Add(1)
		p.log.Info("go-plugin process restarted", "pid", pr.pid())
		go p.watch(pr)
	}
}

// watch waits for pr's process to exit: if it was live, it is lost. Once reaped, the
// exit is logged, with the tail of its output when the host did not kill it.
func (p *Plugin) watch(pr *proc) {
	rn := pr.getRunner()
	<-rn.exited
	p.lost(pr, fmt.Errorf("%w: the process exited", ErrCrashed))
	<-rn.reaped
	why := pr.killedBy()
	switch {
	case errors.Is(why, policy.ErrClosed):
		p.log.Debug("go-plugin process stopped", "pid", rn.pid)
	case why != nil && !errors.Is(why, ErrCrashed):
		p.log.Warn("go-plugin process killed", "pid", rn.pid, "reason", why)
	default:
		p.log.Error("go-plugin process crashed", "pid", rn.pid, "status", rn.exitStatus(), "output", pr.tail.String())
	}
	p.rt.emit(procEvent{Kind: "exited", PID: rn.pid, Err: why})
}

// Route asks the plugin's route hook.
func (p *Plugin) Route(ctx context.Context, in policy.RouteInput) (policy.RouteDecision, error) {
	pr, ctx, cancel, err := p.begin(ctx, policy.HookRoute)
	if err != nil {
		return policy.RouteDecision{}, err
	}
	defer p.end(cancel)
	resp, err := pr.rpc.Route(ctx, routeRequest(&in))
	if err != nil {
		return policy.RouteDecision{}, p.failed(ctx, pr, err)
	}
	p.succeeded(pr)
	return policy.RouteDecision{Session: resp.Session}, nil
}

// Failover asks the plugin's failover hook.
func (p *Plugin) Failover(ctx context.Context, in policy.FailoverInput) (policy.FailoverDecision, error) {
	pr, ctx, cancel, err := p.begin(ctx, policy.HookFailover)
	if err != nil {
		return policy.FailoverDecision{}, err
	}
	defer p.end(cancel)
	resp, err := pr.rpc.Failover(ctx, failoverRequest(&in))
	if err != nil {
		return policy.FailoverDecision{}, p.failed(ctx, pr, err)
	}
	p.succeeded(pr)
	return failoverDecision(resp)
}

// Rate asks the plugin's rate hook.
func (p *Plugin) Rate(ctx context.Context, in policy.RateInput) (policy.RateDecision, error) {
	pr, ctx, cancel, err := p.begin(ctx, policy.HookRate)
	if err != nil {
		return policy.RateDecision{}, err
	}
	defer p.end(cancel)
	resp, err := pr.rpc.Rate(ctx, rateRequest(&in))
	if err != nil {
		return policy.RateDecision{}, p.failed(ctx, pr, err)
	}
	p.succeeded(pr)
	return rateDecision(resp)
}

// Transform asks the plugin's transform hook.
func (p *Plugin) Transform(ctx context.Context, in policy.TransformInput) (policy.TransformResult, error) {
	pr, ctx, cancel, err := p.begin(ctx, policy.HookTransform)
	if err != nil {
		return policy.TransformResult{}, err
	}
	defer p.end(cancel)
	resp, err := pr.rpc.Transform(ctx, transformRequest(&in))
	if err != nil {
		return policy.TransformResult{}, p.failed(ctx, pr, err)
	}
	p.succeeded(pr)
	return transformResult(resp)
}

var (
	_ policy.Plugin        = (*Plugin)(nil)
	_ policy.RouteHook     = (*Plugin)(nil)
	_ policy.FailoverHook  = (*Plugin)(nil)
	_ policy.RateHook      = (*Plugin)(nil)
	_ policy.TransformHook = (*Plugin)(nil)
)
