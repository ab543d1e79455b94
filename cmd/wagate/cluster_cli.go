package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/cluster/outq"
)

// clusterStatus is what `wagate cluster status` prints: the shared buckets' view of the
// cluster and the send queue's backlog per session.
type clusterStatus struct {
	cluster.Status
	Queue []outq.Lag `json:"queue"`
}

// clusterCommand is `wagate cluster ...`: read-only views of a cluster's NATS account.
func clusterCommand(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect a cluster's shared state in NATS JetStream (docs/cluster.md)",
	}
	var url string
	var asJSON bool
	var timeout time.Duration
	status := &cobra.Command{
		Use:   "status",
		Short: "Print the live nodes, every session's lease and the send queue's backlog per session",
		Example: "  wagate cluster status --nats nats://10.0.0.5:4222\n" +
			"  wagate cluster status --json | jq '.leases[] | select(.node == \"gw-2\")'",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if v, ok := os.LookupEnv("WAGATE_NATS_URL"); ok && !cmd.Flags().Changed("nats") {
				url = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			st, err := readClusterStatus(ctx, url, timeout)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printClusterStatus(stdout, st, time.Now())
			return nil
		},
	}
	status.Flags().StringVar(&url, "nats", "nats://127.0.0.1:4222", "NATS server(s) of the cluster, comma-separated (env WAGATE_NATS_URL)")
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	status.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	cmd.AddCommand(status)
	return cmd
}

func readClusterStatus(ctx context.Context, url string, timeout time.Duration) (clusterStatus, error) {
	var st clusterStatus
	nc, err := nats.Connect(url, nats.Timeout(timeout), nats.Name("wagate cluster status"))
	if err != nil {
		return st, fmt.Errorf("cluster status: connecting to %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return st, fmt.Errorf("cluster status: %w", err)
	}
	if st.Status, err = cluster.ReadStatus(ctx, js); err != nil {
		return st, fmt.Errorf("cluster status: %w", err)
	}
	if st.Queue, err = outq.ReadLags(ctx, js); err != nil {
		return st, fmt.Errorf("cluster status: %w", err)
	}
	if st.Nodes == nil {
		st.Nodes = []cluster.NodeStatus{}
	}
	if st.Leases == nil {
		st.Leases = []cluster.LeaseStatus{}
	}
	if st.Queue == nil {
		st.Queue = []outq.Lag{}
	}
	return st, nil
}

func printClusterStatus(w io.Writer, st clusterStatus, now time.Time) {
	ago := func(t time.Time) string { return now.Sub(t).Round(100*time.Millisecond).String() + " ago" }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NODES (%d)\tCAPACITY\tSESSIONS\tHEARTBEAT\n", len(st.Nodes))
	for _, n := range st.Nodes {
		capacity := "unlimited"
		if n.Capacity > 0 {
			capacity = fmt.Sprint(n.Capacity)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", n.ID, capacity, n.Sessions, ago(n.Heartbeat))
	}
	fmt.Fprintf(tw, "\nLEASES (%d)\tNODE\tTOKEN\tRENEWED\n", len(st.Leases))
	for _, l := range st.Leases {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", l.Key, l.Node, l.Token, ago(l.Renewed))
	}
	fmt.Fprintf(tw, "\nSEND QUEUE (%d sessions)\tWAITING\tIN FLIGHT\tREDELIVERED\n", len(st.Queue))
	for _, q := range st.Queue {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", q.Key, q.Waiting, q.InFlight, q.Redelivered)
	}
	tw.Flush()
}
