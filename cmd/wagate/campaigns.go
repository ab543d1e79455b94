package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/audience"
	"github.com/wagate/wagate/core/campaign"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

// listSource gives campaigns their recipients from the tenant's contact lists: the
// adapter between core/audience and core/campaign, which know nothing of each other.
type listSource struct{ a *audience.Service }

func (l listSource) List(ctx context.Context, tenant, id string) ([]string, int, error) {
	list, err := l.a.GetList(ctx, tenant, id)
	if errors.Is(err, audience.ErrListNotFound) {
		return nil, 0, fmt.Errorf("%w: %s", campaign.ErrListNotFound, id)
	}
	return list.Columns, list.Count, err
}

func (l listSource) Contacts(ctx context.Context, tenant, id, after string, n int) ([]campaign.Contact, string, error) {
	page, next, err := l.a.Contacts(ctx, tenant, id, after, n)
	if errors.Is(err, audience.ErrListNotFound) {
		return nil, "", fmt.Errorf("%w: %s", campaign.ErrListNotFound, id)
	}
	out := make([]campaign.Contact, len(page))
	for i, c := range page {
		out[i] = campaign.Contact{ChatID: c.ChatID, Name: c.Name, Attrs: c.Attrs}
	}
	return out, next, err
}

func (l listSource) OptedOut(txn *badger.Txn, tenant string, chat chatid.ID) (bool, error) {
	return l.a.OptedOut(txn, tenant, chat)
}

// campaignClock is what campaign runners read the time and wait with: the real clock,
// replaced by tests that run a campaign in simulated time (its sending window).
type campaignClock struct {
	now   atomic.Pointer[func() time.Time]
	sleep atomic.Pointer[func(ctx context.Context, d time.Duration) error]
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// openCampaigns builds the campaign service on the gateway's queue, route chain and
// plan, and makes it the queue's tracker (before any session sends).
func (g *gateway) openCampaigns() {
	cfg := g.cfg.Campaigns
	now, sleep := time.Now, sleepCtx
	g.campaignClock.now.Store(&now)
	g.campaignClock.sleep.Store(&sleep)
	g.campaigns = campaign.New(g.db, campaign.Deps{
		Source: listSource{g.audience}, Queue: g.queue, Cancel: g.dispatch.Cancel,
		Route: func(ctx context.Context, tenant string, m policy.Message, among []string) (string, error) {
			return g.steer.RouteAmong(ctx, tenant, m, among)
		},
		SessionExists: func(ctx context.Context, tenant, name string) error {
			_, err := g.sessions.Get(ctx, tenant, name)
			return err
		},
		Labelled: func(_ context.Context, tenant string, labels map[string]string) ([]string, error) {
			return g.sessions.Labelled(tenant, labels), nil
		},
		Usable: func(ctx context.Context, tenant string, among []string) (bool, error) {
			list, err := g.sessions.List(ctx, tenant)
			if err != nil {
				return false, err
			}
			for _, in := range list {
				if (among == nil || slices.Contains(among, in.Name)) && !session.Lost(in.Status, in.Reason) {
					return true, nil
				}
			}
			return false, nil
		},
		Limits: func(ctx context.Context, tenant string) (campaign.Limits, error) {
			t, err := g.tenants.Get(ctx, tenant)
			return campaign.Limits{MaxCampaigns: t.Plan.MaxCampaigns, MaxListSize: t.Plan.MaxListSize}, err
		},
		Remaining: g.tenants.RemainingMessages,
		Count:     g.tenants.CountMessages, Uncount: g.tenants.UncountMessages, WriteUsage: g.tenants.WriteUsage,
		Publish: g.bus.Publish,
	}, campaign.Options{
		ChunkSize: cfg.ChunkSize, MaxInFlight: cfg.MaxInFlight, MaxCampaigns: cfg.MaxCampaigns,
		ReplyWindow: cfg.ReplyWindow.D(),
		Now:         func() time.Time { return (*g.campaignClock.now.Load())() },
		Sleep: func(ctx context.Context, d time.Duration) error {
			return (*g.campaignClock.sleep.Load())(ctx, d)
		},
	})
	g.queue.SetTracker(g.campaigns)
	g.registry.MustRegister(g.campaigns.Collectors()...)
}

// campaignReply tells the campaigns of an inbound message from a contact: a reply to
// a campaign message sent within campaigns.reply_window counts as replied. A reply from
// a LID chat counts for the LID and for the phone number the session maps it to
// (contactIDs): the campaign sent to the number, WhatsApp may deliver the answer under
// the contact's LID.
func (g *gateway) campaignReply(tenant, name string, msg provider.Inbound) {
	if g.campaigns == nil || msg.FromMe || !audience.Reachable(msg.ChatID) {
		return
	}
	now := time.Now()
	for _, id := range g.contactIDs(tenant, name, msg.ChatID) {
		if err := g.campaigns.Replied(tenant, id.String(), now); err != nil {
			g.log.Warn("recording a reply to a campaign", "tenant", tenant, "err", err)
		}
	}
}

// lidLookupTimeout bounds the provider's LID lookup of an inbound message.
const lidLookupTimeout = 2 * time.Second

// contactIDs returns the ids a contact writing from chat is known under in lists and
// opt-outs: chat itself, and for a LID chat the phone number the session (name) maps
// it to, when it knows one (whatsmeow's LID store, the sandbox's contacts).
func (g *gateway) contactIDs(tenant, name string, chat chatid.ID) []chatid.ID {
	ids := []chatid.ID{chat}
	if chat.Server != chatid.LID {
		return ids
	}
	ctx, cancel := context.WithTimeout(context.Background(), lidLookupTimeout)
	defer cancel()
	pn, err := session.Call(ctx, g.sessions, tenant, name, provider.CapLIDs,
		func(ctx context.Context, p provider.LIDs) (chatid.ID, error) { return p.PhoneForLID(ctx, chat) })
	if err == nil && !pn.IsZero() && pn.Server == chatid.User {
		ids = append(ids, pn)
	}
	return ids
}

// listInUse tells core/audience whether a campaign that is not over uses a list.
func (g *gateway) listInUse(tenant, listID string) bool {
	return g.campaigns != nil && g.campaigns.UsesList(tenant, listID)
}
