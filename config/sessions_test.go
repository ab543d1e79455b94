package config

import (
	"slices"
	"testing"
	"time"
)

func TestValidateSessionMitigations(t *testing.T) {
	bad := []struct {
		name     string
		mutate   func(*Sessions)
		wantPath string
	}{
		{"restore concurrency zero", func(s *Sessions) { s.RestoreConcurrency = 0 }, "sessions.restore_concurrency"},
		{"restore window negative", func(s *Sessions) { s.RestoreWindow = -1 }, "sessions.restore_window"},
		{"health interval zero", func(s *Sessions) { s.Health.Interval = 0 }, "sessions.health.interval"},
		{"unresponsive zero", func(s *Sessions) { s.Health.UnresponsiveAfter = 0 }, "sessions.health.unresponsive_after"},
		{"unresponsive below interval", func(s *Sessions) { s.Health.UnresponsiveAfter = Duration(10 * time.Second) }, "sessions.health.unresponsive_after"},
		{"ping timeout zero", func(s *Sessions) { s.Health.PingTimeout = 0 }, "sessions.health.ping_timeout"},
		{"send timeouts negative", func(s *Sessions) { s.Health.SendTimeouts = -1 }, "sessions.health.send_timeouts"},
		{"backoff base zero", func(s *Sessions) { s.Health.BackoffBase = 0 }, "sessions.health.backoff_base"},
		{"backoff max zero", func(s *Sessions) { s.Health.BackoffMax = 0 }, "sessions.health.backoff_max"},
		{"max reconnects negative", func(s *Sessions) { s.Health.MaxReconnects = -1 }, "sessions.health.max_reconnects"},
		{"max live negative", func(s *Sessions) { s.Pool.MaxLive = -1 }, "sessions.pool.max_live"},
		{"per tenant negative", func(s *Sessions) { s.Pool.MaxLivePerTenant = -1 }, "sessions.pool.max_live_per_tenant"},
		{"queue negative", func(s *Sessions) { s.Pool.AdmissionQueue = -1 }, "sessions.pool.admission_queue"},
		{"admission timeout negative", func(s *Sessions) { s.Pool.AdmissionTimeout = -1 }, "sessions.pool.admission_timeout"},
		{"qr codes negative", func(s *Sessions) { s.QR.MaxCodes = -1 }, "sessions.qr.max_codes"},
		{"qr attempts negative", func(s *Sessions) { s.QR.MaxAttemptsPerHour = -1 }, "sessions.qr.max_attempts_per_hour"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mutate(&c.Sessions)
			if paths := errorPaths(c.Validate()); !slices.Equal(paths, []string{tt.wantPath}) {
				t.Errorf("error paths = %q, want [%s]", paths, tt.wantPath)
			}
		})
	}
	good := []struct {
		name   string
		mutate func(*Sessions)
	}{
		{"monitor off", func(s *Sessions) { s.Health.Enabled = false }},
		{"no spread", func(s *Sessions) { s.RestoreWindow = 0 }},
		{"no caps", func(s *Sessions) { s.Pool = SessionPool{}; s.QR = SessionQR{} }},
		{"send timeouts off", func(s *Sessions) { s.Health.SendTimeouts = 0 }},
		{"unresponsive equals interval", func(s *Sessions) { s.Health.UnresponsiveAfter = s.Health.Interval }},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mutate(&c.Sessions)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
		})
	}
}

func TestSessionMitigationsFromYAMLAndEnv(t *testing.T) {
	env := map[string]string{"WAGATE_SESSIONS_POOL_MAX_LIVE": "50", "WAGATE_SESSIONS_HEALTH_ENABLED": "false"}
	c, err := Parse([]byte("sessions:\n  restore_window: 2m\n  health:\n    unresponsive_after: 5m\n  qr:\n    max_codes: 3\n"),
		func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sessions
	if s.RestoreWindow != Duration(2*time.Minute) || s.Health.UnresponsiveAfter != Duration(5*time.Minute) || s.QR.MaxCodes != 3 ||
		s.Pool.MaxLive != 50 || s.Health.Enabled || s.Health.Interval != Defaults().Sessions.Health.Interval {
		t.Fatalf("parsed %+v", s)
	}
	if _, err := Parse([]byte("sessions:\n  health:\n    interval: soon\n"), nil); err == nil {
		t.Fatal("a bad duration was accepted")
	}
	if _, err := Parse([]byte("sessions:\n  pool:\n    max_lives: 3\n"), nil); err == nil {
		t.Fatal("an unknown key was accepted")
	}
}
