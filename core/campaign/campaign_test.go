package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/store"
)

// fakeSource is a list in memory, in chat id order.
type fakeSource struct {
	mu       sync.Mutex
	contacts []Contact
	columns  []string
	optedOut map[string]bool
	gone     bool // the list was deleted
}

func newSource(n int) *fakeSource {
	f := &fakeSource{columns: []string{"city"}, optedOut: map[string]bool{}}
	for i := range n {
		id := chatid.ID{Local: fmt.Sprintf("1555%07d", i), Server: chatid.User}
		f.contacts = append(f.contacts, Contact{ChatID: id, Name: fmt.Sprintf("N%d", i), Attrs: map[string]string{"city": fmt.Sprintf("C%d", i)}})
	}
	sort.Slice(f.contacts, func(i, j int) bool { return f.contacts[i].ChatID.String() < f.contacts[j].ChatID.String() })
	return f
}

func (f *fakeSource) List(ctx context.Context, tenant, id string) ([]string, int, error) {
	if tenant != "acme" || id != "lst_1" {
		return nil, 0, ErrListNotFound
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.columns, len(f.contacts), nil
}

func (f *fakeSource) Contacts(ctx context.Context, tenant, id, after string, n int) ([]Contact, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return nil, "", ErrListNotFound
	}
	i := sort.Search(len(f.contacts), func(i int) bool { return f.contacts[i].ChatID.String() > after })
	end := min(i+n, len(f.contacts))
	next := ""
	if end < len(f.contacts) {
		next = f.contacts[end-1].ChatID.String()
	}
	return slices.Clone(f.contacts[i:end]), next, nil
}

func (f *fakeSource) OptedOut(txn *badger.Txn, tenant string, chat chatid.ID) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.optedOut[chat.String()], nil
}

// recordSender records every send, per chat; gate, when set, lets one send through per
// token.
type recordSender struct {
	mu     sync.Mutex
	byChat map[string][]provider.Outbound
	by     map[string]int // session -> sends
	gate   chan struct{}
}

func (r *recordSender) Send(ctx context.Context, tenant, session string, msg provider.Outbound) (provider.SendResult, error) {
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return provider.SendResult{}, ctx.Err()
		}
	}
	r.mu.Lock()
	r.byChat[msg.ChatID.String()] = append(r.byChat[msg.ChatID.String()], msg)
	r.by[session]++
	r.mu.Unlock()
	return provider.SendResult{ProviderID: "P" + msg.ID}, nil
}

// rig is a campaign service over a real queue and dispatcher with a recording sender.
type rig struct {
	t      *testing.T
	db     *store.DB
	q      *queue.Queue
	d      *queue.Dispatcher
	s      *Service
	src    *fakeSource
	sender *recordSender
	mu     sync.Mutex
	events []event.Envelope
	// noSessions makes every route fail and no session usable.
	noSessions atomic.Bool
}

var sessionNames = []string{"s0", "s1", "s2", "s3", "s4"}

func newRig(t *testing.T, dir string, src *fakeSource, sender *recordSender, o Options) *rig {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir, SyncWrites: false})
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(db, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, db: db, q: q, src: src, sender: sender}
	d := queue.NewDispatcher(q, sender, queue.DispatchOptions{})
	r.d = d
	var next int
	var routeMu sync.Mutex
	r.s = New(db, Deps{
		Source: src, Queue: q, Cancel: d.Cancel,
		Route: func(ctx context.Context, tenant string, m policy.Message, among []string) (string, error) {
			names := among
			if names == nil {
				names = sessionNames
			}
			if r.noSessions.Load() {
				return "", errors.New("no WORKING session")
			}
			routeMu.Lock()
			defer routeMu.Unlock()
			next++
			return names[next%len(names)], nil
		},
		SessionExists: func(ctx context.Context, tenant, name string) error {
			if !slices.Contains(sessionNames, name) {
				return errors.New("no such session")
			}
			return nil
		},
		Usable: func(ctx context.Context, tenant string, among []string) (bool, error) {
			return !r.noSessions.Load(), nil
		},
		Count:      func(ctx context.Context, tenant string, n int) error { return nil },
		Uncount:    func(tenant string, n int) {},
		WriteUsage: func(txn *badger.Txn, tenant string) error { return nil },
		Publish: func(e event.Envelope) {
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
		},
	}, o)
	q.SetTracker(r.s)
	for _, n := range sessionNames {
		d.SessionStatus("acme", n, true)
	}
	return r
}

func (r *rig) close() {
	r.s.Close()
	r.d.Close()
	r.q.Close()
	r.db.Close()
}

// waitStatus polls the campaign (with a deadline) until it has status want.
func (r *rig) waitStatus(id string, want Status) Campaign {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := r.s.Get(context.Background(), "acme", id)
		if err == nil && c.Status == want {
			return c
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("campaign %s is %s (%+v), want %s", id, c.Status, c.Counts, want)
		}
		time.Sleep(10 * time.Millisecond) // polling the store with a deadline
	}
}

// checkCounts checks that each recipient is in exactly one count.
func checkCounts(t *testing.T, c Campaign) {
	t.Helper()
	n := c.Counts
	if sum := n.Pending + n.Queued + n.Sent + n.Delivered + n.Read + n.Failed + n.OptedOut; sum != n.Total {
		t.Fatalf("counts %+v add up to %d, total %d", n, sum, n.Total)
	}
}

func spec() Spec {
	return Spec{Name: "promo", ListID: "lst_1", Msg: Message{Type: provider.KindText, Text: "Hi {{name}} of {{attrs.city}}{{attrs.zip| (no zip)}}"}}
}

// A campaign over five sessions: every contact but the opted-out gets exactly one
// message with its own values, spread over the sessions; pause stops the feed, resume
// goes on; the counts add up at every step.
func TestCampaignRunsOnceEach(t *testing.T) {
	src := newSource(1000)
	for i := 0; i < 1000; i += 100 {
		src.optedOut[src.contacts[i].ChatID.String()] = true
	}
	sender := &recordSender{byChat: map[string][]provider.Outbound{}, by: map[string]int{}, gate: make(chan struct{})}
	r := newRig(t, t.TempDir(), src, sender, Options{ChunkSize: 50, MaxInFlight: 200})
	defer r.close()
	ctx := context.Background()
	c, err := r.s.Create(ctx, "acme", spec())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.Start(ctx, "acme", c.ID); err != nil {
		t.Fatal(err)
	}
	// Let 300 through, then pause: at most MaxInFlight more get queued meanwhile.
	for range 300 {
		sender.gate <- struct{}{}
	}
	c, err = r.s.Pause(ctx, "acme", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, c)
	if c.Counts.Pending == 0 {
		t.Fatalf("paused with nothing pending: %+v", c.Counts)
	}
	close(sender.gate) // every queued message may go now
	time.Sleep(100 * time.Millisecond)
	paused, _ := r.s.Get(ctx, "acme", c.ID)
	checkCounts(t, paused)
	if paused.Counts.Pending != c.Counts.Pending {
		t.Fatalf("a paused campaign queued more: pending %d then %d", c.Counts.Pending, paused.Counts.Pending)
	}
	if _, err := r.s.Resume(ctx, "acme", c.ID); err != nil {
		t.Fatal(err)
	}
	done := r.waitStatus(c.ID, StatusCompleted)
	checkCounts(t, done)
	if done.Counts.OptedOut != 10 || done.Counts.Sent != 990 || done.Counts.Total != 1000 || done.Counts.Pending != 0 {
		t.Fatalf("final counts %+v", done.Counts)
	}
	sender.mu.Lock()
	defer sender.mu.Unlock()
	for i, ct := range src.contacts {
		got := sender.byChat[ct.ChatID.String()]
		if src.optedOut[ct.ChatID.String()] {
			if len(got) != 0 {
				t.Fatalf("opted-out %s got %d messages", ct.ChatID, len(got))
			}
			continue
		}
		want := "Hi " + ct.Name + " of " + ct.Attrs["city"] + "(no zip)"
		if len(got) != 1 || got[0].Text != want {
			t.Fatalf("contact %d (%s) got %d messages (%v), want one %q", i, ct.ChatID, len(got), got, want)
		}
	}
	for _, n := range sessionNames {
		if sender.by[n] < 150 {
			t.Errorf("session %s sent %d of 990: not spread", n, sender.by[n])
		}
	}
	list, next, err := r.s.Recipients(ctx, "acme", c.ID, RecipientOptedOut, "", 1000)
	if err != nil || len(list) != 10 || next != "" {
		t.Fatalf("opted-out recipients: %d, next %q, %v", len(list), next, err)
	}
}

// A service closed mid-campaign and opened again on the same store resumes from its
// cursor: nobody is skipped, nobody gets the message twice.
func TestCampaignResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	src := newSource(600)
	sender := &recordSender{byChat: map[string][]provider.Outbound{}, by: map[string]int{}, gate: make(chan struct{})}
	r := newRig(t, dir, src, sender, Options{ChunkSize: 40, MaxInFlight: 120})
	ctx := context.Background()
	c, err := r.s.Create(ctx, "acme", spec())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.Start(ctx, "acme", c.ID); err != nil {
		t.Fatal(err)
	}
	for range 150 {
		sender.gate <- struct{}{}
	}
	r.close() // messages queued or in flight stay in the store

	sender.gate = nil
	r = newRig(t, dir, src, sender, Options{ChunkSize: 40, MaxInFlight: 120})
	defer r.close()
	if err := r.s.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	done := r.waitStatus(c.ID, StatusCompleted)
	checkCounts(t, done)
	sender.mu.Lock()
	defer sender.mu.Unlock()
	for _, ct := range src.contacts {
		got := sender.byChat[ct.ChatID.String()]
		if len(got) == 0 || len(got) > 2 {
			t.Fatalf("%s got %d messages", ct.ChatID, len(got))
		}
		if len(got) == 2 && got[0].ID != got[1].ID {
			t.Fatalf("%s got two different messages: %s and %s", ct.ChatID, got[0].ID, got[1].ID)
		}
	}
	if done.Counts.Sent != 600 {
		t.Fatalf("final counts %+v", done.Counts)
	}
}

// Bad specs are refused with the error the API maps to a code.
func TestCampaignSpecErrors(t *testing.T) {
	r := newRig(t, t.TempDir(), newSource(3), &recordSender{byChat: map[string][]provider.Outbound{}, by: map[string]int{}}, Options{MaxCampaigns: 2})
	defer r.close()
	ctx := context.Background()
	mod := func(f func(*Spec)) Spec { s := spec(); f(&s); return s }
	for _, c := range []struct {
		name string
		spec Spec
		want error
	}{
		{"no name", mod(func(s *Spec) { s.Name = " " }), ErrInvalid},
		{"other list", mod(func(s *Spec) { s.ListID = "lst_2" }), ErrListNotFound},
		{"unknown column", mod(func(s *Spec) { s.Msg.Text = "{{attrs.zip}}" }), ErrUnknownVariable},
		{"unknown variable", mod(func(s *Spec) { s.Msg.Text = "{{first_name}}" }), ErrUnknownVariable},
		{"no text", mod(func(s *Spec) { s.Msg.Text = "" }), ErrInvalid},
		{"image without file", mod(func(s *Spec) { s.Msg.Type = provider.KindImage }), ErrInvalid},
		{"poll", mod(func(s *Spec) { s.Msg.Type = provider.KindPoll }), ErrInvalid},
		{"unknown session", mod(func(s *Spec) { s.Sessions = []string{"s9"} }), ErrSessionNotFound},
		{"bad rate", mod(func(s *Spec) { s.Rate.PerMinute = -1 }), ErrInvalid},
		{"bad zone", mod(func(s *Spec) { s.Window = &Window{Timezone: "Mars/Olympus"} }), ErrInvalid},
		{"from after to", mod(func(s *Spec) { s.Window = &Window{From: "18:00", To: "09:00"} }), ErrInvalid},
		{"bad day", mod(func(s *Spec) { s.Window = &Window{Days: []string{"someday"}} }), ErrInvalid},
		{"template var", mod(func(s *Spec) {
			s.Msg = Message{Type: provider.KindTemplate, Template: &provider.Template{Name: "t", Language: "en", Components: []byte(`[{"text":"{{nope}}"}]`)}}
		}), ErrUnknownVariable},
	} {
		if _, err := r.s.Create(ctx, "acme", c.spec); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	a, _ := r.s.Create(ctx, "acme", spec())
	if _, err := r.s.Create(ctx, "acme", spec()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.Create(ctx, "acme", spec()); !errors.Is(err, ErrTooMany) {
		t.Fatalf("a third live campaign: %v", err)
	}
	if _, err := r.s.Get(ctx, "globex", a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another tenant's campaign: %v", err)
	}
	if _, err := r.s.Resume(ctx, "acme", a.ID); !errors.Is(err, ErrState) {
		t.Fatalf("resuming a draft: %v", err)
	}
	if _, err := r.s.Cancel(ctx, "acme", a.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.s.Delete(ctx, "acme", a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.Get(ctx, "acme", a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted campaign: %v", err)
	}
}

func TestTemplateRender(t *testing.T) {
	ct := Contact{ChatID: chatid.MustParse("15551234567@c.us"), Name: "Ann", Attrs: map[string]string{"city": "Bogor", "empty": ""}}
	for _, c := range []struct{ in, want string }{
		{"Hi {{name}}", "Hi Ann"},
		{"{{ attrs.city }} / {{attrs.empty|none}} / {{attrs.zip|-}}", "Bogor / none / -"},
		{"{{phone}} {{chatId}}", "15551234567 15551234567@c.us"},
		{"no vars {{ unclosed", "no vars {{ unclosed"},
		{"{{name|x|y}}", "Ann"},
	} {
		if got := parseTemplate(c.in).render(ct, nil); got != c.want {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
	if got := parseTemplate(`{"t":"{{name}}"}`).render(Contact{Name: `a"b`}, jsonEscape); got != `{"t":"a\"b"}` {
		t.Errorf("escaped: %s", got)
	}
}

func TestWindowNext(t *testing.T) {
	w, err := Window{From: "09:00", To: "18:00", Timezone: "Asia/Jakarta", Days: []string{"mon", "tue", "wed", "thu", "fri"}}.compile()
	if err != nil {
		t.Fatal(err)
	}
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	for _, c := range []struct{ now, want time.Time }{
		{time.Date(2026, 12, 7, 10, 0, 0, 0, jkt), time.Date(2026, 12, 7, 10, 0, 0, 0, jkt)},  // Monday, open
		{time.Date(2026, 12, 7, 8, 0, 0, 0, jkt), time.Date(2026, 12, 7, 9, 0, 0, 0, jkt)},    // before opening
		{time.Date(2026, 12, 7, 18, 0, 0, 0, jkt), time.Date(2026, 12, 8, 9, 0, 0, 0, jkt)},   // closed: tomorrow
		{time.Date(2026, 12, 11, 19, 0, 0, 0, jkt), time.Date(2026, 12, 14, 9, 0, 0, 0, jkt)}, // Friday night: Monday
	} {
		if got := w.next(c.now); !got.Equal(c.want) {
			t.Errorf("next(%v) = %v, want %v", c.now, got, c.want)
		}
	}
	if !strings.Contains(fmt.Sprint(Window{From: "9"}.compile()), "invalid") {
		t.Error("a half window was accepted")
	}
}
