// Package audience holds a tenant's audiences for campaigns: contact lists (with a name
// and attributes per contact, imported from CSV, JSON or NDJSON) and the tenant-wide
// opt-out list that no campaign sends to. docs/campaigns.md, "Audiences", is its
// contract.
//
//	aud := audience.New(db, audience.Options{MaxLists: 100, MaxListSize: 1_000_000, StopWords: words})
//	l, err := aud.CreateList(ctx, "acme", "customers")
//	rep, err := aud.Import(ctx, "acme", l.ID, audience.CSV, body) // streamed, batches of 1000
//	err = db.View(func(txn *badger.Txn) error {
//		out, err := aud.OptedOut(txn, "acme", chat) // inside the campaign runner's transaction
//		...
//	})
//
// Keys (docs/storage.md): lst/<tenant>/<list id>, lsc/<tenant>/<list id>/<chat id>,
// opt/<tenant>/<chat id>.
package audience

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/store"
)

// Limits of lists and contacts.
const (
	// MaxNameLen bounds a list's name, in characters.
	MaxNameLen = 100
	// MaxColumns bounds the attribute columns of a list (and of one CSV header).
	MaxColumns = 50
	// MaxAttrLen bounds a contact's name, an attribute's name and its value, in bytes.
	MaxAttrLen = 1024
	// MaxReportErrors bounds the errors an import report lists (Invalid counts them all).
	MaxReportErrors = 1000
	// BatchSize is how many contacts an import writes per transaction.
	BatchSize = 1000
	// MaxPage bounds a page of Contacts and OptOuts.
	MaxPage = 1000
)

// Reasons of an opt-out.
const (
	// ReasonAPI: added by hand (POST /api/optouts).
	ReasonAPI = "api"
	// ReasonStopWord: the contact replied a stop word to one of the tenant's numbers.
	ReasonStopWord = "stop_word"
)

// Errors.
var (
	// ErrListNotFound: no such list for this tenant.
	ErrListNotFound = errors.New("list not found")
	// ErrListInUse: a campaign that is not finished uses the list (Options.InUse).
	ErrListInUse = errors.New("list is used by a campaign that is not finished")
	// ErrTooManyLists: the tenant has Options.MaxLists lists.
	ErrTooManyLists = errors.New("too many lists")
	// ErrInvalidName: a list name that is not 1 to 100 characters of text.
	ErrInvalidName = errors.New("a list name is 1 to 100 characters of text")
	// ErrOptOutNotFound: the chat is not on the tenant's opt-out list.
	ErrOptOutNotFound = errors.New("opt-out not found")
	// ErrInvalidCursor: a paging cursor that is not a chat id.
	ErrInvalidCursor = errors.New("cursor is not a chat id")
	// ErrInvalidChat: a chat id that is not a user (@c.us, @lid): campaigns do not
	// send to groups, channels or broadcast lists. Wrapped with the reason.
	ErrInvalidChat = errors.New("invalid chat id")
)

// List is a tenant's contact list.
type List struct {
	// ID is "lst_" + a ULID.
	ID string `json:"id"`
	// Name is the tenant's name for it, 1 to 100 characters.
	Name string `json:"name"`
	// Count is how many contacts the list holds.
	Count int `json:"count"`
	// Columns are the attribute names seen in imports, sorted: the {{attrs.<column>}}
	// a campaign may use.
	Columns []string `json:"columns"`
	// CreatedAt and UpdatedAt are when the list was created and last changed.
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Contact is one contact of a list.
type Contact struct {
	// ChatID is the contact's normalized chat id, a user (@c.us) or a LID (@lid).
	ChatID chatid.ID `json:"chatId"`
	// Name is the contact's name, possibly empty.
	Name string `json:"name"`
	// Attrs are the contact's attributes by column.
	Attrs map[string]string `json:"attrs"`
}

// OptOut is a chat on the tenant's opt-out list.
type OptOut struct {
	ChatID chatid.ID `json:"chatId"`
	// Reason is ReasonAPI or ReasonStopWord.
	Reason string `json:"reason"`
	// Session is the session a stop word reached (ReasonStopWord only).
	Session string `json:"session,omitempty"`
	// At is when the chat opted out.
	At time.Time `json:"at"`
}

// Options configure a Service. Zero limits mean the defaults (100 lists, 1,000,000
// contacts); nil StopWords means none.
type Options struct {
	// MaxLists caps the lists of one tenant (campaigns.max_lists).
	MaxLists int
	// MaxListSize caps the contacts of one list (campaigns.max_list_size); rows past
	// it are reported list_full.
	MaxListSize int
	// ListSize, when set, is a tenant's own cap (its plan's maxListSize), read at the
	// start of each import; 0 (or an error) means MaxListSize.
	ListSize func(ctx context.Context, tenant string) (int, error)
	// StopWords are the replies that opt a contact out (campaigns.stop_words),
	// compared trimmed and case-folded.
	StopWords []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// InUse reports whether a campaign that is not finished uses a list: DeleteList
	// then answers ErrListInUse. nil: no list is ever in use.
	InUse func(tenant, listID string) bool
	// Publish receives an optout.added event per chat added to the opt-out list; nil
	// publishes nothing.
	Publish func(event.Envelope)
}

// Service holds the lists and opt-outs of every tenant. Safe for concurrent use.
type Service struct {
	db    *store.DB
	o     Options
	stops map[string]bool

	// create serializes CreateList, so that MaxLists holds under concurrent creates.
	create sync.Mutex
	// locks serialize the writers of one list (imports, removals, delete), so that
	// its Count and Columns stay exact: tenant + "/" + list id -> lock.
	mu    sync.Mutex
	locks map[string]*listLock
}

// listLock is one list's writer lock, dropped from Service.locks when no one holds or
// waits for it.
type listLock struct {
	sync.Mutex
	refs int
}

var (
	lists    = store.Table[List]{Prefix: store.PrefixList, Codec: store.JSONCodec[List]{}}
	contacts = store.Table[Contact]{Prefix: store.PrefixListContact, Codec: store.JSONCodec[Contact]{}}
	optouts  = store.Table[OptOut]{Prefix: store.PrefixOptOut, Codec: store.JSONCodec[OptOut]{}}
)

// New builds the service on db. It starts nothing.
func New(db *store.DB, o Options) *Service {
	if o.MaxLists <= 0 {
		o.MaxLists = 100
	}
	if o.MaxListSize <= 0 {
		o.MaxListSize = 1_000_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{db: db, o: o, stops: make(map[string]bool, len(o.StopWords)), locks: make(map[string]*listLock)}
	for _, w := range o.StopWords {
		if w = foldText(w); w != "" {
			s.stops[w] = true
		}
	}
	return s
}

// lockList takes the writer lock of a list; call the returned func to release it.
func (s *Service) lockList(tenant, id string) func() {
	k := tenant + "/" + id
	s.mu.Lock()
	l := s.locks[k]
	if l == nil {
		l = &listLock{}
		s.locks[k] = l
	}
	l.refs++
	s.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.locks, k)
		}
		s.mu.Unlock()
	}
}

// DeleteTenant forgets what the service keeps in memory of a tenant. The tenant's keys
// are under store.TenantPrefixes, which store.DeleteTenant removes.
// Nothing is: list locks are dropped as they are released. It is here so that the
// gateway's tenant deletion can call every service alike.
func (s *Service) DeleteTenant(tenant string) {}

// ParseChat reads a contact's phone or chat id as imports and the opt-out routes take
// it: digits with an optional leading "+", spaces, dashes, dots and parentheses
// (removed), or a chat id of a user (@c.us, @s.whatsapp.net) or a LID (@lid). Groups,
// channels and broadcast lists are refused. Errors wrap ErrInvalidChat.
func ParseChat(s string) (chatid.ID, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "@") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case ' ', '-', '(', ')', '.', '\t':
				return -1
			}
			return r
		}, s)
	}
	id, err := chatid.Parse(s)
	if err != nil {
		return chatid.ID{}, fmt.Errorf("%w: %s", ErrInvalidChat, strings.TrimPrefix(err.Error(), chatid.ErrInvalid.Error()+": "))
	}
	if !Reachable(id) {
		return chatid.ID{}, fmt.Errorf("%w: campaigns send to users (@c.us, @lid) only, not to groups, channels or broadcast lists", ErrInvalidChat)
	}
	return id, nil
}

// Reachable reports whether a campaign can address the chat: a user or a LID.
func Reachable(id chatid.ID) bool {
	return id.Server == chatid.User || id.Server == chatid.LID
}
