// Package config is the schema of gateway.yaml: every field the gateway reads, with its
// default, its WAGATE_* environment override and its validation. It depends on nothing in
// core/, so every package may take its own section as input.
//
// Loading order (Load, Parse):
//
//  1. Defaults() — the values documented on each field.
//  2. The YAML file, decoded strictly: an unknown key or a value of the wrong type is an
//     error naming the key's YAML path and line.
//  3. Environment overrides: WAGATE_<SECTION>_<FIELD> in upper case, built from the yaml
//     tags, e.g. WAGATE_SERVER_LISTEN, WAGATE_STORE_DIR, WAGATE_ADMIN_API_KEY,
//     WAGATE_PROVIDERS_SANDBOX_SEND_LATENCY (EnvVars lists them all). A variable set to
//     the empty string is ignored.
//  4. Validate() — every error names the field (as a YAML path) and how to fix it.
//
// Secrets are read from their files later, when needed: Store.ResolveEncryptionKey and
// Admin.ResolveAPIKey.
package config

// Config is the whole of gateway.yaml.
type Config struct {
	// Server is the HTTP API listener.
	Server Server `yaml:"server"`
	// API is how the HTTP API reads requests.
	API API `yaml:"api"`
	// Store is the embedded Badger database holding all state.
	Store Store `yaml:"store"`
	// Admin holds the admin API key that manages tenants.
	Admin Admin `yaml:"admin"`
	// Log selects log level and format.
	Log Log `yaml:"log"`
	// Limits are the gateway-wide bounds and the default tenant plan.
	Limits Limits `yaml:"limits"`
	// Sessions configures the session manager.
	Sessions Sessions `yaml:"sessions"`
	// Queue configures the durable outbound queue and its dispatcher.
	Queue Queue `yaml:"queue"`
	// Pacing is the anti-ban pacing of sends, the default rate rule (docs/operations.md).
	Pacing Pacing `yaml:"pacing"`
	// Webhooks configures outbound webhook delivery.
	Webhooks Webhooks `yaml:"webhooks"`
	// Policies bounds what tenants may upload as policies.
	Policies Policies `yaml:"policies"`
	// Campaigns configures audiences and campaigns (docs/campaigns.md).
	Campaigns Campaigns `yaml:"campaigns"`
	// Retention deletes old data on a schedule and measures storage use.
	Retention Retention `yaml:"retention"`
	// Disk refuses new work before the data directory's disk is full.
	Disk Disk `yaml:"disk"`
	// Memory sets the Go soft memory limit and sheds new work above a high watermark.
	Memory Memory `yaml:"memory"`
	// Providers enables and configures the WhatsApp providers.
	Providers Providers `yaml:"providers"`
	// Cluster configures cluster mode on NATS JetStream (docs/cluster.md). Off by default.
	Cluster Cluster `yaml:"cluster"`
}

// API configures how the HTTP API reads requests.
type API struct {
	// StrictFields refuses a JSON body with a field the route does not know (400
	// unknown_field, naming it), which catches typos before they are silently ignored.
	// false ignores such fields, as WAHA does unless it runs strict: for WAHA clients
	// that send fields of routes or versions wagate does not have. Default true.
	StrictFields bool `yaml:"strict_fields"`
}

// Server configures the HTTP listener.
type Server struct {
	// Listen is the TCP address of the API, dashboard and metrics. Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// ReadTimeout bounds reading a whole request, body included. Default 30s.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response. Streams (SSE, WebSocket) are exempt. Default 30s.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle this long. Default 120s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxBodyBytes is the largest request body accepted; larger ones get 413. Default 1MiB.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// ShutdownTimeout bounds the graceful drain of in-flight requests on SIGINT/SIGTERM. Default 15s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// Store configures the embedded Badger database.
type Store struct {
	// Dir is the data directory. Created if missing. Default "./data".
	Dir string `yaml:"dir"`
	// EncryptionKey is the 32-byte encryption-at-rest key as 64 hex characters or
	// standard base64. Prefer the environment (WAGATE_STORE_ENCRYPTION_KEY) or
	// EncryptionKeyFile over writing it here. Empty with an empty EncryptionKeyFile means
	// no encryption. Once a store is encrypted it cannot be opened without the key.
	EncryptionKey string `yaml:"encryption_key"`
	// EncryptionKeyFile is a file holding the key: 32 raw bytes, 64 hex characters or
	// base64 (surrounding whitespace ignored). Mutually exclusive with EncryptionKey.
	EncryptionKeyFile string `yaml:"encryption_key_file"`
	// SyncWrites makes every commit fsync before it returns: accepted data survives power
	// loss. false survives a process crash only. Default true.
	SyncWrites bool `yaml:"sync_writes"`
	// GCInterval is how often value-log garbage collection runs. 0 disables it. Default 10m.
	GCInterval Duration `yaml:"gc_interval"`
	// GCDiscardRatio is the fraction of stale data a value-log file needs before it is
	// rewritten, in (0,1). Default 0.5.
	GCDiscardRatio float64 `yaml:"gc_discard_ratio"`
	// MemtableSize is the size of one of Badger's in-RAM write buffers; up to
	// NumMemtables of them are in RAM at once, and its flush builds a level-0 table of
	// that size in RAM. Default 4MiB.
	MemtableSize ByteSize `yaml:"memtable_size"`
	// NumMemtables is how many memtables may be in RAM at once (one taking writes, the
	// others waiting for their flush). At least 2. Default 3.
	NumMemtables int `yaml:"num_memtables"`
	// BlockCacheSize is the RAM cache of decompressed table blocks, for reads. Default 32MiB.
	BlockCacheSize ByteSize `yaml:"block_cache_size"`
	// IndexCacheSize is the RAM cache of table indexes and bloom filters. 0 reads them
	// from the mapped table files (16MiB when encryption is on: Badger requires one).
	// Default 0.
	IndexCacheSize ByteSize `yaml:"index_cache_size"`
	// TableSize is the size of the tables compaction writes, on every level. A
	// compaction holds each table it writes in RAM until it is on disk, so this, times the
	// compactions running, bounds its memory however large the store grows. Default 2MiB.
	TableSize ByteSize `yaml:"table_size"`
	// Compression of the store's tables: none, snappy or zstd. Compressed tables take
	// about half the disk, and cost CPU and heap: on every read that misses the block
	// cache, and in compaction, whose table builders then hold the blocks twice and grow
	// their buffers by doubling (docs/benchmarks.md, "Campaigns"). Default none.
	Compression string `yaml:"compression"`
	// NumCompactors is how many compactions run at once. At least 2. Default 2.
	NumCompactors int `yaml:"num_compactors"`
}

// Admin configures the admin API key.
type Admin struct {
	// APIKey is the admin key. Prefer WAGATE_ADMIN_API_KEY or APIKeyFile. When both are
	// empty, the gateway generates a key on first start, prints it once and stores only
	// its hash in the data dir.
	APIKey string `yaml:"api_key"`
	// APIKeyFile is a file holding the admin key (whitespace trimmed). Mutually exclusive
	// with APIKey.
	APIKeyFile string `yaml:"api_key_file"`
}

// Log configures structured logging (log/slog).
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// Limits are gateway-wide bounds.
type Limits struct {
	// DefaultPlan is the plan given to tenants created without one.
	DefaultPlan Plan `yaml:"default_plan"`
	// MaxTenants caps the number of tenants. 0 means unlimited. Default 0.
	MaxTenants int `yaml:"max_tenants"`
	// MaxSubscribers caps concurrent SSE and WebSocket subscribers, all tenants together. Default 1000.
	MaxSubscribers int `yaml:"max_subscribers"`
	// SubscriberBuffer is how many events may wait for one slow subscriber before it is
	// dropped with a final error event. Default 256.
	SubscriberBuffer int `yaml:"subscriber_buffer"`
}

// Plan bounds one tenant.
type Plan struct {
	// MaxSessions is how many sessions (numbers) the tenant may have. Default 10.
	MaxSessions int `yaml:"max_sessions"`
	// MaxMessagesPerDay caps messages accepted per UTC day. 0 means unlimited. Default 10000.
	MaxMessagesPerDay int `yaml:"max_messages_per_day"`
	// MaxCampaigns caps the tenant's campaigns that are not over. 0 means
	// campaigns.max_campaigns. Default 0.
	MaxCampaigns int `yaml:"max_campaigns"`
	// MaxListSize caps the contacts of one of the tenant's lists. 0 means
	// campaigns.max_list_size. Default 0.
	MaxListSize int `yaml:"max_list_size"`
}

// Sessions configures the session manager.
type Sessions struct {
	// StartTimeout bounds a provider's Start call. Default 30s.
	StartTimeout Duration `yaml:"start_timeout"`
	// StopTimeout bounds a provider's Stop or Logout call; past it the session is
	// abandoned and marked FAILED. Default 10s.
	StopTimeout Duration `yaml:"stop_timeout"`
	// SendTimeout bounds one provider Send call. Default 30s.
	SendTimeout Duration `yaml:"send_timeout"`
	// RestoreOnStart starts, at boot, every session left running (started, and not since
	// stopped, logged out or deleted), whatever state it was in; false loads sessions
	// without starting any. Rules in docs/operations.md. Default true.
	RestoreOnStart bool `yaml:"restore_on_start"`
	// RestoreConcurrency bounds the sessions starting at once at boot. Default 8.
	RestoreConcurrency int `yaml:"restore_concurrency"`
	// RestoreWindow spreads the boot starts beyond the first RestoreConcurrency evenly
	// over this window, each at a random moment of its slot, so that a restart does not
	// reconnect every number in the same second. 0 starts them as fast as
	// RestoreConcurrency allows. Default 60s.
	RestoreWindow Duration `yaml:"restore_window"`
	// Health is the health monitor: dead sessions found and reconnected.
	Health SessionHealth `yaml:"health"`
	// Pool caps the sessions running on this node.
	Pool SessionPool `yaml:"pool"`
	// QR caps QR pairing, so that a session nobody scans does not pair for ever.
	QR SessionQR `yaml:"qr"`
}

// SessionHealth configures the health monitor (docs/operations.md): a session that
// looks WORKING but is dead is reconnected (stop, then start) with capped exponential
// backoff and jitter; permanent causes (logged out, banned, stream replaced, client
// outdated) are not retried.
type SessionHealth struct {
	// Enabled turns the monitor on. Default true.
	Enabled bool `yaml:"enabled"`
	// Interval is how often running sessions are checked; a WORKING session quiet for
	// an interval is pinged, if its provider can be. Default 30s.
	Interval Duration `yaml:"interval"`
	// UnresponsiveAfter declares a session dead when it shows no sign of life (a
	// report, a successful send or ping) this long while WORKING, or stays STARTING
	// this long. Default 90s.
	UnresponsiveAfter Duration `yaml:"unresponsive_after"`
	// PingTimeout bounds one liveness ping. Default 10s.
	PingTimeout Duration `yaml:"ping_timeout"`
	// SendTimeouts is how many consecutive sends timing out (sessions.send_timeout)
	// declare the session dead. 0 turns this check off. Default 3.
	SendTimeouts int `yaml:"send_timeouts"`
	// BackoffBase is the first reconnect delay; each further attempt doubles it, with
	// jitter. Default 5s.
	BackoffBase Duration `yaml:"backoff_base"`
	// BackoffMax caps the reconnect delay. Default 5m.
	BackoffMax Duration `yaml:"backoff_max"`
	// MaxReconnects is how many reconnects in a row may fail before the session is
	// left FAILED until started again. 0 never gives up. Default 0.
	MaxReconnects int `yaml:"max_reconnects"`
}

// SessionPool caps the sessions running (holding a provider connection) on this node,
// with an admission queue for starts beyond the cap (docs/operations.md). A tenant's
// plan (limits.default_plan.max_sessions) caps the sessions it may create, which also
// caps those it may run.
type SessionPool struct {
	// MaxLive caps the running sessions of all tenants. 0 means unlimited. Default 1000.
	MaxLive int `yaml:"max_live"`
	// MaxLivePerTenant caps the running sessions of one tenant, so that one tenant
	// cannot take the whole node. 0 means only the plan's limit. Default 0.
	MaxLivePerTenant int `yaml:"max_live_per_tenant"`
	// AdmissionQueue bounds the starts waiting for a free slot; past it a start is
	// refused at once with 503 session_pool_full. Default 100.
	AdmissionQueue int `yaml:"admission_queue"`
	// AdmissionTimeout is how long a start waits for a free slot before it is refused.
	// 0 refuses at once. Default 10s.
	AdmissionTimeout Duration `yaml:"admission_timeout"`
}

// SessionQR configures the QR limiter (docs/operations.md): past either cap a session
// stops pairing, FAILED with reason qr_limit, until it is started again.
type SessionQR struct {
	// MaxCodes caps the QR codes shown in one pairing attempt (one start). 0 means
	// unlimited. Default 10.
	MaxCodes int `yaml:"max_codes"`
	// MaxAttemptsPerHour caps the pairing attempts of one session in any hour. 0 means
	// unlimited. Default 5.
	MaxAttemptsPerHour int `yaml:"max_attempts_per_hour"`
}

// Queue configures the durable outbound queue and the dispatcher that drains it.
type Queue struct {
	// MaxPerSession bounds the messages waiting for one session; past it sends get 429
	// queue_full. Default 1000000.
	MaxPerSession int `yaml:"max_per_session"`
	// MaxTotal bounds the messages waiting in the whole gateway; past it sends get 429
	// queue_full. Default 10000000.
	MaxTotal int `yaml:"max_total"`
	// IdempotencyTTL is how long an Idempotency-Key is remembered. Default 24h.
	IdempotencyTTL Duration `yaml:"idempotency_ttl"`
	// RatePerSession is each session's steady send rate in messages per second; 0 means
	// unlimited. Default 1.
	RatePerSession float64 `yaml:"rate_per_session"`
	// Burst is how many messages a session may send at once after a pause. Default 5.
	Burst int `yaml:"burst"`
	// MaxAttempts is the retry budget: provider calls per message before it fails with
	// reason retries_exhausted. Default 5.
	MaxAttempts int `yaml:"max_attempts"`
	// BackoffBase is the first retry delay; each retry doubles it, with jitter. Default 2s.
	BackoffBase Duration `yaml:"backoff_base"`
	// BackoffMax caps the retry delay. Default 5m.
	BackoffMax Duration `yaml:"backoff_max"`
	// MaxWait fails a message still waiting this long after it was accepted (its
	// session not WORKING, or behind a long queue) with reason expired. 0 means never.
	// Default 24h.
	MaxWait Duration `yaml:"max_wait"`
	// MaxConcurrent bounds provider calls in flight across all sessions. Default 256.
	MaxConcurrent int `yaml:"max_concurrent"`
	// FailoverAfter hands the messages of a session not WORKING for this long to
	// failover (its fallback session, docs/failover.md). 0 never does. Default 10m.
	FailoverAfter Duration `yaml:"failover_after"`
}

// Campaigns configures campaigns and their audiences: contact lists and the opt-out
// list (docs/campaigns.md).
type Campaigns struct {
	// MaxLists caps the contact lists of one tenant; past it POST /api/lists answers
	// 409 too_many_lists. Default 100.
	MaxLists int `yaml:"max_lists"`
	// MaxListSize caps the contacts of one list; import rows past it are reported
	// list_full. Default 1000000.
	MaxListSize int `yaml:"max_list_size"`
	// StopWords is a comma-separated list of the replies that put a contact on the
	// tenant's opt-out list: an inbound text that is, trimmed and case-folded, one of
	// them. Empty: replies opt no one out. Default
	// "STOP,STOP ALL,UNSUBSCRIBE,CANCEL,END,QUIT,BERHENTI,PARAR,BAJA".
	StopWords string `yaml:"stop_words"`
	// ChunkSize is how many recipients a campaign's runner queues in one transaction
	// (with their records and the campaign's cursor). Default 100, 1 to 1000.
	ChunkSize int `yaml:"chunk_size"`
	// MaxInFlight bounds a campaign's messages queued and not yet sent: the runner
	// waits (waiting "in_flight") past it. Default 1000, at least chunk_size.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxCampaigns caps the campaigns of one tenant that are not over (draft,
	// scheduled, running, paused); past it POST /api/campaigns answers 409
	// too_many_campaigns. Default 20.
	MaxCampaigns int `yaml:"max_campaigns"`
	// ReplyWindow is how long after its message was sent a recipient's inbound message
	// counts as a reply to the campaign (counts.replied). Default 72h.
	ReplyWindow Duration `yaml:"reply_window"`
}

// Policies bounds the Lua and WASM policies tenants upload (docs/plugins.md).
type Policies struct {
	// MaxPerTenant caps the policies of one tenant. Default 20.
	MaxPerTenant int `yaml:"max_per_tenant"`
	// MaxVersions is how many versions of a policy are kept (the active one always
	// is). Default 10.
	MaxVersions int `yaml:"max_versions"`
	// MaxLuaBytes caps a Lua script. Default 64KiB.
	MaxLuaBytes ByteSize `yaml:"max_lua_bytes"`
	// MaxWASMBytes caps a WASM module (uploads also need server.max_body_bytes). Default 8MiB.
	MaxWASMBytes ByteSize `yaml:"max_wasm_bytes"`
	// InitTimeout bounds loading a Lua or WASM policy: a Lua script's top level, a WASM
	// module's instantiation and _initialize (a Go guest starts its runtime there), and
	// configure. Calls keep their own budget. 100ms to 1m. Default 1s; raise it on a slow
	// or overloaded machine where uploads fail with "_initialize: context deadline exceeded".
	InitTimeout Duration `yaml:"init_timeout"`
	// GopluginManifest is the path of a YAML file listing the go-plugin binaries the
	// operator installs (name, path, sha256, env; docs/plugins.md). Tenants bind them by
	// name; they cannot upload binaries. Empty: no go-plugin policies.
	GopluginManifest string `yaml:"goplugin_manifest"`
}

// Webhooks configures delivery of events to tenants' webhook endpoints (docs/webhooks.md).
type Webhooks struct {
	// MaxPerTenant caps the endpoints of one tenant. Default 10.
	MaxPerTenant int `yaml:"max_per_tenant"`
	// MaxConcurrent caps deliveries in flight over all endpoints. Default 64.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxInFlightPerEndpoint caps deliveries in flight to one endpoint. Default 8.
	MaxInFlightPerEndpoint int `yaml:"max_in_flight_per_endpoint"`
	// Timeout bounds one attempt: connect, send, response. Default 10s.
	Timeout Duration `yaml:"timeout"`
	// RetryHorizon is how long a delivery is retried after it was created, unless the
	// endpoint sets its own. Default 24h.
	RetryHorizon Duration `yaml:"retry_horizon"`
	// BackoffBase is the first retry delay, doubled per attempt, with jitter. Default 5s.
	BackoffBase Duration `yaml:"backoff_base"`
	// BackoffMax caps the retry delay computed by backoff. Default 1h.
	BackoffMax Duration `yaml:"backoff_max"`
	// DisableAfter disables an endpoint whose attempts have all failed this long.
	// Default 120h.
	DisableAfter Duration `yaml:"disable_after"`
	// Retention keeps delivered and failed deliveries in the log this long. Default 168h.
	Retention Duration `yaml:"retention"`
	// MaxResponseBytes is how much of a receiver's response is read. Default 64KiB.
	MaxResponseBytes ByteSize `yaml:"max_response_bytes"`
	// Buffer is how many events may wait for the outbox writer before publishing
	// waits. Default 65536.
	Buffer int `yaml:"buffer"`
	// AllowNetworks is a comma-separated list of CIDRs webhooks may reach although
	// they are not public, e.g. "127.0.0.1/32" for a receiver on the same machine.
	// Default empty: public addresses only.
	AllowNetworks string `yaml:"allow_networks"`
	// AllowHosts is a comma-separated list of hostnames webhooks may reach whatever
	// they resolve to. Default empty.
	AllowHosts string `yaml:"allow_hosts"`
}

// Providers enables the WhatsApp providers.
type Providers struct {
	// Sandbox is the in-process simulated WhatsApp network.
	Sandbox Sandbox `yaml:"sandbox"`
	// Whatsmeow is WhatsApp Web multi-device through whatsmeow (docs/whatsmeow.md).
	Whatsmeow Whatsmeow `yaml:"whatsmeow"`
	// CloudAPI is Meta's WhatsApp Cloud API (docs/cloudapi.md).
	CloudAPI CloudAPI `yaml:"cloudapi"`
}

// CloudAPI configures the Meta WhatsApp Cloud API provider: numbers of a WhatsApp
// Business account, reached through Meta's Graph API with each session's own access
// token (docs/cloudapi.md). Sessions may override APIVersion and BaseURL.
type CloudAPI struct {
	// Enabled allows sessions with provider "cloudapi". Default true.
	Enabled bool `yaml:"enabled"`
	// APIVersion is the Graph API version of sessions that name none, "v" then
	// major.minor. Meta supports a version for about two years after its release;
	// bump it here when it nears its end (docs/cloudapi.md). Default "v23.0".
	APIVersion string `yaml:"api_version"`
	// BaseURL is the Graph API origin of sessions that name none: scheme and host,
	// no path. Default "https://graph.facebook.com".
	BaseURL string `yaml:"base_url"`
	// RequestTimeout bounds one Graph API call (a send, a media upload, the credential
	// check at start), within the caller's own deadline. Default 20s.
	RequestTimeout Duration `yaml:"request_timeout"`
}

// Whatsmeow configures the WhatsApp Web provider: real numbers linked by QR code or
// pairing code, their device state kept in the store (docs/whatsmeow.md).
type Whatsmeow struct {
	// Enabled allows sessions with provider "whatsmeow". Default true.
	Enabled bool `yaml:"enabled"`
	// OSName is the name the phone shows for the gateway under Linked devices. It is
	// sent when a number is linked; numbers linked before keep the name they got.
	// Default "wagate".
	OSName string `yaml:"os_name"`
	// EventQueue bounds the inbound messages and receipts waiting for one session's
	// event goroutine. Past it, new ones are refused without acknowledging them to
	// WhatsApp, which delivers them again when the session next connects. Connection
	// events are never refused. Default 4096.
	EventQueue int `yaml:"event_queue"`
	// MaxMediaBytes bounds a media file downloaded from WhatsApp (an inbound message's
	// file) or fetched from a URL to be sent. Default 64MiB.
	MaxMediaBytes ByteSize `yaml:"max_media_bytes"`
	// RememberedMedia is how many recent inbound media messages per session keep what
	// it takes to download their file later. 0 turns inbound media download off.
	// Default 1000.
	RememberedMedia int `yaml:"remembered_media"`
}

// Sandbox configures the simulated WhatsApp network.
type Sandbox struct {
	// Enabled allows sessions with provider "sandbox". Default true.
	Enabled bool `yaml:"enabled"`
	// AutoLink links a new sandbox session by itself this long after its first QR code,
	// as if a phone scanned it. 0 waits for POST /api/sandbox/{session}/link. Default 0.
	AutoLink Duration `yaml:"auto_link"`
	// FirstQRTimeout is how long the first QR code is valid, as on the real service. Default 60s.
	FirstQRTimeout Duration `yaml:"first_qr_timeout"`
	// QRTimeout is how long each later QR code is valid. Default 20s.
	QRTimeout Duration `yaml:"qr_timeout"`
	// MaxQRCodes is how many codes are shown before pairing gives up and the session
	// fails with reason "qr_timeout", as whatsmeow does. Default 6.
	MaxQRCodes int `yaml:"max_qr_codes"`
	// SendLatency is the simulated time a send takes. Default 50ms.
	SendLatency Duration `yaml:"send_latency"`
	// DeliveryDelay is the time from sent to the delivered receipt. Default 200ms.
	DeliveryDelay Duration `yaml:"delivery_delay"`
	// ReadDelay is the time from delivered to the read receipt. 0 disables read receipts. Default 1s.
	ReadDelay Duration `yaml:"read_delay"`
	// SendLog, when set, is a file to which every send the sandbox accepts appends one
	// line "<message id> <provider id>", written before the send returns: what the
	// simulated network received, for crash tests and audits. Default "" (off).
	SendLog string `yaml:"send_log"`
	// Faults are fault-injection switches applied to every sandbox session at start.
	// They can be changed per session at runtime through PUT /api/sandbox/{session}/faults.
	Faults SandboxFaults `yaml:"faults"`
}

// SandboxFaults are the sandbox's fault-injection switches. The zero value injects nothing.
// The same type is the JSON body of PUT /api/sandbox/{session}/faults.
type SandboxFaults struct {
	// SilentDisconnect keeps the session reporting WORKING while it has in fact stopped:
	// sends hang until their deadline and no events arrive.
	SilentDisconnect bool `yaml:"silent_disconnect" json:"silent_disconnect"`
	// HangOnStop makes Stop and Logout block until their context ends.
	HangOnStop bool `yaml:"hang_on_stop" json:"hang_on_stop"`
	// EndlessQR rotates QR codes forever; pairing never completes, even on link.
	EndlessQR bool `yaml:"endless_qr" json:"endless_qr"`
	// SendLatency, when non-zero, replaces the configured send latency (slow sends).
	SendLatency Duration `yaml:"send_latency" json:"send_latency"`
	// SendFailureRate is the probability in [0,1] that a send fails with a retryable error.
	SendFailureRate float64 `yaml:"send_failure_rate" json:"send_failure_rate"`
	// LoggedOut unlinks the number as if logged out from the phone: the session goes
	// LOGGED_OUT and its link is forgotten.
	LoggedOut bool `yaml:"logged_out" json:"logged_out"`
	// TempBan bans the number temporarily: sends fail with a non-retryable "banned" error
	// and the session reports FAILED with reason "temporary_ban".
	TempBan bool `yaml:"temp_ban" json:"temp_ban"`
	// ReachoutTimelock restricts the number from starting conversations (WhatsApp's
	// reach-out timelock): sends to a user chat that has not written to the session
	// fail with a retryable "reachout_restricted" error, and the session reports the
	// restriction (pacing pauses it) until the switch is turned off.
	ReachoutTimelock bool `yaml:"reachout_timelock" json:"reachout_timelock"`
}
