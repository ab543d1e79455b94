package campaign

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/time/rate"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/session"
	"github.com/wagate/wagate/core/store"
)

// runner feeds one running campaign into the queue (docs/campaigns.md, "How it runs").
type runner struct {
	s            *Service
	tenant, id   string
	wake         chan struct{}
	limiter      *rate.Limiter
	lastProgress time.Time
	// unusable is since when none of the campaign's sessions is usable (zero: some is).
	unusable time.Time
}

// How long a runner waits before looking again when nothing pokes it.
const (
	idleRecheck  = time.Second
	blockedRetry = 5 * time.Second
)

// run starts the campaign's runner unless it has one.
func (s *Service) run(tenant, id string) {
	k := runKey{tenant, id}
	s.mu.Lock()
	if s.closed || s.runners[k] != nil {
		s.mu.Unlock()
		return
	}
	r := &runner{s: s, tenant: tenant, id: id, wake: make(chan struct{}, 1)}
	s.runners[k] = r
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		r.loop()
		s.mu.Lock()
		delete(s.runners, k)
		s.mu.Unlock()
	}()
}

// poke wakes the campaign's runner, if it has one; it never blocks.
func (s *Service) poke(tenant, id string) {
	s.mu.Lock()
	r := s.runners[runKey{tenant, id}]
	s.mu.Unlock()
	if r != nil {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// wait sleeps d or until poked; false when the service is closing.
func (r *runner) wait(d time.Duration) bool {
	ctx, cancel := context.WithCancel(r.s.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.s.opts.Sleep(ctx, d) }()
	select {
	case <-r.wake:
		cancel()
		<-done
		return r.s.ctx.Err() == nil
	case err := <-done:
		return err == nil && r.s.ctx.Err() == nil
	}
}

// setWaiting records what the campaign waits for ("" none), when it changed.
func (r *runner) setWaiting(c Campaign, why string) {
	if c.Waiting == why {
		return
	}
	_ = r.s.update(r.tenant, r.id, func(_ *badger.Txn, cur *Campaign) error {
		if cur.Status == StatusRunning {
			cur.Waiting = why
		}
		return nil
	})
}

// loop runs until the campaign is no longer running (or scheduled) or the service
// closes.
func (r *runner) loop() {
	s := r.s
	for s.ctx.Err() == nil {
		c, st, err := r.read()
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return
			}
			if !r.wait(blockedRetry) {
				return
			}
			continue
		}
		r.progress(c)
		switch c.Status {
		case StatusScheduled:
			if c.StartAt != nil {
				if d := c.StartAt.Sub(s.opts.Now()); d > 0 {
					if !r.wait(min(d, time.Minute)) {
						return
					}
					continue
				}
			}
			if _, err := s.transition(r.tenant, r.id, StatusRunning, "", StatusScheduled); err != nil && !errors.Is(err, ErrState) {
				r.wait(blockedRetry)
			}
			continue
		case StatusRunning:
		default:
			return // paused, over, or a draft again: the runner's work is done
		}
		if c.MaxFailures > 0 && st.Counts.Failed >= c.MaxFailures {
			_, _ = s.transition(r.tenant, r.id, StatusPaused, "max_failures", StatusRunning)
			continue
		}
		if st.Done {
			if st.Counts.Queued == 0 {
				_, _ = s.transition(r.tenant, r.id, StatusCompleted, "", StatusRunning)
				continue
			}
			if !r.wait(idleRecheck) {
				return
			}
			continue
		}
		if ok := r.step(c, st); !ok {
			return
		}
	}
}

// read loads the campaign with its state.
func (r *runner) read() (Campaign, state, error) {
	var c Campaign
	var st state
	err := r.s.db.View(func(txn *badger.Txn) error {
		var err error
		if c, err = r.s.load(txn, r.tenant, r.id); err != nil {
			return err
		}
		st, err = progress.Get(txn, r.tenant, r.id)
		if err != nil && errors.Is(err, store.ErrNotFound) {
			err = nil
		}
		return err
	})
	return c, st, err
}

// progress publishes campaign.progress, at most once a second.
func (r *runner) progress(c Campaign) {
	now := time.Now()
	if now.Sub(r.lastProgress) < time.Second {
		return
	}
	r.lastProgress = now
	r.s.deps.Publish(event.New(event.CampaignProgress, r.tenant, "", ProgressEvent{ID: c.ID, Name: c.Name, Status: c.Status, Counts: c.Counts}))
}

// step queues the next chunk, or waits for what holds it back; false when the service
// is closing.
func (r *runner) step(c Campaign, st state) bool {
	s := r.s
	now := s.opts.Now()
	if c.Window != nil {
		w, err := c.Window.compile()
		if err == nil {
			if open := w.next(now); open.After(now) {
				r.setWaiting(c, "window")
				return r.wait(min(open.Sub(now), time.Minute))
			}
		}
	}
	room := s.opts.MaxInFlight - st.Counts.Queued
	if room <= 0 {
		r.setWaiting(c, "in_flight")
		return r.wait(idleRecheck)
	}
	n := min(s.opts.ChunkSize, room)
	if s.deps.Remaining != nil {
		left, limited, err := s.deps.Remaining(s.ctx, r.tenant)
		if err != nil {
			return r.wait(blockedRetry)
		}
		if limited && left <= 0 {
			// The day's quota is spent: the campaign goes on the next UTC day. It looks
			// again every minute meanwhile (a plan raised, messages given back).
			r.setWaiting(c, "quota")
			return r.wait(min(nextDay(now).Sub(now), time.Minute))
		}
		if limited {
			n = min(n, left)
		}
	}
	if c.Rate.PerMinute > 0 {
		if r.limiter == nil {
			r.limiter = rate.NewLimiter(rate.Limit(float64(c.Rate.PerMinute)/60), max(1, min(c.Rate.PerMinute, s.opts.ChunkSize)))
		}
		n = min(n, r.limiter.Burst())
		res := r.limiter.ReserveN(now, n)
		if d := res.DelayFrom(now); d > 0 {
			// Not yet: give the tokens back and look again after d. The wait ends early
			// when the runner is poked (each sent message pokes it), and the window may
			// have closed meanwhile: the next step checks both again.
			res.CancelAt(now)
			r.setWaiting(c, "rate")
			return r.wait(d)
		}
	}
	contacts, next, err := s.deps.Source.Contacts(s.ctx, r.tenant, c.ListID, st.Cursor, n)
	if errors.Is(err, ErrListNotFound) {
		// The list is gone (deleted between a create and the start, say): nothing left
		// to send; what is queued goes on.
		_, _ = s.transition(r.tenant, r.id, StatusFailed, "list_deleted", StatusRunning)
		return true
	}
	if err != nil {
		return r.wait(blockedRetry)
	}
	if len(contacts) == 0 {
		if next == "" {
			_ = s.updateState(r.tenant, r.id, func(st *state) {
				st.Done = true
				st.Counts.Total = st.Counts.handled() // the list may have shrunk since the start
			})
			s.poke(r.tenant, r.id)
		}
		return true
	}
	began := time.Now()
	waiting, err := r.enqueue(c, contacts, next)
	if err == nil && waiting == "" {
		s.metrics.chunks.Observe(time.Since(began).Seconds())
	}
	if waiting == "sessions" && r.sessionsGone(c) {
		_, _ = s.transition(r.tenant, r.id, StatusFailed, "no_sessions", StatusRunning)
		return true
	}
	if waiting != "sessions" {
		r.unusable = time.Time{}
	}
	switch {
	case err != nil || waiting != "":
		if waiting == "" {
			waiting = "error"
		}
		r.setWaiting(c, waiting)
		return r.wait(blockedRetry)
	}
	r.setWaiting(c, "")
	return true
}

// sessionsGone reports whether none of the campaign's sessions has been usable
// (Deps.Usable) for Options.FailAfter: the campaign cannot go on without an operator.
func (r *runner) sessionsGone(c Campaign) bool {
	s := r.s
	if s.deps.Usable == nil {
		return false
	}
	among, err := s.among(s.ctx, r.tenant, c)
	if err != nil {
		return false
	}
	ok, err := s.deps.Usable(s.ctx, r.tenant, among)
	if err != nil || ok {
		r.unusable = time.Time{}
		return false
	}
	now := s.opts.Now()
	if r.unusable.IsZero() {
		r.unusable = now
	}
	return now.Sub(r.unusable) >= s.opts.FailAfter
}

// enqueue renders, routes and queues one chunk in one transaction with its recipients
// and the cursor. It answers what the campaign must wait for when the chunk cannot go
// now: "sessions" (none WORKING), "quota" (the daily limit).
func (r *runner) enqueue(c Campaign, contacts []Contact, next string) (string, error) {
	s := r.s
	type planned struct {
		contact Contact
		msg     queue.Message
		skip    bool // opted out, or already handled (an earlier life of this chunk)
		known   bool
	}
	plan := make([]planned, len(contacts))
	err := s.db.View(func(txn *badger.Txn) error {
		for i, ct := range contacts {
			plan[i].contact = ct
			if _, err := recipients.Get(txn, r.tenant, r.id, ct.ChatID.String()); err == nil {
				plan[i].known = true
				continue
			}
			out, err := s.deps.Source.OptedOut(txn, r.tenant, ct.ChatID)
			if err != nil {
				return err
			}
			plan[i].skip = out
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	among, err := s.among(s.ctx, r.tenant, c)
	if err != nil {
		return "", err
	}
	var items []queue.Item
	skipped := 0
	for i := range plan {
		if plan[i].skip && !plan[i].known {
			skipped++
		}
	}
	for i := range plan {
		p := &plan[i]
		if p.skip || p.known {
			continue
		}
		out := render(c.Msg, p.contact)
		out.ID = ids.NewLow(ids.Message)
		name, err := s.deps.Route(s.ctx, r.tenant, policy.Message{ID: out.ID, Tenant: r.tenant, ChatID: p.contact.ChatID.String(),
			Kind: string(out.Kind), Text: out.Text, CreatedAt: time.Now()}, among)
		if err != nil {
			return "sessions", nil
		}
		p.msg = queue.Message{ID: out.ID, Session: name, ChatID: p.contact.ChatID.String(), Type: out.Kind, Text: out.Text,
			Payload: queue.PayloadOf(out), Campaign: c.ID}
		items = append(items, queue.Item{Message: p.msg, IdempotencyKey: "campaign:" + c.ID + ":" + p.contact.ChatID.String()})
	}
	if len(items) > 0 {
		if err := s.deps.Count(s.ctx, r.tenant, len(items)); err != nil {
			return "quota", nil
		}
	}
	cursor := contacts[len(contacts)-1].ChatID.String()
	done := next == ""
	now := s.opts.Now().UTC()
	also := func(txn *badger.Txn) error {
		// Read in the transaction: a pause or cancel committed before this chunk makes
		// it fail (errNotRunning), one committed meanwhile makes it conflict and run
		// again, so nothing is queued once Pause has returned.
		cur, err := campaigns.Get(txn, r.tenant, r.id)
		if err != nil {
			return err
		}
		if cur.Status != StatusRunning {
			return errNotRunning
		}
		st, err := progress.Get(txn, r.tenant, r.id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, p := range plan {
			if p.known {
				continue
			}
			key := p.contact.ChatID.String()
			rec := Recipient{ChatID: key, Status: RecipientOptedOut, QueuedAt: now, UpdatedAt: now}
			if !p.skip {
				rec.Status, rec.Session, rec.MessageID = RecipientQueued, p.msg.Session, p.msg.ID
			}
			if err := recipients.Put(txn, rec, r.tenant, r.id, key); err != nil {
				return err
			}
			st.Counts.bump(rec.Status, 1)
		}
		st.Cursor, st.Done = cursor, done
		st.Counts.Total = max(st.Counts.Total, st.Counts.handled())
		if err := progress.Put(txn, st, r.tenant, r.id); err != nil {
			return err
		}
		if len(items) > 0 {
			return s.deps.WriteUsage(txn, r.tenant)
		}
		return nil
	}
	if len(items) == 0 {
		// Nothing to send in this chunk (all opted out or handled): the cursor and the
		// skipped recipients alone.
		if err := s.db.Update(also); err != nil {
			if errors.Is(err, errNotRunning) {
				return "", nil
			}
			return "", err
		}
		s.metrics.fed.WithLabelValues(RecipientOptedOut).Add(float64(skipped))
		return "", nil
	}
	res, err := s.deps.Queue.Enqueue(s.ctx, r.tenant, items, also)
	if err != nil {
		s.deps.Uncount(r.tenant, len(items))
		if errors.Is(err, errNotRunning) {
			return "", nil // the loop reads the new status and stops
		}
		var full *queue.FullError
		if errors.As(err, &full) {
			return "queue_full", nil
		}
		return "", err
	}
	replayed := 0
	for i, res := range res {
		if res.Replayed {
			replayed++
			continue
		}
		m := items[i].Message
		s.deps.Publish(event.New(event.MessageAck, r.tenant, m.Session, session.NewAckPayload(m.ID, "", m.ChatID, string(queue.StatusQueued), "")))
	}
	if replayed > 0 {
		s.deps.Uncount(r.tenant, replayed)
	}
	s.metrics.fed.WithLabelValues(RecipientQueued).Add(float64(len(items)))
	s.metrics.fed.WithLabelValues(RecipientOptedOut).Add(float64(skipped))
	return "", nil
}

// nextDay is the start of the UTC day after t's: when a daily quota is new.
func nextDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// errNotRunning aborts a chunk whose campaign was paused or ended before it committed.
var errNotRunning = errors.New("campaign: no longer running")

// render fills a campaign message's variables for one contact.
func render(m Message, c Contact) provider.Outbound {
	out := provider.Outbound{ChatID: c.ChatID, Kind: m.Type}
	if m.Text != "" {
		out.Text = parseTemplate(m.Text).render(c, nil)
	}
	if m.Media != nil {
		media := *m.Media
		out.Media = &media
	}
	if m.Location != nil {
		loc := *m.Location
		out.Location = &loc
	}
	if m.Template != nil {
		t := *m.Template
		if len(t.Components) > 0 {
			t.Components = json.RawMessage(parseTemplate(string(t.Components)).render(c, jsonEscape))
		}
		out.Template = &t
	}
	return out
}
