package whatsmeow

import (
	"context"
	"fmt"

	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// LIDs: the session's LID map (store.LIDs, which wastore keeps per session under
// wam/<tenant>/<session>/lid/ and pn/), as whatsmeow fills it from messages, groups and
// user queries. No call goes to WhatsApp.

// ListLIDs implements provider.LIDs, in LID order.
func (p *Provider) ListLIDs(ctx context.Context, offset, limit int) ([]provider.LIDPair, error) {
	if _, _, err := p.contactRun("listing LIDs"); err != nil {
		return nil, err
	}
	list, err := p.container.LIDMap.List(ctx, offset, limit)
	if err != nil {
		return nil, p.errorf("listing LIDs", err)
	}
	out := make([]provider.LIDPair, 0, len(list))
	for _, mp := range list {
		lid, err1 := FromJID(mp.LID)
		pn, err2 := FromJID(mp.PN)
		if err1 == nil && err2 == nil {
			out = append(out, provider.LIDPair{LID: lid, PN: pn})
		}
	}
	return out, nil
}

// CountLIDs implements provider.LIDs.
func (p *Provider) CountLIDs(ctx context.Context) (int, error) {
	if _, _, err := p.contactRun("counting LIDs"); err != nil {
		return 0, err
	}
	n, err := p.container.LIDMap.Count(ctx)
	if err != nil {
		return 0, p.errorf("counting LIDs", err)
	}
	return n, nil
}

// PhoneForLID implements provider.LIDs.
func (p *Provider) PhoneForLID(ctx context.Context, lid chatid.ID) (chatid.ID, error) {
	return p.lidLookup(ctx, "looking up a LID", lid, chatid.LID)
}

// LIDForPhone implements provider.LIDs.
func (p *Provider) LIDForPhone(ctx context.Context, phone chatid.ID) (chatid.ID, error) {
	return p.lidLookup(ctx, "looking up a phone number's LID", phone, chatid.User)
}

func (p *Provider) lidLookup(ctx context.Context, op string, id chatid.ID, server chatid.Server) (chatid.ID, error) {
	if _, _, err := p.contactRun(op); err != nil {
		return chatid.ID{}, err
	}
	if id.Server != server {
		return chatid.ID{}, p.errorf(op, fmt.Errorf("%s: %w", id, provider.ErrInvalidRecipient))
	}
	j, err := ToJID(id)
	if err != nil {
		return chatid.ID{}, p.errorf(op, err)
	}
	var other types.JID
	if server == chatid.LID {
		other, err = p.container.LIDMap.GetPNForLID(ctx, j)
	} else {
		other, err = p.container.LIDMap.GetLIDForPN(ctx, j)
	}
	if err != nil {
		return chatid.ID{}, p.errorf(op, err)
	}
	if other.IsEmpty() {
		return chatid.ID{}, nil
	}
	out, err := FromJID(other.ToNonAD())
	if err != nil {
		return chatid.ID{}, p.errorf(op, err)
	}
	return out, nil
}

var _ provider.LIDs = (*Provider)(nil)
