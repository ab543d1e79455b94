package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagate/wagate/config"
)

// The open-files limit (RLIMIT_NOFILE). Every live session may hold a few file
// descriptors (its WhatsApp websocket, media uploads and downloads, the Cloud API's
// HTTP connections); the store, HTTP clients and event subscribers hold more. At start
// the soft limit is raised to the hard one (the Go runtime does so too on Linux; doing
// it here makes it explicit and logged) and checked against what the configured
// maximum needs, with a warning naming the fix when it falls short
// (docs/operations.md).

const (
	// fdsPerSession is what one live session may hold at once.
	fdsPerSession = 4
	// fdsReserve covers the store (Badger's tables and value log), the listener and
	// the process's own files.
	fdsReserve = 256
)

// openFilesNeeded estimates the descriptors the gateway holds at its configured
// maximum: sessions.pool.max_live sessions, limits.max_subscribers event streams and
// webhooks.max_concurrent deliveries. 0 when sessions.pool.max_live is 0 (unbounded:
// nothing to check against).
func openFilesNeeded(cfg config.Config) uint64 {
	if cfg.Sessions.Pool.MaxLive <= 0 {
		return 0
	}
	return fdsReserve + fdsPerSession*uint64(cfg.Sessions.Pool.MaxLive) +
		uint64(max(cfg.Limits.MaxSubscribers, 0)) + uint64(max(cfg.Webhooks.MaxConcurrent, 0))
}

// checkOpenFiles raises the open-files limit and warns when it is below what the
// configuration needs.
func checkOpenFiles(log *slog.Logger, cfg config.Config) {
	checkOpenFilesWith(log, cfg, raiseOpenFilesLimit)
}

func checkOpenFilesWith(log *slog.Logger, cfg config.Config, raise func() (soft, hard uint64, err error)) {
	soft, hard, err := raise()
	if err != nil {
		log.Warn("could not raise the open files limit (RLIMIT_NOFILE) to its hard limit", "soft", soft, "hard", hard, "err", err)
	}
	if soft == 0 {
		return // not known on this platform
	}
	need := openFilesNeeded(cfg)
	switch {
	case need == 0:
		log.Info("open files limit", "limit", soft,
			"note", "sessions.pool.max_live is 0 (unlimited): the limit is not checked against it")
	case soft < need:
		log.Warn("open files limit too low for sessions.pool.max_live: sessions may fail with \"too many open files\"",
			"limit", soft, "hard", hard, "needed", need, "max_live", cfg.Sessions.Pool.MaxLive,
			"fix", "raise the hard limit (ulimit -Hn, LimitNOFILE= in systemd, --ulimit nofile= in Docker) or lower sessions.pool.max_live")
	default:
		log.Info("open files limit", "limit", soft, "needed", need)
	}
}

// openFilesCollector exports openFilesNeeded as wagate_open_files_needed, to compare
// with process_max_fds.
func openFilesCollector(cfg config.Config) prometheus.Collector {
	need := float64(openFilesNeeded(cfg))
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "wagate", Name: "open_files_needed",
		Help: "File descriptors the configured maximum of live sessions (sessions.pool.max_live), subscribers and webhook deliveries may need; 0 when max_live is unlimited. Alert when process_max_fds is below it.",
	}, func() float64 { return need })
}
