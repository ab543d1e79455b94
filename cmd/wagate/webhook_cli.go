package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wagate/wagate/sdk/client"
)

// webhookCommand is `wagate webhook`: the tenant's webhook endpoints and their
// delivery log.
func webhookCommand(stdout io.Writer) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "List webhook endpoints, show their deliveries, replay them (over the API)",
	}
	f.register(cmd)

	var events, sessions []string
	create := &cobra.Command{
		Use:   "create ENDPOINT-URL [--events LIST]",
		Short: "Create a webhook endpoint and print its signing secret (also shown by the API later)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			in := client.WebhookRequest{Url: args[0], Events: splitList(events)}
			if len(in.Events) == 0 {
				in.Events = []string{"*"}
			}
			if s := splitList(sessions); len(s) > 0 {
				in.Sessions = &s
			}
			r, err := call(c, &f, func(ctx context.Context, cl *client.ClientWithResponses) (*client.PostApiWebhooksResponse, error) {
				return cl.PostApiWebhooksWithResponse(ctx, in)
			})
			if err != nil {
				return err
			}
			h := r.JSON201
			if f.json {
				return printJSONTo(stdout, h)
			}
			return table(stdout, []string{"ID", "URL", "EVENTS", "SECRET"}, [][]string{{h.Id, h.Url, strings.Join(h.Events, ","), h.Secret}})
		},
	}
	create.Flags().StringSliceVar(&events, "events", nil, "events to deliver, e.g. message,message.ack (default *: all)")
	create.Flags().StringSliceVar(&sessions, "session", nil, "only events of these sessions (default all)")
	cmd.AddCommand(create)

	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the tenant's webhook endpoints",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := call(c, &f, func(ctx context.Context, cl *client.ClientWithResponses) (*client.GetApiWebhooksResponse, error) {
				return cl.GetApiWebhooksWithResponse(ctx)
			})
			if err != nil {
				return err
			}
			if f.json {
				return printJSONTo(stdout, r.JSON200)
			}
			var rows [][]string
			for _, h := range *r.JSON200 {
				state := "enabled"
				if !h.Enabled {
					state = "disabled"
					if h.DisabledReason != nil {
						state += " (" + *h.DisabledReason + ")"
					}
				} else if h.FailingSince != nil {
					state = "failing since " + when(*h.FailingSince)
				}
				scope := "all"
				if h.Sessions != nil && len(*h.Sessions) > 0 {
					scope = strings.Join(*h.Sessions, ",")
				} else if h.Session != nil {
					scope = *h.Session
				}
				rows = append(rows, []string{h.Id, h.Url, strings.Join(h.Events, ","), scope, state})
			}
			return table(stdout, []string{"ID", "URL", "EVENTS", "SESSIONS", "STATE"}, rows)
		},
	})

	var status, cursor string
	var limit int
	deliveries := &cobra.Command{
		Use:   "deliveries ID",
		Short: "Show an endpoint's delivery log, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p := client.GetApiWebhooksIdDeliveriesParams{}
			if status != "" {
				p.Status = &status
			}
			if limit > 0 {
				l := strconv.Itoa(limit)
				p.Limit = &l
			}
			if cursor != "" {
				p.Cursor = &cursor
			}
			r, err := call(c, &f, func(ctx context.Context, cl *client.ClientWithResponses) (*client.GetApiWebhooksIdDeliveriesResponse, error) {
				return cl.GetApiWebhooksIdDeliveriesWithResponse(ctx, args[0], &p)
			})
			if err != nil {
				return err
			}
			page := r.JSON200
			if f.json {
				return printJSONTo(stdout, page)
			}
			var rows [][]string
			for _, d := range page.Deliveries {
				code := ""
				if d.LastStatusCode != nil {
					code = strconv.Itoa(*d.LastStatusCode)
				}
				rows = append(rows, []string{d.Id, d.Event, str(d.Session), d.Status, strconv.Itoa(d.Attempts), code, when(d.CreatedAt), str(d.LastError)})
			}
			if err := table(stdout, []string{"ID", "EVENT", "SESSION", "STATUS", "ATTEMPTS", "CODE", "CREATED", "ERROR"}, rows); err != nil {
				return err
			}
			if page.Next != nil && *page.Next != "" {
				fmt.Fprintf(stdout, "more: --cursor %s\n", *page.Next)
			}
			return nil
		},
	}
	deliveries.Flags().StringVar(&status, "status", "", "only pending, delivered or failed deliveries")
	deliveries.Flags().IntVar(&limit, "limit", 0, "deliveries per page, 1 to 500 (default 50)")
	deliveries.Flags().StringVar(&cursor, "cursor", "", "the page after this cursor (printed as more: under a full page)")
	cmd.AddCommand(deliveries)

	var since, until string
	replay := &cobra.Command{
		Use:   "replay ID --since WHEN [--until WHEN]",
		Short: "Send again every delivery created in a time range",
		Long: "Queue again every delivery of the endpoint created between --since and --until (default now),\n" +
			"at most 10,000 per call. WHEN is an RFC 3339 time or a duration before now, like 2h.",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			now := time.Now()
			from, err := parseWhen(since, now)
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			to := now
			if until != "" {
				if to, err = parseWhen(until, now); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			r, err := call(c, &f, func(ctx context.Context, cl *client.ClientWithResponses) (*client.PostApiWebhooksIdReplayResponse, error) {
				return cl.PostApiWebhooksIdReplayWithResponse(ctx, args[0], client.ReplayRequest{Since: from, Until: to})
			})
			if err != nil {
				return err
			}
			if f.json {
				return printJSONTo(stdout, r.JSON202)
			}
			fmt.Fprintf(stdout, "replaying %d deliveries\n", r.JSON202.Replayed)
			if r.JSON202.Truncated {
				fmt.Fprintln(stdout, "more than 10,000 in the range: replay again from the last one's time")
			}
			return nil
		},
	}
	replay.Flags().StringVar(&since, "since", "", "start of the range: RFC 3339 time or a duration ago, e.g. 1h (required)")
	replay.Flags().StringVar(&until, "until", "", "end of the range (default now)")
	replay.MarkFlagRequired("since")
	cmd.AddCommand(replay)
	return cmd
}

// parseWhen reads an RFC 3339 time or a duration before now ("90m").
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration like 2h", s)
	}
	return now.Add(-d), nil
}
