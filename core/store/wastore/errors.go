package wastore

import "errors"

// Errors of the container and the stores. Where sqlstore's schema refuses a write
// (foreign key, primary key, NOT NULL or CHECK constraint), wastore refuses the same
// write with one of these.
var (
	// ErrDeviceIDMustBeSet: PutDevice or DeleteDevice of a device whose JID is not
	// known yet (it is set by pairing).
	ErrDeviceIDMustBeSet = errors.New("device JID must be known before accessing the store")
	// ErrInvalidLength: a stored key or signature has an impossible length.
	ErrInvalidLength = errors.New("stored byte array has an illegal length")
	// ErrNoDevice: a write for a device that is not saved in the container, or no
	// longer is (sqlstore's foreign key on whatsmeow_device). A deleted device can
	// therefore never get keys back from a store handle that outlived it.
	ErrNoDevice = errors.New("device is not saved in this container")
	// ErrNoAppStateVersion: mutation MACs for an app state that has no version saved
	// (sqlstore's foreign key on whatsmeow_app_state_version).
	ErrNoAppStateVersion = errors.New("app state has no saved version")
	// ErrExists: an insert of a record that exists (sqlstore's primary keys).
	ErrExists = errors.New("record already exists")
	// ErrInvalidValue: a value sqlstore's schema refuses (NOT NULL, CHECK).
	ErrInvalidValue = errors.New("invalid value")
)
