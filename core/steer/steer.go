// Package steer connects the tenants' policy chains (core/policy) to the gateway. It
// builds what the hooks see — the candidate sessions with their state, queue depth,
// send counts and last contact with the chat — and answers:
//
//   - the API's route question for a send that names no session (Route);
//   - the dispatcher's pace question before every provider call (Pace);
//   - failover of messages off lost sessions (Target, Decide: queue.Failover);
//   - the webhook outbox's transform (Transform).
//
// Each tenant's chain answers first; the built-in defaults answer when it has no
// opinion or fails (the chain's own contract). Failover's built-in default is
// web-then-cloud by the session's fallback: a message whose session is lost (fatal
// error, lost status, down too long) moves to the fallback session, except free-form
// messages to a contact outside the Cloud API's 24-hour customer-service window when
// the fallback is a Cloud API number, which fail with outside_customer_service_window.
package steer

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/route"
	"github.com/wagate/wagate/core/session"
)

// Window reports whether the Cloud API's 24-hour customer-service window is open between
// a session and a chat (the chat wrote to the session's number in the last 24 hours).
type Window func(tenant, session, chat string) bool

// ErrNoSession: no session can send for the tenant now.
var ErrNoSession = errors.New("no WORKING session to route the message to")

// Steer answers the gateway's policy questions. Create it with New.
type Steer struct {
	chains   *policy.Chains
	sessions *session.Manager
	queue    *queue.Queue
	contacts *route.Router
	window   Window
	stats    *stats
	chats    *chats
	watch    *Watch
	typing   Typing
	wait     func(ctx context.Context, d time.Duration) error
	sim      atomic.Pointer[SimClock] // nil: real time
	preview  policy.RatePreviewer
}

// SimClock is a simulated clock for the hooks (Simulate).
type SimClock interface {
	// Now is the time the hooks see.
	Now() time.Time
	// Delay is told of a delay Pace decided for a message of session; it moves the
	// clock as it likes and returns the real delay the dispatcher waits.
	Delay(tenant, session string, d time.Duration) time.Duration
	// Sent is told of each message Pace let go, at the simulated time at.
	Sent(tenant, session, id string, at time.Time)
}

// Simulate runs the hooks on a simulated clock, for tests of pacing through a whole
// gateway, like plugins/antiban's TestSchedule1000 does for the rule alone. Safe to
// call while messages are sent.
func (s *Steer) Simulate(c SimClock) { s.sim.Store(&c) }

// now is the time the hooks see.
func (s *Steer) now() time.Time {
	if c := s.sim.Load(); c != nil {
		return (*c).Now()
	}
	return time.Now()
}

// Deps are what Steer reads.
type Deps struct {
	Chains   *policy.Chains
	Sessions *session.Manager
	Queue    *queue.Queue
	Contacts *route.Router
	// Window, nil for none, tells whether a Cloud API session may send free-form
	// messages to a chat; without it every such failover is refused.
	Window Window
	// Watch, nil for none, supplies the restrictions, pairing times and typing
	// capability of the sessions' providers (pacing).
	Watch *Watch
	// Typing, nil for never, decides how long BeforeSend shows the typing indicator.
	Typing Typing
	// Preview, nil for none, is the built-in pacing rule, previewed by PacingState.
	Preview policy.RatePreviewer
}

// New returns a Steer over d.
func New(d Deps) *Steer {
	return &Steer{chains: d.Chains, sessions: d.Sessions, queue: d.Queue, contacts: d.Contacts,
		window: d.Window, stats: newStats(), chats: newChats(), watch: d.Watch, typing: d.Typing,
		wait: sleep, preview: d.Preview}
}

// chat reads a chat's records (one store read); none without contacts or a chat.
func (s *Steer) chat(tenant, chat string) route.Chat {
	if s.contacts == nil || chat == "" {
		return route.Chat{}
	}
	return s.contacts.Chat(tenant, chat)
}

// message is what the hooks see of a queued message.
func message(tenant string, m queue.Message) policy.Message {
	return policy.Message{ID: m.ID, Tenant: tenant, Session: m.Session, ChatID: m.ChatID, Kind: string(m.Type),
		Text: m.Text, Attempts: m.Attempts, CreatedAt: m.CreatedAt}
}

// candidate describes one session for the hooks, about a message to chat; contact is
// the chat's sticky record.
func (s *Steer) candidate(tenant string, in session.Info, rec route.Chat, chat string, now time.Time) policy.Candidate {
	c := policy.Candidate{Session: in.Name, Provider: in.Provider, State: string(in.Status)}
	c.QueueDepth, _ = s.queue.Depth(tenant, in.Name)
	c.SentMinute, c.SentHour, c.SentDay, c.LastSentAt = s.stats.counts(tenant, in.Name, now)
	if contact := rec.Last; contact.Session == in.Name {
		c.LastContact = contact.At
		if c.LastContact.IsZero() {
			c.LastContact = in.CreatedAt // a contact recorded before times were kept
		}
	}
	s.pacing(&c, tenant, in, rec, chat, now)
	return c
}

// candidates returns the tenant's WORKING sessions as candidates, by name.
// It reads the chat's records once (rec), for the caller to reuse.
func (s *Steer) candidates(ctx context.Context, tenant, chat string, now time.Time) ([]policy.Candidate, []session.Info, route.Chat, error) {
	list, err := s.sessions.List(ctx, tenant)
	if err != nil {
		return nil, nil, route.Chat{}, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	rec := s.chat(tenant, chat)
	var out []policy.Candidate
	for _, in := range list {
		if in.Status == session.StateWorking {
			out = append(out, s.candidate(tenant, in, rec, chat, now))
		}
	}
	return out, list, rec, nil
}

// Route picks the session for a message that names none: the tenant's route chain over
// its WORKING sessions (sticky contact, then in turn, by default).
func (s *Steer) Route(ctx context.Context, tenant string, m policy.Message) (string, error) {
	return s.RouteAmong(ctx, tenant, m, nil)
}

// RouteAmong is Route over the WORKING sessions named in among only (a campaign's
// sessions); nil among is every session, as Route.
func (s *Steer) RouteAmong(ctx context.Context, tenant string, m policy.Message, among []string) (string, error) {
	now := s.now()
	cands, _, _, err := s.candidates(ctx, tenant, m.ChatID, now)
	if err != nil {
		return "", err
	}
	if among != nil {
		cands = slices.DeleteFunc(cands, func(c policy.Candidate) bool { return !slices.Contains(among, c.Session) })
	}
	if len(cands) == 0 {
		return "", ErrNoSession
	}
	m.Tenant = tenant
	d := s.chains.For(tenant).Route(ctx, policy.RouteInput{Now: now, Message: m, Candidates: cands})
	if d.Session == "" {
		return cands[0].Session, nil // defaults always answer; belt and braces
	}
	return d.Session, nil
}

// Pace asks the tenant's rate chain whether a message may go now through session. It
// returns a delay (send no earlier) or a rejection reason; zero for both means go. A
// message allowed is counted in the session's send statistics (see count).
func (s *Steer) Pace(tenant string, m queue.Message, sess string) (time.Duration, string) {
	now := s.now()
	in, err := s.sessions.Get(context.Background(), tenant, sess)
	if err != nil {
		return 0, ""
	}
	cand := s.candidate(tenant, in, s.chat(tenant, m.ChatID), m.ChatID, now)
	d := s.chains.For(tenant).Rate(context.Background(), policy.RateInput{Now: now, Message: message(tenant, m), Session: cand})
	switch d.Action {
	case policy.RateDelay:
		if c := s.sim.Load(); c != nil {
			return (*c).Delay(tenant, sess, d.Delay), ""
		}
		return d.Delay, ""
	case policy.RateReject:
		return 0, d.Reason
	}
	s.count(tenant, sess, m, cand.FirstContact, now)
	if c := s.sim.Load(); c != nil {
		(*c).Sent(tenant, sess, m.ID, now)
	}
	return 0, ""
}

// Target returns the session's fallback: the session that takes over on failover.
func (s *Steer) Target(tenant, sess string) string {
	in, err := s.sessions.Get(context.Background(), tenant, sess)
	if err != nil {
		return ""
	}
	return in.Fallback
}

// Decide is the failover decision on a message whose send failed or whose session is
// lost: the tenant's failover chain first, then web-then-cloud by the fallback.
func (s *Steer) Decide(tenant string, m queue.Message, cause error, target string) queue.Decision {
	now := s.now()
	ctx := context.Background()
	cands, list, rec, err := s.candidates(ctx, tenant, m.ChatID, now)
	if err != nil {
		return queue.Decision{}
	}
	var failed policy.Candidate
	for _, in := range list {
		if in.Name == m.Session {
			failed = s.candidate(tenant, in, rec, m.ChatID, now)
		}
	}
	d := s.chains.For(tenant).Failover(ctx, policy.FailoverInput{Now: now, Message: message(tenant, m),
		Session: failed, Error: policy.ErrorOf(cause), Attempt: m.Attempts, Candidates: cands})
	switch d.Action {
	case policy.FailoverRetry:
		return queue.Decision{Retry: max(d.Delay, time.Millisecond), Reason: "policy"}
	case policy.FailoverReroute:
		return s.checkWindow(tenant, m, d.Session, list, "policy")
	case policy.FailoverFail:
		return queue.Decision{Fail: d.Reason}
	}
	if target == "" || !(provider.Fatal(cause) || errors.Is(cause, queue.ErrDownTooLong) || errors.Is(cause, ErrLost)) {
		return queue.Decision{}
	}
	return s.checkWindow(tenant, m, target, list, "web-then-cloud: "+policy.ErrorOf(cause).Code)
}

// ErrLost is the cause the gateway gives SessionLost for a session whose status says it
// cannot send any more (logged out, banned).
var ErrLost = errors.New("session lost")

// checkWindow reroutes m to target unless target is a Cloud API session outside the
// 24-hour window with the chat and m is not a template.
func (s *Steer) checkWindow(tenant string, m queue.Message, target string, list []session.Info, why string) queue.Decision {
	for _, in := range list {
		if in.Name != target || in.Provider != "cloudapi" || m.Type == provider.KindTemplate {
			continue
		}
		if s.window == nil || !s.window(tenant, target, m.ChatID) {
			return queue.Decision{Fail: "outside_customer_service_window",
				Reason: "the Cloud API session " + target + " may send only templates to a contact that has not written in 24 hours"}
		}
	}
	return queue.Decision{Reroute: target, Reason: why}
}

// Transformer returns the webhook outbox's transform: the tenant's transform chain
// run on an event before it is stored and signed; keep false drops it. It needs only
// the chains, so the outbox can have it before sessions exist.
func Transformer(chains *policy.Chains) func(ctx context.Context, tenant string, env event.Envelope) (event.Envelope, bool) {
	return func(ctx context.Context, tenant string, env event.Envelope) (event.Envelope, bool) {
		r := chains.For(tenant).Transform(ctx, policy.TransformInput{Now: time.Now(), Event: env})
		return r.Event, !r.Drop
	}
}

// Forget drops a deleted tenant's statistics.
func (s *Steer) Forget(tenant string) {
	s.stats.forget(tenant)
	s.chats.forget(tenant)
	if s.watch != nil {
		s.watch.Forget(tenant)
	}
}

// Delete drops a deleted session's statistics.
func (s *Steer) Delete(tenant, sess string) {
	s.stats.delete(tenant, sess)
	s.chats.delete(tenant, sess)
	if s.watch != nil {
		s.watch.Delete(tenant, sess)
	}
}

// stats counts each session's sends per minute over the last day.
type stats struct {
	mu       sync.Mutex
	sessions map[[2]string]*counter
}

// counter is a ring of per-minute counts over 24 hours.
type counter struct {
	minutes [1440]uint32
	stamp   [1440]int64 // the minute (Unix minutes) each slot counts
	last    time.Time
	// cached holds sums at the minute cachedAt (valid when cachedOK): a route over
	// many sessions asks for every session's sums per message, and the ring's 1440
	// slots need only be added up once a minute.
	cached   [3]int
	cachedAt int64
	cachedOK bool
}

func newStats() *stats { return &stats{sessions: map[[2]string]*counter{}} }

func (st *stats) add(tenant, sess string, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.sessions[[2]string{tenant, sess}]
	if c == nil {
		c = &counter{}
		st.sessions[[2]string{tenant, sess}] = c
	}
	c.add(now)
}

func (st *stats) counts(tenant, sess string, now time.Time) (minute, hour, day int, last time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.sessions[[2]string{tenant, sess}]
	if c == nil {
		return 0, 0, 0, time.Time{}
	}
	minute, hour, day = c.sums(now)
	return minute, hour, day, c.last
}

// add counts one event at now.
func (c *counter) add(now time.Time) {
	m := now.Unix() / 60
	i := m % 1440
	if c.stamp[i] != m {
		c.stamp[i], c.minutes[i] = m, 0
	}
	c.minutes[i]++
	c.last = now
	if c.cachedOK && c.cachedAt == m {
		c.cached[0]++
		c.cached[1]++
		c.cached[2]++
	} else {
		c.cachedOK = false
	}
}

// sums returns the events counted in the current minute, the last 60 minutes and the
// last 1440 minutes, the current one included.
func (c *counter) sums(now time.Time) (minute, hour, day int) {
	m := now.Unix() / 60
	if c.cachedOK && c.cachedAt == m {
		return c.cached[0], c.cached[1], c.cached[2]
	}
	defer func() { c.cached, c.cachedAt, c.cachedOK = [3]int{minute, hour, day}, m, true }()
	for back := int64(0); back < 1440; back++ {
		i := (m - back) % 1440
		if c.stamp[i] != m-back {
			continue
		}
		n := int(c.minutes[i])
		if back == 0 {
			minute += n
		}
		if back < 60 {
			hour += n
		}
		day += n
	}
	return minute, hour, day
}

func (st *stats) delete(tenant, sess string) {
	st.mu.Lock()
	delete(st.sessions, [2]string{tenant, sess})
	st.mu.Unlock()
}

func (st *stats) forget(tenant string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for k := range st.sessions {
		if k[0] == tenant {
			delete(st.sessions, k)
		}
	}
}

var _ queue.Failover = (*Steer)(nil)
