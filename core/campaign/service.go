package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store"
)

// Service holds the campaigns of every tenant and runs the running ones. Safe for
// concurrent use.
type Service struct {
	db   *store.DB
	deps Deps
	opts Options

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	runners map[runKey]*runner
	closed  bool

	metrics *metrics
}

type runKey struct{ tenant, id string }

// New returns a Service; nothing runs until Restore or Start.
func New(db *store.DB, deps Deps, o Options) *Service {
	if o.ChunkSize <= 0 {
		o.ChunkSize = 100
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 1000
	}
	if o.MaxCampaigns <= 0 {
		o.MaxCampaigns = 20
	}
	if o.ReplyWindow <= 0 {
		o.ReplyWindow = 72 * time.Hour
	}
	if o.FailAfter <= 0 {
		o.FailAfter = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if deps.Publish == nil {
		deps.Publish = func(event.Envelope) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{db: db, deps: deps, opts: o, ctx: ctx, cancel: cancel, runners: map[runKey]*runner{}, metrics: newMetrics()}
}

// Close stops every runner and waits for them. Campaigns keep their status: Restore
// runs them again.
func (s *Service) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Limits of a spec.
const (
	maxName        = 100
	maxPerMinute   = 100_000
	maxSessionsLen = 1000
)

// Create checks spec against its list and stores it as a draft campaign.
func (s *Service) Create(ctx context.Context, tenant string, spec Spec) (Campaign, error) {
	if err := s.check(ctx, tenant, spec); err != nil {
		return Campaign{}, err
	}
	lim, err := s.limits(ctx, tenant)
	if err != nil {
		return Campaign{}, err
	}
	if n, err := s.live(tenant); err != nil {
		return Campaign{}, err
	} else if n >= lim.MaxCampaigns {
		return Campaign{}, fmt.Errorf("%w: a tenant may have %d campaigns that are not over", ErrTooMany, lim.MaxCampaigns)
	}
	if err := s.checkSize(ctx, tenant, spec.ListID, lim); err != nil {
		return Campaign{}, err
	}
	now := s.opts.Now().UTC()
	c := Campaign{ID: ids.New("cmp"), Spec: spec, Status: StatusDraft, CreatedAt: now, UpdatedAt: now}
	err = s.db.Update(func(txn *badger.Txn) error { return campaigns.Put(txn, c, tenant, c.ID) })
	return c, err
}

// check validates a spec: the list, the message and its variables, the sessions, the
// rate, the window.
func (s *Service) check(ctx context.Context, tenant string, spec Spec) error {
	if strings.TrimSpace(spec.Name) == "" || !utf8.ValidString(spec.Name) || utf8.RuneCountInString(spec.Name) > maxName {
		return fmt.Errorf("%w: name must be 1 to %d characters", ErrInvalid, maxName)
	}
	columns, _, err := s.deps.Source.List(ctx, tenant, spec.ListID)
	if err != nil {
		return err
	}
	if err := checkMessage(spec.Msg, columns); err != nil {
		return err
	}
	if len(spec.Sessions) > maxSessionsLen {
		return fmt.Errorf("%w: at most %d sessions", ErrInvalid, maxSessionsLen)
	}
	for _, name := range spec.Sessions {
		if err := s.deps.SessionExists(ctx, tenant, name); err != nil {
			return fmt.Errorf("%w: %s", ErrSessionNotFound, name)
		}
	}
	if spec.SessionLabels != nil {
		if err := s.checkLabels(ctx, tenant, spec); err != nil {
			return err
		}
	}
	if spec.Rate.PerMinute < 0 || spec.Rate.PerMinute > maxPerMinute {
		return fmt.Errorf("%w: rate.perMinute must be 0 to %d", ErrInvalid, maxPerMinute)
	}
	if spec.Window != nil {
		if _, err := spec.Window.compile(); err != nil {
			return err
		}
	}
	if spec.MaxFailures < 0 {
		return fmt.Errorf("%w: maxFailures must be 0 or more", ErrInvalid)
	}
	return nil
}

// checkMessage checks a campaign message's kind and fields, and its variables against
// the list's columns.
func checkMessage(m Message, columns []string) error {
	var texts []string
	switch m.Type {
	case provider.KindText:
		if m.Text == "" {
			return fmt.Errorf("%w: a text message needs text", ErrInvalid)
		}
		texts = append(texts, m.Text)
	case provider.KindImage, provider.KindVideo, provider.KindFile, provider.KindVoice:
		if m.Media == nil || (m.Media.URL == "") == (len(m.Media.Data) == 0) {
			return fmt.Errorf("%w: a %s message needs a file by url or data", ErrInvalid, m.Type)
		}
		texts = append(texts, m.Text)
	case provider.KindLocation:
		if m.Location == nil {
			return fmt.Errorf("%w: a location message needs latitude and longitude", ErrInvalid)
		}
	case provider.KindTemplate:
		if m.Template == nil || m.Template.Name == "" || m.Template.Language == "" {
			return fmt.Errorf("%w: a template message needs name and language", ErrInvalid)
		}
		texts = append(texts, string(m.Template.Components))
	default:
		return fmt.Errorf("%w: message.type must be text, image, video, file, voice, location or template", ErrInvalid)
	}
	for _, t := range texts {
		if err := parseTemplate(t).check(columns); err != nil {
			return err
		}
	}
	return nil
}

// live counts the tenant's campaigns that are not over.
func (s *Service) live(tenant string) (int, error) {
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		return campaigns.Scan(txn, func(_ []string, c Campaign) error {
			if !c.Status.final() {
				n++
			}
			return nil
		}, tenant)
	})
	return n, err
}

// Get returns one campaign with its counts.
func (s *Service) Get(ctx context.Context, tenant, id string) (Campaign, error) {
	var c Campaign
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		c, err = s.load(txn, tenant, id)
		return err
	})
	return c, err
}

// load reads a campaign and its state.
func (s *Service) load(txn *badger.Txn, tenant, id string) (Campaign, error) {
	if !validID(id) {
		return Campaign{}, ErrNotFound
	}
	c, err := campaigns.Get(txn, tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		return Campaign{}, ErrNotFound
	}
	if err != nil {
		return Campaign{}, err
	}
	st, err := progress.Get(txn, tenant, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Campaign{}, err
	}
	c.Counts = st.Counts.withPending()
	return c, nil
}

func validID(id string) bool {
	return strings.HasPrefix(id, "cmp_") && len(id) <= 64 && !strings.ContainsRune(id, '/')
}

// withPending fills Pending and an empty FailedBy.
func (c Counts) withPending() Counts {
	c.Pending = max(0, c.Total-c.Queued-c.Sent-c.Delivered-c.Read-c.Failed-c.OptedOut)
	if c.FailedBy == nil {
		c.FailedBy = map[string]int{}
	}
	return c
}

// List returns the tenant's campaigns, newest first; status, when set, keeps those.
func (s *Service) List(ctx context.Context, tenant string, status Status) ([]Campaign, error) {
	var out []Campaign
	err := s.db.View(func(txn *badger.Txn) error {
		return campaigns.Scan(txn, func(rest []string, c Campaign) error {
			if status != "" && c.Status != status {
				return nil
			}
			full, err := s.load(txn, tenant, c.ID)
			if err != nil {
				return err
			}
			out = append(out, full)
			return nil
		}, tenant)
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	if out == nil {
		out = []Campaign{}
	}
	return out, err
}

// transition changes a campaign's status when it is one of from, publishing
// campaign.status; ErrState otherwise.
func (s *Service) transition(tenant, id string, to Status, reason string, from ...Status) (Campaign, error) {
	var c Campaign
	var prev Status
	err := s.update(tenant, id, func(txn *badger.Txn, cur *Campaign) error {
		if !slices.Contains(from, cur.Status) {
			return fmt.Errorf("%w: the campaign is %s", ErrState, cur.Status)
		}
		prev = cur.Status
		now := s.opts.Now().UTC()
		cur.Status, cur.Reason, cur.UpdatedAt = to, reason, now
		if to != StatusRunning {
			cur.Waiting = ""
		}
		if to == StatusRunning && cur.StartedAt == nil {
			cur.StartedAt = &now
		}
		if to.final() {
			cur.FinishedAt = &now
		}
		c = *cur
		return nil
	})
	if err != nil {
		return Campaign{}, err
	}
	s.deps.Publish(event.New(event.CampaignStatus, tenant, "", StatusEvent{ID: id, Name: c.Name, Status: to, Previous: prev, Reason: reason}))
	got, err := s.Get(context.Background(), tenant, id)
	if err != nil {
		return c, nil
	}
	return got, nil
}

// update runs fn on the stored campaign and writes it back (store.DB.Update retries
// conflicts).
func (s *Service) update(tenant, id string, fn func(txn *badger.Txn, c *Campaign) error) error {
	if !validID(id) {
		return ErrNotFound
	}
	return s.db.Update(func(txn *badger.Txn) error {
		c, err := campaigns.Get(txn, tenant, id)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := fn(txn, &c); err != nil {
			return err
		}
		return campaigns.Put(txn, c, tenant, id)
	})
}

// updateState runs fn on a campaign's state outside the queue (the start's total, the
// end of the list); store.DB.Update retries when the queue's committer wrote it
// meanwhile.
func (s *Service) updateState(tenant, id string, fn func(st *state)) error {
	return s.db.Update(func(txn *badger.Txn) error {
		st, err := progress.Get(txn, tenant, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		fn(&st)
		return progress.Put(txn, st, tenant, id)
	})
}

// StatusEvent is the payload of campaign.status.
type StatusEvent struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Status   Status `json:"status"`
	Previous Status `json:"previous"`
	Reason   string `json:"reason,omitempty"`
}

// ProgressEvent is the payload of campaign.progress.
type ProgressEvent struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status Status `json:"status"`
	Counts Counts `json:"counts"`
}

// Start runs a draft campaign: scheduled until StartAt when that is later, else
// running. The list's size at this moment is the campaign's total.
func (s *Service) Start(ctx context.Context, tenant, id string) (Campaign, error) {
	c, err := s.Get(ctx, tenant, id)
	if err != nil {
		return Campaign{}, err
	}
	if c.Status != StatusDraft {
		return Campaign{}, fmt.Errorf("%w: the campaign is %s (a paused one is resumed)", ErrState, c.Status)
	}
	_, size, err := s.deps.Source.List(ctx, tenant, c.ListID)
	if err != nil {
		return Campaign{}, err
	}
	if size == 0 {
		return Campaign{}, ErrEmptyList
	}
	lim, err := s.limits(ctx, tenant)
	if err != nil {
		return Campaign{}, err
	}
	if err := s.checkSize(ctx, tenant, c.ListID, lim); err != nil {
		return Campaign{}, err
	}
	if err := s.updateState(tenant, id, func(st *state) { st.Counts.Total = size }); err != nil {
		return Campaign{}, err
	}
	to := StatusRunning
	if c.StartAt != nil && c.StartAt.After(s.opts.Now()) {
		to = StatusScheduled
	}
	c, err = s.transition(tenant, id, to, "", StatusDraft)
	if err != nil {
		return Campaign{}, err
	}
	s.run(tenant, id)
	return c, nil
}

// Pause stops queueing a running or scheduled campaign; what is queued goes on.
func (s *Service) Pause(ctx context.Context, tenant, id string) (Campaign, error) {
	return s.transition(tenant, id, StatusPaused, "", StatusRunning, StatusScheduled)
}

// Resume runs a paused campaign again from its cursor.
func (s *Service) Resume(ctx context.Context, tenant, id string) (Campaign, error) {
	c, err := s.transition(tenant, id, StatusRunning, "", StatusPaused)
	if err != nil {
		return Campaign{}, err
	}
	s.run(tenant, id)
	return c, nil
}

// Cancel ends a campaign that is not over; its messages still queued fail with
// campaign_cancelled (in the background).
func (s *Service) Cancel(ctx context.Context, tenant, id string) (Campaign, error) {
	c, err := s.transition(tenant, id, StatusCancelled, "", StatusDraft, StatusScheduled, StatusRunning, StatusPaused)
	if err != nil {
		return Campaign{}, err
	}
	s.spawn(func() { s.cancelQueued(tenant, id) })
	return c, nil
}

// cancelQueued fails the campaign's messages still queued.
func (s *Service) cancelQueued(tenant, id string) {
	var queued []Recipient
	_ = s.db.View(func(txn *badger.Txn) error {
		return recipients.Scan(txn, func(_ []string, r Recipient) error {
			if r.Status == RecipientQueued {
				queued = append(queued, r)
			}
			return nil
		}, tenant, id)
	})
	for _, r := range queued {
		if s.ctx.Err() != nil || !s.deps.Cancel(tenant, r.Session, r.MessageID, "campaign_cancelled") {
			return
		}
	}
}

// Delete removes a campaign that is not running or scheduled, and its recipients.
func (s *Service) Delete(ctx context.Context, tenant, id string) error {
	c, err := s.Get(ctx, tenant, id)
	if err != nil {
		return err
	}
	if c.Status == StatusRunning || c.Status == StatusScheduled {
		return fmt.Errorf("%w: pause or cancel the campaign first", ErrState)
	}
	if err := s.db.DeletePrefix(store.ScanPrefix(store.PrefixCampaignRecipient, tenant, id)); err != nil {
		return err
	}
	return s.db.Update(func(txn *badger.Txn) error {
		if err := progress.Delete(txn, tenant, id); err != nil {
			return err
		}
		return campaigns.Delete(txn, tenant, id)
	})
}

// Recipients returns up to n recipients of a campaign after the chat id cursor after,
// in chat id order; status, when set, keeps those. next is "" at the end.
func (s *Service) Recipients(ctx context.Context, tenant, id, status, after string, n int) ([]Recipient, string, error) {
	if _, err := s.Get(ctx, tenant, id); err != nil {
		return nil, "", err
	}
	out := []Recipient{}
	next := ""
	err := s.db.View(func(txn *badger.Txn) error {
		prefix := store.ScanPrefix(store.PrefixCampaignRecipient, tenant, id)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		start := prefix
		if after != "" {
			start = append(append(append([]byte{}, prefix...), after...), 0)
		}
		for it.Seek(start); it.ValidForPrefix(prefix); it.Next() {
			if len(out) == n {
				next = out[n-1].ChatID
				return nil
			}
			var r Recipient
			if err := it.Item().Value(func(v []byte) error {
				var err error
				r, err = recipients.Codec.Decode(v)
				return err
			}); err != nil {
				return err
			}
			if status == "" || r.Status == status {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, next, err
}

// Restore starts the runners of the campaigns left running or scheduled, at boot.
func (s *Service) Restore(ctx context.Context) error {
	var keys []runKey
	err := s.db.View(func(txn *badger.Txn) error {
		return campaigns.Scan(txn, func(rest []string, c Campaign) error {
			if c.Status == StatusRunning || c.Status == StatusScheduled {
				keys = append(keys, runKey{rest[0], c.ID})
			}
			return nil
		})
	})
	for _, k := range keys {
		s.run(k.tenant, k.id)
	}
	return err
}

// spawn runs fn on a goroutine Close waits for; none once closed.
func (s *Service) spawn(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// Render returns the campaign's message as a test send to chat would carry it: the
// variables take their defaults (name, attributes empty; chatId and phone the chat's).
func (s *Service) Render(ctx context.Context, tenant, id string, chat chatid.ID) (provider.Outbound, error) {
	c, err := s.Get(ctx, tenant, id)
	if err != nil {
		return provider.Outbound{}, err
	}
	return render(c.Msg, Contact{ChatID: chat}), nil
}

// Bounds of a campaign's session labels (those of session metadata, core/session).
const (
	maxLabels     = 32
	maxLabelKey   = 64
	maxLabelValue = 512
)

// checkLabels checks a spec's session labels: not together with sessions, well
// formed, and matching at least one session now.
func (s *Service) checkLabels(ctx context.Context, tenant string, spec Spec) error {
	if len(spec.Sessions) > 0 {
		return fmt.Errorf("%w: give sessions or sessionLabels, not both", ErrInvalid)
	}
	if len(spec.SessionLabels) == 0 || len(spec.SessionLabels) > maxLabels {
		return fmt.Errorf("%w: sessionLabels must have 1 to %d labels", ErrInvalid, maxLabels)
	}
	for k, v := range spec.SessionLabels {
		if k == "" || len(k) > maxLabelKey || len(v) > maxLabelValue || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("%w: a label key is 1 to %d bytes and its value at most %d", ErrInvalid, maxLabelKey, maxLabelValue)
		}
	}
	if s.deps.Labelled == nil {
		return fmt.Errorf("%w: sessionLabels are not supported here", ErrInvalid)
	}
	names, err := s.deps.Labelled(ctx, tenant, spec.SessionLabels)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: no session has the labels %s", ErrSessionNotFound, labelText(spec.SessionLabels))
	}
	return nil
}

// labelText writes labels as sorted key=value pairs, for messages.
func labelText(labels map[string]string) string {
	pairs := make([]string, 0, len(labels))
	for k, v := range labels {
		pairs = append(pairs, k+"="+v)
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}

// among is the sessions a campaign sends from now: its names, the sessions its labels
// select (an empty slice when none does: not every session), or nil for every
// session of the tenant.
func (s *Service) among(ctx context.Context, tenant string, c Campaign) ([]string, error) {
	if c.SessionLabels == nil || s.deps.Labelled == nil {
		return c.Sessions, nil
	}
	names, err := s.deps.Labelled(ctx, tenant, c.SessionLabels)
	if names == nil && err == nil {
		names = []string{}
	}
	return names, err
}

// limits are the tenant's campaign limits, Options' where its plan has none.
func (s *Service) limits(ctx context.Context, tenant string) (Limits, error) {
	var lim Limits
	if s.deps.Limits != nil {
		var err error
		if lim, err = s.deps.Limits(ctx, tenant); err != nil {
			return Limits{}, err
		}
	}
	if lim.MaxCampaigns <= 0 {
		lim.MaxCampaigns = s.opts.MaxCampaigns
	}
	return lim, nil
}

// checkSize refuses a list over the plan's MaxListSize (ErrListTooLarge): a list
// imported under a larger plan, say.
func (s *Service) checkSize(ctx context.Context, tenant, listID string, lim Limits) error {
	if lim.MaxListSize <= 0 {
		return nil
	}
	_, size, err := s.deps.Source.List(ctx, tenant, listID)
	if err != nil {
		return err
	}
	if size > lim.MaxListSize {
		return fmt.Errorf("%w: the list has %d contacts, the tenant's plan allows %d (maxListSize)", ErrListTooLarge, size, lim.MaxListSize)
	}
	return nil
}
