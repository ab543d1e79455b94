package sandbox

import (
	"context"
	"fmt"
	"sync"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Status updates (stories) in the simulated network. A send to status@broadcast of a
// text, image, video or voice message posts a status: it reaches its audience, each
// number whose session runs, as an inbound message of chat status@broadcast, from
// status@broadcast with the author as participant (as WhatsApp Web reports statuses).
// The audience is the status's StatusOptions.Audience when set, else every contact of
// the author (contacts.go: the numbers it exchanged messages with); numbers that
// blocked the author never see it. A revoke sent to status@broadcast deletes a status
// the account posted: the same audience gets the revoke.
//
// The account's status privacy is always "contacts": the sandbox has no setting for it.

// maxStatuses bounds the statuses whose audience the network remembers (for their
// revokes); past it the oldest is forgotten, and revoking it reaches nobody.
const maxStatuses = 4096

// statusBook is the network's recent statuses. Its lock is a leaf.
type statusBook struct {
	mu sync.Mutex
	// audience holds each recent status's author and audience, by provider id.
	audience map[string]postedStatus
	// order is the ids in posting order, for the bound.
	order []string
}

type postedStatus struct {
	author string
	to     []string
}

// StatusPrivacy implements provider.Stories.
func (s *session) StatusPrivacy(ctx context.Context) (provider.StatusPrivacy, error) {
	if _, err := s.self("getting the status privacy"); err != nil {
		return provider.StatusPrivacy{}, err
	}
	return provider.StatusPrivacy{Type: provider.StatusToContacts, List: []chatid.ID{}}, nil
}

// statusAudience returns the numbers a status send from reaches, checking the kind.
// A post's audience is its own; a revoke's, the audience of the status it deletes.
func (n *Network) statusAudience(from string, msg provider.Outbound) ([]string, error) {
	switch msg.Kind {
	case provider.KindText, provider.KindImage, provider.KindVideo, provider.KindVoice:
	case provider.KindRevoke:
		b := &n.statuses
		b.mu.Lock()
		defer b.mu.Unlock()
		if p, ok := b.audience[msg.Target]; ok && p.author == from {
			return p.to, nil
		}
		return nil, nil
	default:
		return nil, &provider.SendError{Code: CodeUnsupported, Err: fmt.Errorf("sandbox: a %s message is no status: %w", msg.Kind, provider.ErrUnsupported)}
	}
	var to []string
	if msg.Status != nil && len(msg.Status.Audience) > 0 {
		for _, id := range msg.Status.Audience {
			if id.Server == chatid.User && id.Local != from {
				to = append(to, id.Local)
			}
		}
	} else {
		to = n.contacts.contactsOf(from)
	}
	return to, nil
}

// recordStatus remembers the audience of a status just posted.
func (n *Network) recordStatus(id, from string, to []string) {
	b := &n.statuses
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.audience == nil {
		b.audience = map[string]postedStatus{}
	}
	if len(b.order) >= maxStatuses {
		delete(b.audience, b.order[0])
		b.order = b.order[1:]
	}
	b.audience[id] = postedStatus{author: from, to: to}
	b.order = append(b.order, id)
}

var _ provider.Stories = (*session)(nil)
