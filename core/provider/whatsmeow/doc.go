// Package whatsmeow is the WhatsApp Web provider: each session links one real number as
// a companion device (like WhatsApp Web or Desktop) through go.mau.fi/whatsmeow, with its
// device state (Signal keys and sessions, app state, LID map) kept in the gateway's store
// through core/store/wastore, one container per session.
//
//	f := whatsmeow.NewFactory(cfg.Providers.Whatsmeow, db, whatsmeow.WithLogger(log))
//	p, err := f.New(provider.Spec{Tenant: "acme", Session: "main"}, sink) // no I/O
//	err = p.Start(ctx)       // not linked: PAIRING, then QR codes; linked: CONNECTING, WORKING
//	code, err := p.RequestPairingCode(ctx, "15551234567") // instead of scanning
//	res, err := p.Send(ctx, provider.Outbound{ID: "msg_1", ChatID: to, Kind: provider.KindText, Text: "hi"})
//	err = p.Stop(ctx)        // disconnect; the device stays, the next Start resumes
//	err = p.Logout(ctx)      // unlink; the device is deleted from the store
//
// One file per concern: session.go (lifecycle), events.go (whatsmeow's events and the
// statuses they map to), receive.go (inbound messages and receipts), send.go (outbound
// messages and error mapping), media.go (media fetch and download), pair.go (pairing
// code), chats.go (read receipts, app state chat flags, the chat book), presence.go
// (own presence, typing, subscriptions, presence.update), labels.go (Business labels: app state and its cache),
// jid.go (chat ids and JIDs), client.go (the narrow Client interface over
// *whatsmeow.Client), queue.go (the bounded event queue), groups.go (provider.Groups),
// grouppicture.go (group pictures), groupevents.go (the group.v2.* notifications),
// status.go (provider.Stories: status privacy; status posts are sends),
// channels.go (provider.Channels: newsletters) and calls.go (provider.Calls).
//
// Sends cover stickers (a WebP, as a StickerMessage), forwards (IsForwarded on the
// content's ContextInfo), status updates (to status@broadcast, seen by the audience
// of the account's status privacy, not a per-status list) and channel posts (to a
// …@newsletter id, media uploaded in the clear): see Send.
//
// # Goroutines
//
// A run (Start to Stop) has one whatsmeow client, whose handler only queues events, and
// one event goroutine that maps them to reports for the sink, in order. whatsmeow's own
// goroutine is never blocked; past providers.whatsmeow.event_queue waiting messages and
// receipts, new ones are left unacknowledged for WhatsApp to deliver again (see
// eventQueue). Every call that may wait on WhatsApp or on whatsmeow's locks is bounded
// by the caller's context.
//
// docs/whatsmeow.md says how to link a real phone, what each status and reason means,
// and how to bump the pinned whatsmeow version.
package whatsmeow
