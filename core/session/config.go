package session

import "github.com/wagate/wagate/config"

// HealthFromConfig returns the health monitor's options of gateway.yaml's
// sessions.health section.
func HealthFromConfig(c config.SessionHealth) HealthOptions {
	return HealthOptions{
		Enabled: c.Enabled, Interval: c.Interval.D(), UnresponsiveAfter: c.UnresponsiveAfter.D(),
		PingTimeout: c.PingTimeout.D(), SendTimeouts: c.SendTimeouts,
		BackoffBase: c.BackoffBase.D(), BackoffMax: c.BackoffMax.D(), MaxReconnects: c.MaxReconnects,
	}
}

// PoolFromConfig returns the session pool's options of sessions.pool.
func PoolFromConfig(c config.SessionPool) PoolOptions {
	return PoolOptions{MaxLive: c.MaxLive, MaxLivePerTenant: c.MaxLivePerTenant,
		AdmissionQueue: c.AdmissionQueue, AdmissionTimeout: c.AdmissionTimeout.D()}
}

// QRFromConfig returns the QR limiter's caps of sessions.qr.
func QRFromConfig(c config.SessionQR) QRLimits {
	return QRLimits{MaxCodes: c.MaxCodes, MaxAttemptsPerHour: c.MaxAttemptsPerHour}
}
