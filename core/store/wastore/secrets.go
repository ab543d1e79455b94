package wastore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/store"
)

// Message secrets, privacy tokens and the NCT salt. Secrets and tokens are saved under the JIDs they came with
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

// tokenRecord is a stored privacy token; the times are Unix seconds. SenderTS is nil
// when the token came without a sender timestamp (tokens saved before whatsmeow had
// one lack it too).
type tokenRecord struct {
	Token     []byte `json:"token"`
	Timestamp int64  `json:"timestamp"`
	SenderTS  *int64 `json:"sender_timestamp,omitempty"`
}

var tokens = store.Table[tokenRecord]{Prefix: store.PrefixWhatsmeow, Codec: store.JSONCodec[tokenRecord]{}}

// PutPrivacyTokens saves privacy tokens, in order, as sqlstore's conditional upsert
// does: a token replaces the one saved for its user only if its timestamp is not
// older, and keeps the saved sender timestamp when it has none. Unlike sqlstore, whose
// table has no foreign key, it needs the device saved, so that no token outlives a
// deleted device.
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
			parts := s.parts(kindToken, text(t.User.ToNonAD().String()))
			rec := tokenRecord{Token: t.Token, Timestamp: t.Timestamp.Unix()}
			if !t.SenderTimestamp.IsZero() {
				ts := t.SenderTimestamp.Unix()
				rec.SenderTS = &ts
			}
			old, err := tokens.Get(txn, parts...)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			case rec.Timestamp < old.Timestamp:
				continue
			case rec.SenderTS == nil:
				rec.SenderTS = old.SenderTS
			}
			if err := tokens.Put(txn, rec, parts...); err != nil {
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
			if best.SenderTS != nil {
				out.SenderTimestamp = time.Unix(*best.SenderTS, 0)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteExpiredPrivacyTokens deletes the device's privacy tokens whose timestamp is
// before cutoff (to the second, as sqlstore stores them) and returns how many it
// deleted. The tokens are scanned, not indexed by age: whatsmeow prunes rarely, and a
// device holds one token per contact. Outside a DoDecryptionTxn, it deletes in
// transactions of at most 1000 tokens.
func (s *deviceStore) DeleteExpiredPrivacyTokens(ctx context.Context, cutoff time.Time) (int64, error) {
	before := cutoff.Unix()
	limit, carried := deleteBatch, s.c.carriedTxn(ctx) != nil
	if carried {
		limit = math.MaxInt
	}
	prefix := s.prefix(kindToken, "")
	var deleted int64
	for {
		n := 0
		err := s.c.update(ctx, func(txn *badger.Txn) error {
			n = 0
			var expired [][]byte
			err := scan(txn, prefix, true, func(item *badger.Item) (bool, error) {
				var rec tokenRecord
				err := item.Value(func(v []byte) error {
					var err error
					rec, err = tokens.Codec.Decode(v)
					return err
				})
				if err != nil {
					return false, fmt.Errorf("privacy token %q: %w", item.Key(), err)
				}
				if rec.Timestamp < before {
					expired = append(expired, item.KeyCopy(nil))
				}
				return len(expired) < limit, nil
			})
			if err != nil {
				return err
			}
			for _, k := range expired {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			n = len(expired)
			return nil
		}, nil)
		if err != nil {
			return deleted, fmt.Errorf("deleting expired privacy tokens: %w", err)
		}
		deleted += int64(n)
		if n < limit || carried {
			return deleted, nil
		}
	}
}

// PutNCTSalt saves the device's NCT salt, from which whatsmeow derives the cstoken it
// sends with messages, replacing the one saved. A nil salt is refused (sqlstore's NOT
// NULL).
func (s *deviceStore) PutNCTSalt(ctx context.Context, salt []byte) error {
	if salt == nil {
		return fmt.Errorf("%w: nil NCT salt", ErrInvalidValue)
	}
	return s.putRaw(ctx, salt, kindNCTSalt)
}

// GetNCTSalt returns the device's NCT salt, nil when none is saved.
func (s *deviceStore) GetNCTSalt(ctx context.Context) ([]byte, error) {
	return s.getRaw(ctx, kindNCTSalt)
}

// DeleteNCTSalt deletes the device's NCT salt; none saved is no error.
func (s *deviceStore) DeleteNCTSalt(ctx context.Context) error {
	return s.c.update(ctx, func(txn *badger.Txn) error {
		return txn.Delete(s.key(kindNCTSalt))
	}, nil)
}
