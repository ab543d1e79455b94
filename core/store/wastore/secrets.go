package wastore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/store"
)

// Message secrets and privacy tokens. Both are saved under the JIDs they came with
// (without device) and found under either the phone number or the LID of a user,
// through the container's LID map, as sqlstore's queries do.

// altJID returns the other JID of a user JID string through the LID map: the phone
// number JID of a LID JID and the reverse; "" when the map has none or jid is neither.
func (c *Container) altJID(txn *badger.Txn, jid string) (string, error) {
	var level, server string
	var user string
	switch {
	case strings.HasSuffix(jid, "@"+types.HiddenUserServer):
		level, server, user = levelLID, types.DefaultUserServer, strings.ReplaceAll(jid, "@"+types.HiddenUserServer, "")
	case strings.HasSuffix(jid, "@"+types.DefaultUserServer):
		level, server, user = levelPN, types.HiddenUserServer, strings.ReplaceAll(jid, "@"+types.DefaultUserServer, "")
	default:
		return "", nil
	}
	other, err := raw.Get(txn, c.parts(level, text(user))...)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(other) + "@" + server, nil
}

// withAlt returns jid and, when the LID map has it, its other JID.
func (c *Container) withAlt(txn *badger.Txn, jid string) ([]string, error) {
	alt, err := c.altJID(txn, jid)
	if err != nil || alt == "" {
		return []string{jid}, err
	}
	return []string{jid, alt}, nil
}

// PutMessageSecrets saves many message secrets; a secret already saved for a message
// is kept (the first one wins).
func (s *deviceStore) PutMessageSecrets(ctx context.Context, inserts []wmstore.MessageSecretInsert) error {
	if len(inserts) == 0 {
		return nil
	}
	return s.c.updateMany(ctx, len(inserts), contactBatch, func(txn *badger.Txn, lo, hi int) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		// One by one, as sqlstore inserts them: in a DoDecryptionTxn, the secrets before
		// a refused one stay written (in a transaction of their own, nothing does).
		for _, in := range inserts[lo:hi] {
			if err := s.putSecret(txn, in.Chat, in.Sender, in.ID, in.Secret); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutMessageSecret saves the secret of message id, unless one is saved already.
func (s *deviceStore) PutMessageSecret(ctx context.Context, chat, sender types.JID, id types.MessageID, secret []byte) error {
	return s.c.update(ctx, func(txn *badger.Txn) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		return s.putSecret(txn, chat, sender, id, secret)
	}, nil)
}

func (s *deviceStore) putSecret(txn *badger.Txn, chat, sender types.JID, id types.MessageID, secret []byte) error {
	if secret == nil {
		return fmt.Errorf("%w: nil message secret", ErrInvalidValue)
	}
	key := s.key(kindSecret, text(chat.ToNonAD().String()), text(sender.ToNonAD().String()), text(id))
	ok, err := exists(txn, key)
	if err != nil || ok {
		return err
	}
	return txn.Set(key, secret)
}

// GetMessageSecret returns the secret of message id and the sender it was saved with:
// under the chat and sender given or their other JIDs. When several match, the one
// with the lowest (chat, sender) wins, the order SQLite's primary key index returns
// them in. Nil when none matches.
func (s *deviceStore) GetMessageSecret(ctx context.Context, chat, sender types.JID, id types.MessageID) ([]byte, types.JID, error) {
	var secret []byte
	var realSender types.JID
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		chatJIDs, err := s.c.withAlt(txn, chat.ToNonAD().String())
		if err != nil {
			return err
		}
		senderJIDs, err := s.c.withAlt(txn, sender.ToNonAD().String())
		if err != nil {
			return err
		}
		var bestChat, bestSender string
		found := false
		for _, ch := range chatJIDs {
			for _, sn := range senderJIDs {
				if found && (ch > bestChat || ch == bestChat && sn >= bestSender) {
					continue
				}
				v, err := raw.Get(txn, s.parts(kindSecret, text(ch), text(sn), text(id))...)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				secret, bestChat, bestSender, found = v, ch, sn, true
			}
		}
		if found {
			realSender, err = types.ParseJID(bestSender)
		}
		return err
	})
	if err != nil {
		return nil, types.JID{}, err
	}
	return secret, realSender, nil
}

// tokenRecord is a stored privacy token; Timestamp is in Unix seconds.
type tokenRecord struct {
	Token     []byte `json:"token"`
	Timestamp int64  `json:"timestamp"`
}

var tokens = store.Table[tokenRecord]{Prefix: store.PrefixWhatsmeow, Codec: store.JSONCodec[tokenRecord]{}}

// PutPrivacyTokens saves privacy tokens, replacing those of the same users (of a user
// listed twice, the last wins). Unlike sqlstore, whose table has no foreign key, it
// needs the device saved, so that no token outlives a deleted device.
func (s *deviceStore) PutPrivacyTokens(ctx context.Context, list ...wmstore.PrivacyToken) error {
	if len(list) == 0 {
		return nil
	}
	for _, t := range list {
		if t.Token == nil {
			return fmt.Errorf("%w: nil privacy token", ErrInvalidValue)
		}
	}
	return s.c.update(ctx, func(txn *badger.Txn) error {
		if err := s.requireDevice(txn); err != nil {
			return err
		}
		for _, t := range list {
			rec := tokenRecord{Token: t.Token, Timestamp: t.Timestamp.Unix()}
			if err := tokens.Put(txn, rec, s.parts(kindToken, text(t.User.ToNonAD().String()))...); err != nil {
				return err
			}
		}
		return nil
	}, nil)
}

// GetPrivacyToken returns the privacy token of user, saved under its JID or its other
// one: the latest (of equal timestamps, the lowest JID). Nil when there is none.
func (s *deviceStore) GetPrivacyToken(ctx context.Context, user types.JID) (*wmstore.PrivacyToken, error) {
	user = user.ToNonAD()
	var out *wmstore.PrivacyToken
	err := s.c.view(ctx, func(txn *badger.Txn) error {
		jids, err := s.c.withAlt(txn, user.String())
		if err != nil {
			return err
		}
		var best tokenRecord
		var bestJID string
		for _, j := range jids {
			rec, err := tokens.Get(txn, s.parts(kindToken, text(j))...)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if bestJID == "" || rec.Timestamp > best.Timestamp || rec.Timestamp == best.Timestamp && j < bestJID {
				best, bestJID = rec, j
			}
		}
		if bestJID != "" {
			out = &wmstore.PrivacyToken{User: user, Token: nilIfEmpty(best.Token), Timestamp: time.Unix(best.Timestamp, 0)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
