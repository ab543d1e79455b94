package wastore

import (
	"context"
	"errors"
	"fmt"
	mathRand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"
	"go.mau.fi/util/random"
	"go.mau.fi/whatsmeow/proto/waAdv"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/wagate/wagate/core/store"
)

// Container holds the whatsmeow devices of one gateway session, the way a
// sqlstore.Container holds those of one SQL database: its methods have the same names
// and behaviour. Its LID map is the session's own.
type Container struct {
	db      *store.DB
	tenant  string
	session string
	log     waLog.Logger
	// LIDMap is the LIDStore every device of the container shares.
	LIDMap *LIDMap
	// now is the clock of event buffer insert times (tests replace it).
	now func() time.Time
	// commits group-commits the writes of every container of the DB.
	commits *committer
}

var _ wmstore.DeviceContainer = (*Container)(nil)

// New returns the container of session (of tenant) in db. The logger may be nil.
// Nothing is written until a device is saved.
//
//	c, err := wastore.New(db, tenantID, sessionName, log)
//	device, err := c.GetFirstDevice(ctx) // a new, unsaved device when none is paired
//	client := whatsmeow.NewClient(device, log)
func New(db *store.DB, tenant, session string, log waLog.Logger) (*Container, error) {
	for _, id := range []string{tenant, session} {
		if id == "" || strings.Contains(id, "/") {
			return nil, fmt.Errorf("wastore: tenant and session must be non-empty and free of '/', got %q, %q", tenant, session)
		}
	}
	if log == nil {
		log = waLog.Noop
	}
	c := &Container{db: db, tenant: tenant, session: session, log: log, now: time.Now, commits: committerOf(db.Badger())}
	c.LIDMap = &LIDMap{c: c}
	return c, nil
}

// parts returns the key parts of level below wam/<tenant>/<session>, followed by more.
func (c *Container) parts(level string, more ...string) []string {
	return append([]string{c.tenant, c.session, level}, more...)
}

// deviceRecord is the stored whatsmeow_device row.
type deviceRecord struct {
	JID              string    `json:"jid"`
	LID              string    `json:"lid,omitempty"`
	RegistrationID   uint32    `json:"registration_id"`
	NoiseKey         []byte    `json:"noise_key"`
	IdentityKey      []byte    `json:"identity_key"`
	SignedPreKey     []byte    `json:"signed_pre_key"`
	SignedPreKeyID   uint32    `json:"signed_pre_key_id"`
	SignedPreKeySig  []byte    `json:"signed_pre_key_sig"`
	AdvKey           []byte    `json:"adv_key"`
	AdvDetails       []byte    `json:"adv_details"`
	AdvAccountSig    []byte    `json:"adv_account_sig"`
	AdvAccountSigKey []byte    `json:"adv_account_sig_key"`
	AdvDeviceSig     []byte    `json:"adv_device_sig"`
	Platform         string    `json:"platform,omitempty"`
	BusinessName     string    `json:"business_name,omitempty"`
	PushName         string    `json:"push_name,omitempty"`
	FacebookUUID     uuid.UUID `json:"facebook_uuid"`
	LIDMigrationTS   int64     `json:"lid_migration_ts,omitempty"`
	// MetaNonce is the device's CompanionMetaNonce, a secret whatsmeow learns from
	// history sync and sends with media uploads.
	MetaNonce string `json:"companion_meta_nonce,omitempty"`
	// Seq is the order devices were first saved in: GetAllDevices lists them in it,
	// as SQLite lists rows in rowid order.
	Seq uint64 `json:"seq"`
}

var devices = store.Table[deviceRecord]{Prefix: store.PrefixWhatsmeow, Codec: store.JSONCodec[deviceRecord]{}}

// NewDevice returns a new device with fresh keys. Nothing is stored until it is saved,
// which pairing does.
func (c *Container) NewDevice() *wmstore.Device {
	device := &wmstore.Device{
		Log:       c.log,
		Container: c,

		NoiseKey:       keys.NewKeyPair(),
		IdentityKey:    keys.NewKeyPair(),
		RegistrationID: mathRand.Uint32(),
		AdvSecretKey:   random.Bytes(32),
	}
	device.SignedPreKey = device.IdentityKey.CreateSignedPreKey(1)
	return device
}

// GetAllDevices returns the saved devices, in the order they were first saved.
func (c *Container) GetAllDevices(ctx context.Context) ([]*wmstore.Device, error) {
	var recs []deviceRecord
	err := c.view(ctx, func(txn *badger.Txn) error {
		var err error
		recs, err = c.deviceRecords(txn)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing devices: %w", err)
	}
	out := make([]*wmstore.Device, 0, len(recs))
	for _, rec := range recs {
		d, err := c.device(rec)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, nil
}

// deviceRecords reads every device record, in Seq order. The device JIDs are the
// distinct first parts below dev/; the iterator jumps from one to the next.
func (c *Container) deviceRecords(txn *badger.Txn) ([]deviceRecord, error) {
	prefix := store.ScanPrefix(store.PrefixWhatsmeow, c.parts(levelDevice)...)
	var jids []string
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	for it.Seek(prefix); it.ValidForPrefix(prefix); {
		jid, _, _ := strings.Cut(string(it.Item().Key()[len(prefix):]), "/")
		jids = append(jids, jid)
		// '/'+1: the first key after every dev/<jid>/... key.
		it.Seek(append(append(append([]byte(nil), prefix...), jid...), '/'+1))
	}
	it.Close()
	var recs []deviceRecord
	for _, jid := range jids {
		rec, err := devices.Get(txn, c.parts(levelDevice, jid, kindRecord)...)
		if errors.Is(err, store.ErrNotFound) {
			continue // keys of a device whose deletion is under way
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b deviceRecord) int { return cmpUint(a.Seq, b.Seq) })
	return recs, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// GetFirstDevice returns the first saved device, or a new one when there is none. Use
// it when the container holds one device, as a gateway session does.
func (c *Container) GetFirstDevice(ctx context.Context) (*wmstore.Device, error) {
	all, err := c.GetAllDevices(ctx)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return c.NewDevice(), nil
	}
	return all[0], nil
}

// GetDevice returns the device saved under jid (usually an AD-JID), or nil.
func (c *Container) GetDevice(ctx context.Context, jid types.JID) (*wmstore.Device, error) {
	if jid.Server == "" {
		return nil, nil // sqlstore's jid=NULL matches nothing
	}
	var rec deviceRecord
	err := c.view(ctx, func(txn *badger.Txn) error {
		var err error
		rec, err = devices.Get(txn, c.parts(levelDevice, text(jid.String()), kindRecord)...)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading device %s: %w", jid, err)
	}
	return c.device(rec)
}

// device turns a record into a device with its stores.
func (c *Container) device(rec deviceRecord) (*wmstore.Device, error) {
	if len(rec.NoiseKey) != 32 || len(rec.IdentityKey) != 32 || len(rec.SignedPreKey) != 32 || len(rec.SignedPreKeySig) != 64 {
		return nil, fmt.Errorf("device %s: %w", rec.JID, ErrInvalidLength)
	}
	id, err := types.ParseJID(rec.JID)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", rec.JID, err)
	}
	var lid types.JID
	if rec.LID != "" {
		if lid, err = types.ParseJID(rec.LID); err != nil {
			return nil, fmt.Errorf("device %s lid: %w", rec.JID, err)
		}
	}
	d := &wmstore.Device{
		Log:            c.log,
		NoiseKey:       keys.NewKeyPairFromPrivateKey([32]byte(rec.NoiseKey)),
		IdentityKey:    keys.NewKeyPairFromPrivateKey([32]byte(rec.IdentityKey)),
		SignedPreKey:   &keys.PreKey{KeyPair: *keys.NewKeyPairFromPrivateKey([32]byte(rec.SignedPreKey)), KeyID: rec.SignedPreKeyID, Signature: (*[64]byte)(rec.SignedPreKeySig)},
		RegistrationID: rec.RegistrationID,
		AdvSecretKey:   nilIfEmpty(rec.AdvKey),
		ID:             &id,
		LID:            lid,
		Account: &waAdv.ADVSignedDeviceIdentity{
			Details:             nilIfEmpty(rec.AdvDetails),
			AccountSignature:    nilIfEmpty(rec.AdvAccountSig),
			AccountSignatureKey: nilIfEmpty(rec.AdvAccountSigKey),
			DeviceSignature:     nilIfEmpty(rec.AdvDeviceSig),
		},
		Platform:              rec.Platform,
		BusinessName:          rec.BusinessName,
		PushName:              rec.PushName,
		LIDMigrationTimestamp: rec.LIDMigrationTS,
		CompanionMetaNonce:    rec.MetaNonce,
		FacebookUUID:          rec.FacebookUUID,
	}
	c.initializeDevice(d)
	return d, nil
}

// nilIfEmpty reads an empty stored byte string back as nil, as SQLite does.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// PutDevice saves the device (Device.Save calls it). A device saved before keeps its
// keys and account: only its LID, platform, business name, push name, LID migration
// time and companion meta nonce are updated, as in sqlstore.
func (c *Container) PutDevice(ctx context.Context, device *wmstore.Device) error {
	if device.ID == nil {
		return ErrDeviceIDMustBeSet
	}
	rec, err := newDeviceRecord(device)
	if err == nil {
		err = c.update(ctx, func(txn *badger.Txn) error {
			parts := c.parts(levelDevice, text(rec.JID), kindRecord)
			old, err := devices.Get(txn, parts...)
			switch {
			case err == nil:
				old.LID, old.Platform, old.BusinessName, old.PushName, old.LIDMigrationTS, old.MetaNonce =
					rec.LID, rec.Platform, rec.BusinessName, rec.PushName, rec.LIDMigrationTS, rec.MetaNonce
				rec = old
			case errors.Is(err, store.ErrNotFound):
				all, err := c.deviceRecords(txn)
				if err != nil {
					return err
				}
				rec.Seq = 1
				if len(all) > 0 {
					rec.Seq = all[len(all)-1].Seq + 1
				}
			default:
				return err
			}
			return devices.Put(txn, rec, parts...)
		}, nil)
	}
	if !device.Initialized {
		c.initializeDevice(device)
	}
	if err != nil {
		return fmt.Errorf("saving device %s: %w", device.ID, err)
	}
	return nil
}

// newDeviceRecord checks device as sqlstore's schema does and turns it into a record.
func newDeviceRecord(d *wmstore.Device) (deviceRecord, error) {
	switch {
	case d.NoiseKey == nil || d.IdentityKey == nil || d.SignedPreKey == nil || d.SignedPreKey.Signature == nil:
		return deviceRecord{}, fmt.Errorf("%w: device keys missing", ErrInvalidValue)
	case d.SignedPreKey.KeyID >= 1<<24:
		return deviceRecord{}, fmt.Errorf("%w: signed prekey id %d", ErrInvalidValue, d.SignedPreKey.KeyID)
	case d.AdvSecretKey == nil || d.Account == nil || d.Account.Details == nil:
		return deviceRecord{}, fmt.Errorf("%w: device account missing", ErrInvalidValue)
	case len(d.Account.AccountSignature) != 64 || len(d.Account.AccountSignatureKey) != 32 || len(d.Account.DeviceSignature) != 64:
		return deviceRecord{}, fmt.Errorf("%w: device account signature lengths", ErrInvalidValue)
	}
	rec := deviceRecord{
		JID:              d.ID.String(),
		RegistrationID:   d.RegistrationID,
		NoiseKey:         d.NoiseKey.Priv[:],
		IdentityKey:      d.IdentityKey.Priv[:],
		SignedPreKey:     d.SignedPreKey.Priv[:],
		SignedPreKeyID:   d.SignedPreKey.KeyID,
		SignedPreKeySig:  d.SignedPreKey.Signature[:],
		AdvKey:           d.AdvSecretKey,
		AdvDetails:       d.Account.Details,
		AdvAccountSig:    d.Account.AccountSignature,
		AdvAccountSigKey: d.Account.AccountSignatureKey,
		AdvDeviceSig:     d.Account.DeviceSignature,
		Platform:         d.Platform,
		BusinessName:     d.BusinessName,
		PushName:         d.PushName,
		FacebookUUID:     d.FacebookUUID,
		LIDMigrationTS:   d.LIDMigrationTimestamp,
		MetaNonce:        d.CompanionMetaNonce,
	}
	if !d.LID.IsEmpty() {
		rec.LID = d.LID.String()
	}
	return rec, nil
}

func (c *Container) initializeDevice(device *wmstore.Device) {
	device.SetAllStores(newDeviceStore(c, *device.ID))
	device.LIDs = c.LIDMap
	device.Container = c
	device.Initialized = true
}

// DeleteDevice deletes the device and every key below it (Device.Delete calls it): its
// record first, in a transaction of its own, so that from then on every write through
// one of its stores fails with ErrNoDevice (or conflicts and then fails), then the
// rest with a prefix delete. A delete cut short leaves no device behind, and running
// it again removes the rest. The container's LID map is not the device's and stays.
func (c *Container) DeleteDevice(ctx context.Context, device *wmstore.Device) error {
	if device.ID == nil {
		return ErrDeviceIDMustBeSet
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	jid := text(device.ID.String())
	// Never in a carried transaction: the record's delete must be committed before
	// the prefix delete starts.
	var err error
	if c.replicated() { // the same, through the replicator (replica.go)
		ctx = context.WithValue(ctx, txnKey{}, (*carried)(nil))
		err = c.update(ctx, func(txn *badger.Txn) error {
			return devices.Delete(txn, c.parts(levelDevice, jid, kindRecord)...)
		}, nil)
		if err == nil {
			err = c.deletePrefixReplicated(ctx, store.ScanPrefix(store.PrefixWhatsmeow, c.parts(levelDevice, jid)...))
		}
	} else {
		err = c.db.Update(func(txn *badger.Txn) error {
			return devices.Delete(txn, c.parts(levelDevice, jid, kindRecord)...)
		})
		if err == nil {
			err = c.db.DeletePrefix(store.ScanPrefix(store.PrefixWhatsmeow, c.parts(levelDevice, jid)...))
		}
	}
	if err != nil {
		return fmt.Errorf("deleting device %s: %w", device.ID, err)
	}
	return nil
}
