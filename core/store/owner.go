package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The lock of a data directory. Badger takes an exclusive flock(2) on the directory and
// writes its pid to <dir>/LOCK; the kernel releases the flock when the process dies, so
// a gateway killed with SIGKILL leaves nothing that blocks the next start (the stale LOCK
// file is overwritten). What Badger does not say is who holds a directory that is in
// use: Open writes the owner file below, right after it took the lock, and a second Open
// that finds the lock taken reads it into its LockedError.

// OwnerFile is the name, in the data directory, of the file naming the process that
// holds it. Open writes it, Close removes it; one left by a killed process is simply
// overwritten by the next Open.
const OwnerFile = "wagate.owner"

// Owner is the process that holds a data directory.
type Owner struct {
	// PID is the owner's process id.
	PID int `json:"pid"`
	// Hostname is the machine it runs on (os.Hostname).
	Hostname string `json:"hostname"`
	// Started is when it opened the store.
	Started time.Time `json:"started"`
}

func (o Owner) String() string {
	return fmt.Sprintf("pid %d on host %s, opened %s", o.PID, o.Hostname, o.Started.UTC().Format(time.RFC3339))
}

// LockedError is Open's error when another process holds the data directory. It names
// the owner when the owner file could be read. errors.Is(err, ErrLocked) is true.
type LockedError struct {
	// Dir is the data directory.
	Dir string
	// Owner is read from the owner file; nil when it is missing or unreadable (a holder
	// from before owner files, or one caught between taking the lock and writing it).
	Owner *Owner
}

func (e *LockedError) Error() string {
	who := "another wagate process"
	if e.Owner != nil {
		who = "another wagate process (" + e.Owner.String() + ")"
	}
	return fmt.Sprintf("store: %s is in use by %s; stop it first, or use another store.dir", e.Dir, who)
}

// Unwrap makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Unwrap() error { return ErrLocked }

// ReadOwner reads the owner file of dir.
func ReadOwner(dir string) (Owner, error) {
	var o Owner
	b, err := os.ReadFile(filepath.Join(dir, OwnerFile))
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return o, fmt.Errorf("reading %s: %w", OwnerFile, err)
	}
	if o.PID <= 0 {
		return o, errors.New("owner file names no pid")
	}
	return o, nil
}

// writeOwner records this process as the owner of dir: to a temporary file renamed
// over the old one, so a reader never sees half a file.
func writeOwner(dir string, now time.Time) error {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	b, err := json.Marshal(Owner{PID: os.Getpid(), Hostname: host, Started: now.UTC()})
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, OwnerFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, OwnerFile))
}

// removeOwner deletes the owner file if it still names this process.
func removeOwner(dir string) {
	if o, err := ReadOwner(dir); err == nil && o.PID == os.Getpid() {
		os.Remove(filepath.Join(dir, OwnerFile))
	}
}

// lockedError builds the LockedError of dir, with its owner when known.
func lockedError(dir string) error {
	e := &LockedError{Dir: dir}
	if o, err := ReadOwner(dir); err == nil {
		e.Owner = &o
	}
	return e
}
