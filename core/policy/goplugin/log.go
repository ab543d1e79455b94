package goplugin

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// What a plugin's process writes reaches slog by two ways, both bounded:
//
//   - its stderr is read by go-plugin line by line (lines of at most logLineMax bytes;
//     longer ones are cut) and logged through an hclogger: JSON lines in hclog's format
//     (sdk/goplugin.Logger writes them) keep their level and attributes, other lines are
//     logged at debug level (error level from a "panic:" line on);
//   - what it writes to os.Stdout / os.Stderr after go-plugin's Serve redirected them
//     is streamed to lineWriters and logged at debug level.
//
// Both go to the policy's logger (Spec.Log; nil discards), at most Options.LogLines
// lines a second per process (the excess is dropped and counted on the next line), and
// into the process's tail: the last Options.StderrTail bytes, logged on the operator's
// logger when the process crashes.

// logLineMax is the longest line read from a plugin's stderr.
const logLineMax = 4 << 10

// hclogger adapts slog to hclog.Logger, through which go-plugin logs. The logger named
// after the plugin's binary receives the plugin's own lines (policy log, rate-limited);
// go-plugin's lifecycle messages go to the operator's log.
type hclogger struct {
	l      *slog.Logger // nil discards
	name   string
	args   []any
	plugin string       // the name go-plugin gives the plugin's lines
	pl     *hclogger    // the plugin's logger
	limit  *lineLimiter // nil: unlimited
	// debugOnly logs everything at debug level: go-plugin's own lifecycle messages,
	// which the host reports itself where they matter.
	debugOnly bool
}

func newHCLogger(operator, pluginLog *slog.Logger, pluginName string, limit *lineLimiter) *hclogger {
	pl := &hclogger{l: pluginLog, name: pluginName, limit: limit}
	return &hclogger{l: operator, name: "go-plugin", plugin: pluginName, pl: pl}
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.NoLevel:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (h *hclogger) Log(level hclog.Level, msg string, args ...any) {
	if h.l == nil {
		return
	}
	lv := slogLevel(level)
	if h.debugOnly {
		lv = min(lv, slog.LevelDebug)
	}
	if !h.l.Enabled(context.Background(), lv) {
		return
	}
	if h.limit != nil {
		ok, dropped := h.limit.allow(time.Now())
		if !ok {
			return
		}
		if dropped > 0 {
			args = append(args, "dropped_lines", dropped)
		}
	}
	all := make([]any, 0, len(h.args)+len(args)+2)
	all = append(all, h.args...)
	all = append(all, args...)
	h.l.Log(context.Background(), lv, msg, all...)
}

func (h *hclogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogger) enabled(l hclog.Level) bool {
	return h.l != nil && h.l.Enabled(context.Background(), slogLevel(l))
}

func (h *hclogger) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hclogger) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hclogger) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hclogger) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hclogger) IsError() bool { return h.enabled(hclog.Error) }

func (h *hclogger) ImpliedArgs() []any { return h.args }

func (h *hclogger) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any(nil), h.args...), args...)
	return &c
}

func (h *hclogger) Name() string { return h.name }

// Named returns the plugin's logger for the plugin's name (go-plugin names the reader
// of the plugin's stderr after its binary), else a logger with the name as attribute.
func (h *hclogger) Named(name string) hclog.Logger {
	if h.pl != nil && name == h.plugin {
		return h.pl
	}
	return h.ResetNamed(h.name + "." + name)
}

func (h *hclogger) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	c.args = append(append([]any(nil), h.args...), "logger", name)
	return &c
}

// SetLevel is ignored: the slog handler decides.
func (h *hclogger) SetLevel(hclog.Level) {}

// GetLevel reports the lowest level the slog handler takes; Off when it discards.
func (h *hclogger) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (h *hclogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hclogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &lineWriter{emit: func(line []byte) { h.Info(string(line)) }}
}

var _ hclog.Logger = (*hclogger)(nil)

// lineLimiter lets at most max lines a second through.
type lineLimiter struct {
	mu      sync.Mutex
	max     int
	window  time.Time
	n       int
	dropped int
}

// allow reports whether a line may be logged now, and how many were dropped since the
// last one that was.
func (l *lineLimiter) allow(now time.Time) (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.window) >= time.Second {
		l.window, l.n = now, 0
	}
	if l.n >= l.max {
		l.dropped++
		return false, 0
	}
	l.n++
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}

// lineWriter splits what is written into lines (of at most logLineMax bytes) and emits
// them.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(line []byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := logLineMax - len(w.buf)
			if len(p) < room {
				w.buf = append(w.buf, p...)
				break
			}
			w.buf = append(w.buf, p[:room]...)
			p = p[room:]
		} else {
			w.buf = append(w.buf, p[:i]...)
			p = p[i+1:]
		}
		w.emit(bytes.TrimRight(w.buf, "\r"))
		w.buf = w.buf[:0]
	}
	return n, nil
}

// tail keeps the last bytes written to it.
type tail struct {
	mu   sync.Mutex
	buf  []byte // ring of cap(buf) bytes
	next int    // where the next byte goes
	full bool
}

func newTail(size int) *tail { return &tail{buf: make([]byte, size)} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(t.buf) == 0 {
		return n, nil
	}
	if len(p) >= len(t.buf) {
		p = p[len(p)-len(t.buf):]
	}
	for len(p) > 0 {
		c := copy(t.buf[t.next:], p)
		p = p[c:]
		t.next += c
		if t.next == len(t.buf) {
			t.next, t.full = 0, true
		}
	}
	return n, nil
}

// String returns the kept bytes, oldest first.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.full {
		return string(t.buf[:t.next])
	}
	return string(t.buf[t.next:]) + string(t.buf[:t.next])
}

// streamLogger returns the writer of a plugin's redirected stdout or stderr.
func streamLogger(h *hclogger, tl *tail, stream string) io.Writer {
	return &lineWriter{emit: func(line []byte) {
		_, _ = tl.Write(append(line, '\n'))
		h.Debug(string(line), "stream", stream)
	}}
}
