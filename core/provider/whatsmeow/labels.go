package whatsmeow

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/proto/waSyncAction"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Labels (provider.Labeler), through whatsmeow.
//
// WhatsApp Business labels are app state of the "regular" collection: a label is a
// label_edit mutation (id, name, colour, deleted), a label on a chat a label_jid
// mutation (label id, chat JID, labeled). The provider changes them with
// appstate.BuildLabelEdit and appstate.BuildLabelChat patches (Client.SendAppState) and
// learns of them from whatsmeow's *events.LabelEdit and *events.LabelAssociationChat,
// whether made on another device or echoes of its own patches.
//
// whatsmeow keeps no label list, so the provider keeps one in memory, per session:
// labels by id and the labels of each chat, at most maxCachedLabels labels and
// maxLabelChats chats (past them, what WhatsApp reports is dropped and logged;
// SetChatLabels refuses to label one more chat with provider.ErrNotAllowed). It lives
// as long as the Provider, for the linked number (another number linked later starts
// empty).
//
// Priming. The first read of a connection (Labels, ChatLabels, LabelChats; and the
// writes, which need the ids) asks whatsmeow for a full sync of the regular collection
// (Client.FetchAppState with fullSync), which replays every label mutation as events
// (NewClient sets EmitAppStateEventsOnFullSync for that), and waits until the event
// goroutine has applied them: that first call may take a moment. Concurrent calls share
// one priming. The full sync whatsmeow runs right after linking primes the same way.
// Later changes arrive as incremental app state syncs, reconnects included.
//
// A full sync replaces the cache as a whole when it completes (events.AppStateSyncComplete
// of "regular"): what it does not mention is gone. Notifications are reported for what
// changed against the cache, never for what it already held: the first priming after
// the process started reports every label (label.upsert) and every labelled chat
// (label.chat.added), as WAHA does during its initial sync; a later priming reports only
// what changed meanwhile, so repeated primings report nothing twice. The same rule
// dedupes the echoes of the provider's own patches: a successful change updates the
// cache and is reported at once; its echo then changes nothing.
//
// Label ids are small integers chosen by the client: CreateLabel takes the highest id
// ever seen (deleted labels and WhatsApp's built-in chat lists included) plus one.
// WhatsApp's built-in chat lists (Unread, Groups, Favorites, ...) are label_edit
// mutations too, with a list type: they are not labels and are left out. A label
// reported on a chat before the label itself carries Label nil.
//
// Chats are reported by phone number when the LID map knows it (Provider.chatOf); a
// label is taken off under the JID WhatsApp reported it on, and put on a chat under
// that JID too when the chat already has labels, else under the JID of the chat id
// given.

// labelClient is the part of *whatsmeow.Client the labels use. A Client without it (a
// test fake) answers provider.ErrUnsupported.
type labelClient interface {
	SendAppState(ctx context.Context, patch appstate.PatchInfo) error
	// FetchAppState with fullSync replays the collection's mutations as events (with
	// EmitAppStateEventsOnFullSync), then emits events.AppStateSyncComplete.
	FetchAppState(ctx context.Context, name appstate.WAPatchName, fullSync, onlyIfNotSynced bool) error
}

var _ labelClient = (*wm.Client)(nil)

// Bounds of the label cache.
const (
	// maxCachedLabels bounds the labels (and built-in chat lists) kept; WhatsApp allows
	// provider.MaxLabels labels.
	maxCachedLabels = 256
	// maxLabelChats bounds the chats whose labels are kept.
	maxLabelChats = 10_000
)

// labelSet is one account's labels and the chats they are on.
type labelSet struct {
	labels map[string]provider.Label
	// lists are the ids of WhatsApp's built-in chat lists, which are not labels.
	lists map[string]struct{}
	chats map[chatid.ID]*labeledChat
	// maxID is the highest numeric id seen, deleted labels and lists included.
	maxID int
}

// labeledChat is the labels of one chat.
type labeledChat struct {
	jid types.JID // the chat as WhatsApp names it in label_jid
	ids []string  // sorted
}

func newLabelSet() *labelSet {
	return &labelSet{labels: map[string]provider.Label{}, lists: map[string]struct{}{}, chats: map[chatid.ID]*labeledChat{}}
}

// errLabelBound is the outcome of a change dropped because the cache is full.
var errLabelBound = errors.New("label cache full")

// edit applies a label_edit and returns the notifications of what changed.
func (s *labelSet) edit(id string, act *waSyncAction.LabelEditAction) ([]provider.Event, error) {
	if n, err := strconv.Atoi(id); err == nil && n > s.maxID {
		s.maxID = n
	}
	if act.GetDeleted() {
		delete(s.lists, id)
		l, ok := s.labels[id]
		if !ok {
			return nil, nil
		}
		delete(s.labels, id)
		evs := s.unlabelAll(id, &l)
		return append(evs, provider.LabelDeleted{Label: l}), nil
	}
	if isChatList(act.GetType()) {
		if _, ok := s.lists[id]; !ok && len(s.lists)+len(s.labels) >= maxCachedLabels {
			return nil, errLabelBound
		}
		s.lists[id] = struct{}{}
		delete(s.labels, id)
		s.unlabelAll(id, nil)
		return nil, nil
	}
	l := provider.NewLabel(id, act.GetName(), int(act.GetColor()))
	old, ok := s.labels[id]
	if ok && old == l {
		return nil, nil
	}
	if !ok && len(s.lists)+len(s.labels) >= maxCachedLabels {
		return nil, errLabelBound
	}
	s.labels[id] = l
	delete(s.lists, id)
	return []provider.Event{provider.LabelUpsert{Label: l}}, nil
}

// isChatList reports whether a label_edit's type is one of WhatsApp's built-in chat
// lists rather than a label (none, predefined and custom are labels).
func isChatList(t waSyncAction.LabelEditAction_ListType) bool {
	switch t {
	case waSyncAction.LabelEditAction_NONE, waSyncAction.LabelEditAction_PREDEFINED, waSyncAction.LabelEditAction_CUSTOM:
		return false
	}
	return true
}

// unlabelAll takes label id off every chat, returning label.chat.deleted for each.
func (s *labelSet) unlabelAll(id string, l *provider.Label) []provider.Event {
	var evs []provider.Event
	for _, chat := range sortedChats(s.chats) {
		if c := s.chats[chat]; c.remove(id) {
			evs = append(evs, provider.LabelChatDeleted{LabelChat: provider.LabelChat{LabelID: id, ChatID: chat, Label: l}})
			if len(c.ids) == 0 {
				delete(s.chats, chat)
			}
		}
	}
	return evs
}

// associate applies a label_jid and returns the notifications of what changed.
func (s *labelSet) associate(chat chatid.ID, jid types.JID, id string, labeled bool) ([]provider.Event, error) {
	if _, ok := s.lists[id]; ok {
		return nil, nil
	}
	c := s.chats[chat]
	lc := provider.LabelChat{LabelID: id, ChatID: chat, Label: s.label(id)}
	if !labeled {
		if c == nil || !c.remove(id) {
			return nil, nil
		}
		if len(c.ids) == 0 {
			delete(s.chats, chat)
		}
		return []provider.Event{provider.LabelChatDeleted{LabelChat: lc}}, nil
	}
	if c == nil {
		if len(s.chats) >= maxLabelChats {
			return nil, errLabelBound
		}
		c = &labeledChat{jid: jid}
		s.chats[chat] = c
	}
	i, found := slices.BinarySearch(c.ids, id)
	if found {
		return nil, nil
	}
	c.ids = slices.Insert(c.ids, i, id)
	return []provider.Event{provider.LabelChatAdded{LabelChat: lc}}, nil
}

// label returns a copy of label id, or nil when unknown.
func (s *labelSet) label(id string) *provider.Label {
	if l, ok := s.labels[id]; ok {
		return &l
	}
	return nil
}

func (c *labeledChat) remove(id string) bool {
	i, found := slices.BinarySearch(c.ids, id)
	if found {
		c.ids = slices.Delete(c.ids, i, i+1)
	}
	return found
}

// diffLabels returns the notifications that turn old into new: labels created or
// edited, chats labelled and unlabelled, labels deleted.
func diffLabels(old, new *labelSet) []provider.Event {
	var evs []provider.Event
	for _, id := range sortedKeys(new.labels) {
		if l := new.labels[id]; old.labels[id] != l {
			evs = append(evs, provider.LabelUpsert{Label: l})
		}
	}
	for _, chat := range sortedChats(new.chats) {
		for _, id := range new.chats[chat].ids {
			if c := old.chats[chat]; c == nil || !slices.Contains(c.ids, id) {
				evs = append(evs, provider.LabelChatAdded{LabelChat: provider.LabelChat{LabelID: id, ChatID: chat, Label: new.label(id)}})
			}
		}
	}
	for _, chat := range sortedChats(old.chats) {
		for _, id := range old.chats[chat].ids {
			if c := new.chats[chat]; c == nil || !slices.Contains(c.ids, id) {
				l := new.label(id)
				if l == nil {
					l = old.label(id)
				}
				evs = append(evs, provider.LabelChatDeleted{LabelChat: provider.LabelChat{LabelID: id, ChatID: chat, Label: l}})
			}
		}
	}
	for _, id := range sortedKeys(old.labels) {
		if _, ok := new.labels[id]; !ok {
			evs = append(evs, provider.LabelDeleted{Label: old.labels[id]})
		}
	}
	return evs
}

// sortedKeys returns the label ids in numeric order (then as strings).
func sortedKeys(m map[string]provider.Label) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareLabelIDs)
	return ids
}

func compareLabelIDs(a, b string) int {
	na, ea := strconv.Atoi(a)
	nb, eb := strconv.Atoi(b)
	if ea == nil && eb == nil && na != nb {
		return cmp.Compare(na, nb)
	}
	return cmp.Compare(a, b)
}

func sortedChats(m map[chatid.ID]*labeledChat) []chatid.ID {
	out := make([]chatid.ID, 0, len(m))
	for c := range m {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b chatid.ID) int { return cmp.Compare(a.String(), b.String()) })
	return out
}

// labelState is the provider's label cache. The zero value is ready; its lock is a
// leaf, never held across a call to WhatsApp.
type labelState struct {
	mu    sync.Mutex
	owner types.JID // the number the cache is of
	set   *labelSet
	// pending collects the events of a full sync under way, until it completes.
	pending *labelSet
	// primedOf is the run whose connection the cache was primed on.
	primedOf *run
	// priming is closed when the priming under way ends; nil when none is.
	priming chan struct{}
	// writes serializes the label changes (a semaphore, so that waiting honours ctx).
	writes  chan struct{}
	dropped int
}

// ownLocked makes the cache the one of number me, starting it empty for another.
func (st *labelState) ownLocked(me types.JID) {
	if st.set == nil || st.owner != me {
		st.owner, st.set, st.pending, st.primedOf = me, newLabelSet(), nil, nil
	}
}

// applyLabels runs change on the cache, and on the full sync under way if any, and returns
// the notifications of what changed in the cache. fullSync changes go to the sync
// under way only, started if none is.
func (r *run) applyLabels(fullSync bool, change func(*labelSet) ([]provider.Event, error)) []provider.Event {
	me := r.meJID()
	st := &r.p.labels
	st.mu.Lock()
	st.ownLocked(me)
	var evs []provider.Event
	var err error
	if fullSync {
		if st.pending == nil {
			st.pending = newLabelSet()
		}
		_, err = change(st.pending)
	} else {
		evs, err = change(st.set)
		if st.pending != nil {
			change(st.pending)
		}
	}
	dropped := 0
	if err != nil {
		st.dropped++
		dropped = st.dropped
	}
	st.mu.Unlock()
	if dropped%100 == 1 {
		r.p.log.Warn("whatsmeow label change dropped: the label cache is full",
			"max_labels", maxCachedLabels, "max_chats", maxLabelChats, "dropped_total", dropped)
	}
	return evs
}

// meJID returns the linked number's JID, empty before pairing.
func (r *run) meJID() types.JID {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	return r.me
}

// labelSync is a marker the priming queues around its full sync, in order with
// whatsmeow's events: start drops what an earlier full sync left unfinished; done is
// closed once everything queued before it was applied.
type labelSync struct {
	start bool
	done  chan struct{}
}

// onLabelEvent applies WhatsApp's label events to the cache and reports what changed:
//
//	LabelEdit              label.upsert, or label.deleted (after label.chat.deleted
//	                       for each chat it was on)
//	LabelAssociationChat   label.chat.added, label.chat.deleted
//	AppStateSyncComplete   of "regular": the full sync replaces the cache; the
//	                       differences are reported
//
// Events of a full sync (FromFullSync) are collected until it completes.
func (r *run) onLabelEvent(ev any) {
	var evs []provider.Event
	switch ev := ev.(type) {
	case *events.LabelEdit:
		if ev.Action == nil || ev.LabelID == "" {
			return
		}
		evs = r.applyLabels(ev.FromFullSync, func(s *labelSet) ([]provider.Event, error) { return s.edit(ev.LabelID, ev.Action) })
	case *events.LabelAssociationChat:
		if ev.Action == nil || ev.LabelID == "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		chat, err := r.chatOf(ctx, ev.JID, types.JID{})
		cancel()
		if err != nil {
			r.p.log.Debug("whatsmeow label of an unsupported chat skipped", "chat", ev.JID.String(), "err", err)
			return
		}
		jid := ev.JID.ToNonAD()
		evs = r.applyLabels(ev.FromFullSync, func(s *labelSet) ([]provider.Event, error) {
			return s.associate(chat, jid, ev.LabelID, ev.Action.GetLabeled())
		})
	case *events.AppStateSyncComplete:
		if ev.Name != appstate.WAPatchRegular {
			return
		}
		me := r.meJID()
		st := &r.p.labels
		st.mu.Lock()
		st.ownLocked(me)
		synced := st.pending
		if synced == nil {
			synced = newLabelSet() // the collection has no labels
		}
		synced.maxID = max(synced.maxID, st.set.maxID)
		evs = diffLabels(st.set, synced)
		st.set, st.pending, st.primedOf = synced, nil, r
		st.mu.Unlock()
	case labelSync:
		if ev.start {
			st := &r.p.labels
			st.mu.Lock()
			st.pending = nil
			st.mu.Unlock()
		}
		if ev.done != nil {
			close(ev.done)
		}
	}
	for _, e := range evs {
		r.emit(e)
	}
}

// labelRun returns the running connection and its client, or the error of a
// capability call.
func (p *Provider) labelRun(op string) (*run, labelClient, error) {
	r, ok := p.current()
	if !ok || !r.client.IsLoggedIn() {
		return nil, nil, p.errorf(op, provider.ErrNotConnected)
	}
	lc, ok := r.client.(labelClient)
	if !ok {
		return nil, nil, p.errorf(op, fmt.Errorf("the client has no app state calls: %w", provider.ErrUnsupported))
	}
	return r, lc, nil
}

// primeLabels makes sure the cache was primed on connection r: the first caller runs
// a full sync of the regular collection, the others wait for it (and try themselves
// if it failed).
func (p *Provider) primeLabels(ctx context.Context, r *run, lc labelClient) error {
	me := r.meJID()
	st := &p.labels
	for {
		st.mu.Lock()
		st.ownLocked(me)
		if st.primedOf == r {
			st.mu.Unlock()
			return nil
		}
		if wait := st.priming; wait != nil {
			st.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		done := make(chan struct{})
		st.priming = done
		st.mu.Unlock()

		err := p.fullLabelSync(ctx, r, lc)
		st.mu.Lock()
		st.priming = nil
		if err == nil && st.primedOf != r {
			err = errors.New("whatsmeow's full sync of the regular app state did not complete")
		}
		st.mu.Unlock()
		close(done)
		if err != nil {
			return fmt.Errorf("priming the labels: %w", err)
		}
		return nil
	}
}

// fullLabelSync runs a full sync of the regular collection and waits until the event
// goroutine has applied the events it replayed.
func (p *Provider) fullLabelSync(ctx context.Context, r *run, lc labelClient) error {
	if !r.queue.push(labelSync{start: true}, false) {
		return provider.ErrNotConnected
	}
	if err := boundedDo(ctx, func() error { return lc.FetchAppState(ctx, appstate.WAPatchRegular, true, false) }); err != nil {
		return err
	}
	applied := make(chan struct{})
	if !r.queue.push(labelSync{done: applied}, false) {
		return provider.ErrNotConnected
	}
	select {
	case <-applied:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// labelRead is the start of every label call: the connection, its client, a primed
// cache.
func (p *Provider) labelRead(ctx context.Context, op string) (*run, labelClient, error) {
	r, lc, err := p.labelRun(op)
	if err != nil {
		return nil, nil, err
	}
	if err := p.primeLabels(ctx, r, lc); err != nil {
		return nil, nil, p.errorf(op, err)
	}
	return r, lc, nil
}

// lockLabelWrites takes the label write semaphore, unless ctx ends first.
func (p *Provider) lockLabelWrites(ctx context.Context) (unlock func(), err error) {
	st := &p.labels
	st.mu.Lock()
	if st.writes == nil {
		st.writes = make(chan struct{}, 1)
	}
	sem := st.writes
	st.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sendLabelPatch sends patch and, once WhatsApp took it, applies change to the cache
// and reports what it changed, through the run's queue (in order with the events).
func (p *Provider) sendLabelPatch(ctx context.Context, r *run, lc labelClient, patch appstate.PatchInfo, change func(*labelSet) ([]provider.Event, error)) error {
	if err := boundedDo(ctx, func() error { return lc.SendAppState(ctx, patch) }); err != nil {
		return err
	}
	for _, ev := range r.applyLabels(false, change) {
		r.queue.push(ev, false)
	}
	return nil
}

// Labels implements provider.Labeler, from the cache (primed on the first call of a
// connection).
func (p *Provider) Labels(ctx context.Context) ([]provider.Label, error) {
	if _, _, err := p.labelRead(ctx, "listing labels"); err != nil {
		return nil, err
	}
	st := &p.labels
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]provider.Label, 0, len(st.set.labels))
	for _, id := range sortedKeys(st.set.labels) {
		out = append(out, st.set.labels[id])
	}
	return out, nil
}

// CreateLabel implements provider.Labeler with a label_edit patch under the next id.
// An account with provider.MaxLabels labels is refused with provider.ErrNotAllowed.
func (p *Provider) CreateLabel(ctx context.Context, name string, color int) (provider.Label, error) {
	const op = "creating a label"
	if err := checkLabelColor(color); err != nil {
		return provider.Label{}, p.errorf(op, err)
	}
	r, lc, err := p.labelRead(ctx, op)
	if err != nil {
		return provider.Label{}, err
	}
	unlock, err := p.lockLabelWrites(ctx)
	if err != nil {
		return provider.Label{}, p.errorf(op, err)
	}
	defer unlock()
	st := &p.labels
	st.mu.Lock()
	n, next := len(st.set.labels), st.set.maxID+1
	st.mu.Unlock()
	if n >= provider.MaxLabels {
		return provider.Label{}, p.errorf(op, fmt.Errorf("the account has %d labels already: %w", provider.MaxLabels, provider.ErrNotAllowed))
	}
	id := strconv.Itoa(next)
	patch := appstate.BuildLabelEdit(id, name, int32(color), false)
	if err := p.sendLabelPatch(ctx, r, lc, patch, editOf(id, patch)); err != nil {
		return provider.Label{}, p.errorf(op, err)
	}
	return provider.NewLabel(id, name, color), nil
}

// UpdateLabel implements provider.Labeler with a label_edit patch.
func (p *Provider) UpdateLabel(ctx context.Context, id, name string, color int) (provider.Label, error) {
	const op = "updating a label"
	if err := checkLabelColor(color); err != nil {
		return provider.Label{}, p.errorf(op, err)
	}
	r, lc, err := p.labelRead(ctx, op)
	if err != nil {
		return provider.Label{}, err
	}
	unlock, err := p.lockLabelWrites(ctx)
	if err != nil {
		return provider.Label{}, p.errorf(op, err)
	}
	defer unlock()
	if _, ok := p.cachedLabel(id); !ok {
		return provider.Label{}, p.errorf(op, fmt.Errorf("label %q: %w", id, provider.ErrNotFound))
	}
	patch := appstate.BuildLabelEdit(id, name, int32(color), false)
	if err := p.sendLabelPatch(ctx, r, lc, patch, editOf(id, patch)); err != nil {
		return provider.Label{}, p.errorf(op, err)
	}
	return provider.NewLabel(id, name, color), nil
}

// DeleteLabel implements provider.Labeler with a label_edit patch marked deleted; the
// chats it was on lose it (WhatsApp's apps drop those associations themselves).
func (p *Provider) DeleteLabel(ctx context.Context, id string) error {
	const op = "deleting a label"
	r, lc, err := p.labelRead(ctx, op)
	if err != nil {
		return err
	}
	unlock, err := p.lockLabelWrites(ctx)
	if err != nil {
		return p.errorf(op, err)
	}
	defer unlock()
	l, ok := p.cachedLabel(id)
	if !ok {
		return p.errorf(op, fmt.Errorf("label %q: %w", id, provider.ErrNotFound))
	}
	patch := appstate.BuildLabelEdit(id, l.Name, int32(l.Color), true)
	if err := p.sendLabelPatch(ctx, r, lc, patch, editOf(id, patch)); err != nil {
		return p.errorf(op, err)
	}
	return nil
}

// editOf is the cache change of a label_edit patch the provider built.
func editOf(id string, patch appstate.PatchInfo) func(*labelSet) ([]provider.Event, error) {
	act := patch.Mutations[0].Value.GetLabelEditAction()
	return func(s *labelSet) ([]provider.Event, error) { return s.edit(id, act) }
}

// checkLabelColor refuses a colour outside WhatsApp's palette (the API checks it
// first; this keeps the int32 of the patch honest).
func checkLabelColor(color int) error {
	if color < 0 || color >= len(provider.LabelColors) {
		return fmt.Errorf("label colour %d is not a colour number from 0 to %d", color, len(provider.LabelColors)-1)
	}
	return nil
}

// cachedLabel returns label id from the cache.
func (p *Provider) cachedLabel(id string) (provider.Label, bool) {
	st := &p.labels
	st.mu.Lock()
	defer st.mu.Unlock()
	l, ok := st.set.labels[id]
	return l, ok
}

// labelTarget returns the JID of a chat labels may go on: a user, by phone number or
// LID, or a group.
func (p *Provider) labelTarget(op string, chat chatid.ID) (types.JID, error) {
	if chat.Server != chatid.User && chat.Server != chatid.LID && chat.Server != chatid.Group {
		return types.JID{}, p.errorf(op, fmt.Errorf("%s is not a user or a group: %w", chat, provider.ErrInvalidRecipient))
	}
	j, err := ToJID(chat)
	if err != nil {
		return types.JID{}, p.errorf(op, fmt.Errorf("%w (%w)", provider.ErrInvalidRecipient, err))
	}
	return j, nil
}

// labelKey returns the chat id the cache knows the chat of j by: its phone number
// when the LID map knows it.
func (r *run) labelKey(ctx context.Context, j types.JID) (chatid.ID, error) {
	key, err := r.chatOf(ctx, j, types.JID{})
	if err != nil {
		return chatid.ID{}, fmt.Errorf("%w (%w)", provider.ErrInvalidRecipient, err)
	}
	return key, nil
}

// ChatLabels implements provider.Labeler, from the cache.
func (p *Provider) ChatLabels(ctx context.Context, chat chatid.ID) ([]provider.Label, error) {
	const op = "listing a chat's labels"
	j, err := p.labelTarget(op, chat)
	if err != nil {
		return nil, err
	}
	r, _, err := p.labelRead(ctx, op)
	if err != nil {
		return nil, err
	}
	key, err := r.labelKey(ctx, j)
	if err != nil {
		return nil, p.errorf(op, err)
	}
	st := &p.labels
	st.mu.Lock()
	defer st.mu.Unlock()
	out := []provider.Label{}
	if c := st.set.chats[key]; c != nil {
		for _, id := range c.ids {
			if l, ok := st.set.labels[id]; ok {
				out = append(out, l)
			}
		}
	}
	return out, nil
}

// SetChatLabels implements provider.Labeler with one label_jid patch per label taken
// off, then per label put on. Unknown ids fail before any patch; a patch WhatsApp
// refuses stops there, the ones before it applied.
func (p *Provider) SetChatLabels(ctx context.Context, chat chatid.ID, ids []string) error {
	const op = "setting a chat's labels"
	target, err := p.labelTarget(op, chat)
	if err != nil {
		return err
	}
	r, lc, err := p.labelRead(ctx, op)
	if err != nil {
		return err
	}
	key, err := r.labelKey(ctx, target)
	if err != nil {
		return p.errorf(op, err)
	}
	unlock, err := p.lockLabelWrites(ctx)
	if err != nil {
		return p.errorf(op, err)
	}
	defer unlock()

	want := slices.Clone(ids)
	slices.Sort(want)
	want = slices.Compact(want)
	st := &p.labels
	st.mu.Lock()
	for _, id := range want {
		if _, ok := st.set.labels[id]; !ok {
			st.mu.Unlock()
			return p.errorf(op, fmt.Errorf("label %q: %w", id, provider.ErrNotFound))
		}
	}
	var had []string
	if c := st.set.chats[key]; c != nil {
		had, target = slices.Clone(c.ids), c.jid
	}
	full := had == nil && len(want) > 0 && len(st.set.chats) >= maxLabelChats
	st.mu.Unlock()
	if full {
		return p.errorf(op, fmt.Errorf("labels on more than %d chats: %w", maxLabelChats, provider.ErrNotAllowed))
	}

	set := func(id string, labeled bool) error {
		patch := appstate.BuildLabelChat(target, id, labeled)
		return p.sendLabelPatch(ctx, r, lc, patch, func(s *labelSet) ([]provider.Event, error) {
			return s.associate(key, target, id, labeled)
		})
	}
	for _, id := range had {
		if !slices.Contains(want, id) {
			if err := set(id, false); err != nil {
				return p.errorf(op, fmt.Errorf("taking label %q off %s: %w", id, chat, err))
			}
		}
	}
	for _, id := range want {
		if !slices.Contains(had, id) {
			if err := set(id, true); err != nil {
				return p.errorf(op, fmt.Errorf("putting label %q on %s: %w", id, chat, err))
			}
		}
	}
	return nil
}

// LabelChats implements provider.Labeler, from the cache.
func (p *Provider) LabelChats(ctx context.Context, id string) ([]chatid.ID, error) {
	const op = "listing a label's chats"
	if _, _, err := p.labelRead(ctx, op); err != nil {
		return nil, err
	}
	st := &p.labels
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.set.labels[id]; !ok {
		return nil, p.errorf(op, fmt.Errorf("label %q: %w", id, provider.ErrNotFound))
	}
	out := []chatid.ID{}
	for _, chat := range sortedChats(st.set.chats) {
		if _, found := slices.BinarySearch(st.set.chats[chat].ids, id); found {
			out = append(out, chat)
		}
	}
	return out, nil
}

var _ provider.Labeler = (*Provider)(nil)
