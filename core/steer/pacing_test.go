package steer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/route"
	"github.com/wagate/wagate/core/session"
	"github.com/wagate/wagate/core/store"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 30, 0, time.UTC)

// Sends to one chat in the last hour, the last send within 24 hours, and first contacts
// over 24 hours, per session.
func TestChatsWindows(t *testing.T) {
	c := newChats()
	c.add("acme", "s", "1@c.us", t0.Add(-25*time.Hour), true) // outside every window
	c.add("acme", "s", "1@c.us", t0.Add(-2*time.Hour), false)
	c.add("acme", "s", "1@c.us", t0.Add(-59*time.Minute), false)
	c.add("acme", "s", "1@c.us", t0, false)
	c.add("acme", "s", "2@c.us", t0.Add(-23*time.Hour), true)
	c.add("acme", "s", "3@c.us", t0.Add(-time.Minute), true)
	c.add("acme", "other", "1@c.us", t0, true)

	hour, last, first := c.get("acme", "s", "1@c.us", t0)
	if hour != 2 || !last.Equal(t0) || first != 2 {
		t.Errorf("1@c.us: hour %d last %v first contacts %d; want 2, %v, 2", hour, last, first, t0)
	}
	if hour, last, _ := c.get("acme", "s", "2@c.us", t0); hour != 0 || !last.Equal(t0.Add(-23*time.Hour)) {
		t.Errorf("2@c.us: hour %d last %v", hour, last)
	}
	if _, last, _ := c.get("acme", "s", "2@c.us", t0.Add(2*time.Hour)); !last.IsZero() {
		t.Errorf("a send 25 hours ago still counts as recent: %v", last)
	}
	if hour, last, first := c.get("acme", "s", "9@c.us", t0); hour != 0 || !last.IsZero() || first != 2 {
		t.Errorf("unknown chat: %d %v %d", hour, last, first)
	}
	c.forget("acme")
	if _, _, first := c.get("acme", "s", "1@c.us", t0); first != 0 {
		t.Errorf("after forget: %d first contacts", first)
	}
}

// The per-chat send times are bounded, and chats not sent to for a day are swept.
func TestChatsBounded(t *testing.T) {
	c := newChats()
	for i := range 3 * maxChatSends {
		c.add("acme", "s", "1@c.us", t0.Add(time.Duration(i)*time.Second), false)
	}
	now := t0.Add(3 * maxChatSends * time.Second)
	if hour, _, _ := c.get("acme", "s", "1@c.us", now); hour != maxChatSends {
		t.Errorf("hour count %d, want it saturated at %d", hour, maxChatSends)
	}
	if n := len(c.sessions[[2]string{"acme", "s"}].older[chatKey("1@c.us")]) + 1; n != maxChatSends {
		t.Errorf("%d send times kept, want %d", n, maxChatSends)
	}
	// One old chat, then enough sends to trigger a sweep a day later.
	c.add("acme", "s", "old@c.us", t0, false)
	later := t0.Add(25 * time.Hour)
	for i := range sweepEvery {
		c.add("acme", "s", "1@c.us", later.Add(time.Duration(i)*time.Millisecond), false)
	}
	if _, ok := c.sessions[[2]string{"acme", "s"}].last[chatKey("old@c.us")]; ok {
		t.Error("a chat not sent to for 25 hours survived the sweep")
	}
	sc := &sessionChats{last: map[uint64]int64{}, older: map[uint64][]int64{}}
	for i := range maxChats + 10 {
		k := chatKey(string(rune('a'+i%26)) + time.Duration(i).String())
		sc.last[k] = t0.UnixMilli()
		if i%1000 == 0 {
			sc.older[k] = []int64{t0.UnixMilli() - 1}
		}
	}
	sc.sweep(t0.UnixMilli())
	for k := range sc.older {
		if _, ok := sc.last[k]; !ok {
			t.Errorf("%x: older sends kept for a chat the sweep forgot", k)
		}
	}
	if n := len(sc.last); n > maxChats*9/10 {
		t.Errorf("%d chats after a sweep over the bound, want at most %d", n, maxChats*9/10)
	}
}

// fakeProvider is a provider that can show typing, for the watch and BeforeSend.
type fakeProvider struct {
	provider.Provider
	typing    []bool
	typingErr error
}

func (p *fakeProvider) SetTyping(_ context.Context, _ chatid.ID, on bool) error {
	p.typing = append(p.typing, on)
	return p.typingErr
}

type fakeFactory struct {
	p    provider.Provider
	sink provider.Sink
}

func (f *fakeFactory) Name() string { return "fake" }
func (f *fakeFactory) New(_ provider.Spec, sink provider.Sink) (provider.Provider, error) {
	f.sink = sink
	return f.p, nil
}

type validatingFactory struct{ fakeFactory }

func (validatingFactory) ValidateConfig(raw json.RawMessage) error {
	if string(raw) == "bad" {
		return errors.New("bad")
	}
	return nil
}

// The watch records restrictions with their end, lifts them, lets a ban outrank a
// timelock, gives an unknown end the configured pause, and forgets them on logout.
func TestWatchRestrictions(t *testing.T) {
	now := t0
	reg := prometheus.NewRegistry()
	w := NewWatch(WatchOptions{PauseUnknown: 6 * time.Hour, Registerer: reg, Now: func() time.Time { return now }})
	f := &fakeFactory{p: &fakeProvider{}}
	var passed []provider.Event
	if _, err := w.Factory(f).New(provider.Spec{Tenant: "acme", Session: "s"}, func(ev provider.Event) { passed = append(passed, ev) }); err != nil {
		t.Fatal(err)
	}
	check := func(name, reason string, until time.Time) {
		t.Helper()
		r, u := w.Restriction("acme", "s", now)
		if r != reason || !u.Equal(until) {
			t.Errorf("%s: restriction %q until %v, want %q until %v", name, r, u, reason, until)
		}
	}
	check("none", "", time.Time{})
	f.sink(provider.RestrictionEvent{Reason: provider.RestrictionReachout, Active: true})
	check("timelock, end unknown", provider.RestrictionReachout, t0.Add(6*time.Hour))
	f.sink(provider.RestrictionEvent{Reason: provider.RestrictionTemporaryBan, Active: true, Until: t0.Add(time.Hour)})
	check("ban over a timelock", provider.RestrictionTemporaryBan, t0.Add(time.Hour))
	f.sink(provider.RestrictionEvent{Reason: provider.RestrictionReachout, Active: true, Until: t0.Add(48 * time.Hour)})
	check("timelock during a ban", provider.RestrictionTemporaryBan, t0.Add(time.Hour))
	if got := testutil.ToFloat64(w.metrics.restrictions.WithLabelValues("reachout_timelock")); got != 1 {
		t.Errorf("reachout restrictions counted %v, want 1 (the one outranked is not)", got)
	}
	if n, err := testutil.GatherAndCount(reg, "wagate_pacing_restricted_sessions"); err != nil || n != 2 {
		t.Errorf("restricted sessions gauge: %d series, %v", n, err)
	}
	now = t0.Add(time.Hour)
	check("ban over", "", time.Time{})
	f.sink(provider.RestrictionEvent{Reason: provider.RestrictionTemporaryBan, Active: true})
	check("ban again", provider.RestrictionTemporaryBan, now.Add(6*time.Hour))
	f.sink(provider.RestrictionEvent{Reason: provider.RestrictionReachout, Active: false})
	check("lifting another reason", provider.RestrictionTemporaryBan, now.Add(6*time.Hour))
	f.sink(provider.RestrictionEvent{Reason: provider.RestrictionTemporaryBan, Active: false})
	check("lifted", "", time.Time{})
	f.sink(provider.RestrictionEvent{Reason: provider.RestrictionTemporaryBan, Active: true})
	f.sink(provider.StatusEvent{Status: provider.StatusLoggedOut})
	check("logged out", "", time.Time{})
	if len(passed) != 8 {
		t.Errorf("%d events reached the session manager's sink, want every one (8)", len(passed))
	}
	if r, _ := w.Restriction("other", "s", now); r != "" {
		t.Errorf("another tenant's session is restricted: %q", r)
	}
}

// The watch records a pairing completed in this process, keeps the provider for
// typing, passes config validation through, and forgets deleted sessions.
func TestWatchPairingAndProviders(t *testing.T) {
	now := t0
	w := NewWatch(WatchOptions{Now: func() time.Time { return now }})
	p := &fakeProvider{}
	f := &validatingFactory{fakeFactory{p: p}}
	wf := w.Factory(f)
	v, ok := wf.(provider.ConfigValidator)
	if !ok || v.ValidateConfig([]byte("bad")) == nil || v.ValidateConfig([]byte("{}")) != nil {
		t.Fatal("the wrapped factory does not validate as the provider's does")
	}
	if _, ok := w.Factory(&fakeFactory{}).(provider.ConfigValidator); ok {
		t.Error("a factory without validation gained one")
	}
	if wf.Name() != "fake" {
		t.Errorf("name %q", wf.Name())
	}
	got, err := wf.New(provider.Spec{Tenant: "acme", Session: "s"}, func(provider.Event) {})
	if err != nil || got != provider.Provider(p) {
		t.Fatalf("the provider was not returned unchanged: %v %v", got, err)
	}
	if tp, kind := w.Typer("acme", "s"); tp == nil || kind != "fake" {
		t.Errorf("typer lookup: %v %q", tp, kind)
	}
	if tp, kind := w.Typer("acme", "t"); tp != nil || kind != "" {
		t.Errorf("typer of an unknown session: %v %q", tp, kind)
	}
	f.sink(provider.StatusEvent{Status: provider.StatusWorking}) // linked before: no pairing
	if !w.Paired("acme", "s").IsZero() {
		t.Error("a reconnect counted as a pairing")
	}
	f.sink(provider.QREvent{Code: "2@x"})
	now = t0.Add(time.Minute)
	f.sink(provider.StatusEvent{Status: provider.StatusWorking})
	now = t0.Add(time.Hour)
	f.sink(provider.StatusEvent{Status: provider.StatusWorking})
	if got := w.Paired("acme", "s"); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("paired at %v, want the first WORKING after the QR code", got)
	}
	w.Delete("acme", "s")
	if tp, _ := w.Typer("acme", "s"); tp != nil || !w.Paired("acme", "s").IsZero() {
		t.Error("a deleted session is remembered")
	}
}

// BeforeSend shows typing for the decided time where the provider can, counts what it
// did, and never fails a send because of the indicator.
func TestBeforeSend(t *testing.T) {
	reg := prometheus.NewRegistry()
	w := NewWatch(WatchOptions{Registerer: reg})
	p := &fakeProvider{}
	f := &fakeFactory{p: p}
	if _, err := w.Factory(f).New(provider.Spec{Tenant: "acme", Session: "s"}, func(provider.Event) {}); err != nil {
		t.Fatal(err)
	}
	var waited []time.Duration
	var kinds []string
	s := &Steer{watch: w, typing: func(kind string, m provider.Outbound) time.Duration {
		kinds = append(kinds, kind)
		return time.Duration(len(m.Text)) * time.Second
	},
		wait: func(ctx context.Context, d time.Duration) error { waited = append(waited, d); return ctx.Err() }}
	msg := provider.Outbound{ChatID: chatid.ID{Local: "15551230000", Server: chatid.User}, Kind: provider.KindText, Text: "hey"}
	ctx := context.Background()
	if err := s.BeforeSend(ctx, "acme", "s", msg); err != nil {
		t.Fatal(err)
	}
	if len(p.typing) != 2 || !p.typing[0] || p.typing[1] || len(waited) != 1 || waited[0] != 3*time.Second {
		t.Errorf("typing calls %v, waits %v; want on, 3s, off", p.typing, waited)
	}
	if kinds[0] != "fake" {
		t.Errorf("typing decided for provider %q, want the session's (fake)", kinds[0])
	}
	if err := s.BeforeSend(ctx, "acme", "s", provider.Outbound{ChatID: msg.ChatID, Kind: provider.KindText}); err != nil || len(p.typing) != 2 {
		t.Errorf("zero duration still typed: %v %v", p.typing, err)
	}
	if err := s.BeforeSend(ctx, "acme", "nobody", msg); err != nil {
		t.Errorf("no provider: %v", err)
	}
	p.typingErr = errors.New("not connected")
	if err := s.BeforeSend(ctx, "acme", "s", msg); err != nil || len(waited) != 1 {
		t.Errorf("a refused indicator: err %v, waits %v (want the send to go on at once)", err, waited)
	}
	p.typingErr = nil
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.BeforeSend(cctx, "acme", "s", msg); !errors.Is(err, context.Canceled) || p.typing[len(p.typing)-1] {
		t.Errorf("canceled wait: %v, typing left %v", err, p.typing)
	}
	for outcome, want := range map[string]float64{"shown": 2, "failed": 1, "unsupported": 1} {
		if got := testutil.ToFloat64(w.metrics.typing.WithLabelValues(outcome)); got != want {
			t.Errorf("typing %s counted %v, want %v", outcome, got, want)
		}
	}
	if got := testutil.ToFloat64(w.metrics.typingSeconds); got != 6 {
		t.Errorf("typing seconds %v, want 6", got)
	}
	// Without a typing decision nothing happens.
	s.typing = nil
	n := len(p.typing)
	if err := s.BeforeSend(ctx, "acme", "s", msg); err != nil || len(p.typing) != n {
		t.Error("typed without a Typing decision")
	}
}

// The candidate's pacing fields: link time, inbound, per-chat counts, first contact,
// restriction.
func TestPacingFields(t *testing.T) {
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := t0
	w := NewWatch(WatchOptions{Now: func() time.Time { return now }})
	f := &fakeFactory{p: &fakeProvider{}}
	if _, err := w.Factory(f).New(provider.Spec{Tenant: "acme", Session: "s"}, func(provider.Event) {}); err != nil {
		t.Fatal(err)
	}
	contacts := route.New(db)
	s := &Steer{contacts: contacts, stats: newStats(), chats: newChats(), watch: w}
	in := session.Info{Name: "s", CreatedAt: t0.Add(-72 * time.Hour)}
	fill := func(chat string) policy.Candidate {
		var c policy.Candidate
		s.pacing(&c, "acme", in, s.chat("acme", chat), chat, now)
		return c
	}

	c := fill("1@c.us")
	if !c.LinkedAt.Equal(in.CreatedAt) || !c.FirstContact || c.ChatSentHour != 0 || c.PauseReason != "" {
		t.Errorf("new chat of a session linked before the gateway knew: %+v", c)
	}
	s.chats.add("acme", "s", "1@c.us", now, c.FirstContact)
	c = fill("1@c.us")
	if c.FirstContact || c.ChatSentHour != 1 || c.FirstContactsDay != 1 {
		t.Errorf("after one send: %+v", c)
	}
	if c := fill("2@c.us"); !c.FirstContact || c.FirstContactsDay != 1 {
		t.Errorf("another new chat: %+v", c)
	}
	if err := contacts.RecordInbound("acme", "3@c.us", "s"); err != nil {
		t.Fatal(err)
	}
	if c := fill("3@c.us"); c.FirstContact || c.LastInbound.IsZero() {
		t.Errorf("a chat that wrote: %+v", c)
	}

	// Pairing seen in this process, then the account's own link time, win over creation.
	f.sink(provider.QREvent{})
	f.sink(provider.StatusEvent{Status: provider.StatusWorking})
	if c := fill("1@c.us"); !c.LinkedAt.Equal(now) {
		t.Errorf("linked %v, want the pairing seen at %v", c.LinkedAt, now)
	}
	in.Me = &provider.Account{LinkedAt: t0.Add(-time.Hour * 1000)}
	if c := fill("1@c.us"); !c.LinkedAt.Equal(in.Me.LinkedAt) {
		t.Errorf("linked %v, want the account's %v", c.LinkedAt, in.Me.LinkedAt)
	}

	f.sink(provider.RestrictionEvent{Reason: provider.RestrictionTemporaryBan, Active: true, Until: t0.Add(time.Hour)})
	if c := fill("1@c.us"); c.PauseReason != provider.RestrictionTemporaryBan || !c.PausedUntil.Equal(t0.Add(time.Hour)) {
		t.Errorf("restriction: %q until %v", c.PauseReason, c.PausedUntil)
	}
	s.Delete("acme", "s")
	if c := fill("1@c.us"); c.PauseReason != "" || c.FirstContactsDay != 0 {
		t.Errorf("after delete: %+v", c)
	}
}

// A message counts once in its chat's statistics: a retry counts in the session's sends
// (a provider call) but not again for the chat.
func TestCountOncePerMessage(t *testing.T) {
	s := &Steer{stats: newStats(), chats: newChats()}
	m := queue.Message{ChatID: "1@c.us"}
	s.count("acme", "s", m, true, t0)
	m.Attempts = 1 // the first send failed; the retry is allowed
	s.count("acme", "s", m, false, t0.Add(time.Second))
	if _, hour, _, last := s.stats.counts("acme", "s", t0.Add(time.Second)); hour != 2 || !last.Equal(t0.Add(time.Second)) {
		t.Errorf("session sends %d (last %v), want both calls", hour, last)
	}
	if hour, _, first := s.chats.get("acme", "s", "1@c.us", t0.Add(time.Second)); hour != 1 || first != 1 {
		t.Errorf("chat sends %d, first contacts %d; want the message once", hour, first)
	}
}

// TestChatsMemory: a chat sent to once (every contact of a campaign) costs at most
// 45 bytes of live heap: its statistics are keyed by a hash of its id, and no string
// is kept, so the id's message record cannot be pinned either (it was 51 bytes plus
// the id's copy with string keys; 91 with a record per chat).
func TestChatsMemory(t *testing.T) {
	const n = 20_000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("1555%07d@c.us|the rest of a decoded record", i)[:16]
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c := newChats()
	for i, name := range names {
		c.add("acme", "s", name, t0.Add(time.Duration(i)*time.Millisecond), true)
	}
	names = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	if perChat := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n; perChat > 45 {
		t.Errorf("%.1f bytes of live heap per chat, want at most 45", perChat)
	}
	if hour, _, _ := c.get("acme", "s", "15550000007@c.us", t0.Add(time.Second)); hour != 1 {
		t.Errorf("a chat sent to once counts %d sends in the hour, want 1", hour)
	}
	runtime.KeepAlive(c)
}
