package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Labels of sandbox numbers (provider.Labeler): every number is a Business account
// with up to provider.MaxLabels labels, ids "1", "2", ... in creation order, never
// reused. A label goes on any chat id the session could send to; at most
// maxSandboxLabelChats chats carry labels per number. Each change is reported to the
// session that made it, as WhatsApp reports it to every device of the account
// (label.upsert, label.deleted, label.chat.added, label.chat.deleted).
//
// Like contacts and chats, this state lives in memory.

// maxSandboxLabelChats bounds the chats that carry labels, per number.
const maxSandboxLabelChats = 10_000

// labelBook is the labels of a Network. Its lock is a leaf.
type labelBook struct {
	mu      sync.Mutex
	numbers map[string]*numberLabels
}

// numberLabels is one number's labels and the chats they are on.
type numberLabels struct {
	next   int
	labels map[string]provider.Label
	chats  map[chatid.ID][]string // label ids, sorted
}

// ofLocked returns phone's labels, creating them.
func (b *labelBook) ofLocked(phone string) *numberLabels {
	if b.numbers == nil {
		b.numbers = map[string]*numberLabels{}
	}
	n := b.numbers[phone]
	if n == nil {
		n = &numberLabels{labels: map[string]provider.Label{}, chats: map[chatid.ID][]string{}}
		b.numbers[phone] = n
	}
	return n
}

// Labels implements provider.Labeler.
func (s *session) Labels(ctx context.Context) ([]provider.Label, error) {
	me, err := s.self("listing labels")
	if err != nil {
		return nil, err
	}
	b := &s.net.labels
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.ofLocked(me)
	out := make([]provider.Label, 0, len(n.labels))
	for _, l := range n.labels {
		out = append(out, l)
	}
	return out, nil
}

// CreateLabel implements provider.Labeler.
func (s *session) CreateLabel(ctx context.Context, name string, color int) (provider.Label, error) {
	const op = "creating a label"
	me, err := s.self(op)
	if err != nil {
		return provider.Label{}, err
	}
	b := &s.net.labels
	b.mu.Lock()
	n := b.ofLocked(me)
	if len(n.labels) >= provider.MaxLabels {
		b.mu.Unlock()
		return provider.Label{}, s.errorf(op, fmt.Errorf("the account has %d labels already: %w", provider.MaxLabels, provider.ErrNotAllowed))
	}
	n.next++
	l := provider.NewLabel(strconv.Itoa(n.next), name, color)
	n.labels[l.ID] = l
	b.mu.Unlock()
	s.report(provider.LabelUpsert{Label: l})
	return l, nil
}

// UpdateLabel implements provider.Labeler.
func (s *session) UpdateLabel(ctx context.Context, id, name string, color int) (provider.Label, error) {
	const op = "updating a label"
	me, err := s.self(op)
	if err != nil {
		return provider.Label{}, err
	}
	b := &s.net.labels
	b.mu.Lock()
	n := b.ofLocked(me)
	if _, ok := n.labels[id]; !ok {
		b.mu.Unlock()
		return provider.Label{}, s.errorf(op, fmt.Errorf("label %q: %w", id, provider.ErrNotFound))
	}
	l := provider.NewLabel(id, name, color)
	n.labels[id] = l
	b.mu.Unlock()
	s.report(provider.LabelUpsert{Label: l})
	return l, nil
}

// DeleteLabel implements provider.Labeler: the chats it was on lose it (each reported
// as label.chat.deleted, then the label as label.deleted).
func (s *session) DeleteLabel(ctx context.Context, id string) error {
	const op = "deleting a label"
	me, err := s.self(op)
	if err != nil {
		return err
	}
	b := &s.net.labels
	b.mu.Lock()
	n := b.ofLocked(me)
	l, ok := n.labels[id]
	if !ok {
		b.mu.Unlock()
		return s.errorf(op, fmt.Errorf("label %q: %w", id, provider.ErrNotFound))
	}
	delete(n.labels, id)
	var events []provider.Event
	for chat, ids := range n.chats {
		if i := slices.Index(ids, id); i >= 0 {
			n.setLocked(chat, slices.Delete(ids, i, i+1))
			events = append(events, provider.LabelChatDeleted{LabelChat: provider.LabelChat{LabelID: id, ChatID: chat, Label: &l}})
		}
	}
	b.mu.Unlock()
	for _, ev := range events {
		s.report(ev)
	}
	s.report(provider.LabelDeleted{Label: l})
	return nil
}

// ChatLabels implements provider.Labeler.
func (s *session) ChatLabels(ctx context.Context, chat chatid.ID) ([]provider.Label, error) {
	me, err := s.chatOp("listing a chat's labels", chat)
	if err != nil {
		return nil, err
	}
	b := &s.net.labels
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.ofLocked(me)
	out := []provider.Label{}
	for _, id := range n.chats[chat] {
		out = append(out, n.labels[id])
	}
	return out, nil
}

// SetChatLabels implements provider.Labeler.
func (s *session) SetChatLabels(ctx context.Context, chat chatid.ID, ids []string) error {
	const op = "setting a chat's labels"
	me, err := s.chatOp(op, chat)
	if err != nil {
		return err
	}
	b := &s.net.labels
	b.mu.Lock()
	n := b.ofLocked(me)
	want := slices.Clone(ids)
	slices.Sort(want)
	want = slices.Compact(want)
	for _, id := range want {
		if _, ok := n.labels[id]; !ok {
			b.mu.Unlock()
			return s.errorf(op, fmt.Errorf("label %q: %w", id, provider.ErrNotFound))
		}
	}
	had := n.chats[chat]
	if len(had) == 0 && len(want) > 0 && len(n.chats) >= maxSandboxLabelChats {
		b.mu.Unlock()
		return s.errorf(op, fmt.Errorf("labels on more than %d chats: %w", maxSandboxLabelChats, provider.ErrNotAllowed))
	}
	var events []provider.Event
	for _, id := range had {
		if !slices.Contains(want, id) {
			l := n.labels[id]
			events = append(events, provider.LabelChatDeleted{LabelChat: provider.LabelChat{LabelID: id, ChatID: chat, Label: &l}})
		}
	}
	for _, id := range want {
		if !slices.Contains(had, id) {
			l := n.labels[id]
			events = append(events, provider.LabelChatAdded{LabelChat: provider.LabelChat{LabelID: id, ChatID: chat, Label: &l}})
		}
	}
	n.setLocked(chat, want)
	b.mu.Unlock()
	for _, ev := range events {
		s.report(ev)
	}
	return nil
}

// LabelChats implements provider.Labeler.
func (s *session) LabelChats(ctx context.Context, id string) ([]chatid.ID, error) {
	const op = "listing a label's chats"
	me, err := s.self(op)
	if err != nil {
		return nil, err
	}
	b := &s.net.labels
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.ofLocked(me)
	if _, ok := n.labels[id]; !ok {
		return nil, s.errorf(op, fmt.Errorf("label %q: %w", id, provider.ErrNotFound))
	}
	out := []chatid.ID{}
	for chat, ids := range n.chats {
		if slices.Contains(ids, id) {
			out = append(out, chat)
		}
	}
	return out, nil
}

// setLocked sets a chat's label ids, forgetting the chat when it has none.
func (n *numberLabels) setLocked(chat chatid.ID, ids []string) {
	if len(ids) == 0 {
		delete(n.chats, chat)
		return
	}
	n.chats[chat] = ids
}

var _ provider.Labeler = (*session)(nil)
