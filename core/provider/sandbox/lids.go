package sandbox

import (
	"context"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// LIDs. Every sandbox number has a LID of 15 digits derived from the number alone
// (lidOf), so it is the same on every run and in every process. A session knows the
// pairs of its own number and of its contacts, as a WhatsApp account learns the LIDs
// of the people it talks with; LIDForPhone also answers for any number on the network.

// lidOf returns the LID user of a sandbox number: 15 digits, from a hash of the
// number. Two numbers may in principle share one (one pair in 10^14 or so); the
// reverse lookup then picks the smaller number.
func lidOf(phone string) string {
	h := fnv.New64a()
	h.Write([]byte("wagate-sandbox-lid/"))
	h.Write([]byte(phone))
	return strconv.FormatUint(h.Sum64()%900_000_000_000_000+100_000_000_000_000, 10)
}

// knownLIDs returns the pairs number me knows, ordered by LID then number.
func (n *Network) knownLIDs(me string) []provider.LIDPair {
	phones := append(n.contacts.contactsOf(me), me)
	pairs := make([]provider.LIDPair, len(phones))
	for i, p := range phones {
		pairs[i] = provider.LIDPair{LID: chatid.ID{Local: lidOf(p), Server: chatid.LID}, PN: chatid.ID{Local: p, Server: chatid.User}}
	}
	slices.SortFunc(pairs, func(a, b provider.LIDPair) int {
		if c := strings.Compare(a.LID.Local, b.LID.Local); c != 0 {
			return c
		}
		return strings.Compare(a.PN.Local, b.PN.Local)
	})
	return pairs
}

// phoneOfLID returns the number of a LID that number me knows, "" when none.
func (n *Network) phoneOfLID(me, lid string) string {
	for _, p := range n.knownLIDs(me) {
		if p.LID.Local == lid {
			return p.PN.Local
		}
	}
	return ""
}

// ListLIDs implements provider.LIDs.
func (s *session) ListLIDs(ctx context.Context, offset, limit int) ([]provider.LIDPair, error) {
	me, err := s.self("listing LIDs")
	if err != nil {
		return nil, err
	}
	pairs := s.net.knownLIDs(me)
	offset = min(max(offset, 0), len(pairs))
	end := min(offset+max(limit, 0), len(pairs))
	return pairs[offset:end], nil
}

// CountLIDs implements provider.LIDs.
func (s *session) CountLIDs(ctx context.Context) (int, error) {
	me, err := s.self("counting LIDs")
	if err != nil {
		return 0, err
	}
	return len(s.net.contacts.contactsOf(me)) + 1, nil
}

// PhoneForLID implements provider.LIDs.
func (s *session) PhoneForLID(ctx context.Context, lid chatid.ID) (chatid.ID, error) {
	me, err := s.self("looking up a LID")
	if err != nil {
		return chatid.ID{}, err
	}
	if pn := s.net.phoneOfLID(me, lid.Local); pn != "" {
		return chatid.ID{Local: pn, Server: chatid.User}, nil
	}
	return chatid.ID{}, nil
}

// LIDForPhone implements provider.LIDs: the LID of the session's own number, of a
// contact, or of any number on the network.
func (s *session) LIDForPhone(ctx context.Context, phone chatid.ID) (chatid.ID, error) {
	me, err := s.self("looking up a phone number's LID")
	if err != nil {
		return chatid.ID{}, err
	}
	known := phone.Local == me || s.net.byPhone(phone.Local) != nil
	if !known {
		b := &s.net.contacts
		b.mu.Lock()
		_, known = b.met[me][phone.Local]
		b.mu.Unlock()
	}
	if !known {
		return chatid.ID{}, nil
	}
	return chatid.ID{Local: lidOf(phone.Local), Server: chatid.LID}, nil
}

var _ provider.LIDs = (*session)(nil)
