package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate reports every problem with c at once, joined with errors.Join. Each is a
// *FieldError naming the field by its YAML path and saying how to fix it. Validate does
// no I/O: a key file is read, and checked, only by ResolveEncryptionKey and ResolveAPIKey.
func (c Config) Validate() error {
	var v validator
	c.Server.validate(&v)
	c.Store.validate(&v)
	c.Admin.validate(&v)
	c.Log.validate(&v)
	c.Limits.validate(&v)
	c.Sessions.validate(&v)
	c.Queue.validate(&v)
	c.Pacing.validate(&v)
	c.Webhooks.validate(&v)
	c.Policies.validate(&v)
	c.Campaigns.validate(&v)
	c.Providers.Sandbox.validate(&v)
	c.Providers.Whatsmeow.validate(&v)
	c.Providers.CloudAPI.validate(&v)
	c.Retention.validate(&v)
	c.Disk.validate(&v)
	c.Memory.validate(&v)
	c.Cluster.validate(&v)
	if c.Cluster.Enabled && !clusterWired {
		v.add("cluster.enabled", "cluster mode is not wired into the gateway yet", "set it to false; docs/cluster.md says what is built")
	}
	return errors.Join(v.errs...)
}

// validator collects the problems Validate finds.
type validator struct {
	errs []error
}

func (v *validator) add(path, problem, fix string) {
	v.errs = append(v.errs, &FieldError{Path: path, Problem: problem, Fix: fix})
}

// positive requires d > 0.
func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.add(path, fmt.Sprintf("%s is not a positive duration", d), "write it like 30s")
	}
}

// nonNegative requires d >= 0; zero switches the feature off.
func (v *validator) nonNegative(path string, d Duration) {
	if d < 0 {
		v.add(path, fmt.Sprintf("%s is negative", d), "write 0 to turn it off or a duration like 30s")
	}
}

// atLeast requires n >= lo.
func (v *validator) atLeast(path string, n, lo int) {
	if n < lo {
		v.add(path, fmt.Sprintf("%d is less than %d", n, lo), fmt.Sprintf("write a whole number of at least %d", lo))
	}
}

// oneOf requires s to be one of allowed.
func (v *validator) oneOf(path, s string, allowed ...string) {
	if !slices.Contains(allowed, s) {
		v.add(path, fmt.Sprintf("%q is not a known value", s), "write one of "+strings.Join(allowed, ", "))
	}
}

const (
	minBodyBytes ByteSize = 1 << 10
	maxBodyBytes ByteSize = 1 << 30
)

func (s Server) validate(v *validator) {
	if host, port, err := net.SplitHostPort(s.Listen); err != nil {
		v.add("server.listen", fmt.Sprintf("%q is not host:port", s.Listen), "write it like 127.0.0.1:8080")
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || strings.ContainsAny(port, "+-") {
		v.add("server.listen", fmt.Sprintf("%q has port %q, not a number from 0 to 65535", s.Listen, port),
			"write it like "+net.JoinHostPort(host, "8080"))
	}
	v.positive("server.read_timeout", s.ReadTimeout)
	v.positive("server.write_timeout", s.WriteTimeout)
	v.nonNegative("server.idle_timeout", s.IdleTimeout)
	if s.MaxBodyBytes < minBodyBytes || s.MaxBodyBytes > maxBodyBytes {
		v.add("server.max_body_bytes", fmt.Sprintf("%s is outside %s to %s", s.MaxBodyBytes, minBodyBytes, maxBodyBytes),
			"write a size like 1MiB")
	}
	v.positive("server.shutdown_timeout", s.ShutdownTimeout)
}

func (s Store) validate(v *validator) {
	if strings.TrimSpace(s.Dir) == "" {
		v.add("store.dir", "is empty", "write the data directory, like ./data")
	}
	// With a key file, only the both-set conflict is checked here: reading the file is I/O.
	if s.EncryptionKeyFile == "" || s.EncryptionKey != "" {
		if _, err := s.ResolveEncryptionKey(); err != nil {
			v.errs = append(v.errs, err)
		}
	}
	v.nonNegative("store.gc_interval", s.GCInterval)
	if !(s.GCDiscardRatio > 0 && s.GCDiscardRatio < 1) {
		v.add("store.gc_discard_ratio", fmt.Sprintf("%g is not between 0 and 1 (both excluded)", s.GCDiscardRatio), "write it like 0.5")
	}
	sizes := []struct {
		field    string
		v        ByteSize
		min, max ByteSize
	}{
		{"memtable_size", s.MemtableSize, 1 << 20, 1 << 30},
		{"block_cache_size", s.BlockCacheSize, 1 << 20, 64 << 30},
		{"table_size", s.TableSize, 1 << 20, 256 << 20},
	}
	for _, f := range sizes {
		if f.v < f.min || f.v > f.max {
			v.add("store."+f.field, fmt.Sprintf("%s is outside %s to %s", f.v, f.min, f.max), "write a size like "+Defaults().Store.sizeOf(f.field).String())
		}
	}
	if s.IndexCacheSize < 0 {
		v.add("store.index_cache_size", fmt.Sprintf("%s is negative", s.IndexCacheSize), "write 0 to read indexes from the table files, or a size like 16MiB")
	}
	switch s.Compression {
	case "none", "snappy", "zstd":
	default:
		v.add("store.compression", fmt.Sprintf("%q is not none, snappy or zstd", s.Compression), "write snappy")
	}
	v.atLeast("store.num_memtables", s.NumMemtables, 2)
	v.atLeast("store.num_compactors", s.NumCompactors, 2)
}

func (a Admin) validate(v *validator) {
	// With a key file, only the both-set conflict is checked here: reading the file is I/O.
	if a.APIKeyFile == "" || a.APIKey != "" {
		if _, err := a.ResolveAPIKey(); err != nil {
			v.errs = append(v.errs, err)
		}
	}
}

func (l Log) validate(v *validator) {
	v.oneOf("log.level", l.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", l.Format, "text", "json")
}

func (l Limits) validate(v *validator) {
	v.atLeast("limits.default_plan.max_sessions", l.DefaultPlan.MaxSessions, 1)
	v.atLeast("limits.default_plan.max_messages_per_day", l.DefaultPlan.MaxMessagesPerDay, 0)
	v.atLeast("limits.default_plan.max_campaigns", l.DefaultPlan.MaxCampaigns, 0)
	v.atLeast("limits.default_plan.max_list_size", l.DefaultPlan.MaxListSize, 0)
	v.atLeast("limits.max_tenants", l.MaxTenants, 0)
	v.atLeast("limits.max_subscribers", l.MaxSubscribers, 1)
	if l.SubscriberBuffer < 1 || l.SubscriberBuffer > 65536 {
		v.add("limits.subscriber_buffer", fmt.Sprintf("%d is outside 1 to 65536", l.SubscriberBuffer), "write it like 256")
	}
}

func (s Sessions) validate(v *validator) {
	v.positive("sessions.start_timeout", s.StartTimeout)
	v.positive("sessions.stop_timeout", s.StopTimeout)
	v.positive("sessions.send_timeout", s.SendTimeout)
	v.atLeast("sessions.restore_concurrency", s.RestoreConcurrency, 1)
	v.nonNegative("sessions.restore_window", s.RestoreWindow)
	const h = "sessions.health."
	v.positive(h+"interval", s.Health.Interval)
	v.positive(h+"unresponsive_after", s.Health.UnresponsiveAfter)
	if s.Health.UnresponsiveAfter > 0 && s.Health.UnresponsiveAfter < s.Health.Interval {
		v.add(h+"unresponsive_after", fmt.Sprintf("%s is shorter than sessions.health.interval (%s)", s.Health.UnresponsiveAfter, s.Health.Interval),
			"write at least the interval, like three intervals")
	}
	v.positive(h+"ping_timeout", s.Health.PingTimeout)
	v.atLeast(h+"send_timeouts", s.Health.SendTimeouts, 0)
	v.positive(h+"backoff_base", s.Health.BackoffBase)
	v.positive(h+"backoff_max", s.Health.BackoffMax)
	v.atLeast(h+"max_reconnects", s.Health.MaxReconnects, 0)
	v.atLeast("sessions.pool.max_live", s.Pool.MaxLive, 0)
	v.atLeast("sessions.pool.max_live_per_tenant", s.Pool.MaxLivePerTenant, 0)
	v.atLeast("sessions.pool.admission_queue", s.Pool.AdmissionQueue, 0)
	v.nonNegative("sessions.pool.admission_timeout", s.Pool.AdmissionTimeout)
	v.atLeast("sessions.qr.max_codes", s.QR.MaxCodes, 0)
	v.atLeast("sessions.qr.max_attempts_per_hour", s.QR.MaxAttemptsPerHour, 0)
}

func (q Queue) validate(v *validator) {
	v.atLeast("queue.max_per_session", q.MaxPerSession, 1)
	v.atLeast("queue.max_total", q.MaxTotal, 1)
	v.positive("queue.idempotency_ttl", q.IdempotencyTTL)
	if q.RatePerSession < 0 {
		v.add("queue.rate_per_session", fmt.Sprintf("%v is negative", q.RatePerSession), "write messages per second like 1 or 0.5, or 0 for unlimited")
	}
	v.atLeast("queue.burst", q.Burst, 1)
	v.atLeast("queue.max_attempts", q.MaxAttempts, 1)
	v.positive("queue.backoff_base", q.BackoffBase)
	v.positive("queue.backoff_max", q.BackoffMax)
	v.nonNegative("queue.max_wait", q.MaxWait)
	v.atLeast("queue.max_concurrent", q.MaxConcurrent, 1)
	v.nonNegative("queue.failover_after", q.FailoverAfter)
}

func (p Policies) validate(v *validator) {
	v.atLeast("policies.max_per_tenant", p.MaxPerTenant, 1)
	v.atLeast("policies.max_versions", p.MaxVersions, 1)
	if p.MaxLuaBytes < 1024 || p.MaxLuaBytes > 1<<20 {
		v.add("policies.max_lua_bytes", fmt.Sprintf("%d is outside 1KiB to 1MiB", p.MaxLuaBytes), "write a size like 64KiB")
	}
	if p.MaxWASMBytes < 1024 || p.MaxWASMBytes > 64<<20 {
		v.add("policies.max_wasm_bytes", fmt.Sprintf("%d is outside 1KiB to 64MiB", p.MaxWASMBytes), "write a size like 8MiB")
	}
	if d := p.InitTimeout.D(); d < 100*time.Millisecond || d > time.Minute {
		v.add("policies.init_timeout", fmt.Sprintf("%s is outside 100ms to 1m", d), "write a duration like 1s")
	}
}

func (c Campaigns) validate(v *validator) {
	v.atLeast("campaigns.max_lists", c.MaxLists, 1)
	v.atLeast("campaigns.max_list_size", c.MaxListSize, 1)
	v.atLeast("campaigns.chunk_size", c.ChunkSize, 1)
	if c.ChunkSize > 1000 {
		v.add("campaigns.chunk_size", fmt.Sprintf("%d is over 1000", c.ChunkSize), "a chunk is one transaction: keep it at most 1000")
	}
	v.atLeast("campaigns.max_in_flight", c.MaxInFlight, max(1, c.ChunkSize))
	v.atLeast("campaigns.max_campaigns", c.MaxCampaigns, 1)
	v.positive("campaigns.reply_window", c.ReplyWindow)
	for _, w := range List(c.StopWords) {
		if len(w) > 64 {
			v.add("campaigns.stop_words", fmt.Sprintf("%.20q... is longer than 64 bytes", w), "write short words or phrases, like STOP,UNSUBSCRIBE")
		}
	}
}

func (w Webhooks) validate(v *validator) {
	const p = "webhooks."
	v.atLeast(p+"max_per_tenant", w.MaxPerTenant, 1)
	v.atLeast(p+"max_concurrent", w.MaxConcurrent, 1)
	v.atLeast(p+"max_in_flight_per_endpoint", w.MaxInFlightPerEndpoint, 1)
	v.positive(p+"timeout", w.Timeout)
	v.positive(p+"retry_horizon", w.RetryHorizon)
	v.positive(p+"backoff_base", w.BackoffBase)
	v.positive(p+"backoff_max", w.BackoffMax)
	v.positive(p+"disable_after", w.DisableAfter)
	v.positive(p+"retention", w.Retention)
	if w.MaxResponseBytes < 1024 {
		v.add(p+"max_response_bytes", fmt.Sprintf("%d is below 1KiB", w.MaxResponseBytes), "write a size like 64KiB")
	}
	v.atLeast(p+"buffer", w.Buffer, 1)
	if _, err := w.Networks(); err != nil {
		v.add(p+"allow_networks", err.Error(), `write CIDRs separated by commas, like "127.0.0.1/32,10.0.0.0/8"`)
	}
}

// Networks parses AllowNetworks.
func (w Webhooks) Networks() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range List(w.AllowNetworks) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// List splits a comma-separated list, trimming spaces and dropping empty items.
func List(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (s Sandbox) validate(v *validator) {
	const p = "providers.sandbox."
	v.nonNegative(p+"auto_link", s.AutoLink)
	v.positive(p+"first_qr_timeout", s.FirstQRTimeout)
	v.positive(p+"qr_timeout", s.QRTimeout)
	v.atLeast(p+"max_qr_codes", s.MaxQRCodes, 1)
	v.nonNegative(p+"send_latency", s.SendLatency)
	v.nonNegative(p+"delivery_delay", s.DeliveryDelay)
	v.nonNegative(p+"read_delay", s.ReadDelay)
	v.nonNegative(p+"faults.send_latency", s.Faults.SendLatency)
	if r := s.Faults.SendFailureRate; !(r >= 0 && r <= 1) {
		v.add(p+"faults.send_failure_rate", fmt.Sprintf("%g is not between 0 and 1", r), "write a probability like 0.1")
	}
}

func (w Whatsmeow) validate(v *validator) {
	const p = "providers.whatsmeow."
	if name := strings.TrimSpace(w.OSName); name == "" || len(w.OSName) > 64 {
		v.add(p+"os_name", fmt.Sprintf("%q is empty or longer than 64 bytes", w.OSName), "write a short name like wagate")
	}
	v.atLeast(p+"event_queue", w.EventQueue, 1)
	if w.MaxMediaBytes < 1<<10 || w.MaxMediaBytes > 2<<30 {
		v.add(p+"max_media_bytes", fmt.Sprintf("%s is outside 1KiB to 2GiB", w.MaxMediaBytes), "write a size like 64MiB")
	}
	v.atLeast(p+"remembered_media", w.RememberedMedia, 0)
}

// graphVersion is a Graph API version: "v" then major.minor.
var graphVersion = regexp.MustCompile(`^v[0-9]{1,3}\.[0-9]{1,2}$`)

func (c CloudAPI) validate(v *validator) {
	const p = "providers.cloudapi."
	if !graphVersion.MatchString(c.APIVersion) {
		v.add(p+"api_version", fmt.Sprintf("%q is not a Graph API version", c.APIVersion), "write it like v23.0")
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		v.add(p+"base_url", fmt.Sprintf("%q is not an http(s) origin", c.BaseURL), "write it like https://graph.facebook.com, without a path")
	}
	v.positive(p+"request_timeout", c.RequestTimeout)
}

// sizeOf is the size field of Store named by its yaml key, for messages.
func (s Store) sizeOf(field string) ByteSize {
	switch field {
	case "memtable_size":
		return s.MemtableSize
	case "block_cache_size":
		return s.BlockCacheSize
	case "table_size":
		return s.TableSize
	}
	return 0
}
