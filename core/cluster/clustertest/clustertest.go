// Package clustertest holds the test helpers of the cluster packages and of their users:
// an embedded JetStream server and connections to it, cleaned up with the test.
package clustertest

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wagate/wagate/core/cluster"
)

// Solo starts one embedded nats-server with JetStream, its data in a temp dir, on a
// free 127.0.0.1 port; it is shut down when the test ends (Shutdown may be called
// earlier too, to test a server going away).
func Solo(t testing.TB) *cluster.Embedded {
	t.Helper()
	srv, err := cluster.StartEmbedded(cluster.EmbeddedOptions{Name: "solo", Dir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// Connect connects to url; the connection is closed when the test ends.
func Connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}
