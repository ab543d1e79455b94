package policy

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// DefaultTimeout is a binding's per-call budget when it sets none.
const DefaultTimeout = 20 * time.Millisecond

// DefaultBreakerThreshold is how many consecutive failed calls disable a policy when
// ChainOptions sets no threshold.
const DefaultBreakerThreshold = 5

// Binding puts a loaded plugin into a tenant's chain.
type Binding struct {
	// Name is the policy's name: the "policy" label of metrics and reports. Unique in
	// the chain.
	Name   string
	Plugin Plugin
	// Hooks are the hooks the plugin is bound to, each a subset of Info().Hooks. Zero
	// binds every hook the plugin implements.
	Hooks Hooks
	// Timeout is the budget of each call; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Defaults are the built-in answers of a chain: what decides when no policy has an
// opinion, and what answers for a call that failed. They are trusted code, called
// without budget and not counted in metrics. The caller fills them (core does not
// import plugins/); the usual ones are the sticky-contact route, the default rate rule
// and the identity transform. A nil default has no opinion.
type Defaults struct {
	Route     RouteHook
	Failover  FailoverHook
	Rate      RateHook
	Transform TransformHook
}

// ChainOptions configure a Chain.
type ChainOptions struct {
	Defaults Defaults
	// Metrics receive the chain's calls; nil counts them nowhere.
	Metrics *Metrics
	// OnFailure is called for every failed call, in the caller's goroutine: it must not
	// block (publish Failure.Envelopes on the event bus, log, count).
	OnFailure func(Failure)
	// BreakerThreshold is the number of consecutive failed calls (all hooks together)
	// that disables a policy; 0 means DefaultBreakerThreshold.
	BreakerThreshold int
}

// Chain runs one tenant's policies, in order, per hook. Safe for concurrent use.
//
// Chain semantics (the whole contract of ordering, in one place):
//
//   - route: policies are asked in order; the first that names a session among the
//     candidates wins; no opinion (empty session) asks the next; when none has an
//     opinion the default route decides. Naming a session that is not a candidate is a
//     bad output: a failure.
//   - rate: policies are evaluated in order and the first answer that is not allow
//     (delay or reject) wins. Allow and no opinion both go on to the next policy; at
//     the end, if any policy allowed, the answer is allow, otherwise the default rate
//     rule decides.
//   - failover: the first decision (retry, reroute or fail) wins; no opinion asks the
//     next; when none decides, the default failover does.
//   - transform: each policy gets the previous one's output event; drop stops the chain
//     and the event is not delivered.
//   - failure: a call that fails (error, panic, timeout, bad output) is reported through
//     OnFailure and metrics, and the default answers in its place: for route, rate and
//     failover the default's answer is the chain's answer for that message (later
//     policies are not asked); for transform the default transforms the event as it
//     stood and the chain goes on, so a later redacting policy still runs.
//   - breaker: BreakerThreshold consecutive failures of one policy (any hooks) disable
//     it: it is reported (Failure.Disabled, policy.disabled, the disabled gauge) and
//     skipped as if unbound until Reset or the chain is rebuilt. A success resets the
//     count.
//   - a call whose caller's context ends (shutdown) is not the policy's failure: the
//     default answers and nothing is counted.
type Chain struct {
	tenant    string
	opts      ChainOptions
	threshold int32
	bindings  []*binding
	route     []*bound[RouteHook]
	failover  []*bound[FailoverHook]
	rate      []*bound[RateHook]
	transform []*bound[TransformHook]
	closed    atomic.Bool
}

// binding is a Binding's runtime state, shared by its hooks.
type binding struct {
	name     string
	plugin   Plugin
	trusted  bool
	timeout  time.Duration
	fails    atomic.Int32
	disabled atomic.Bool
}

// succeeded ends a run of failures. It writes only when there was one, so that
// concurrent successful calls do not contend on the counter's cache line.
func (b *binding) succeeded() {
	if b.fails.Load() != 0 {
		b.fails.Store(0)
	}
}

// bound is one binding's place in one hook's chain.
type bound[H any] struct {
	*binding
	hook H
	h    Hook
	m    *hookMetrics
}

// NewChain builds tenant's chain from bindings, in order. On success the chain owns the
// plugins (Close closes them); on error the caller still does.
func NewChain(tenant string, opts ChainOptions, bindings ...Binding) (*Chain, error) {
	if opts.Metrics == nil {
		opts.Metrics, _ = NewMetrics(nil)
	}
	c := &Chain{tenant: tenant, opts: opts, threshold: int32(opts.BreakerThreshold)}
	if c.threshold <= 0 {
		c.threshold = DefaultBreakerThreshold
	}
	seen := make(map[string]bool)
	for _, b := range bindings {
		if err := checkName(b.Name); err != nil {
			return nil, fmt.Errorf("policy chain of tenant %s: %w", tenant, err)
		}
		if seen[b.Name] {
			return nil, fmt.Errorf("policy chain of tenant %s: %w: %s bound twice", tenant, ErrBadName, b.Name)
		}
		seen[b.Name] = true
		if b.Plugin == nil {
			return nil, fmt.Errorf("policy chain of tenant %s: policy %s has no plugin", tenant, b.Name)
		}
		info := b.Plugin.Info()
		hooks := b.Hooks
		if hooks == 0 {
			hooks = info.Hooks
		}
		bd := &binding{name: b.Name, plugin: b.Plugin, trusted: info.Trusted, timeout: b.Timeout}
		if bd.timeout <= 0 {
			bd.timeout = DefaultTimeout
		}
		c.bindings = append(c.bindings, bd)
		for _, h := range AllHooks {
			if !hooks.Has(h) {
				continue
			}
			if !info.Hooks.Has(h) || !implements(b.Plugin, h) {
				return nil, fmt.Errorf("policy chain of tenant %s: policy %s: %w: %s", tenant, b.Name, ErrNotImplemented, h)
			}
			m := opts.Metrics.forHook(tenant, b.Name, h)
			switch h {
			case HookRoute:
				c.route = append(c.route, &bound[RouteHook]{bd, b.Plugin.(RouteHook), h, m})
			case HookFailover:
				c.failover = append(c.failover, &bound[FailoverHook]{bd, b.Plugin.(FailoverHook), h, m})
			case HookRate:
				c.rate = append(c.rate, &bound[RateHook]{bd, b.Plugin.(RateHook), h, m})
			case HookTransform:
				c.transform = append(c.transform, &bound[TransformHook]{bd, b.Plugin.(TransformHook), h, m})
			}
		}
		opts.Metrics.disabled.WithLabelValues(tenant, b.Name).Set(0)
	}
	return c, nil
}

// Tenant returns the chain's tenant.
func (c *Chain) Tenant() string { return c.tenant }

// Route picks the session for a message. It returns the zero decision only when there
// is no candidate or the default route has no opinion.
func (c *Chain) Route(ctx context.Context, in RouteInput) RouteDecision {
	if len(in.Candidates) == 0 {
		return RouteDecision{}
	}
	c.stamp(&in.Now, &in.Message)
	for _, b := range live(c, c.route) {
		if b.disabled.Load() {
			continue
		}
		d, err := call(ctx, b, in, b.hook.Route)
		if err == nil {
			err = checkRoute(d, in.Candidates)
		}
		if err != nil {
			c.failed(ctx, b.binding, b.h, b.m, err)
			break
		}
		b.succeeded()
		if d.Session != "" {
			return d
		}
	}
	return c.defaultRoute(ctx, in)
}

func (c *Chain) defaultRoute(ctx context.Context, in RouteInput) RouteDecision {
	if c.opts.Defaults.Route == nil {
		return RouteDecision{}
	}
	d, err := callDefault(ctx, in, c.opts.Defaults.Route.Route)
	if err != nil || checkRoute(d, in.Candidates) != nil {
		return RouteDecision{}
	}
	return d
}

// Failover decides what happens to a failed send. The zero decision (no opinion) means
// neither a policy nor the default decided: the caller applies its own retry rule.
func (c *Chain) Failover(ctx context.Context, in FailoverInput) FailoverDecision {
	c.stamp(&in.Now, &in.Message)
	for _, b := range live(c, c.failover) {
		if b.disabled.Load() {
			continue
		}
		d, err := call(ctx, b, in, b.hook.Failover)
		if err == nil {
			err = checkFailover(&d, in.Candidates)
		}
		if err != nil {
			c.failed(ctx, b.binding, b.h, b.m, err)
			break
		}
		b.succeeded()
		if d.Action != FailoverNoOpinion {
			return d
		}
	}
	if c.opts.Defaults.Failover == nil {
		return FailoverDecision{}
	}
	d, err := callDefault(ctx, in, c.opts.Defaults.Failover.Failover)
	if err != nil || checkFailover(&d, in.Candidates) != nil {
		return FailoverDecision{}
	}
	return d
}

// Rate decides whether the session may send the message now. It never returns no
// opinion: when neither a policy nor the default objects, the answer is allow.
func (c *Chain) Rate(ctx context.Context, in RateInput) RateDecision {
	c.stamp(&in.Now, &in.Message)
	allowed := false
	for _, b := range live(c, c.rate) {
		if b.disabled.Load() {
			continue
		}
		d, err := call(ctx, b, in, b.hook.Rate)
		if err == nil {
			err = checkRate(&d)
		}
		if err != nil {
			c.failed(ctx, b.binding, b.h, b.m, err)
			allowed = false
			break
		}
		b.succeeded()
		switch d.Action {
		case RateDelay, RateReject:
			return d
		case RateAllow:
			allowed = true
		}
	}
	if allowed || c.opts.Defaults.Rate == nil {
		return RateDecision{Action: RateAllow}
	}
	d, err := callDefault(ctx, in, c.opts.Defaults.Rate.Rate)
	if err != nil || checkRate(&d) != nil || d.Action == RateNoOpinion {
		return RateDecision{Action: RateAllow}
	}
	return d
}

// Transform runs the event through the tenant's transforms. A result with Drop set means
// the event must not be delivered. An event of another tenant is passed on untouched: no
// policy sees another tenant's events.
func (c *Chain) Transform(ctx context.Context, in TransformInput) TransformResult {
	if in.Event.Tenant != c.tenant {
		return Keep(in.Event)
	}
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	for _, b := range live(c, c.transform) {
		if b.disabled.Load() {
			continue
		}
		r, err := call(ctx, b, in, b.hook.Transform)
		if err == nil {
			err = checkTransform(r, in.Event)
		}
		if err != nil {
			c.failed(ctx, b.binding, b.h, b.m, err)
			r = c.defaultTransform(ctx, in)
		} else {
			b.succeeded()
		}
		if r.Drop {
			return r
		}
		carryContext(&r.Event, in.Event)
		in.Event = r.Event
	}
	return TransformResult{Event: in.Event}
}

func (c *Chain) defaultTransform(ctx context.Context, in TransformInput) TransformResult {
	if c.opts.Defaults.Transform == nil {
		return Keep(in.Event)
	}
	r, err := callDefault(ctx, in, c.opts.Defaults.Transform.Transform)
	if err != nil || checkTransform(r, in.Event) != nil {
		return Keep(in.Event)
	}
	return r
}

// Reset re-enables a policy its breaker disabled. It reports whether name is bound.
func (c *Chain) Reset(name string) bool {
	for _, b := range c.bindings {
		if b.name == name {
			b.fails.Store(0)
			if b.disabled.CompareAndSwap(true, false) {
				c.opts.Metrics.disabled.WithLabelValues(c.tenant, name).Set(0)
			}
			return true
		}
	}
	return false
}

// PolicyStatus is one bound policy's state.
type PolicyStatus struct {
	Name     string `json:"name"`
	Hooks    string `json:"hooks"`
	Disabled bool   `json:"disabled"`
	// Failures counts the policy's consecutive failed calls.
	Failures int `json:"failures"`
}

// Status lists the chain's policies in binding order.
func (c *Chain) Status() []PolicyStatus {
	out := make([]PolicyStatus, 0, len(c.bindings))
	for _, b := range c.bindings {
		var hs []Hook
		for _, r := range c.route {
			if r.binding == b {
				hs = append(hs, HookRoute)
			}
		}
		for _, r := range c.failover {
			if r.binding == b {
				hs = append(hs, HookFailover)
			}
		}
		for _, r := range c.rate {
			if r.binding == b {
				hs = append(hs, HookRate)
			}
		}
		for _, r := range c.transform {
			if r.binding == b {
				hs = append(hs, HookTransform)
			}
		}
		out = append(out, PolicyStatus{Name: b.name, Hooks: HooksOf(hs...).String(),
			Disabled: b.disabled.Load(), Failures: int(b.fails.Load())})
	}
	return out
}

// Close closes every plugin of the chain, once (a nil chain too, so that
// chains.Set(...).Close() needs no check). Calls in flight finish; later calls get the
// defaults' answers without asking any plugin.
func (c *Chain) Close() error {
	if c == nil || !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	var errs []error
	for _, b := range c.bindings {
		if err := b.plugin.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing policy %s of tenant %s: %w", b.name, c.tenant, err))
		}
	}
	return errors.Join(errs...)
}

// live returns a hook's bindings, none once the chain is closed.
func live[H any](c *Chain, bs []*bound[H]) []*bound[H] {
	if c.closed.Load() {
		return nil
	}
	return bs
}

// stamp fills the call's time and pins the message to the chain's tenant: a chain only
// ever speaks for its own tenant.
func (c *Chain) stamp(now *time.Time, m *Message) {
	if now.IsZero() {
		*now = time.Now()
	}
	m.Tenant = c.tenant
}

// call makes one bounded, measured, contained call of a bound policy's hook.
func call[H, I, O any](ctx context.Context, b *bound[H], in I, f func(context.Context, I) (O, error)) (out O, err error) {
	b.m.calls.Inc()
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r}
		}
		took := time.Since(start)
		b.m.latency.Observe(took.Seconds())
		if err == nil && took > b.timeout {
			err = fmt.Errorf("%w: took %s, budget %s", ErrTimeout, took, b.timeout)
		}
	}()
	if b.trusted {
		return f(ctx, in)
	}
	cctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return f(cctx, in)
}

// callDefault calls a built-in default, turning a panic into an error.
func callDefault[I, O any](ctx context.Context, in I, f func(context.Context, I) (O, error)) (out O, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r}
		}
	}()
	return f(ctx, in)
}

// failed records a failed call: metrics, breaker, report. A call that failed because the
// caller's context ended is not counted against the policy.
func (c *Chain) failed(ctx context.Context, b *binding, h Hook, m *hookMetrics, err error) {
	if ctx.Err() != nil {
		return
	}
	r := reasonOf(err)
	m.errors[reasonIndex(r)].Inc()
	f := Failure{Tenant: c.tenant, Policy: b.name, Hook: h, Reason: r, Err: err, At: time.Now()}
	if b.fails.Add(1) >= c.threshold && b.disabled.CompareAndSwap(false, true) {
		f.Disabled = true
		c.opts.Metrics.disabled.WithLabelValues(c.tenant, b.name).Set(1)
	}
	if c.opts.OnFailure != nil {
		c.opts.OnFailure(f)
	}
}
