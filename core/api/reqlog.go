package api

import (
	"context"
	"log/slog"
)

// reqLog is the handler of a request's logger (request.log): the gateway's handler with
// request_id and, once authenticated, tenant in front of every line's attributes, as
// Logger.With would put them. It reads them from the request when a line is written,
// so a request that logs nothing (nearly all, at the default level) costs no
// allocation: Logger.With per request cost four.
type reqLog struct {
	h slog.Handler
	r *request
}

func (l *reqLog) Enabled(ctx context.Context, level slog.Level) bool { return l.h.Enabled(ctx, level) }

func (l *reqLog) attrs() []slog.Attr {
	a := []slog.Attr{slog.String("request_id", l.r.id)}
	if t := l.r.principal.Tenant; t != "" {
		a = append(a, slog.String("tenant", t))
	}
	return a
}

func (l *reqLog) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, rec.Message, rec.PC)
	out.AddAttrs(l.attrs()...)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return l.h.Handle(ctx, out)
}

func (l *reqLog) WithAttrs(as []slog.Attr) slog.Handler {
	return l.h.WithAttrs(append(l.attrs(), as...))
}

func (l *reqLog) WithGroup(name string) slog.Handler {
	return l.h.WithAttrs(l.attrs()).WithGroup(name)
}

// newRequest is a request with its logger (see reqLog), in one allocation.
func (s *Server) newRequest(id, route string) *request {
	r := &request{id: id, route: route}
	r.logh = reqLog{h: s.log.Handler(), r: r}
	r.logv = *slog.New(&r.logh)
	r.log = &r.logv
	return r
}
