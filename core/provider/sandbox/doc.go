// Package sandbox is an in-process simulated WhatsApp network: the default provider of
// wagate, the engine of its tests and benchmarks, and a way for users to try integrations
// without a phone.
//
// Every sandbox session of every tenant is a number on one Network. A session that is not
// linked shows rotating QR codes shaped like whatsmeow's until something links it: the
// sandbox HTTP endpoint (Network.Link, as a phone scanning the code would), a pairing
// code followed by Link, or auto_link. A linked session sends every kind of message
// (text, media, location, contacts, reactions; media URLs are never fetched) with a
// simulated latency, receives delivered and read acks, and exchanges messages with the
// other sandbox numbers. Fault switches (config.SandboxFaults) make it misbehave on purpose:
// silent disconnect, hang on stop, endless QR, slow or failing sends, logout from the
// phone, temporary ban. docs/sandbox.md describes the timings and every fault's effect.
//
// Use it like any provider.Factory; the extra methods of Network are the sandbox
// controls:
//
//	net := sandbox.NewNetwork(cfg.Providers.Sandbox, links) // links: a LinkStore
//	defer net.Close()
//	p, err := net.New(provider.Spec{Tenant: "acme", Session: "default"}, sink)
//	err = p.Start(ctx)                           // sink gets PAIRING, then QR codes
//	me, err := net.Link("acme", "default", "")   // sink gets WORKING with Me
//	res, err := p.Send(ctx, provider.Outbound{ChatID: to, Kind: provider.KindText, Text: "hi"})
//	err = net.Inbound("acme", "default", from, "hello back")
//
// Tests drive time with WithClock(clockwork.NewFakeClock()) and make the random parts
// reproducible with WithRand.
package sandbox
