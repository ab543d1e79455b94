package store

import (
	"bytes"
	"fmt"
	"strings"
)

// Prefix is the type prefix that starts every key. The full list, with the layout of
// each key, is the keyspace table in docs/storage.md; a test keeps the two in step.
type Prefix string

// The keyspace. Tenant-owned prefixes are followed by the tenant id, so a tenant's data
// is a prefix scan and no key of one tenant can be built from another tenant's id.
const (
	// PrefixSystem holds gateway-wide records: sys/<name>.
	PrefixSystem Prefix = "sys"
	// PrefixTenant holds tenant records: ten/<tenant>.
	PrefixTenant Prefix = "ten"
	// PrefixAPIKey holds tenant API key hashes: key/<tenant>/<key id>.
	PrefixAPIKey Prefix = "key"
	// PrefixSession holds session records: ses/<tenant>/<session>.
	PrefixSession Prefix = "ses"
	// PrefixSandboxLink holds sandbox provider links: sbx/<tenant>/<session>.
	PrefixSandboxLink Prefix = "sbx"
	// PrefixUsage holds per-day counters: use/<tenant>/<yyyy-mm-dd>, and in cluster
	// mode one per node, use/<tenant>/<yyyy-mm-dd>/<node>.
	PrefixUsage Prefix = "use"
	// PrefixMessage holds outbound message records: msg/<tenant>/<message id>.
	PrefixMessage Prefix = "msg"
	// PrefixQueue holds queue entries, one per message waiting to be sent, in send
	// order: que/<tenant>/<session>/<message id> (ids are ULIDs, so key order is
	// acceptance order).
	PrefixQueue Prefix = "que"
	// PrefixIdempotency holds Idempotency-Key records: idm/<tenant>/<sha256 hex of key>.
	PrefixIdempotency Prefix = "idm"
	// PrefixChatMessage indexes outbound messages by chat, in send order:
	// chm/<tenant>/<session>/<chat id>/<message id>.
	PrefixChatMessage Prefix = "chm"
	// PrefixProviderID indexes sent messages by the transport's id, so late receipts
	// find their message: pid/<tenant>/<session>/<provider id, base64url> (core/queue).
	PrefixProviderID Prefix = "pid"
	// PrefixContact holds the sticky route: the session that last talked with a
	// contact, ctc/<tenant>/<chat id>.
	PrefixContact Prefix = "ctc"
	// PrefixWebhookEndpoint holds webhook endpoints: whe/<tenant>/<endpoint id>.
	PrefixWebhookEndpoint Prefix = "whe"
	// PrefixWebhookDelivery holds the webhook outbox and delivery log, one record per
	// (event, endpoint): whd/<tenant>/<endpoint id>/<delivery id> (ids are ULIDs, so
	// key order is creation order).
	PrefixWebhookDelivery Prefix = "whd"
	// PrefixWebhookPending indexes the deliveries still to be attempted, in order:
	// whp/<tenant>/<endpoint id>/<delivery id>.
	PrefixWebhookPending Prefix = "whp"
	// PrefixPolicy holds a tenant's uploaded policy: its kind, active and latest
	// version, pol/<tenant>/<name>.
	PrefixPolicy Prefix = "pol"
	// PrefixPolicyVersion holds one version of an uploaded policy (source, hash,
	// config): plv/<tenant>/<name>/<version, 8 digits>.
	PrefixPolicyVersion Prefix = "plv"
	// PrefixPolicyBindings holds a tenant's policy chains per hook: plb/<tenant>.
	PrefixPolicyBindings Prefix = "plb"
	// PrefixWhatsmeow holds whatsmeow device state (core/store/wastore), all of one
	// session below wam/<tenant>/<session>/: devices and their Signal, app state and
	// contact data under dev/<device jid>/..., the session's LID<->phone map under
	// lid/ and pn/. Layout and part encoding: docs/storage.md.
	PrefixWhatsmeow Prefix = "wam"
	// PrefixCloudInbound holds, per Cloud API session and contact, when the contact
	// last wrote (the start of the 24-hour customer-service window):
	// cai/<tenant>/<session>/<chat id>.
	PrefixCloudInbound Prefix = "cai"
	// PrefixCampaign holds campaign records (spec, status): cmp/<tenant>/<campaign id>.
	PrefixCampaign Prefix = "cmp"
	// PrefixCampaignState holds a campaign's cursor and counts, written only in the
	// queue's transactions: cms/<tenant>/<campaign id>.
	PrefixCampaignState Prefix = "cms"
	// PrefixCampaignRecipient holds each handled recipient of a campaign:
	// cmr/<tenant>/<campaign id>/<chat id>.
	PrefixCampaignRecipient Prefix = "cmr"
	// PrefixList holds a tenant's contact lists (name, count, columns):
	// lst/<tenant>/<list id> (ids are ULIDs, so key order is creation order).
	PrefixList Prefix = "lst"
	// PrefixListContact holds the contacts of a list, in chat id order:
	// lsc/<tenant>/<list id>/<chat id>.
	PrefixListContact Prefix = "lsc"
	// PrefixOptOut holds the tenant's opt-out list, the chats no campaign sends to:
	// opt/<tenant>/<chat id>.
	PrefixOptOut Prefix = "opt"
	// PrefixRevision is cluster mode's node-local index of the shared keys' revisions
	// (core/cluster/statesync): rev/<shared key>, value the key's revision in the
	// wagate_state bucket.
	PrefixRevision Prefix = "rev"
)

// Prefixes lists every prefix in use, for docs and tests.
var Prefixes = []Prefix{PrefixSystem, PrefixTenant, PrefixAPIKey, PrefixSession, PrefixSandboxLink, PrefixUsage,
	PrefixMessage, PrefixQueue, PrefixIdempotency, PrefixChatMessage, PrefixProviderID, PrefixContact,
	PrefixWebhookEndpoint, PrefixWebhookDelivery, PrefixWebhookPending, PrefixPolicy, PrefixPolicyVersion, PrefixPolicyBindings, PrefixWhatsmeow, PrefixCloudInbound,
	PrefixCampaign, PrefixCampaignState, PrefixCampaignRecipient,
	PrefixList, PrefixListContact, PrefixOptOut, PrefixRevision}

// TenantPrefixes lists the prefixes whose first key part is a tenant id: everything
// DeleteTenant removes.
var TenantPrefixes = []Prefix{PrefixTenant, PrefixAPIKey, PrefixSession, PrefixSandboxLink, PrefixUsage,
	PrefixMessage, PrefixQueue, PrefixIdempotency, PrefixChatMessage, PrefixProviderID, PrefixContact,
	PrefixWebhookEndpoint, PrefixWebhookDelivery, PrefixWebhookPending, PrefixPolicy, PrefixPolicyVersion, PrefixPolicyBindings, PrefixWhatsmeow, PrefixCloudInbound,
	PrefixCampaign, PrefixCampaignState, PrefixCampaignRecipient,
	PrefixList, PrefixListContact, PrefixOptOut}

// SessionPrefixes lists the prefixes whose keys are <prefix>/<tenant>/<session>...:
// provider state owned by one session, removed when the session is deleted.
var SessionPrefixes = []Prefix{PrefixSandboxLink, PrefixWhatsmeow, PrefixCloudInbound}

// sep separates key parts. Ids that go into keys (tenant, session, key ids) are
// validated by their owners to never contain it; Key panics if one does, because a
// separator inside a part would let one key alias another.
const sep = '/'

// Key builds prefix/part/part/... . Parts must be non-empty and free of '/'.
func Key(p Prefix, parts ...string) []byte {
	n := len(p)
	for _, s := range parts {
		n += 1 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, p...)
	for _, s := range parts {
		if s == "" || strings.IndexByte(s, sep) >= 0 {
			panic(fmt.Sprintf("store: key part %q of %s is empty or contains '/'", s, p))
		}
		b = append(b, sep)
		b = append(b, s...)
	}
	return b
}

// ScanPrefix is Key(p, parts...) + "/": the prefix of every key below those parts.
func ScanPrefix(p Prefix, parts ...string) []byte {
	return append(Key(p, parts...), sep)
}

// KeyParts splits a key built by Key into its prefix and parts.
func KeyParts(key []byte) (Prefix, []string) {
	fields := bytes.Split(key, []byte{sep})
	parts := make([]string, len(fields)-1)
	for i, f := range fields[1:] {
		parts[i] = string(f)
	}
	return Prefix(fields[0]), parts
}
