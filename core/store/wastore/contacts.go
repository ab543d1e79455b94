package wastore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/store"
)

// Contacts and chat settings. sqlstore keeps an in-memory contact cache in front of
// its table; here every call reads the store in its transaction, which answers the
// same as sqlstore's cache does while it agrees with its table.

// contactRecord is a stored contact. A saved record is Found even when all its names
// are empty.
type contactRecord struct {
	FirstName     string `json:"first_name,omitempty"`
	FullName      string `json:"full_name,omitempty"`
	PushName      string `json:"push_name,omitempty"`
	BusinessName  string `json:"business_name,omitempty"`
	RedactedPhone string `json:"redacted_phone,omitempty"`
}

func (r contactRecord) info() types.ContactInfo {
	return types.ContactInfo{Found: true, FirstName: r.FirstName, FullName: r.FullName, PushName: r.PushName,
		BusinessName: r.BusinessName, RedactedPhone: r.RedactedPhone}
}

var contacts = store.Table[contactRecord]{Prefix: store.PrefixWhatsmeow, Codec: store.JSONCodec[contactRecord]{}}

// contactBatch is how many contacts go in one transaction when a batch is too big for
// one.
const contactBatch = 2000

// updateContact applies change to the contact of user, creating it if missing, when
// change reports a difference.
func (s *deviceStore) updateContact(ctx context.Context, user types.JID, change func(rec *contactRecord) bool) error {
	return s.c.update(ctx, func(txn *badger.Txn) error {
		parts := s.parts(kindContact, text(user.String()))
		rec, err := contacts.Get(txn, parts...)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if !change(&rec) {
			return nil
		}
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		return contacts.Put(txn, rec, parts...)
	}, nil)
}

// PutPushName saves the push name of user and reports whether it changed, with the
// previous one.
func (s *deviceStore) PutPushName(ctx context.Context, user types.JID, pushName string) (bool, string, error) {
	var changed bool
	var previous string
	err := s.updateContact(ctx, user, func(rec *contactRecord) bool {
		changed, previous = rec.PushName != pushName, rec.PushName
		rec.PushName = pushName
		return changed
	})
	if err != nil || !changed {
		return false, "", err
	}
	return true, previous, nil
}

// PutBusinessName saves the business name of user and reports whether it changed,
// with the previous one.
func (s *deviceStore) PutBusinessName(ctx context.Context, user types.JID, businessName string) (bool, string, error) {
	var changed bool
	var previous string
	err := s.updateContact(ctx, user, func(rec *contactRecord) bool {
		changed, previous = rec.BusinessName != businessName, rec.BusinessName
		rec.BusinessName = businessName
		return changed
	})
	if err != nil || !changed {
		return false, "", err
	}
	return true, previous, nil
}

// PutContactName saves the names of user from the address book. The interface names
// its parameters (fullName, firstName), but whatsmeow's caller (appstate.go) and
// sqlstore both put the first name first: so does this.
func (s *deviceStore) PutContactName(ctx context.Context, user types.JID, firstName, fullName string) error {
	return s.updateContact(ctx, user, func(rec *contactRecord) bool {
		if rec.FirstName == firstName && rec.FullName == fullName {
			return false
		}
		rec.FirstName, rec.FullName = firstName, fullName
		return true
	})
}

// firstPerKey keeps, of entries with the same key, the first (as go.mau.fi/util's
// exslices.DeduplicateUnsortedOverwriteFunc, used by sqlstore, does), without
// changing the caller's slice.
func firstPerKey[T any, K comparable](in []T, key func(T) K) []T {
	seen := make(map[K]bool, len(in))
	out := make([]T, 0, len(in))
	for _, v := range in {
		if k := key(v); !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}

// PutAllContactNames saves the names of many contacts (the first entry of a JID
// listed twice wins). Their push and business names stay.
func (s *deviceStore) PutAllContactNames(ctx context.Context, entries []wmstore.ContactEntry) error {
	if len(entries) == 0 {
		return nil
	}
	entries = firstPerKey(entries, func(e wmstore.ContactEntry) types.JID { return e.JID })
	return s.c.updateMany(ctx, len(entries), contactBatch, func(txn *badger.Txn, lo, hi int) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		for _, e := range entries[lo:hi] {
			parts := s.parts(kindContact, text(e.JID.String()))
			rec, err := contacts.Get(txn, parts...)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			rec.FirstName, rec.FullName = e.FirstName, e.FullName
			if err := contacts.Put(txn, rec, parts...); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutManyRedactedPhones saves the redacted phone numbers of many contacts (the first
// entry of a JID listed twice wins).
func (s *deviceStore) PutManyRedactedPhones(ctx context.Context, entries []wmstore.RedactedPhoneEntry) error {
	if len(entries) == 0 {
		return nil
	}
	entries = firstPerKey(entries, func(e wmstore.RedactedPhoneEntry) types.JID { return e.JID })
	return s.c.updateMany(ctx, len(entries), contactBatch, func(txn *badger.Txn, lo, hi int) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		for _, e := range entries[lo:hi] {
			parts := s.parts(kindContact, text(e.JID.String()))
			rec, err := contacts.Get(txn, parts...)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			rec.RedactedPhone = e.RedactedPhone
			if err := contacts.Put(txn, rec, parts...); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetContact returns what is saved of user; Found is false when nothing is.
func (s *deviceStore) GetContact(ctx context.Context, user types.JID) (types.ContactInfo, error) {
	var info types.ContactInfo
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		rec, err := contacts.Get(txn, s.parts(kindContact, text(user.String()))...)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err == nil {
			info = rec.info()
		}
		return err
	})
	if err != nil {
		return types.ContactInfo{}, err
	}
	return info, nil
}

// GetAllContacts returns every saved contact.
func (s *deviceStore) GetAllContacts(ctx context.Context) (map[types.JID]types.ContactInfo, error) {
	out := make(map[types.JID]types.ContactInfo)
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		return contacts.Scan(txn, func(rest []string, rec contactRecord) error {
			jid, err := parseJIDPart(rest[0])
			if err != nil {
				return err
			}
			out[jid] = rec.info()
			return nil
		}, s.parts(kindContact)...)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parseJIDPart decodes a JID key part.
func parseJIDPart(part string) (types.JID, error) {
	str, err := untext(part)
	if err != nil {
		return types.JID{}, err
	}
	jid, err := types.ParseJID(str)
	if err != nil {
		return types.JID{}, fmt.Errorf("jid %q in key: %w", str, err)
	}
	return jid, nil
}

// chatRecord is stored chat settings. MutedUntil is in Unix seconds, -1 for muted
// forever and 0 for not muted, as sqlstore stores it.
type chatRecord struct {
	MutedUntil int64 `json:"muted_until,omitempty"`
	Pinned     bool  `json:"pinned,omitempty"`
	Archived   bool  `json:"archived,omitempty"`
}

var chats = store.Table[chatRecord]{Prefix: store.PrefixWhatsmeow, Codec: store.JSONCodec[chatRecord]{}}

// updateChat applies change to the settings of chat, creating them if missing.
func (s *deviceStore) updateChat(ctx context.Context, chat types.JID, change func(rec *chatRecord)) error {
	return s.c.update(ctx, func(txn *badger.Txn) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		parts := s.parts(kindChat, text(chat.String()))
		rec, err := chats.Get(txn, parts...)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		change(&rec)
		return chats.Put(txn, rec, parts...)
	}, nil)
}

// PutMutedUntil saves until when chat is muted: store.MutedForever for ever, the zero
// time for not muted; other times are kept to the second.
func (s *deviceStore) PutMutedUntil(ctx context.Context, chat types.JID, mutedUntil time.Time) error {
	var val int64
	if mutedUntil == wmstore.MutedForever {
		val = -1
	} else if !mutedUntil.IsZero() {
		val = mutedUntil.Unix()
	}
	return s.updateChat(ctx, chat, func(rec *chatRecord) { rec.MutedUntil = val })
}

// PutPinned saves whether chat is pinned.
func (s *deviceStore) PutPinned(ctx context.Context, chat types.JID, pinned bool) error {
	return s.updateChat(ctx, chat, func(rec *chatRecord) { rec.Pinned = pinned })
}

// PutArchived saves whether chat is archived.
func (s *deviceStore) PutArchived(ctx context.Context, chat types.JID, archived bool) error {
	return s.updateChat(ctx, chat, func(rec *chatRecord) { rec.Archived = archived })
}

// GetChatSettings returns the settings of chat; Found is false when none are saved.
func (s *deviceStore) GetChatSettings(ctx context.Context, chat types.JID) (types.LocalChatSettings, error) {
	var settings types.LocalChatSettings
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		rec, err := chats.Get(txn, s.parts(kindChat, text(chat.String()))...)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		settings.Found, settings.Pinned, settings.Archived = true, rec.Pinned, rec.Archived
		if rec.MutedUntil < 0 {
			settings.MutedUntil = wmstore.MutedForever
		} else if rec.MutedUntil > 0 {
			settings.MutedUntil = time.Unix(rec.MutedUntil, 0)
		}
		return nil
	})
	return settings, err
}
