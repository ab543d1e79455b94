package steer

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/core/provider"
)

// Watch sees what each session's provider reports that pacing needs and the session
// manager does not keep: restrictions WhatsApp placed on the number (a temporary ban, a
// reach-out timelock) with their end, when a number was paired in this process, and
// the running provider itself (for the typing indicator). It sits between the
// providers and the session manager by wrapping their factories:
//
//	w := steer.NewWatch(steer.WatchOptions{Registerer: reg})
//	mgr := session.NewManager(db, bus, opts, w.Factory(sandboxNet), w.Factory(wm))
//	s := steer.New(steer.Deps{..., Watch: w})
//
// Its state is in memory: a restart forgets restrictions (whatsmeow reports a ban again
// when it reconnects) and pairing times (the account's own link time, or the session's
// creation, stands in; see Steer.linkedAt). Safe for concurrent use.
type Watch struct {
	opts    WatchOptions
	metrics *pacingMetrics

	mu           sync.Mutex
	provs        map[[2]string]provider.Provider
	kinds        map[[2]string]string // the provider kind (factory name) of each session
	restrictions map[[2]string]restriction
	pairing      map[[2]string]bool      // showed a QR code since the last WORKING
	paired       map[[2]string]time.Time // first WORKING after pairing in this process
}

// WatchOptions configure a Watch.
type WatchOptions struct {
	// PauseUnknown is how long a restriction whose end the provider did not report
	// holds the session; 0 means 24h.
	PauseUnknown time.Duration
	// Registerer receives the pacing metrics (wagate_pacing_*); nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// restriction is a restriction in force.
type restriction struct {
	reason string
	until  time.Time
}

// NewWatch returns an empty Watch.
func NewWatch(o WatchOptions) *Watch {
	if o.PauseUnknown <= 0 {
		o.PauseUnknown = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	w := &Watch{opts: o, metrics: newPacingMetrics(), provs: map[[2]string]provider.Provider{}, kinds: map[[2]string]string{},
		restrictions: map[[2]string]restriction{}, pairing: map[[2]string]bool{}, paired: map[[2]string]time.Time{}}
	if o.Registerer != nil {
		o.Registerer.MustRegister(w.metrics.restrictions, w.metrics.typing, w.metrics.typingSeconds, watchCollector{w})
	}
	return w
}

// Factory wraps f: the providers it builds are returned unchanged (their optional
// capabilities intact), and their events pass through the Watch on the way to the
// session manager's sink. A factory that validates configs still does.
func (w *Watch) Factory(f provider.Factory) provider.Factory {
	if v, ok := f.(provider.ConfigValidator); ok {
		return watchedValidator{watched{f, w}, v}
	}
	return watched{f, w}
}

type watched struct {
	provider.Factory
	w *Watch
}

func (f watched) New(spec provider.Spec, sink provider.Sink) (provider.Provider, error) {
	k := [2]string{spec.Tenant, spec.Session}
	p, err := f.Factory.New(spec, func(ev provider.Event) {
		f.w.observe(k, ev)
		sink(ev)
	})
	if err != nil {
		return nil, err
	}
	f.w.mu.Lock()
	f.w.provs[k], f.w.kinds[k] = p, f.Name()
	f.w.mu.Unlock()
	return p, nil
}

type watchedValidator struct {
	watched
	v provider.ConfigValidator
}

func (f watchedValidator) ValidateConfig(raw json.RawMessage) error { return f.v.ValidateConfig(raw) }

// observe records what pacing needs of one provider event. It runs in the provider's
// sink: it must not block.
func (w *Watch) observe(k [2]string, ev provider.Event) {
	now := w.opts.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	switch ev := ev.(type) {
	case provider.RestrictionEvent:
		if !ev.Active {
			if r, ok := w.restrictions[k]; ok && r.reason == ev.Reason {
				delete(w.restrictions, k)
			}
			return
		}
		until := ev.Until
		if until.IsZero() {
			until = now.Add(w.opts.PauseUnknown)
		}
		if r, ok := w.restrictions[k]; ok && now.Before(r.until) && restrictionRank(r.reason) > restrictionRank(ev.Reason) {
			return // a ban in force outranks a timelock reported meanwhile
		}
		w.restrictions[k] = restriction{reason: ev.Reason, until: until}
		w.metrics.restrictions.WithLabelValues(reasonLabel(ev.Reason)).Inc()
	case provider.QREvent:
		w.pairing[k] = true
	case provider.StatusEvent:
		switch ev.Status {
		case provider.StatusPairing:
			w.pairing[k] = true
		case provider.StatusWorking:
			if w.pairing[k] {
				w.paired[k] = now
				delete(w.pairing, k)
			}
		case provider.StatusLoggedOut:
			// The number is unlinked: whatever comes next is a new link.
			delete(w.restrictions, k)
			delete(w.paired, k)
		}
	}
}

// restrictionRank orders restrictions by how much they hold back.
func restrictionRank(reason string) int {
	if reason == provider.RestrictionTemporaryBan {
		return 2
	}
	return 1
}

// Restriction returns the restriction in force on the session at now: its reason and
// end; "" when none.
func (w *Watch) Restriction(tenant, session string, now time.Time) (string, time.Time) {
	k := [2]string{tenant, session}
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.restrictions[k]
	if !ok {
		return "", time.Time{}
	}
	if !now.Before(r.until) {
		delete(w.restrictions, k)
		return "", time.Time{}
	}
	return r.reason, r.until
}

// Paired returns when the session's number was paired in this process (its first
// WORKING after a QR code or pairing code); zero if it was not.
func (w *Watch) Paired(tenant, session string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.paired[[2]string{tenant, session}]
}

// Typer returns the session's latest provider as a provider.Typer (nil when it has none
// or cannot show typing) and its kind ("whatsmeow", ...; "" when none was built).
func (w *Watch) Typer(tenant, session string) (provider.Typer, string) {
	w.mu.Lock()
	p, kind := w.provs[[2]string{tenant, session}], w.kinds[[2]string{tenant, session}]
	w.mu.Unlock()
	t, _ := p.(provider.Typer)
	return t, kind
}

// Delete forgets a deleted session.
func (w *Watch) Delete(tenant, session string) {
	k := [2]string{tenant, session}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.provs, k)
	delete(w.kinds, k)
	delete(w.restrictions, k)
	delete(w.pairing, k)
	delete(w.paired, k)
}

// Forget forgets a deleted tenant's sessions.
func (w *Watch) Forget(tenant string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range w.provs {
		if k[0] == tenant {
			delete(w.provs, k)
			delete(w.kinds, k)
		}
	}
	for k := range w.restrictions {
		if k[0] == tenant {
			delete(w.restrictions, k)
		}
	}
	for k := range w.pairing {
		if k[0] == tenant {
			delete(w.pairing, k)
		}
	}
	for k := range w.paired {
		if k[0] == tenant {
			delete(w.paired, k)
		}
	}
}

// restricted counts the sessions under a restriction at now, by reason.
func (w *Watch) restricted(now time.Time) map[string]int {
	out := map[string]int{provider.RestrictionTemporaryBan: 0, provider.RestrictionReachout: 0}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.restrictions {
		if now.Before(r.until) {
			out[reasonLabel(r.reason)]++
		}
	}
	return out
}

// reasonLabel bounds the reason label to the known reasons.
func reasonLabel(reason string) string {
	switch reason {
	case provider.RestrictionTemporaryBan, provider.RestrictionReachout:
		return reason
	}
	return "other"
}

var (
	_ provider.Factory         = watched{}
	_ provider.ConfigValidator = watchedValidator{}
)
