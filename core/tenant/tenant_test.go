package tenant

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/wagate/wagate/core/store"
)

func newSvc(t *testing.T, o Options) (*Service, *store.DB) {
	t.Helper()
	db, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if o.DefaultPlan.MaxSessions == 0 {
		o.DefaultPlan = Plan{MaxSessions: 2, MaxMessagesPerDay: 3}
	}
	return NewService(db, o), db
}

func TestKeysAuthenticateOnlyTheirTenantAndRevoke(t *testing.T) {
	ctx := context.Background()
	s, _ := newSvc(t, Options{})
	a, ka, err := s.Create(ctx, CreateInput{ID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	_, kb, err := s.Create(ctx, CreateInput{ID: "acme2"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, ka.Key)
	if err != nil || p.Tenant != a.ID || p.Admin {
		t.Fatalf("Authenticate(acme key) = %+v, %v", p, err)
	}
	p, _ = s.Authenticate(ctx, kb.Key)
	if p.Tenant != "acme2" {
		t.Fatalf("acme2 key resolved to %q", p.Tenant)
	}
	// Tampered keys: another tenant's id with this secret, another secret, garbage.
	tenantSwap := strings.Replace(ka.Key, "wag_acme.", "wag_acme2.", 1)
	bad := []string{"", "x", tenantSwap, ka.Key + "x", ka.Key[:len(ka.Key)-1], "wag_acme..", strings.Repeat("a", 300)}
	for _, k := range bad {
		if _, err := s.Authenticate(ctx, k); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) err = %v, want ErrUnauthenticated", k, err)
		}
	}
	if err := s.RevokeKey(ctx, "acme", ka.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, ka.Key); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("revoked key still authenticates: %v", err)
	}
	if err := s.RevokeKey(ctx, "acme2", ka.ID); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("revoking acme's key through acme2: err = %v, want ErrKeyNotFound", err)
	}
	ks, _ := s.ListKeys(ctx, "acme")
	if len(ks) != 1 || ks[0].Hash != nil || ks[0].RevokedAt == nil {
		t.Errorf("ListKeys = %+v", ks)
	}
}

func TestAdminKeyGeneratedOnceAndPersisted(t *testing.T) {
	ctx := context.Background()
	s, db := newSvc(t, Options{})
	gen, err := s.SetupAdmin(ctx, "")
	if err != nil || gen == "" {
		t.Fatalf("first SetupAdmin = %q, %v", gen, err)
	}
	s2 := NewService(db, Options{})
	again, err := s2.SetupAdmin(ctx, "")
	if err != nil || again != "" {
		t.Fatalf("second SetupAdmin generated again: %q, %v", again, err)
	}
	if p, err := s2.Authenticate(ctx, gen); err != nil || !p.Admin {
		t.Fatalf("generated admin key after restart = %+v, %v", p, err)
	}
	s3 := NewService(db, Options{})
	s3.SetupAdmin(ctx, "configured-admin-key-123")
	if _, err := s3.Authenticate(ctx, gen); err == nil {
		t.Error("stored key still valid when a key is configured")
	}
	if p, _ := s3.Authenticate(ctx, "configured-admin-key-123"); !p.Admin {
		t.Error("configured admin key refused")
	}
}

func TestCreateValidation(t *testing.T) {
	ctx := context.Background()
	s, _ := newSvc(t, Options{MaxTenants: 2})
	cases := []struct {
		name string
		in   CreateInput
		want error
	}{
		{"upper case id", CreateInput{ID: "Acme"}, ErrInvalidID},
		{"slash", CreateInput{ID: "a/b"}, ErrInvalidID},
		{"leading dash", CreateInput{ID: "-a"}, ErrInvalidID},
		{"too long", CreateInput{ID: strings.Repeat("a", 41)}, ErrInvalidID},
		{"zero sessions", CreateInput{ID: "z", Plan: &Plan{MaxSessions: 0}}, ErrInvalidPlan},
		{"negative messages", CreateInput{ID: "z", Plan: &Plan{MaxSessions: 1, MaxMessagesPerDay: -1}}, ErrInvalidPlan},
		{"ok", CreateInput{ID: "ok"}, nil},
		{"duplicate", CreateInput{ID: "ok"}, ErrExists},
		{"generated id", CreateInput{}, nil},
		{"over max tenants", CreateInput{ID: "third"}, ErrTooManyTenants},
	}
	for _, c := range cases {
		_, _, err := s.Create(ctx, c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestDailyLimitAndDelete(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 23, 59, 0, 0, time.UTC)
	s, _ := newSvc(t, Options{Now: func() time.Time { return now }})
	_, k, _ := s.Create(ctx, CreateInput{ID: "acme"})
	if err := reserve(s, "acme", 2); err != nil {
		t.Fatal(err)
	}
	if err := reserve(s, "acme", 2); !errors.Is(err, ErrDailyLimit) {
		t.Fatalf("over the limit: err = %v", err)
	}
	if err := reserve(s, "acme", 1); err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
	now = now.Add(2 * time.Minute) // next UTC day
	if err := reserve(s, "acme", 3); err != nil {
		t.Fatalf("next day: %v", err)
	}
	if err := s.Delete(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, k.Key); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("deleted tenant's key authenticates: %v", err)
	}
	if _, err := s.Get(ctx, "acme"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get deleted = %v", err)
	}
	if err := s.Delete(ctx, "acme"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v", err)
	}
}

func TestReleaseMessagesGivesBackQuota(t *testing.T) {
	ctx := context.Background()
	s, _ := newSvc(t, Options{})
	s.Create(ctx, CreateInput{ID: "acme"})
	for i := 0; i < 3; i++ {
		if err := reserve(s, "acme", 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := reserve(s, "acme", 1); !errors.Is(err, ErrDailyLimit) {
		t.Fatalf("4th of 3: %v", err)
	}
	if err := release(s, "acme", 1); err != nil {
		t.Fatal(err)
	}
	if err := reserve(s, "acme", 1); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if err := release(s, "acme", 10); err != nil {
		t.Fatal(err)
	}
	if err := reserve(s, "acme", 3); err != nil {
		t.Fatalf("release below zero must floor at zero: %v", err)
	}
}

func TestConcurrentReservationsNeverConflict(t *testing.T) {
	ctx := context.Background()
	s, _ := newSvc(t, Options{})
	s.Create(ctx, CreateInput{ID: "acme", Plan: &Plan{MaxSessions: 1, MaxMessagesPerDay: 150}})
	var wg sync.WaitGroup
	var ok, limited, other atomic.Int32
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := reserve(s, "acme", 1); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrDailyLimit):
				limited.Add(1)
			default:
				other.Add(1)
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 150 || limited.Load() != 50 || other.Load() != 0 {
		t.Fatalf("ok %d, limited %d, other errors %d; want 150, 50, 0", ok.Load(), limited.Load(), other.Load())
	}
	// The count survives a new service on the same store (a restart).
	s2 := NewService(s.db, Options{})
	if err := reserve(s2, "acme", 1); !errors.Is(err, ErrDailyLimit) {
		t.Fatalf("after restart: %v, want ErrDailyLimit", err)
	}
}

// writer stands for the queue's single committer: WriteUsage calls are serialized
// there, so the stored count is always the newest.
var writer sync.Mutex

func writeUsage(s *Service, tenantID string) error {
	writer.Lock()
	defer writer.Unlock()
	return s.db.Update(func(txn *badger.Txn) error { return s.WriteUsage(txn, tenantID) })
}

// reserve counts n messages and stores the count, as the API does with the queue's
// transaction.
func reserve(s *Service, tenantID string, n int) error {
	if err := s.CountMessages(context.Background(), tenantID, n); err != nil {
		return err
	}
	return writeUsage(s, tenantID)
}

// release gives back n counted messages and stores the count.
func release(s *Service, tenantID string, n int) error {
	s.UncountMessages(tenantID, n)
	return writeUsage(s, tenantID)
}
