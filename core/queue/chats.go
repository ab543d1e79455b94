package queue

import (
	"bytes"
	"context"
	"errors"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// MaxChatsScanned bounds the chats Chats reads for one session: past it the list is
// cut (Truncated), so that a session with a huge history cannot make one request scan
// it all.
const MaxChatsScanned = 100_000

// ChatLast is one chat of a session's history and its last message.
type ChatLast struct {
	Chat string
	Last Message
}

// Chats lists the chats of a session's history (messages sent and received, as
// ChatMessages has them), each with its newest message, in no particular order. The
// chat index is read key by key, one chat at a time: the cost is a few seeks per chat,
// not a scan of every message. At most MaxChatsScanned chats are read; truncated
// reports that more exist. Chats whose messages retention deleted are gone.
func (q *Queue) Chats(ctx context.Context, tenant, session string) (chats []ChatLast, truncated bool, err error) {
	if !validID(session) {
		return nil, false, nil
	}
	prefix := store.ScanPrefix(store.PrefixChatMessage, tenant, session)
	err = q.db.View(func(txn *badger.Txn) error {
		keys := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer keys.Close()
		last := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true})
		defer last.Close()
		for keys.Seek(prefix); keys.ValidForPrefix(prefix); {
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(chats) == MaxChatsScanned {
				truncated = true
				return nil
			}
			rest := keys.Item().Key()[len(prefix):]
			i := bytes.IndexByte(rest, '/')
			if i <= 0 {
				keys.Next()
				continue
			}
			chat := string(rest[:i])
			chatPrefix := append(append([]byte{}, prefix...), rest[:i+1]...)
			end := append(append([]byte{}, chatPrefix...), 0xff)
			// Newest first: the chat's messages from the last key back, past ids
			// whose record retention (or a crash between writes) removed.
			for last.Seek(end); last.ValidForPrefix(chatPrefix); last.Next() {
				id := string(last.Item().Key()[len(chatPrefix):])
				m, err := getFolded(txn, tenant, id, nil)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				chats = append(chats, ChatLast{Chat: chat, Last: m})
				break
			}
			keys.Seek(end)
		}
		return nil
	})
	return chats, truncated, err
}
