package queue

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// The provider id index maps the transport's id of a sent message back to the gateway's
// id: pid/<tenant>/<session>/<provider id, base64url>, value the message id. It is
// written in the transaction that records the message sent and deleted with the message
// record (retention), so a receipt that arrives after the session's in-memory index
// forgot the send (core/session) still finds its message. Provider ids are encoded
// because some transports' ids may hold '/' (the Cloud API's wamid is base64).

// providerKey is the index key of providerID sent through session.
func providerKey(tenant, session, providerID string) []byte {
	return store.Key(store.PrefixProviderID, tenant, session, base64.RawURLEncoding.EncodeToString([]byte(providerID)))
}

// maxProviderID bounds the provider ids indexed (WhatsApp's are 16-32 characters, the
// Cloud API's wamid about 60); a longer one is not indexed.
const maxProviderID = 256

// putProviderID indexes m under its provider id, in txn. A message without one (a
// transport that gives none) is not indexed.
func putProviderID(txn *badger.Txn, tenant string, m Message) error {
	if m.ProviderID == "" || len(m.ProviderID) > maxProviderID || !validID(m.Session) {
		return nil
	}
	return txn.Set(providerKey(tenant, m.Session, m.ProviderID), []byte(m.ID))
}

// deleteProviderID removes m's provider id index entry, in txn.
func deleteProviderID(txn *badger.Txn, tenant string, m Message) error {
	if m.ProviderID == "" || len(m.ProviderID) > maxProviderID || !validID(m.Session) {
		return nil
	}
	return txn.Delete(providerKey(tenant, m.Session, m.ProviderID))
}

// ByProviderID returns the id of the message session sent under the transport's id
// providerID, or ErrNotFound.
func (q *Queue) ByProviderID(tenant, session, providerID string) (string, error) {
	if providerID == "" || len(providerID) > maxProviderID || !validID(tenant) || !validID(session) {
		return "", fmt.Errorf("%w: provider id %q", ErrNotFound, providerID)
	}
	var id string
	err := q.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(providerKey(tenant, session, providerID))
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { id = string(b); return nil })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", fmt.Errorf("%w: provider id %q", ErrNotFound, providerID)
	}
	return id, err
}
