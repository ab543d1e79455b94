package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EmbeddedOptions configures a nats-server with JetStream run inside the process: the
// first node of a cluster, a single-node trial, or a test.
type EmbeddedOptions struct {
	// Name is the server's name, unique in its cluster. Required.
	Name string
	// Dir holds JetStream's data (streams and KV buckets). Required.
	Dir string
	// Host is the interface the client and cluster listeners bind. Default 127.0.0.1.
	Host string
	// Port is the client port; -1 picks a free one. 0 means the NATS default, 4222.
	Port int
	// ClusterName names the cluster; empty runs a standalone server.
	ClusterName string
	// ClusterPort is the route listener's port, with ClusterName; -1 picks a free one.
	ClusterPort int
	// Routes are the peers' route URLs (nats://host:port), this server's own may be in the list.
	Routes []string
}

// Embedded is a running embedded nats-server.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts a nats-server with JetStream and waits until it accepts clients.
// It installs no signal handlers and logs nothing. Call Shutdown to stop it.
func StartEmbedded(o EmbeddedOptions) (*Embedded, error) {
	if o.Name == "" || o.Dir == "" {
		return nil, fmt.Errorf("cluster: embedded nats-server needs a name and a data dir")
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	opts := &server.Options{
		ServerName: o.Name,
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.Dir,
		NoLog:      true,
		NoSigs:     true,
	}
	if o.ClusterName != "" {
		opts.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: o.Host, Port: o.ClusterPort}
		for _, r := range o.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("cluster: route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded nats-server %s: %w", o.Name, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("cluster: embedded nats-server %s did not accept clients within 10s", o.Name)
	}
	return &Embedded{srv: srv}, nil
}

// URL is the client URL (nats://host:port).
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Shutdown stops the server and waits until it has stopped.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// LocalCluster is n embedded nats-servers forming one JetStream cluster on 127.0.0.1,
// for tests and local trials. Each server keeps its data in <dir>/<name>, so a server
// shut down with Kill comes back with its data by Restart.
type LocalCluster struct {
	Servers []*Embedded // nil for a server that is down
	opts    []EmbeddedOptions
}

// StartLocalCluster starts n servers (n >= 1) named n1..nN on free loopback ports and
// waits until JetStream has a meta leader, or ctx ends.
func StartLocalCluster(ctx context.Context, dir string, n int) (*LocalCluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("cluster: a local cluster needs at least one server")
	}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var routes []string
	for i := range n {
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(ports[n+i]))
	}
	lc := &LocalCluster{Servers: make([]*Embedded, n)}
	for i := range n {
		o := EmbeddedOptions{
			Name: "n" + strconv.Itoa(i+1), Dir: filepath.Join(dir, "n"+strconv.Itoa(i+1)),
			Port: ports[i],
		}
		if n > 1 {
			o.ClusterName, o.ClusterPort, o.Routes = "wagate", ports[n+i], routes
		}
		lc.opts = append(lc.opts, o)
	}
	for i := range n {
		if err := lc.Restart(i); err != nil {
			lc.Shutdown()
			return nil, err
		}
	}
	if err := lc.WaitReady(ctx); err != nil {
		lc.Shutdown()
		return nil, err
	}
	return lc, nil
}

// URLs are the client URLs of the servers that are up.
func (lc *LocalCluster) URLs() []string {
	var out []string
	for _, s := range lc.Servers {
		if s != nil {
			out = append(out, s.URL())
		}
	}
	return out
}

// URL is server i's client URL, up or down.
func (lc *LocalCluster) URL(i int) string {
	return "nats://127.0.0.1:" + strconv.Itoa(lc.opts[i].Port)
}

// Kill shuts server i down, as a crash of its machine would (its data stays on disk).
func (lc *LocalCluster) Kill(i int) {
	if s := lc.Servers[i]; s != nil {
		s.Shutdown()
		lc.Servers[i] = nil
	}
}

// Restart starts server i again on its ports and data dir.
func (lc *LocalCluster) Restart(i int) error {
	if lc.Servers[i] != nil {
		return nil
	}
	s, err := StartEmbedded(lc.opts[i])
	if err != nil {
		return err
	}
	lc.Servers[i] = s
	return nil
}

// WaitReady polls until JetStream answers account requests through every server that is
// up, that is until the cluster has a meta leader.
func (lc *LocalCluster) WaitReady(ctx context.Context) error {
	for _, u := range lc.URLs() {
		nc, err := nats.Connect(u, nats.Timeout(2*time.Second))
		if err != nil {
			return fmt.Errorf("cluster: connecting to %s: %w", u, err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return err
		}
		for {
			actx, cancel := context.WithTimeout(ctx, time.Second)
			_, err = js.AccountInfo(actx)
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				nc.Close()
				return fmt.Errorf("cluster: JetStream not ready at %s: %w", u, errors.Join(err, ctx.Err()))
			}
			time.Sleep(50 * time.Millisecond) // poll interval
		}
		nc.Close()
	}
	return nil
}

// Shutdown stops every server that is up.
func (lc *LocalCluster) Shutdown() {
	for i := range lc.Servers {
		lc.Kill(i)
	}
}

// freePorts reserves n distinct free loopback ports by listening on them, then releases them.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cluster: reserving a port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
