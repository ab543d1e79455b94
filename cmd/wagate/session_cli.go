package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"

	"github.com/wagate/wagate/sdk/client"
)

// sessionCommand is `wagate session`: the tenant's sessions on a running gateway.
func sessionCommand(stdout io.Writer) *cobra.Command {
	var f apiFlags
	cmd := &cobra.Command{
		Use:   "session",
		Short: "List, create, pair, start, stop and log out sessions (over the API)",
	}
	f.register(cmd)

	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the tenant's sessions",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := call(c, &f, func(ctx context.Context, cl *client.ClientWithResponses) (*client.GetApiSessionsResponse, error) {
				return cl.GetApiSessionsWithResponse(ctx)
			})
			if err != nil {
				return err
			}
			if f.json {
				return printJSONTo(stdout, r.JSON200)
			}
			return printSessions(stdout, &f, *r.JSON200)
		},
	})

	var provider string
	var noStart bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a session (started unless --no-start; then pair it with `wagate session qr`)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			in := client.CreateSessionBody{Name: args[0]}
			if provider != "" {
				in.Provider = &provider
			}
			if noStart {
				start := false
				in.Start = &start
			}
			r, err := call(c, &f, func(ctx context.Context, cl *client.ClientWithResponses) (*client.PostApiSessionsResponse, error) {
				return cl.PostApiSessionsWithResponse(ctx, in)
			})
			if err != nil {
				return err
			}
			return printSessions(stdout, &f, []client.Info{*r.JSON201})
		},
	}
	create.Flags().StringVar(&provider, "provider", "", "provider: sandbox, whatsmeow or cloudapi (default: the gateway's)")
	create.Flags().BoolVar(&noStart, "no-start", false, "create the session stopped")
	cmd.AddCommand(create)

	cmd.AddCommand(&cobra.Command{
		Use:   "get NAME",
		Short: "Show one session",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			r, err := call(c, &f, func(ctx context.Context, cl *client.ClientWithResponses) (*client.GetApiSessionsSessionResponse, error) {
				return cl.GetApiSessionsSessionWithResponse(ctx, args[0])
			})
			if err != nil {
				return err
			}
			return printSessions(stdout, &f, []client.Info{*r.JSON200})
		},
	})

	var wait time.Duration
	qr := &cobra.Command{
		Use:   "qr NAME",
		Short: "Print the session's QR code in the terminal: scan it in WhatsApp, Linked devices",
		Long: "Print the session's current QR code as text art. It rotates: run again for a fresh one.\n" +
			"--wait waits that long for the session to reach SCAN_QR_CODE; --json prints {value, expiresAt}.",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			raw := "raw"
			deadline := time.Now().Add(wait)
			for {
				r, err := call(c, &f, func(ctx context.Context, cl *client.ClientWithResponses) (*client.GetApiSessionAuthQrResponse, error) {
					return cl.GetApiSessionAuthQrWithResponse(ctx, args[0], &client.GetApiSessionAuthQrParams{Format: &raw})
				})
				var apiErr *client.APIError
				if errors.As(err, &apiErr) && apiErr.Status == 409 && time.Now().Before(deadline) {
					select {
					case <-time.After(200 * time.Millisecond):
						continue
					case <-contextOf(c).Done():
						return contextOf(c).Err()
					}
				}
				if err != nil {
					return err
				}
				if f.json {
					return printJSONTo(stdout, r.JSON200)
				}
				code, err := qrcode.New(r.JSON200.Value, qrcode.Low)
				if err != nil {
					return fmt.Errorf("drawing the QR code: %w", err)
				}
				fmt.Fprint(stdout, code.ToSmallString(false))
				fmt.Fprintf(stdout, "Scan in WhatsApp > Linked devices > Link a device. Expires %s; run again for a fresh code.\n",
					r.JSON200.ExpiresAt.Local().Format(time.TimeOnly))
				return nil
			}
		},
	}
	qr.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the QR code (e.g. 30s)")
	cmd.AddCommand(qr)

	type action struct {
		name, short string
		do          func(ctx context.Context, cl *client.ClientWithResponses, name string) (*client.Info, client.Response, error)
	}
	for _, a := range []action{
		{"start", "Start a stopped session", func(ctx context.Context, cl *client.ClientWithResponses, name string) (*client.Info, client.Response, error) {
			r, err := cl.PostApiSessionsSessionStartWithResponse(ctx, name)
			if err != nil {
				return nil, nil, err
			}
			return r.JSON200, r, nil
		}},
		{"stop", "Stop a session (it stays linked)", func(ctx context.Context, cl *client.ClientWithResponses, name string) (*client.Info, client.Response, error) {
			r, err := cl.PostApiSessionsSessionStopWithResponse(ctx, name)
			if err != nil {
				return nil, nil, err
			}
			return r.JSON200, r, nil
		}},
		{"logout", "Unlink the number from the session (pair again to use it)", func(ctx context.Context, cl *client.ClientWithResponses, name string) (*client.Info, client.Response, error) {
			r, err := cl.PostApiSessionsSessionLogoutWithResponse(ctx, name)
			if err != nil {
				return nil, nil, err
			}
			return r.JSON200, r, nil
		}},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   a.name + " NAME",
			Short: a.short,
			Args:  cobra.ExactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				var info *client.Info
				_, err := call(c, &f, func(ctx context.Context, cl *client.ClientWithResponses) (client.Response, error) {
					i, r, err := a.do(ctx, cl, args[0])
					info = i
					return r, err
				})
				if err != nil {
					return err
				}
				if info == nil {
					return fmt.Errorf("%s %s: the gateway answered without a session", a.name, args[0])
				}
				return printSessions(stdout, &f, []client.Info{*info})
			},
		})
	}

	cmd.AddCommand(&cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a session (logs it out first)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			_, err := call(c, &f, func(ctx context.Context, cl *client.ClientWithResponses) (*client.DeleteApiSessionsSessionResponse, error) {
				return cl.DeleteApiSessionsSessionWithResponse(ctx, args[0])
			})
			if err != nil {
				return err
			}
			if f.json {
				return printJSONTo(stdout, map[string]any{"deleted": args[0]})
			}
			fmt.Fprintf(stdout, "session %s deleted\n", args[0])
			return nil
		},
	})
	return cmd
}

// printSessions prints sessions as a table, or one session as JSON (list prints its
// array itself).
func printSessions(w io.Writer, f *apiFlags, list []client.Info) error {
	if f.json && len(list) == 1 {
		return printJSONTo(w, list[0])
	}
	rows := make([][]string, 0, len(list))
	for _, s := range list {
		me := ""
		if s.Me != nil {
			me = s.Me.Id
		}
		rows = append(rows, []string{s.Name, s.Status, s.Provider, me, when(s.UpdatedAt)})
	}
	return table(w, []string{"NAME", "STATUS", "PROVIDER", "NUMBER", "UPDATED"}, rows)
}

// contextOf is the command's context, or Background.
func contextOf(c *cobra.Command) context.Context {
	if ctx := c.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
