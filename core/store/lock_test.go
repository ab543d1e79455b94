package store

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSecondOpenNamesTheOwner: a second Open of a held directory fails with a
// LockedError naming the holder (this process: flock locks are per open file, so a
// second Open in one process is refused like another process's), and the owner file
// goes away with a clean Close.
func TestSecondOpenNamesTheOwner(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	owner, err := ReadOwner(dir)
	if err != nil {
		t.Fatalf("owner file after Open: %v", err)
	}
	host, _ := os.Hostname()
	if owner.PID != os.Getpid() || owner.Hostname != host || owner.Started.IsZero() {
		t.Errorf("owner = %+v, want pid %d on %s", owner, os.Getpid(), host)
	}

	_, err = Open(Options{Dir: dir})
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("second Open err = %v, want a LockedError", err)
	}
	if le.Owner == nil || le.Owner.PID != os.Getpid() {
		t.Errorf("LockedError.Owner = %+v, want pid %d", le.Owner, os.Getpid())
	}
	msg := err.Error()
	for _, want := range []string{dir, "pid " + strconv.Itoa(os.Getpid()), "host " + host, "stop it first"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, OwnerFile)); !os.IsNotExist(err) {
		t.Errorf("owner file after Close: %v, want it removed", err)
	}
	db2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	db2.Close()
}

// TestStaleOwnerFileIsOverwritten: a killed process leaves its owner file (and
// Badger's LOCK) behind; they block nothing and the next Open takes them over.
func TestStaleOwnerFileIsOverwritten(t *testing.T) {
	dir := t.TempDir()
	db := openT(t, Options{Dir: dir})
	db.Close()
	stale := `{"pid":999999,"hostname":"gone","started":"2020-01-01T00:00:00Z"}`
	for name, body := range map[string]string{OwnerFile: stale, "LOCK": "999999\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db = openT(t, Options{Dir: dir})
	if o, err := ReadOwner(dir); err != nil || o.PID != os.Getpid() {
		t.Errorf("owner after reopen = %+v, %v; want this process", o, err)
	}
}

// TestLockedErrorWithoutOwnerFile: a holder that wrote no owner file (an older
// version) still gets a clear message.
func TestLockedErrorWithoutOwnerFile(t *testing.T) {
	dir := t.TempDir()
	openT(t, Options{Dir: dir})
	if err := os.Remove(filepath.Join(dir, OwnerFile)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Dir: dir})
	var le *LockedError
	if !errors.As(err, &le) || le.Owner != nil || !strings.Contains(err.Error(), "another wagate process;") {
		t.Errorf("err = %v, want a LockedError with no owner", err)
	}
}
