package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wagate/wagate/sdk/client"
)

// sendCommand is `wagate send`: queue a text message through the API.
func sendCommand(stdout io.Writer) *cobra.Command {
	var f apiFlags
	var session, to, idemKey string
	cmd := &cobra.Command{
		Use:   "send --to CHAT [--session NAME] TEXT...",
		Short: "Send a text message (over the API); TEXT - reads it from stdin",
		Long: "Queue a text message and print its id and status (queued); follow it with `wagate events`.\n" +
			"Without --session the tenant's route policy picks the number. --idempotency-key makes a retry\n" +
			"of the same command return the first message instead of sending it twice.",
		Example: "  wagate send --session sales --to 15551234567 Hello from wagate\n" +
			"  echo 'Your code is 1234' | wagate send --to 15551234567@c.us -",
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if to == "" {
				return errors.New("--to is required: a phone number or chat id such as 15551234567@c.us")
			}
			text := strings.Join(args, " ")
			if text == "-" {
				b, err := io.ReadAll(io.LimitReader(c.InOrStdin(), 1<<20))
				if err != nil {
					return fmt.Errorf("reading stdin: %w", err)
				}
				text = strings.TrimRight(string(b), "\n")
			}
			in := client.SendTextBody{ChatId: to, Text: text}
			if session != "" {
				in.Session = &session
			}
			var editors []client.RequestEditorFn
			if idemKey != "" {
				editors = append(editors, client.WithIdempotencyKey(idemKey))
			}
			r, err := call(c, &f, func(ctx context.Context, cl *client.ClientWithResponses) (*client.PostApiSendTextResponse, error) {
				return cl.PostApiSendTextWithResponse(ctx, in, editors...)
			})
			if err != nil {
				return err
			}
			a := r.JSON202
			if f.json {
				return printJSONTo(stdout, a)
			}
			return table(stdout, []string{"ID", "STATUS", "SESSION", "CHAT"}, [][]string{{a.Id, a.Status, a.Session, a.ChatId}})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&session, "session", "", "session to send from (default: the route policy picks)")
	cmd.Flags().StringVar(&to, "to", "", "recipient: digits, @c.us, @s.whatsapp.net, @g.us, @lid or @newsletter id")
	cmd.Flags().StringVar(&idemKey, "idempotency-key", "", "Idempotency-Key header: the same key and text send once")
	return cmd
}
