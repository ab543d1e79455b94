// Package cloudapi is the provider of Meta's WhatsApp Cloud API: a business number of a
// WhatsApp Business account, reached through the Graph API with the session's own
// access token. There is nothing to pair: the number is registered in WhatsApp Manager,
// Start checks the credentials and reports WORKING. docs/cloudapi.md tells how to set up
// a real number, and holds the error code table.
//
// Sending is one POST /<version>/<phone number id>/messages per message (media given as
// bytes is uploaded first), paced by the number's throughput limit (80 messages per
// second unless the session config raises it). Meta's errors become *provider.SendError
// values with a Code and Retryable; the fatal ones (an expired token, a banned account)
// wrap provider.ErrAuth or provider.ErrBanned, so provider.Fatal tells failover to
// reroute, and the session reports FAILED.
//
// Receiving is Meta's webhook: the API verifies each delivery
// (core/webhook.Inbound, on /api/webhooks/meta/{tenant}/{session}) and hands it to the
// session's provider (HandleWebhook), which reports messages and receipts as events and
// records when each contact last wrote: the start of the 24-hour customer-service
// window outside which only templates may be sent (LastInbound, WindowOpen).
//
//	f := cloudapi.New(cfg.Providers.CloudAPI, cloudapi.StoreInbound{DB: db})
//	p, err := f.New(provider.Spec{Tenant: "acme", Session: "support", Config: raw}, sink)
//	err = p.Start(ctx) // sink: CONNECTING, then WORKING with the business account
//	res, err := p.Send(ctx, provider.Outbound{ChatID: to, Kind: provider.KindText, Text: "hi"})
//	err = p.(provider.WebhookReceiver).HandleWebhook(ctx, verifiedBody) // acks, messages
//	last, err := f.LastInbound(ctx, "acme", "support", to)
//	open := cloudapi.WindowOpen(last, time.Now())
//
// The extra methods of the provider (MarkMessageRead, LastInbound, DownloadMedia) are on
// *Provider, what Factory.New returns behind the provider.Provider interface.
package cloudapi
