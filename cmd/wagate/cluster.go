package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/cluster"
	"github.com/wagate/wagate/core/cluster/eventfan"
	"github.com/wagate/wagate/core/cluster/forward"
	"github.com/wagate/wagate/core/cluster/outq"
	"github.com/wagate/wagate/core/cluster/relay"
	"github.com/wagate/wagate/core/cluster/statesync"
	"github.com/wagate/wagate/core/cluster/wamsync"
	"github.com/wagate/wagate/core/coalesce"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider/whatsmeow"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/store/wastore"
)

// clusterMode is a gateway's part in a cluster (docs/cluster.md, "How a node runs").
// It is built in the order of openCluster's steps and torn down by close in reverse:
//
//  1. join NATS (cluster.nats_url, or an embedded server);
//  2. open the shared state and hydrate this node's store from it (statesync), before
//     any service reads or writes;
//  3. open the send stream (outq) and the whatsmeow state bucket (wamsync);
//  4. once the services exist (openGateway): the node (leases) is started last, after the
//     session manager restored the records without starting any (start), and from then
//     on runs the sessions it holds through Start and Stop below.
type clusterMode struct {
	g     *gateway
	emb   *cluster.Embedded
	nc    *nats.Conn
	state *statesync.State
	wam   *wamsync.Store
	out   *outq.Queue
	node  *cluster.Node
	fan   *eventfan.Bridge
	fwd   *forward.Server

	intake *relay.Intake
	sink   *relay.Sink

	leaveOnce sync.Once

	// refresh takes other nodes' session records into the session manager, on a
	// goroutine of its own: Applied can be called from inside a commit of the session
	// manager itself (persist holds the session's lock through it), so a synchronous
	// Refresh of that session waited for itself and the session hung in its state.
	refresh *coalesce.Worker[[2]string, struct{}]
	// runsCtx is the parent of every run's context; close cancels it, for the runs
	// whose Handler.Stop never came (the node's loops did not stop within the
	// shutdown's time, so it stopped none of its sessions).
	runsCtx    context.Context
	cancelRuns context.CancelFunc

	mu   sync.Mutex
	runs map[cluster.Key]*clusterRun
}

// clusterRun is a session this node runs under its lease.
type clusterRun struct {
	cancel   context.CancelFunc // ends the consumption of its send stream
	consumed chan struct{}      // closed when the consumption returned
	replica  *wamsync.Replica   // its whatsmeow state's replication, nil for other providers
}

// newClusterMode is the cluster mode of g before anything is opened.
func newClusterMode(g *gateway) *clusterMode {
	c := &clusterMode{g: g, runs: map[cluster.Key]*clusterRun{}}
	c.runsCtx, c.cancelRuns = context.WithCancel(context.Background())
	c.refresh = coalesce.New(func(k [2]string, _ struct{}) {
		g.sessions.Refresh(k[0], k[1])
		c.Changed()
	})
	return c
}

// openCluster runs steps 1 to 3 (see clusterMode).
func openCluster(ctx context.Context, g *gateway) (c *clusterMode, err error) {
	cc := g.cfg.Cluster
	c = newClusterMode(g)
	defer func() {
		if err != nil {
			c.close(context.Background())
			c = nil
		}
	}()
	url := cc.NATSURL
	if cc.Embedded {
		host, port, err := splitHostPort(cc.EmbeddedListen)
		if err != nil {
			return nil, err
		}
		dir := cc.EmbeddedDir
		if dir == "" {
			dir = filepath.Join(g.cfg.Store.Dir, "nats")
		}
		if c.emb, err = cluster.StartEmbedded(cluster.EmbeddedOptions{Name: cc.NodeID, Dir: dir, Host: host, Port: port}); err != nil {
			return nil, err
		}
		url = c.emb.URL()
	}
	c.nc, err = nats.Connect(url, nats.Name("wagate "+cc.NodeID), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("cluster: connecting to %s: %w", url, err)
	}
	js, err := jetstream.New(c.nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	log := g.log.With("component", "cluster")
	// The sandbox's links are shared too, so that a sandbox session keeps its number
	// when it moves (the sandbox network itself is in each process).
	shared := append(slices.Clone(statesync.SharedPrefixes), store.PrefixSandboxLink)
	if c.state, err = statesync.Open(ctx, js, g.db, statesync.Options{
		Replicas: cc.Replicas, Prefixes: shared, Applied: c.applied, Log: log,
	}); err != nil {
		return nil, err
	}
	if err := c.state.Start(ctx); err != nil {
		return nil, fmt.Errorf("cluster: hydrating the shared state: %w", err)
	}
	if c.wam, err = wamsync.Open(ctx, js, wamsync.Options{Replicas: cc.Replicas}); err != nil {
		return nil, err
	}
	// The sink is built (relayTo) before anything is consumed.
	left := func(d outq.Delivery) { c.sink.Left(d) }
	if c.out, err = outq.Open(ctx, js, outq.Options{Replicas: cc.Replicas, AckWait: cc.LeaseTTL.D(), Left: left}); err != nil {
		return nil, err
	}
	return c, nil
}

// relayTo builds the send path on the node's queue: the API's intake, and the sink the
// dispatcher reports to.
func (c *clusterMode) relayTo(q *queue.Queue) {
	c.intake = relay.NewIntake(c.g.db, q, c.out)
	c.sink = relay.NewSink(q)
}

// start is step 4: events to and from the other nodes, requests forwarded to this node,
// then the node itself, which claims sessions from here on.
func (c *clusterMode) start(ctx context.Context) error {
	var err error
	if c.fan, err = eventfan.New(c.nc, c.g.cfg.Cluster.NodeID, c.g.bus); err != nil {
		return err
	}
	if c.fwd, err = forward.Serve(c.nc, c.g.cfg.Cluster.NodeID, c.g.api.Handler()); err != nil {
		return err
	}
	cc := c.g.cfg.Cluster
	moves := cc.RebalanceMoves
	if moves == 0 {
		moves = -1 // the config's 0 turns rebalancing off
	}
	c.node, err = cluster.NewNode(c.nc, cluster.Options{
		NodeID: cc.NodeID, Capacity: c.g.cfg.Sessions.Pool.MaxLive,
		LeaseTTL: cc.LeaseTTL.D(), RenewInterval: cc.RenewInterval.D(), SafetyMargin: cc.SafetyMargin.D(),
		RebalanceInterval: cc.RebalanceInterval.D(), RebalanceMoves: moves, Replicas: cc.Replicas,
		Wanted: c.wanted, Handler: c, Logger: c.g.log.With("component", "cluster"), Registerer: c.g.registry,
	})
	if err != nil {
		return err
	}
	return c.node.Start(ctx)
}

// tap is the bus tap in cluster mode: the webhook outbox, then the other nodes.
func (c *clusterMode) tap(env event.Envelope) {
	c.g.webhooks.Tap(env)
	if c.fan != nil {
		c.fan.Out(env)
	}
}

// wanted is every session whose desired state is running (cluster.Options.Wanted).
func (c *clusterMode) wanted() []cluster.Key {
	refs := c.g.sessions.Wanted()
	out := make([]cluster.Key, 0, len(refs))
	for _, r := range refs {
		if k, err := cluster.SessionKey(r.Tenant, r.Name); err == nil {
			out = append(out, k)
		}
	}
	return out
}

// Local is session.Placement's: whether this node holds the session's valid lease.
func (c *clusterMode) Local(tenant, name string) bool {
	k, err := cluster.SessionKey(tenant, name)
	if err != nil || c.node == nil {
		return false
	}
	l := c.node.Lease(k)
	return l != nil && l.Valid()
}

// lapsed is cluster.Node.Lapsed for a session.
func (c *clusterMode) lapsed(tenant, name string) bool {
	k, err := cluster.SessionKey(tenant, name)
	if err != nil || c.node == nil {
		return false
	}
	return c.node.Lapsed(k)
}

// Changed is session.Placement's: reconcile now.
func (c *clusterMode) Changed() {
	if c.node != nil {
		c.node.Kick()
	}
}

// locate is the API's OwnerLocator.
func (c *clusterMode) locate(tenant, name string) (node string, local bool) {
	k, err := cluster.SessionKey(tenant, name)
	if err != nil || c.node == nil {
		return "", true
	}
	switch owner := c.node.Owner(k); {
	case owner == c.node.ID():
		return "", true
	case owner != "":
		return owner, false
	}
	if c.g.sessions.Desired(tenant, name) {
		return "", false // it should run, and runs nowhere yet
	}
	return "", true
}

// forwardTo is the API's Forwarder.
func (c *clusterMode) forwardTo(ctx context.Context, node string, r forward.Request) (forward.Response, error) {
	return forward.Call(ctx, c.nc, node, r)
}

// peers lists the other live nodes.
func (c *clusterMode) peers() []string {
	if c.node == nil {
		return nil
	}
	var out []string
	for _, id := range c.node.Members() {
		if id != c.node.ID() {
			out = append(out, id)
		}
	}
	return out
}

// ready is the cluster's part of /ready.
func (c *clusterMode) ready() error {
	switch {
	case c.node == nil || !c.state.Ready():
		return errors.New("cluster: joining (shared state not hydrated yet)")
	case c.nc.Status() != nats.CONNECTED:
		return fmt.Errorf("cluster: NATS connection %s", c.nc.Status())
	}
	for _, id := range c.node.Members() {
		if id == c.node.ID() {
			return nil
		}
	}
	return errors.New("cluster: this node's heartbeat is not in the membership bucket")
}

// applied takes the keys the mirror took from other nodes into the services' memory.
func (c *clusterMode) applied(keys [][]byte) {
	g := c.g
	if g.tenants != nil {
		g.tenants.Forget(keys)
	}
	if g.webhooks != nil {
		g.webhooks.Forget(keys)
	}
	if g.policies != nil {
		g.policies.Forget(keys)
	}
	var sessions [][2]string
	for _, k := range keys {
		p, parts := store.KeyParts(k)
		if p == store.PrefixSession && len(parts) == 2 && g.sessions != nil {
			sessions = append(sessions, [2]string{parts[0], parts[1]})
		}
	}
	if len(sessions) > 0 {
		c.refresh.Add(func(pending map[[2]string]struct{}) {
			for _, k := range sessions {
				pending[k] = struct{}{}
			}
		})
	}
}

// Start is cluster.Handler's: this node took the session's lease. The shared state is
// fenced for it, its whatsmeow state hydrated and replicated, what this node's queue
// still held for it handed back to the stream (which redelivers what was not
// acknowledged), the provider started, and its send stream consumed until the lease
// ends or moves.
func (c *clusterMode) Start(ctx context.Context, l *cluster.Lease) error {
	tenant, name := l.Key().Split()
	if err := c.state.Claim(ctx, l.Fence()); err != nil {
		return err
	}
	run := &clusterRun{consumed: make(chan struct{})}
	if in, err := c.g.sessions.Get(ctx, tenant, name); err == nil && in.Provider == whatsmeow.Name {
		rep, err := c.wam.Claim(ctx, l.Fence())
		if err != nil {
			c.state.Release(l.Key())
			return err
		}
		if _, err := rep.Hydrate(ctx, c.g.db); err != nil {
			rep.Close()
			c.state.Release(l.Key())
			return err
		}
		if err := wastore.SetReplicator(c.g.db, tenant, name, rep); err != nil {
			rep.Close()
			c.state.Release(l.Key())
			return err
		}
		run.replica = rep
	}
	if _, err := c.g.dispatch.Handover(tenant, name); err != nil {
		c.g.log.Warn("cluster: clearing the local queue of a claimed session", "tenant", tenant, "session", name, "err", err)
	}
	// The consumption ends when Stop says so, after the provider stopped, not when the
	// lease does: the message in hand then has its outcome (sent, or not sent), and a
	// lease given up acknowledges or gives it back at once (outq, "Fenced"). Consume
	// itself hands nothing more over once the lease is not valid.
	var runCtx context.Context
	runCtx, run.cancel = context.WithCancel(c.runsCtx)
	c.mu.Lock()
	c.runs[l.Key()] = run
	c.mu.Unlock()
	if err := c.g.sessions.RunLocal(ctx, tenant, name); err != nil {
		// FAILED with its reason, retried by the health monitor while the lease lasts.
		c.g.log.Warn("cluster: starting a claimed session", "tenant", tenant, "session", name, "err", err)
	}
	go func() {
		defer close(run.consumed)
		if err := c.out.Consume(runCtx, l.Key(), l, c.sink.Handler(tenant)); err != nil && runCtx.Err() == nil {
			c.g.log.Error("cluster: consuming a session's send stream", "tenant", tenant, "session", name, "err", err)
		}
	}()
	return nil
}

// Stop is cluster.Handler's: the lease ended or is being given up. The provider stops
// first (so nothing more is sent), then the stream's consumption ends (the message
// waiting for its send goes back unsent, or is acknowledged if it was sent), then the
// session's fence and replica are let go.
//
// ctx ends with the lease, and a node resumed after a pause (SIGSTOP, a VM frozen) past
// its lease gets a ctx already done: the session must be stopped here all the same, so
// the teardown gets the sessions' stop timeout whenever the lease leaves less. Nothing
// is sent meanwhile: a send checks the lease first (session.Manager.Send, the fence).
func (c *clusterMode) Stop(ctx context.Context, key cluster.Key, reason cluster.StopReason) {
	if d := c.g.cfg.Sessions.StopTimeout.D(); d > 0 {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) < d {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), d)
			defer cancel()
		}
	}
	tenant, name := key.Split()
	c.mu.Lock()
	run := c.runs[key]
	delete(c.runs, key)
	c.mu.Unlock()
	c.g.sessions.Suspend(ctx, tenant, name)
	if run != nil {
		run.cancel()
		select {
		case <-run.consumed:
		case <-ctx.Done():
		}
	}
	c.state.Release(key)
	if run != nil && run.replica != nil {
		_ = wastore.SetReplicator(c.g.db, tenant, name, nil)
		run.replica.Close()
	}
	c.g.log.Info("cluster: session stopped here", "tenant", tenant, "session", name, "reason", reason.String())
}

// leave is the graceful part of shutdown: sessions stopped and leases released, so that
// the other nodes take them at once.
func (c *clusterMode) leave(ctx context.Context) {
	c.leaveOnce.Do(func() {
		if c.node != nil {
			if err := c.node.Close(ctx); err != nil {
				c.g.log.Warn("cluster: leaving", "err", err)
			}
		}
	})
}

// close releases what openCluster and start opened, in reverse.
func (c *clusterMode) close(ctx context.Context) {
	c.leave(ctx)
	c.cancelRuns()
	c.refresh.Close()
	if c.fwd != nil {
		_ = c.fwd.Close()
	}
	if c.fan != nil {
		_ = c.fan.Close()
	}
	if c.state != nil {
		c.state.Close()
	}
	if c.nc != nil {
		c.nc.Close()
	}
	if c.emb != nil {
		c.emb.Shutdown()
	}
}

// clusterNodeID is this node's id in cluster mode, "" on a single node.
func clusterNodeID(cfg config.Config) string {
	if !cfg.Cluster.Enabled {
		return ""
	}
	return cfg.Cluster.NodeID
}

func splitHostPort(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("cluster.embedded_listen: %w", err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("cluster.embedded_listen %q: the port is not a number", hp)
	}
	return host, port, nil
}
