package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthCommand checks a running gateway's /health (or /ready with --ready) and exits
// non-zero unless it answers 200: the container image's HEALTHCHECK, which cannot rely
// on curl in a distroless image.
func healthCommand(stdout io.Writer) *cobra.Command {
	var url string
	var ready bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check a running gateway's /health (or /ready) and exit 1 unless it answers 200",
		Example: "  wagate health                                  # http://127.0.0.1:8080/health\n" +
			"  wagate health --url http://10.0.0.5:8080 --ready",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/health"
			if ready {
				path = "/ready"
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			base := strings.TrimRight(url, "/")
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
			if err != nil {
				return fmt.Errorf("health: %w", err)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("health: %w", err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("health: %s%s answered %d: %s", base, path, res.StatusCode, body)
			}
			fmt.Fprintf(stdout, "%s%s: %s\n", base, path, bytes.TrimSpace(body))
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:8080", "base URL of the gateway (env WAGATE_URL)")
	cmd.Flags().BoolVar(&ready, "ready", false, "check /ready (can take traffic) instead of /health (process up)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	cmd.PreRun = func(cmd *cobra.Command, _ []string) {
		if v, ok := os.LookupEnv("WAGATE_URL"); ok && !cmd.Flags().Changed("url") {
			url = v
		}
	}
	return cmd
}
