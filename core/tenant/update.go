package tenant

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// ErrInvalidName: a tenant name that is empty or longer than 100 characters.
var ErrInvalidName = errors.New("invalid tenant name")

// UpdateInput is what Update changes; a nil field is left as it is.
type UpdateInput struct {
	Name *string
	// MaxSessions and MaxMessagesPerDay change one limit each of the plan.
	MaxSessions       *int
	MaxMessagesPerDay *int
	// MaxCampaigns and MaxListSize change the plan's campaign limits (0: the
	// gateway's defaults).
	MaxCampaigns, MaxListSize *int
}

// Update changes a tenant's name or plan and returns the tenant as stored. The new plan
// applies at once: the next message counts against the new daily limit (today's usage
// is kept), the next session created against the new session limit. Lowering
// MaxSessions under the sessions a tenant has deletes none; it only refuses new ones.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (Tenant, error) {
	if !ValidID(id) {
		return Tenant{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if in.Name != nil && (*in.Name == "" || utf8.RuneCountInString(*in.Name) > 100 || !utf8.ValidString(*in.Name)) {
		return Tenant{}, fmt.Errorf("%w: name must be 1 to 100 characters", ErrInvalidName)
	}
	var out Tenant
	defer s.cache.invalidate(id, "")
	err := s.db.Update(func(txn *badger.Txn) error {
		t, err := tenants.Get(txn, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && t.Deleting) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		if in.Name != nil {
			t.Name = *in.Name
		}
		if in.MaxSessions != nil {
			t.Plan.MaxSessions = *in.MaxSessions
		}
		if in.MaxMessagesPerDay != nil {
			t.Plan.MaxMessagesPerDay = *in.MaxMessagesPerDay
		}
		if in.MaxCampaigns != nil {
			t.Plan.MaxCampaigns = *in.MaxCampaigns
		}
		if in.MaxListSize != nil {
			t.Plan.MaxListSize = *in.MaxListSize
		}
		if err := t.Plan.Validate(); err != nil {
			return err
		}
		out = t
		return tenants.Put(txn, t, id)
	})
	if err != nil {
		return Tenant{}, err
	}
	return out, nil
}
