package whatsmeow

import (
	"context"
	"fmt"
	"log/slog"

	waLog "go.mau.fi/whatsmeow/util/log"
)

// slogLogger hands whatsmeow's logs to slog, with the module path as attribute
// ("Client/Socket"). Formatting is skipped for levels the handler drops: whatsmeow logs
// every frame at debug.
type slogLogger struct {
	log    *slog.Logger
	module string
}

func newWALogger(log *slog.Logger) waLog.Logger {
	return &slogLogger{log: log, module: "Client"}
}

func (l *slogLogger) logf(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, fmt.Sprintf(msg, args...), "module", l.module)
}

func (l *slogLogger) Errorf(msg string, args ...any) { l.logf(slog.LevelError, msg, args) }
func (l *slogLogger) Warnf(msg string, args ...any)  { l.logf(slog.LevelWarn, msg, args) }
func (l *slogLogger) Infof(msg string, args ...any)  { l.logf(slog.LevelInfo, msg, args) }
func (l *slogLogger) Debugf(msg string, args ...any) { l.logf(slog.LevelDebug, msg, args) }

func (l *slogLogger) Sub(module string) waLog.Logger {
	return &slogLogger{log: l.log, module: l.module + "/" + module}
}

var _ waLog.Logger = (*slogLogger)(nil)
