// Package tenant manages tenants (the businesses using the gateway), their plans and
// their API keys, and authenticates the X-Api-Key of every request.
//
// Keys are shown once, at creation, and stored only as SHA-256 hashes compared in
// constant time. A tenant key has the form
//
//	wag_<tenant id>.<key id>.<secret>
//
// so that authentication reads one record (key/<tenant>/<key id>) and a key can only ever
// resolve to the tenant written in it: isolation is structural, not a lookup.
package tenant

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// Errors of this package.
var (
	// ErrNotFound: no such tenant (or key).
	ErrNotFound = errors.New("tenant not found")
	// ErrKeyNotFound: no such API key for this tenant.
	ErrKeyNotFound = errors.New("api key not found")
	// ErrExists: a tenant with this id already exists.
	ErrExists = errors.New("tenant already exists")
	// ErrInvalidID: the tenant id does not match ^[a-z0-9][a-z0-9-]{0,39}$.
	ErrInvalidID = errors.New("invalid tenant id")
	// ErrTooManyTenants: the gateway's max_tenants is reached.
	ErrTooManyTenants = errors.New("tenant limit reached")
	// ErrUnauthenticated: the API key is missing, malformed, unknown or revoked.
	ErrUnauthenticated = errors.New("invalid or missing api key")
	// ErrDailyLimit: the plan's messages per day are used up.
	ErrDailyLimit = errors.New("daily message limit reached")
	// ErrInvalidPlan: a plan value is out of range.
	ErrInvalidPlan = errors.New("invalid plan")
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// ValidID reports whether id may name a tenant.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Plan bounds what a tenant may use.
type Plan struct {
	// MaxSessions is how many sessions the tenant may have.
	MaxSessions int `json:"maxSessions"`
	// MaxMessagesPerDay caps messages accepted per UTC day; 0 is unlimited. A campaign
	// larger than it runs over several days (docs/campaigns.md, "Limits").
	MaxMessagesPerDay int `json:"maxMessagesPerDay"`
	// MaxCampaigns caps the tenant's campaigns that are not over; 0 means the
	// gateway's campaigns.max_campaigns.
	MaxCampaigns int `json:"maxCampaigns,omitempty"`
	// MaxListSize caps the contacts of one of the tenant's lists; 0 means the
	// gateway's campaigns.max_list_size.
	MaxListSize int `json:"maxListSize,omitempty"`
}

// Bounds of the campaign limits of a plan.
const (
	maxPlanCampaigns = 100_000
	maxPlanListSize  = 100_000_000
)

// Validate checks the plan's ranges.
func (p Plan) Validate() error {
	if p.MaxSessions < 1 || p.MaxSessions > 100000 {
		return fmt.Errorf("%w: maxSessions must be 1..100000", ErrInvalidPlan)
	}
	if p.MaxMessagesPerDay < 0 {
		return fmt.Errorf("%w: maxMessagesPerDay must be 0 (unlimited) or more", ErrInvalidPlan)
	}
	if p.MaxCampaigns < 0 || p.MaxCampaigns > maxPlanCampaigns {
		return fmt.Errorf("%w: maxCampaigns must be 0 (the gateway's default) to %d", ErrInvalidPlan, maxPlanCampaigns)
	}
	if p.MaxListSize < 0 || p.MaxListSize > maxPlanListSize {
		return fmt.Errorf("%w: maxListSize must be 0 (the gateway's default) to %d", ErrInvalidPlan, maxPlanListSize)
	}
	return nil
}

// Tenant is one business using the gateway.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Plan      Plan      `json:"plan"`
	CreatedAt time.Time `json:"createdAt"`
	// Deleting is set while the tenant is being deleted; it can no longer authenticate.
	Deleting bool `json:"deleting,omitempty"`
}

// Key is a stored API key; the secret itself is never stored.
type Key struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Hash      []byte     `json:"hash"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	// Scopes is what the key may do (scope.go); empty in keys stored before scopes
	// existed, which may do everything (EffectiveScopes).
	Scopes []Scope `json:"scopes,omitempty"`
}

// Principal is who a request acts as.
type Principal struct {
	// Admin is true for the admin key; Tenant is then empty.
	Admin  bool
	Tenant string
	KeyID  string
	// Scopes are the tenant key's (Key.EffectiveScopes); nil for the admin key.
	Scopes []Scope
}

var (
	tenants = store.Table[Tenant]{Prefix: store.PrefixTenant, Codec: store.JSONCodec[Tenant]{}}
	keys    = store.Table[Key]{Prefix: store.PrefixAPIKey, Codec: store.JSONCodec[Key]{}}
	usage   = store.Table[int]{Prefix: store.PrefixUsage, Codec: store.JSONCodec[int]{}}
	system  = store.Table[[]byte]{Prefix: store.PrefixSystem, Codec: store.JSONCodec[[]byte]{}}
)

// Options configure a Service.
type Options struct {
	DefaultPlan Plan
	// MaxTenants caps tenants; 0 is unlimited.
	MaxTenants int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// NodeID is this node's id in cluster mode ("" on a single node). A single node
	// counts a tenant's messages of a day under use/<tenant>/<day>; a cluster node counts
	// the messages it accepted under its own key, use/<tenant>/<day>/<node>, written only
	// by it, and a tenant's count is the sum of every node's keys and of the single-node
	// key (kept from before cluster mode): see nodeusage.go. Letters, digits, '-' and '_'
	// (config validates cluster.node_id so).
	NodeID string
	// UsageFlush, in cluster mode, is how long at most this node's counters wait before
	// they are written (together, in one transaction of their own): WriteUsage only marks
	// them. Zero means DefaultUsageFlush. Ignored on a single node, where WriteUsage
	// writes the count into the caller's transaction.
	UsageFlush time.Duration
}

// Service manages tenants and keys.
type Service struct {
	createMu  sync.Mutex
	usageMu   sync.Mutex
	usage     map[string]int // "<tenant>/<day>" -> messages reserved that day (by this node, in cluster mode)
	usageDay  string
	nodeUsage // cluster mode: the other nodes' counts, the counters to write
	db        *store.DB
	opts      Options
	adminHash []byte
	cache     *cache
}

// NewService returns a service over db. Call SetupAdmin before Authenticate.
func NewService(db *store.DB, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NodeID != "" && strings.ContainsRune(o.NodeID, '/') {
		panic(fmt.Sprintf("tenant: node id %q contains '/'", o.NodeID))
	}
	if o.UsageFlush <= 0 {
		o.UsageFlush = DefaultUsageFlush
	}
	return &Service{db: db, opts: o, cache: newCache()}
}

// SetupAdmin installs the admin key. With a configured key, its hash is kept in memory.
// Without one, the hash stored at sys/admin_key is used; on first start, when there is
// none, a key is generated, its hash stored, and the key returned so the caller can show
// it once. generated is "" otherwise.
func (s *Service) SetupAdmin(ctx context.Context, configured string) (generated string, err error) {
	if configured != "" {
		h := sha256.Sum256([]byte(configured))
		s.adminHash = h[:]
		return "", nil
	}
	err = s.db.Update(func(txn *badger.Txn) error {
		h, err := system.Get(txn, "admin_key")
		if err == nil {
			s.adminHash = h
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		generated = "wag_admin." + randomSecret()
		sum := sha256.Sum256([]byte(generated))
		s.adminHash = sum[:]
		return system.Put(txn, sum[:], "admin_key")
	})
	return generated, err
}

// Authenticate resolves an X-Api-Key value to a principal, or ErrUnauthenticated. It does
// one store read at most (none once the key is cached) and compares hashes in constant
// time.
func (s *Service) Authenticate(ctx context.Context, apiKey string) (Principal, error) {
	if apiKey == "" || len(apiKey) > 256 {
		return Principal{}, ErrUnauthenticated
	}
	sum := sha256.Sum256([]byte(apiKey))
	if s.adminHash != nil && subtle.ConstantTimeCompare(sum[:], s.adminHash) == 1 {
		return Principal{Admin: true}, nil
	}
	tenantID, keyID, secret, ok := parseKey(apiKey)
	if !ok {
		return Principal{}, ErrUnauthenticated
	}
	secretSum := sha256.Sum256([]byte(secret))
	k, err := s.getKey(tenantID, keyID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Principal{}, ErrUnauthenticated
		}
		return Principal{}, fmt.Errorf("authenticating key: %w", err)
	}
	if subtle.ConstantTimeCompare(secretSum[:], k.Hash) != 1 || k.RevokedAt != nil {
		return Principal{}, ErrUnauthenticated
	}
	p := Principal{Tenant: tenantID, KeyID: keyID, Scopes: k.EffectiveScopes()}
	return p, nil
}

// getKey reads a key record through the cache.
func (s *Service) getKey(tenantID, keyID string) (Key, error) {
	if k, ok := s.cache.key(tenantID, keyID); ok {
		return k, nil
	}
	gen := s.cache.begin()
	var k Key
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		k, err = keys.Get(txn, tenantID, keyID)
		return err
	})
	if err == nil {
		s.cache.putKey(gen, tenantID, k)
	}
	return k, err
}

func parseKey(k string) (tenantID, keyID, secret string, ok bool) {
	rest, ok := strings.CutPrefix(k, "wag_")
	if !ok {
		return "", "", "", false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 || !ValidID(parts[0]) || !validKeyID(parts[1]) || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// CreateInput is what Create needs. ID is optional (generated when empty); Plan nil means
// the default plan.
type CreateInput struct {
	ID   string
	Name string
	Plan *Plan
}

// Create makes a tenant and its first API key, returned with its secret (shown once).
func (s *Service) Create(ctx context.Context, in CreateInput) (Tenant, NewKey, error) {
	if in.ID == "" {
		in.ID = "t-" + strings.ToLower(randomID(8))
	}
	if !ValidID(in.ID) {
		return Tenant{}, NewKey{}, fmt.Errorf("%w: %q must be 1-40 of a-z, 0-9 and '-', starting with a letter or digit", ErrInvalidID, in.ID)
	}
	plan := s.opts.DefaultPlan
	if in.Plan != nil {
		plan = *in.Plan
	}
	if err := plan.Validate(); err != nil {
		return Tenant{}, NewKey{}, err
	}
	if in.Name == "" {
		in.Name = in.ID
	}
	t := Tenant{ID: in.ID, Name: in.Name, Plan: plan, CreatedAt: s.opts.Now().UTC()}
	nk := s.newKey(t.ID, "default", []Scope{ScopeAdmin})
	// Serialized: max_tenants is counted by a scan, which Badger's conflict detection
	// cannot protect against concurrent inserts.
	s.createMu.Lock()
	defer s.createMu.Unlock()
	err := s.db.Update(func(txn *badger.Txn) error {
		if _, err := tenants.Get(txn, t.ID); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, t.ID)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if s.opts.MaxTenants > 0 {
			n := 0
			if err := tenants.Scan(txn, func([]string, Tenant) error { n++; return nil }); err != nil {
				return err
			}
			if n >= s.opts.MaxTenants {
				return fmt.Errorf("%w (%d)", ErrTooManyTenants, s.opts.MaxTenants)
			}
		}
		if err := tenants.Put(txn, t, t.ID); err != nil {
			return err
		}
		return keys.Put(txn, nk.stored, t.ID, nk.ID)
	})
	if err != nil {
		return Tenant{}, NewKey{}, err
	}
	return t, nk, nil
}

// Get returns one tenant or ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (Tenant, error) {
	if !ValidID(id) {
		return Tenant{}, ErrNotFound
	}
	if t, ok := s.cache.tenant(id); ok {
		return t, nil
	}
	gen := s.cache.begin()
	var t Tenant
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		t, err = tenants.Get(txn, id)
		return err
	})
	if err == nil {
		s.cache.putTenant(gen, t)
	}
	if errors.Is(err, store.ErrNotFound) {
		return Tenant{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return t, err
}

// List returns every tenant, ordered by id.
func (s *Service) List(ctx context.Context) ([]Tenant, error) {
	out := []Tenant{}
	err := s.db.View(func(txn *badger.Txn) error {
		return tenants.Scan(txn, func(_ []string, t Tenant) error {
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// Delete removes a tenant and everything it owns, in two steps a caller with running
// sessions calls separately, stopping the sessions in between:
//
//	BeginDelete  the tenant is marked deleting and its keys are gone: nothing of it
//	             authenticates any more, and its id cannot be reused yet
//	             (stop and delete the tenant's sessions here)
//	FinishDelete every key under every tenant-owned prefix, the tenant record last
//
// Both are idempotent; a delete cut short is finished by calling Delete again.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.BeginDelete(ctx, id); err != nil {
		return err
	}
	return s.FinishDelete(ctx, id)
}

// BeginDelete marks the tenant deleting and removes its API keys in one transaction.
func (s *Service) BeginDelete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	defer s.cache.invalidate(id, "")
	return s.db.Update(func(txn *badger.Txn) error {
		t, err := tenants.Get(txn, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		var ids []string
		if err := keys.Scan(txn, func(rest []string, _ Key) error {
			ids = append(ids, rest[0])
			return nil
		}, id); err != nil {
			return err
		}
		for _, k := range ids {
			if err := keys.Delete(txn, id, k); err != nil {
				return err
			}
		}
		t.Deleting = true
		return tenants.Put(txn, t, id)
	})
}

// FinishDelete removes everything the tenant owns, the tenant record last.
func (s *Service) FinishDelete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	s.flushMu.Lock() // a flush under way writes before the delete, none after it
	s.usageMu.Lock()
	s.dropTenantUsageLocked(id)
	s.usageMu.Unlock()
	s.flushMu.Unlock()
	defer s.cache.invalidate(id, "")
	return s.db.DeleteTenant(id)
}

// NewKey is a freshly made key: the only time its secret exists outside the caller.
type NewKey struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Key is the full X-Api-Key value. It is not stored and cannot be shown again.
	Key       string    `json:"key"`
	CreatedAt time.Time `json:"createdAt"`
	// Scopes is what the key may do: read, send, admin (scope.go).
	Scopes []Scope `json:"scopes"`

	stored Key
}

func (s *Service) newKey(tenantID, name string, scopes []Scope) NewKey {
	id := strings.ToLower(randomID(12))
	secret := randomSecret()
	sum := sha256.Sum256([]byte(secret))
	now := s.opts.Now().UTC()
	return NewKey{
		ID: id, Name: name, Key: "wag_" + tenantID + "." + id + "." + secret, CreatedAt: now, Scopes: scopes,
		stored: Key{ID: id, Name: name, Hash: sum[:], CreatedAt: now, Scopes: scopes},
	}
}

// CreateKey adds an API key to a tenant with the given scopes (none: admin, the whole
// tenant); a scope not in Scopes is a *ScopeError (ErrInvalidScope).
func (s *Service) CreateKey(ctx context.Context, tenantID, name string, scopes ...Scope) (NewKey, error) {
	if name == "" {
		name = "key"
	}
	scopes, err := normalizeScopes(scopes)
	if err != nil {
		return NewKey{}, err
	}
	nk := s.newKey(tenantID, name, scopes)
	err = s.db.Update(func(txn *badger.Txn) error {
		t, err := tenants.Get(txn, tenantID)
		if err != nil {
			return err
		}
		if t.Deleting {
			return store.ErrNotFound
		}
		return keys.Put(txn, nk.stored, tenantID, nk.ID)
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && !ValidID(tenantID)) {
		return NewKey{}, fmt.Errorf("%w: %s", ErrNotFound, tenantID)
	}
	return nk, err
}

// ListKeys returns a tenant's keys (hashes cleared), oldest first.
func (s *Service) ListKeys(ctx context.Context, tenantID string) ([]Key, error) {
	if _, err := s.Get(ctx, tenantID); err != nil {
		return nil, err
	}
	out := []Key{}
	err := s.db.View(func(txn *badger.Txn) error {
		return keys.Scan(txn, func(_ []string, k Key) error {
			k.Hash = nil
			k.Scopes = k.EffectiveScopes()
			out = append(out, k)
			return nil
		}, tenantID)
	})
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// RevokeKey makes a key unusable at once. Revoking twice is not an error.
func (s *Service) RevokeKey(ctx context.Context, tenantID, keyID string) error {
	if !ValidID(tenantID) || !validKeyID(keyID) {
		return ErrKeyNotFound
	}
	defer s.cache.invalidate(tenantID, keyID)
	return s.db.Update(func(txn *badger.Txn) error {
		k, err := keys.Get(txn, tenantID, keyID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrKeyNotFound, keyID)
		}
		if err != nil {
			return err
		}
		if k.RevokedAt == nil {
			now := s.opts.Now().UTC()
			k.RevokedAt = &now
		}
		return keys.Put(txn, k, tenantID, keyID)
	})
}

// CountMessages counts n messages against today's (UTC) plan limit and refuses with
// ErrDailyLimit when they would exceed it. The count lives in memory (loaded from the
// store on first use) and is checked and changed under a lock, so concurrent requests
// never race on it; the caller makes it durable with WriteUsage inside the transaction
// that accepts the messages (the queue's group commit), so accepting a message costs one
// sync, not two. UncountMessages gives back messages not accepted.
func (s *Service) CountMessages(ctx context.Context, tenantID string, n int) error {
	t, err := s.Get(ctx, tenantID)
	if err != nil {
		return err
	}
	day := s.opts.Now().UTC().Format("2006-01-02")
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	used, err := s.usedLocked(tenantID, day)
	if err != nil {
		return err
	}
	if t.Plan.MaxMessagesPerDay > 0 && used+n > t.Plan.MaxMessagesPerDay {
		return fmt.Errorf("%w: %d of %d used today", ErrDailyLimit, used, t.Plan.MaxMessagesPerDay)
	}
	s.usage[tenantID+"/"+day] += n // usedLocked loaded it
	return nil
}

// RemainingMessages is how many more messages the tenant may send today: limited is
// false for a plan without a daily limit (left is 0 then).
func (s *Service) RemainingMessages(ctx context.Context, tenantID string) (left int, limited bool, err error) {
	t, err := s.Get(ctx, tenantID)
	if err != nil {
		return 0, false, err
	}
	if t.Plan.MaxMessagesPerDay <= 0 {
		return 0, false, nil
	}
	day := s.opts.Now().UTC().Format("2006-01-02")
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	used, err := s.usedLocked(tenantID, day)
	if err != nil {
		return 0, true, err
	}
	return max(t.Plan.MaxMessagesPerDay-used, 0), true, nil
}

// UncountMessages gives back, in memory, n messages counted but not accepted; the next
// WriteUsage stores the corrected count (until then a restart may over-count them,
// never under-count).
func (s *Service) UncountMessages(tenantID string, n int) {
	day := s.opts.Now().UTC().Format("2006-01-02")
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	if _, err := s.usedLocked(tenantID, day); err == nil {
		k := tenantID + "/" + day
		s.usage[k] = max(s.usage[k]-n, 0)
	}
}

// WriteUsage writes the tenant's current count for today into txn. Called from a single
// writer (the queue's committer), successive calls are stored in order, so the stored
// count is always the newest one written. In cluster mode (Options.NodeID) it writes
// nothing into txn: it marks the node's counter, which is written within
// Options.UsageFlush by a transaction of its own (nodeusage.go).
func (s *Service) WriteUsage(txn *badger.Txn, tenantID string) error {
	day := s.opts.Now().UTC().Format("2006-01-02")
	s.usageMu.Lock()
	used, ok := s.usage[tenantID+"/"+day]
	if ok && s.opts.NodeID != "" {
		s.markLocked(tenantID, day, used)
	}
	s.usageMu.Unlock()
	if !ok || s.opts.NodeID != "" {
		return nil
	}
	return usage.Put(txn, used, tenantID, day)
}

// usedLocked returns today's count, from memory or the store: on a single node the
// tenant's count, in cluster mode this node's count (s.usage) plus the other nodes'
// (othersLocked). Counts of past days are dropped from memory as days change.
func (s *Service) usedLocked(tenantID, day string) (int, error) {
	k := tenantID + "/" + day
	own, ok := s.usage[k]
	if !ok {
		if s.usage == nil || s.usageDay != day {
			s.usage, s.usageDay = make(map[string]int), day
			s.others = nil
		}
		parts := []string{tenantID, day}
		if s.opts.NodeID != "" {
			parts = append(parts, s.opts.NodeID)
		}
		err := s.db.View(func(txn *badger.Txn) error {
			var err error
			own, err = usage.Get(txn, parts...)
			if errors.Is(err, store.ErrNotFound) {
				own, err = 0, nil
			}
			return err
		})
		if err != nil {
			return 0, err
		}
		s.usage[k] = own
	}
	if s.opts.NodeID == "" {
		return own, nil
	}
	others, err := s.othersLocked(tenantID, day)
	return own + others, err
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return b32.EncodeToString(b)[:n]
}

func validKeyID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// randomSecret returns 32 random bytes as unpadded base64url (43 chars, no '.').
func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
