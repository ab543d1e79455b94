package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wagate/wagate/sdk/client"
)

// The API commands (session, send, events, webhook) talk to a running gateway over
// its REST API through sdk/client, unlike `wagate tenant`, which works on a stopped
// gateway's data dir. Each takes --url and --key (or WAGATE_URL and WAGATE_API_KEY) and
// prints a table, or JSON with --json.

// defaultURL is the gateway's address when neither --url nor WAGATE_URL says.
const defaultURL = "http://127.0.0.1:8080"

// apiFlags are the connection and output flags of the API commands.
type apiFlags struct {
	url, key string
	json     bool
	timeout  time.Duration
}

// register adds the flags to cmd, for it and its subcommands.
func (f *apiFlags) register(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.url, "url", "", "gateway base URL (default $WAGATE_URL, else "+defaultURL+")")
	pf.StringVar(&f.key, "key", "", "tenant API key (default $WAGATE_API_KEY)")
	pf.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	pf.DurationVar(&f.timeout, "timeout", 30*time.Second, "deadline of each API call")
}

// baseURL is --url, else WAGATE_URL, else defaultURL.
func (f *apiFlags) baseURL() string {
	switch {
	case f.url != "":
		return strings.TrimRight(f.url, "/")
	case os.Getenv("WAGATE_URL") != "":
		return strings.TrimRight(os.Getenv("WAGATE_URL"), "/")
	}
	return defaultURL
}

// apiKey is --key, else WAGATE_API_KEY.
func (f *apiFlags) apiKey() (string, error) {
	if f.key != "" {
		return f.key, nil
	}
	if k := os.Getenv("WAGATE_API_KEY"); k != "" {
		return k, nil
	}
	return "", errors.New("no API key: pass --key or set WAGATE_API_KEY")
}

// client returns an API client; each call has the --timeout deadline.
func (f *apiFlags) client() (*client.ClientWithResponses, error) {
	key, err := f.apiKey()
	if err != nil {
		return nil, err
	}
	return client.New(f.baseURL(), key, client.WithHTTPClient(&http.Client{Timeout: f.timeout}))
}

// call runs one API call with the client, the command's context and the deadline, and
// turns an error answer into an error (client.Check).
func call[R client.Response](cmd *cobra.Command, f *apiFlags, fn func(ctx context.Context, c *client.ClientWithResponses) (R, error)) (R, error) {
	var zero R
	c, err := f.client()
	if err != nil {
		return zero, err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	r, err := fn(ctx, c)
	if err != nil {
		return zero, fmt.Errorf("calling %s: %w", f.baseURL(), err)
	}
	if err := client.Check(r); err != nil {
		return zero, err
	}
	return r, nil
}

// printJSONTo writes v as indented JSON.
func printJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under a header, aligned in columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// str is *s, or "" when nil.
func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// when formats a time for tables: UTC, to the second; "" for the zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
