package wastore

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/store"
)

// LIDMap is the container's map between LIDs and phone numbers (whatsmeow's LIDStore),
// shared by its devices as sqlstore's CachedLIDMap is by a database's. It is a
// bijection of users: lid/<lid user> holds the phone number user and pn/<pn user> the
// LID user, both written in one transaction.
//
// It has no in-memory cache: sqlstore's cache keeps the old pairs of a remapped user
// and answers with them until restart; this map answers what sqlstore's table holds.
type LIDMap struct {
	c *Container
}

var _ wmstore.LIDStore = (*LIDMap)(nil)

// GetLIDForPN returns the LID of phone number JID pn, with pn's device; the empty JID
// when the map has none. pn must be a phone number JID.
func (m *LIDMap) GetLIDForPN(ctx context.Context, pn types.JID) (types.JID, error) {
	if pn.Server != types.DefaultUserServer {
		return types.JID{}, fmt.Errorf("invalid GetLIDForPN call with non-PN JID %s", pn)
	}
	return m.lookup(ctx, levelPN, pn, types.HiddenUserServer)
}

// GetPNForLID returns the phone number of LID lid, with lid's device; the empty JID
// when the map has none. lid must be a LID.
func (m *LIDMap) GetPNForLID(ctx context.Context, lid types.JID) (types.JID, error) {
	if lid.Server != types.HiddenUserServer {
		return types.JID{}, fmt.Errorf("invalid GetPNForLID call with non-LID JID %s", lid)
	}
	return m.lookup(ctx, levelLID, lid, types.DefaultUserServer)
}

func (m *LIDMap) lookup(ctx context.Context, level string, source types.JID, targetServer string) (types.JID, error) {
	var user []byte
	err := m.c.view(ctx, func(txn *badger.Txn) error {
		var err error
		user, err = raw.Get(txn, m.c.parts(level, text(source.User))...)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || err == nil && len(user) == 0 {
		return types.JID{}, nil
	}
	if err != nil {
		return types.JID{}, err
	}
	return types.JID{User: string(user), Device: source.Device, Server: targetServer}, nil
}

// GetManyLIDsForPNs returns the LIDs of the phone number JIDs pns that the map has,
// each with its device; other JIDs are skipped. No JIDs give a nil map.
func (m *LIDMap) GetManyLIDsForPNs(ctx context.Context, pns []types.JID) (map[types.JID]types.JID, error) {
	if len(pns) == 0 {
		return nil, nil
	}
	out := make(map[types.JID]types.JID, len(pns))
	err := m.c.view(ctx, func(txn *badger.Txn) error {
		for _, pn := range pns {
			if pn.Server != types.DefaultUserServer {
				continue
			}
			lid, err := raw.Get(txn, m.c.parts(levelPN, text(pn.User))...)
			if errors.Is(err, store.ErrNotFound) || err == nil && len(lid) == 0 {
				continue
			}
			if err != nil {
				return err
			}
			out[pn] = types.JID{User: string(lid), Device: pn.Device, Server: types.HiddenUserServer}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutLIDMapping maps lid to pn, replacing what either was mapped to. lid must be a
// LID and pn a phone number JID.
func (m *LIDMap) PutLIDMapping(ctx context.Context, lid, pn types.JID) error {
	if lid.Server != types.HiddenUserServer || pn.Server != types.DefaultUserServer {
		return fmt.Errorf("invalid PutLIDMapping call %s/%s", lid, pn)
	}
	return m.c.update(ctx, func(txn *badger.Txn) error {
		current, err := m.get(txn, levelPN, pn.User)
		if err != nil || current == lid.User {
			return err
		}
		return m.put(txn, lid.User, pn.User)
	}, nil)
}

// PutManyLIDMappings maps many pairs, in order, in one transaction. Pairs that are not
// (LID, phone number) are skipped, as are pairs the map holds already when the call
// starts and repeats of a pair.
func (m *LIDMap) PutManyLIDMappings(ctx context.Context, mappings []wmstore.LIDMapping) error {
	if len(mappings) == 0 {
		return nil
	}
	return m.c.updateMany(ctx, len(mappings), contactBatch, func(txn *badger.Txn, lo, hi int) error {
		todo := make([]wmstore.LIDMapping, 0, hi-lo)
		for _, mp := range mappings[lo:hi] {
			if mp.LID.Server != types.HiddenUserServer || mp.PN.Server != types.DefaultUserServer {
				m.c.log.Debugf("Ignoring invalid entry in PutManyLIDMappings: %s/%s", mp.LID, mp.PN)
				continue
			}
			current, err := m.get(txn, levelPN, mp.PN.User)
			if err != nil {
				return err
			}
			if current != mp.LID.User {
				todo = append(todo, mp)
			}
		}
		for _, mp := range firstPerKey(todo, func(mp wmstore.LIDMapping) wmstore.LIDMapping { return mp }) {
			if err := m.put(txn, mp.LID.User, mp.PN.User); err != nil {
				return err
			}
		}
		return nil
	})
}

// get returns the user mapped to user at level, "" when none.
func (m *LIDMap) get(txn *badger.Txn, level, user string) (string, error) {
	v, err := raw.Get(txn, m.c.parts(level, text(user))...)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return string(v), err
}

// put maps lid to pn: the LID pn had and the phone number lid had lose their pair.
func (m *LIDMap) put(txn *badger.Txn, lid, pn string) error {
	oldPN, err := m.get(txn, levelLID, lid)
	if err != nil {
		return err
	}
	oldLID, err := m.get(txn, levelPN, pn)
	if err != nil {
		return err
	}
	if oldLID != "" && oldLID != lid {
		if err := txn.Delete(store.Key(store.PrefixWhatsmeow, m.c.parts(levelLID, text(oldLID))...)); err != nil {
			return err
		}
	}
	if oldPN != "" && oldPN != pn {
		if err := txn.Delete(store.Key(store.PrefixWhatsmeow, m.c.parts(levelPN, text(oldPN))...)); err != nil {
			return err
		}
	}
	if err := raw.Put(txn, []byte(pn), m.c.parts(levelLID, text(lid))...); err != nil {
		return err
	}
	return raw.Put(txn, []byte(lid), m.c.parts(levelPN, text(pn))...)
}
