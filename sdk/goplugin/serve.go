package goplugin

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// stderr is the process's stderr as it was at start: go-plugin's Serve redirects
// os.Stderr to a stream of its own, while the gateway reads and logs this one.
var stderr = os.Stderr

// Serve serves p to the gateway that started this process, until the gateway closes
// it; it is a plugin's whole main:
//
//	func main() { goplugin.Serve(&Router{}) }
//
// Run by hand (without the gateway's handshake), the binary prints a notice and exits
// with status 1, as it does when p implements no hook.
func Serve(p Plugin) {
	if len(Hooks(p)) == 0 {
		fmt.Fprintf(stderr, "goplugin.Serve: %T implements no hook (RouteHook, FailoverHook, RateHook, TransformHook)\n", p)
		os.Exit(1)
	}
	plugin.Serve(ServeConfig(p))
}

// ServeConfig is the go-plugin configuration Serve uses, for a main that needs to adjust
// it (go-plugin's test mode, another gRPC server). Keep the handshake and plugin set.
func ServeConfig(p Plugin) *plugin.ServeConfig {
	return &plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginName: &GRPCPlugin{Impl: p}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          hclog.New(&hclog.LoggerOptions{Name: "goplugin", Output: stderr, JSONFormat: true, Level: hclog.Info}),
	}
}

// Logger returns a logger whose records reach the gateway's log with their level and
// attributes: it writes JSON lines in go-plugin's log format to the process's stderr,
// which the gateway reads (a line of plain text there is logged at debug level).
// Records below level are dropped; the gateway drops more when a plugin logs too much.
func Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: hclogAttr}))
}

// hclogAttr renames slog's built-in keys to hclog's JSON keys, which go-plugin parses.
func hclogAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
	case slog.MessageKey:
		return slog.String("@message", a.Value.String())
	case slog.LevelKey:
		l, _ := a.Value.Any().(slog.Level)
		name := "error"
		switch {
		case l < slog.LevelInfo:
			name = "debug"
		case l < slog.LevelWarn:
			name = "info"
		case l < slog.LevelError:
			name = "warn"
		}
		return slog.String("@level", name)
	}
	return a
}
