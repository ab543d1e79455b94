package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wagate/wagate/sdk/client"
)

// eventsCommand is `wagate events`: tail the tenant's live events.
func eventsCommand(stdout io.Writer) *cobra.Command {
	var f apiFlags
	var sessions, names []string
	var ws bool
	var count int
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Tail live events (over SSE, or WebSocket with --ws) until Ctrl-C",
		Long: "Print the tenant's events as they happen, one line each: time, event, session, payload.\n" +
			"--json prints each envelope as one JSON line (NDJSON), for jq.",
		Example: "  wagate events --session sales --events message,message.ack\n" +
			"  wagate events --json | jq .payload",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			key, err := f.apiKey()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(contextOf(c), os.Interrupt, syscall.SIGTERM)
			defer stop()
			filter := client.EventFilter{Sessions: splitList(sessions), Events: splitList(names)}
			var stream *client.EventStream
			if ws {
				stream, err = client.SubscribeWebSocket(ctx, f.baseURL(), key, filter)
			} else {
				// No client timeout: it would cut the stream. --timeout bounds connecting.
				hc := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: f.timeout, Proxy: http.ProxyFromEnvironment}}
				stream, err = client.Subscribe(ctx, hc, f.baseURL(), key, filter)
			}
			if err != nil {
				return err
			}
			defer stream.Close()
			context.AfterFunc(ctx, func() { stream.Close() })
			enc := json.NewEncoder(stdout)
			for n := 0; count <= 0 || n < count; n++ {
				env, err := stream.Next()
				if err != nil {
					if ctx.Err() != nil {
						return nil // Ctrl-C
					}
					if errors.Is(err, client.ErrStreamEnded) {
						return errors.New("the gateway ended the stream (shutting down?)")
					}
					return err
				}
				if f.json {
					if err := enc.Encode(env); err != nil {
						return err
					}
					continue
				}
				payload, _ := json.Marshal(env.Payload)
				if len(payload) > 200 {
					payload = append(payload[:200], "..."...)
				}
				fmt.Fprintf(stdout, "%s  %-16s %-12s %s\n", time.UnixMilli(env.Timestamp).UTC().Format("15:04:05.000"),
					env.Event, env.Session, payload)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringSliceVar(&sessions, "session", nil, "only these sessions (repeat or comma-separate)")
	cmd.Flags().StringSliceVar(&names, "events", nil, "only these events, e.g. message,message.ack or message.* (default all)")
	cmd.Flags().BoolVar(&ws, "ws", false, "use the WebSocket stream (/ws) instead of Server-Sent Events")
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many events (0: until Ctrl-C)")
	return cmd
}

// splitList flattens repeated and comma-separated flag values, dropping empties.
func splitList(in []string) []string {
	var out []string
	for _, v := range in {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
