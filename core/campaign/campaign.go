// Package campaign sends one message, personalised per contact, to every contact of a
// list across a tenant's numbers: durably, paced, resumable (docs/campaigns.md).
//
// A Service holds the campaigns of every tenant and runs the running ones. Each running
// campaign has a runner (runner.go) that reads its list in chunks, renders each
// recipient's message (template.go), routes it among the campaign's sessions, and
// queues the chunk in one transaction with the recipients' records and the campaign's
// cursor. The queue tells the Service of every status change of a campaign message
// inside the transaction of that change (tracker.go), so counts and messages commit
// together.
//
//	svc := campaign.New(db, deps, campaign.Options{...})
//	q.SetTracker(svc)            // before the dispatcher starts
//	svc.Restore(ctx)             // at boot: runners of the campaigns left running
//	c, err := svc.Create(ctx, "acme", campaign.Spec{...})
//	err = svc.Start(ctx, "acme", c.ID)
//	defer svc.Close()
package campaign

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/store"
)

// Status is where a campaign is in its life.
type Status string

// Campaign statuses (docs/campaigns.md, "Statuses").
const (
	StatusDraft     Status = "draft"
	StatusScheduled Status = "scheduled"
	StatusRunning   Status = "running"
	StatusPaused    Status = "paused"
	StatusCompleted Status = "completed"
	StatusCancelled Status = "cancelled"
	StatusFailed    Status = "failed"
)

// final reports whether a campaign in status s is over.
func (s Status) final() bool {
	return s == StatusCompleted || s == StatusCancelled || s == StatusFailed
}

// Message is what a campaign sends, before its variables are filled: one of the send
// types, with the fields of the matching send route.
type Message struct {
	// Type is the kind: text, image, video, file, voice, location or template.
	Type provider.Kind `json:"type"`
	// Text is a text message's body, or a media message's caption.
	Text string `json:"text,omitempty"`
	// Media is the file of an image, video, file or voice message.
	Media *provider.Media `json:"media,omitempty"`
	// Location is the place of a location message.
	Location *provider.Location `json:"location,omitempty"`
	// Template is a Cloud API template; variables are filled in its components.
	Template *provider.Template `json:"template,omitempty"`
}

// Rate is the campaign's own ceiling, over all its sessions.
type Rate struct {
	// PerMinute is the most recipients queued in a minute; 0: no ceiling but the
	// sessions' own pacing.
	PerMinute int `json:"perMinute"`
}

// Spec is a campaign as the tenant writes it (POST /api/campaigns).
type Spec struct {
	Name   string  `json:"name"`
	ListID string  `json:"listId"`
	Msg    Message `json:"message"`
	// Sessions are the numbers to send from; nil: every session of the tenant (or
	// those SessionLabels selects).
	Sessions []string `json:"sessions,omitempty"`
	// SessionLabels, instead of Sessions, selects the numbers by label: every session
	// of the tenant whose metadata (WAHA's config.metadata) has each of these keys with
	// its value. The selection is made again before each chunk, so a session labelled
	// (or unlabelled) while the campaign runs joins (or leaves) it.
	SessionLabels map[string]string `json:"sessionLabels,omitempty"`
	Rate          Rate              `json:"rate"`
	Window        *Window           `json:"window,omitempty"`
	// StartAt, when set, is when a started campaign begins (scheduled until then).
	StartAt *time.Time `json:"startAt,omitempty"`
	// MaxFailures pauses the campaign when that many recipients failed; 0: never.
	MaxFailures int `json:"maxFailures"`
}

// Campaign is a campaign and where it is.
type Campaign struct {
	ID string `json:"id"`
	Spec
	Status Status `json:"status"`
	// Reason says why a campaign paused by itself (max_failures) or failed
	// (list_deleted, no_sessions).
	Reason string `json:"reason,omitempty"`
	// Waiting says what a running campaign waits for, when it does: window, quota,
	// sessions (none WORKING), in_flight (its queued messages), rate. "" when feeding.
	Waiting   string    `json:"waiting,omitempty"`
	Counts    Counts    `json:"counts"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// StartedAt and FinishedAt are when it first ran and when it ended.
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// Counts are a campaign's recipients by outcome (docs/campaigns.md, "Counts"). Each
// recipient is in exactly one of Pending, Queued, Sent, Delivered, Read, Failed and
// OptedOut; Replied counts those who wrote back, whatever their status.
type Counts struct {
	Total     int            `json:"total"`
	Pending   int            `json:"pending"`
	Queued    int            `json:"queued"`
	Sent      int            `json:"sent"`
	Delivered int            `json:"delivered"`
	Read      int            `json:"read"`
	Failed    int            `json:"failed"`
	FailedBy  map[string]int `json:"failedBy"`
	OptedOut  int            `json:"optedOut"`
	Replied   int            `json:"replied"`
}

// Recipient status values: the message's status, folded (sending counts as queued),
// and opted_out for a contact skipped.
const (
	RecipientQueued    = "queued"
	RecipientSent      = "sent"
	RecipientDelivered = "delivered"
	RecipientRead      = "read"
	RecipientFailed    = "failed"
	RecipientOptedOut  = "opted_out"
)

// Recipient is one contact of a campaign that the runner has handled.
type Recipient struct {
	ChatID    string `json:"chatId"`
	Status    string `json:"status"`
	Session   string `json:"session,omitempty"`
	MessageID string `json:"messageId,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Replied   bool   `json:"replied,omitempty"`
	// QueuedAt is when the runner queued the recipient's message (or skipped it).
	QueuedAt  time.Time `json:"queuedAt,omitzero"`
	SentAt    time.Time `json:"sentAt,omitzero"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Contact is one recipient as the list gives it.
type Contact struct {
	ChatID chatid.ID
	Name   string
	Attrs  map[string]string
}

// Source is where recipients come from: the tenant's contact lists and opt-outs
// (core/audience, through an adapter in cmd/wagate).
type Source interface {
	// List returns a list's attribute columns and size; ErrListNotFound for none.
	List(ctx context.Context, tenant, id string) (columns []string, size int, err error)
	// Contacts returns up to n contacts after the cursor after ("" the start), in a
	// stable order, and the cursor of the next page ("" at the end).
	Contacts(ctx context.Context, tenant, id, after string, n int) ([]Contact, string, error)
	// OptedOut reports, inside txn, whether chat opted out of campaigns.
	OptedOut(txn *badger.Txn, tenant string, chat chatid.ID) (bool, error)
}

// Deps are the services a campaign uses.
type Deps struct {
	Source Source
	// Queue takes the campaign's messages; Cancel fails those still queued when the
	// campaign is cancelled.
	Queue  *queue.Queue
	Cancel func(tenant, session, id, reason string) bool
	// Route picks the session of a recipient among the campaign's (the tenant's route
	// chain; nil among: every session). It answers an error when none is WORKING.
	Route func(ctx context.Context, tenant string, m policy.Message, among []string) (string, error)
	// SessionExists checks a session of the tenant: nil, or an error for none.
	SessionExists func(ctx context.Context, tenant, name string) error
	// Labelled returns the names of the tenant's sessions whose metadata has every
	// pair of labels, in any status; an empty, non-nil slice when none has.
	Labelled func(ctx context.Context, tenant string, labels map[string]string) ([]string, error)
	// Usable reports whether any of the sessions among (nil: any session of the
	// tenant) exists and may send again without an operator (not logged out, not
	// banned). nil: always; a campaign then never fails for its sessions.
	Usable func(ctx context.Context, tenant string, among []string) (bool, error)
	// Limits are the tenant's plan limits for campaigns (0 fields: Options' defaults);
	// nil: Options' for every tenant.
	Limits func(ctx context.Context, tenant string) (Limits, error)
	// Remaining is how many messages the tenant may still send today (limited false:
	// no daily limit); a runner sizes its chunks by it and, at 0, waits for the next
	// UTC day. nil: every chunk is tried, and Count decides.
	Remaining func(ctx context.Context, tenant string) (left int, limited bool, err error)
	// Count counts n messages against the tenant's plan (an error: over its daily
	// limit); Uncount takes them back; WriteUsage writes the count into txn.
	Count      func(ctx context.Context, tenant string, n int) error
	Uncount    func(tenant string, n int)
	WriteUsage func(txn *badger.Txn, tenant string) error
	// Publish sends campaign events (and the queued acks of its messages).
	Publish func(event.Envelope)
}

// Limits are a tenant's plan limits for campaigns; 0 means the gateway's default.
type Limits struct {
	// MaxCampaigns caps the campaigns that are not over (Options.MaxCampaigns).
	MaxCampaigns int
	// MaxListSize caps the size of a campaign's list, checked at create and start
	// (imports are held to it by core/audience).
	MaxListSize int
}

// Options bound and tune campaigns (config campaigns.*).
type Options struct {
	// ChunkSize is how many recipients one transaction queues. Default 100.
	ChunkSize int
	// MaxInFlight bounds a campaign's messages queued and not yet sent. Default 1000.
	MaxInFlight int
	// MaxCampaigns bounds the campaigns of a tenant that are not over. Default 20.
	MaxCampaigns int
	// ReplyWindow is how long after its message a recipient's reply counts. Default 72h.
	ReplyWindow time.Duration
	// FailAfter is how long a running campaign may find none of its sessions usable
	// (all deleted or lost: logged out, banned) before it fails. Default 1 minute.
	FailAfter time.Duration
	// Now is the clock; Sleep waits (tests replace both). Defaults: time.Now, a timer.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Errors of the Service. The API maps each to a 4xx with a stable code.
var (
	ErrNotFound        = errors.New("campaign not found")
	ErrListNotFound    = errors.New("list not found")
	ErrInvalid         = errors.New("invalid campaign")
	ErrUnknownVariable = errors.New("unknown variable")
	ErrState           = errors.New("not allowed in the campaign's status")
	ErrTooMany         = errors.New("too many campaigns")
	ErrEmptyList       = errors.New("the list is empty")
	ErrSessionNotFound = errors.New("session not found")
	ErrListTooLarge    = errors.New("the list is larger than the plan allows")
)

// Store tables.
var (
	campaigns  = store.Table[Campaign]{Prefix: store.PrefixCampaign, Codec: store.JSONCodec[Campaign]{}}
	progress   = store.Table[state]{Prefix: store.PrefixCampaignState, Codec: store.JSONCodec[state]{}}
	recipients = store.Table[Recipient]{Prefix: store.PrefixCampaignRecipient, Codec: store.JSONCodec[Recipient]{}}
)

// state is the part of a campaign the runner and the tracker write, kept apart from the
// campaign record (which the API writes) so that the two never conflict: the cursor and
// the counts. It is written only inside the queue's transactions.
type state struct {
	// Cursor is the last list contact handled; Done is set once the list is exhausted.
	Cursor string `json:"cursor"`
	Done   bool   `json:"done"`
	Counts Counts `json:"counts"`
}
