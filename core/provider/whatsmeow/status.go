package whatsmeow

import (
	"context"
	"fmt"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// Status updates ("stories"), through whatsmeow. Posting and deleting one is a send to
// status@broadcast (see Send); what Stories adds is who sees them:
//
//	StatusPrivacy  Client.GetStatusPrivacy, its default list (IsDefault, else the
//	               first): contacts, blacklist ("My contacts except...") or
//	               whitelist ("Only share with..."), with the list's users
//
// whatsmeow addresses every status to that audience (all contacts it knows with a
// name, minus the blacklist, or the whitelist): an Outbound's Status.Audience is
// ignored, WhatsApp having no per-status list. To change who sees statuses, change
// Status privacy on the phone.

// statusClient is the part of *whatsmeow.Client the Stories capability uses.
type statusClient interface {
	GetStatusPrivacy(ctx context.Context) ([]types.StatusPrivacy, error)
}

var _ statusClient = (*wm.Client)(nil)

// StatusPrivacy implements provider.Stories. Users of the list are reported by phone
// number when the session knows it (as inbound messages are), by LID otherwise.
func (p *Provider) StatusPrivacy(ctx context.Context) (provider.StatusPrivacy, error) {
	const op = "getting the status privacy"
	r, ok := p.current()
	if !ok || !r.client.IsLoggedIn() {
		return provider.StatusPrivacy{}, p.errorf(op, provider.ErrNotConnected)
	}
	sc, ok := r.client.(statusClient)
	if !ok {
		return provider.StatusPrivacy{}, p.errorf(op, fmt.Errorf("the client has no status calls: %w", provider.ErrUnsupported))
	}
	lists, err := bounded(ctx, func() ([]types.StatusPrivacy, error) { return sc.GetStatusPrivacy(ctx) })
	if err != nil {
		return provider.StatusPrivacy{}, p.errorf(op, groupError(err))
	}
	if len(lists) == 0 {
		// whatsmeow's own default when WhatsApp has none stored.
		return provider.StatusPrivacy{Type: provider.StatusToContacts, List: []chatid.ID{}}, nil
	}
	def := lists[0]
	for _, l := range lists {
		if l.IsDefault {
			def = l
			break
		}
	}
	out := provider.StatusPrivacy{List: []chatid.ID{}}
	switch def.Type {
	case types.StatusPrivacyTypeContacts:
		out.Type = provider.StatusToContacts
		return out, nil
	case types.StatusPrivacyTypeBlacklist:
		out.Type = provider.StatusToContactsExcept
	case types.StatusPrivacyTypeWhitelist:
		out.Type = provider.StatusToOnly
	default:
		return provider.StatusPrivacy{}, p.errorf(op, fmt.Errorf("WhatsApp's status privacy %q is not one the gateway knows", def.Type))
	}
	for _, j := range def.List {
		id, err := r.chatOf(ctx, j, types.JID{})
		if err != nil {
			continue // not a user the gateway can name
		}
		out.List = append(out.List, id)
	}
	return out, nil
}

var _ provider.Stories = (*Provider)(nil)
