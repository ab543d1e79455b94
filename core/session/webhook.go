package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/wagate/wagate/core/provider"
)

// ErrNoWebhooks: the session's provider does not take webhook deliveries (it is not a
// provider.WebhookReceiver). The API answers 404 webhook_not_found.
var ErrNoWebhooks = errors.New("session provider does not receive webhooks")

// HandleWebhook hands a webhook delivery, already verified by the API (signature,
// replay, age), to the session's running provider when it is a
// provider.WebhookReceiver (the Cloud API's is). The provider reports what the body
// holds (inbound messages, receipts) through the session's event loop, like any other
// report, and HandleWebhook returns once it has: the API then answers the transport.
// The call is bounded by SendTimeout.
//
// "Running" means a provider was started and not stopped since: a session that is
// STARTING, WORKING, or FAILED by its provider's own report (an expired token fails
// sends, not inbound messages) takes deliveries.
//
// Errors: ErrNotFound; *NotWorkingError when no provider runs (the session is STOPPED,
// LOGGED_OUT, or its start failed); ErrNoWebhooks when its provider does not receive
// webhooks; the provider's own error otherwise.
func (m *Manager) HandleWebhook(ctx context.Context, tenant, name string, body []byte) error {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return err
	}
	l.mu.Lock()
	p, st, kind := l.prov, l.rec.State, l.rec.Provider
	l.mu.Unlock()
	if p == nil {
		return &NotWorkingError{State: st}
	}
	wr, ok := p.(provider.WebhookReceiver)
	if !ok {
		return fmt.Errorf("%w: session %s uses provider %s", ErrNoWebhooks, name, kind)
	}
	return callProviderErr(m, ctx, opWebhook, m.opts.SendTimeout, func(ctx context.Context) error {
		return wr.HandleWebhook(ctx, body)
	})
}

// ErrNoDownload: the session's provider cannot download inbound media.
var ErrNoDownload = errors.New("provider does not download media")

// DownloadMedia fetches the file of an inbound media message the session reported
// (providerID is the message event's id), through its running provider.
func (m *Manager) DownloadMedia(ctx context.Context, tenant, name, providerID string) (provider.Media, error) {
	l, err := m.lookup(tenant, name)
	if err != nil {
		return provider.Media{}, err
	}
	l.mu.Lock()
	p, st, kind := l.prov, l.rec.State, l.rec.Provider
	l.mu.Unlock()
	if p == nil {
		return provider.Media{}, &NotWorkingError{State: st}
	}
	dl, ok := p.(provider.MediaDownloader)
	if !ok {
		return provider.Media{}, fmt.Errorf("%w: session %s uses provider %s", ErrNoDownload, name, kind)
	}
	return callProvider(m, ctx, opDownload, m.opts.SendTimeout, func(ctx context.Context) (provider.Media, error) {
		return dl.DownloadMedia(ctx, providerID)
	})
}
