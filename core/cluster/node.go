package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// The JetStream KV buckets every node shares (docs/cluster.md).
const (
	// LeaseBucket maps "<tenant>.<session>" to the node that owns the session.
	LeaseBucket = "wagate_leases"
	// NodeBucket maps a node id to its heartbeat (capacity, start time).
	NodeBucket = "wagate_nodes"
)

// Handler runs the sessions a node owns. The node calls Stop exactly once for every
// Start it called, whatever Start returned, and never both at once for one session.
type Handler interface {
	// Start starts the session under l and returns once it runs (not for its lifetime).
	// l.Context() is canceled when the lease ends; every write and provider call of the
	// session carries l.Fence() and gives up when l.Valid() is false.
	Start(ctx context.Context, l *Lease) error
	// Stop stops the session. It must return before ctx's deadline, the earliest the
	// leases bucket may hand the session to another node: SafetyMargin is its budget.
	Stop(ctx context.Context, key Key, reason StopReason)
}

// Options configure a Node. Zero durations take the defaults documented on each field.
type Options struct {
	// NodeID names this node, unique in the cluster: letters, digits, '-' and '_'. Required.
	NodeID string
	// Capacity is how many sessions this node may run (sessions.pool.max_live); 0 means
	// no limit, weighted as 1000 when sessions are spread.
	Capacity int
	// LeaseTTL is how long a lease lives without renewal. Every node of a cluster must
	// use the same; the first node to create the buckets sets it. Default 10s, at least 1s.
	LeaseTTL time.Duration
	// RenewInterval is how often leases and the heartbeat are renewed. Default LeaseTTL/3.
	RenewInterval time.Duration
	// SafetyMargin is how long before the lease's end the node stops a session it could
	// not renew: the budget of Handler.Stop. Default LeaseTTL/5.
	SafetyMargin time.Duration
	// OpTimeout bounds one KV operation. Default RenewInterval/2.
	OpTimeout time.Duration
	// ReconcileInterval is how often the node compares the wanted sessions with the
	// leases (it also does on every lease or membership change). Default 1s.
	ReconcileInterval time.Duration
	// ClaimGrace is how long a session may stay unowned while placement gives it to
	// another node before this one claims it anyway. Default RenewInterval.
	ClaimGrace time.Duration
	// Settle is how long a starting node waits before claiming, so that peers started
	// at the same time are seen and sessions spread. Default RenewInterval.
	Settle time.Duration
	// RebalanceInterval is how often an overloaded node hands sessions to an underloaded
	// one. Default 10s.
	RebalanceInterval time.Duration
	// RebalanceMoves is the most sessions a node hands over per RebalanceInterval.
	// Default 2; 0 takes the default, a negative value disables rebalancing.
	RebalanceMoves int
	// Replicas is the replica count of the buckets: 1, or 3 in a 3-node cluster. Default 1.
	Replicas int
	// Wanted lists the sessions that should run somewhere in the cluster. Required.
	Wanted func() []Key
	// Handler starts and stops the sessions this node owns. Required.
	Handler Handler
	// Logger receives the node's logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the node's metrics (wagate_cluster_*); nil registers nothing.
	Registerer prometheus.Registerer
}

func (o *Options) setDefaults() error {
	if !keyPart(o.NodeID) {
		return fmt.Errorf("cluster: node id %q: letters, digits, '-' or '_' required", o.NodeID)
	}
	if o.Wanted == nil || o.Handler == nil {
		return errors.New("cluster: Options.Wanted and Options.Handler are required")
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 10 * time.Second
	}
	if o.LeaseTTL < time.Second {
		return fmt.Errorf("cluster: lease ttl %s is below JetStream's 1s minimum", o.LeaseTTL)
	}
	if o.RenewInterval == 0 {
		o.RenewInterval = o.LeaseTTL / 3
	}
	if o.SafetyMargin == 0 {
		o.SafetyMargin = o.LeaseTTL / 5
	}
	if o.RenewInterval+o.SafetyMargin >= o.LeaseTTL {
		return fmt.Errorf("cluster: renew interval %s plus safety margin %s must be below the lease ttl %s",
			o.RenewInterval, o.SafetyMargin, o.LeaseTTL)
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = o.RenewInterval / 2
	}
	if o.ReconcileInterval == 0 {
		o.ReconcileInterval = time.Second
	}
	if o.ClaimGrace == 0 {
		o.ClaimGrace = o.RenewInterval
	}
	if o.Settle == 0 {
		o.Settle = o.RenewInterval
	}
	if o.RebalanceInterval == 0 {
		o.RebalanceInterval = 10 * time.Second
	}
	if o.RebalanceMoves == 0 {
		o.RebalanceMoves = 2
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("node", o.NodeID)
	return nil
}

// owner is one lease as the node's watch of the leases bucket saw it last.
type owner struct {
	node  string
	token uint64
	rev   uint64
}

// Node is one gateway process's part in the cluster: it heartbeats in the node bucket,
// claims, renews and releases session leases, and starts and stops the sessions it owns
// through the Handler.
//
//	n, err := cluster.NewNode(nc, cluster.Options{NodeID: "gw1", Wanted: wanted, Handler: h})
//	if err := n.Start(ctx); err != nil { ... }
//	defer n.Close(context.Background()) // stops the sessions, releases the leases
type Node struct {
	opts    Options
	metrics *metrics
	js      jetstream.JetStream
	leases  jetstream.KeyValue
	nodes   jetstream.KeyValue
	log     *slog.Logger

	ctx     context.Context
	cancel  context.CancelFunc
	loops   sync.WaitGroup // watch, renew, watchdog, reconcile
	workers sync.WaitGroup // Start and Stop calls
	started time.Time
	kick    chan struct{}

	// gate is taken for reading by every loop step; pausing the node (tests) takes it
	// for writing, which freezes the node as SIGSTOP would.
	gate sync.RWMutex

	mu            sync.Mutex
	held          map[Key]*Lease
	view          map[Key]owner
	members       map[string]member
	unowned       map[Key]time.Time // since when a wanted session has been seen unowned
	lastRebalance time.Time
	// stopping counts, per session, the ended leases whose Handler.Stop has not
	// returned yet. A session is not claimed again while its count is above zero: the
	// Handler sees Stop of the old lease before Start of the new one, never after.
	stopping map[Key]int
	// lapsed holds the sessions whose last lease here ended without the node giving it
	// up (expired, or taken by another node), until the node claims them again.
	lapsed map[Key]struct{}
}

// NewNode checks opts and returns a node on nc (which the caller keeps owning). It does
// no I/O; Start joins the cluster.
func NewNode(nc *nats.Conn, opts Options) (*Node, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n := &Node{
		opts: opts, js: js, log: opts.Logger, kick: make(chan struct{}, 1),
		held: map[Key]*Lease{}, view: map[Key]owner{}, members: map[string]member{}, unowned: map[Key]time.Time{},
		stopping: map[Key]int{}, lapsed: map[Key]struct{}{},
	}
	n.metrics = newMetrics(n, opts.Registerer)
	return n, nil
}

// ID is the node's id.
func (n *Node) ID() string { return n.opts.NodeID }

// Start creates or binds the buckets (retrying while the JetStream cluster forms, until
// ctx ends), heartbeats, loads the current leases and members, and starts the loops.
func (n *Node) Start(ctx context.Context) error {
	var err error
	if n.leases, err = n.bucket(ctx, LeaseBucket, "session leases: <tenant>.<session> -> node"); err != nil {
		return err
	}
	if n.nodes, err = n.bucket(ctx, NodeBucket, "cluster members: node id -> heartbeat"); err != nil {
		return err
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.started = time.Now()
	if err := n.heartbeat(ctx); err != nil {
		n.cancel()
		return err
	}
	leasesReady, nodesReady := make(chan struct{}), make(chan struct{})
	if err := n.watch(n.leases, leasesReady, n.onLease, n.pruneLeases); err != nil {
		n.cancel()
		return err
	}
	if err := n.watch(n.nodes, nodesReady, n.onMember, n.pruneMembers); err != nil {
		n.cancel()
		n.loops.Wait()
		return err
	}
	for _, ch := range []chan struct{}{leasesReady, nodesReady} {
		select {
		case <-ch:
		case <-ctx.Done():
			n.cancel()
			n.loops.Wait()
			return fmt.Errorf("cluster: loading the buckets: %w", ctx.Err())
		}
	}
	n.loop(n.opts.RenewInterval, nil, n.renew)
	n.loop(n.watchdogPeriod(), nil, n.watchdog)
	n.loop(n.opts.ReconcileInterval, n.kick, n.reconcile)
	n.log.Info("cluster node started", "lease_ttl", n.opts.LeaseTTL, "capacity", n.opts.Capacity)
	return nil
}

// bucketHistory is how many revisions of a key the buckets keep (each for at most the
// TTL): enough for an operator's `nats kv history` to show a session's recent owners,
// and for a follower of the stream to see every hand-over.
const bucketHistory = 10

// bucket binds the bucket, creating it when missing.
func (n *Node) bucket(ctx context.Context, name, desc string) (jetstream.KeyValue, error) {
	return ensureBucket(ctx, n.js, name, desc, n.opts.LeaseTTL, n.opts.Replicas)
}

// ensureBucket binds or creates a bucket whose entries live ttl unless rewritten, and
// refuses one whose TTL differs: every node must agree on when a lease ends. It retries
// while the JetStream cluster is still electing its leader, until ctx ends.
func ensureBucket(ctx context.Context, js jetstream.JetStream, name, desc string, ttl time.Duration, replicas int) (jetstream.KeyValue, error) {
	for {
		kv, err := js.KeyValue(ctx, name)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket: name, Description: desc, History: bucketHistory, TTL: ttl,
				LimitMarkerTTL: ttl, Storage: jetstream.FileStorage, Replicas: replicas,
			})
			if errors.Is(err, jetstream.ErrBucketExists) {
				continue // another node created it first
			}
		}
		if err == nil {
			st, serr := kv.Status(ctx)
			if serr != nil {
				err = serr
			} else if st.TTL() != ttl {
				return nil, fmt.Errorf("cluster: bucket %s has ttl %s, this node's lease ttl is %s; every node must use the same",
					name, st.TTL(), ttl)
			} else {
				return kv, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: binding bucket %s: %w", name, errors.Join(err, ctx.Err()))
		case <-time.After(100 * time.Millisecond): // the JetStream cluster may still be electing
		}
	}
}

func (n *Node) watchdogPeriod() time.Duration {
	return max(min(n.opts.SafetyMargin/4, 250*time.Millisecond), 10*time.Millisecond)
}

// loop runs step every period, and whenever kick fires, until the node stops.
func (n *Node) loop(period time.Duration, kick <-chan struct{}, step func()) {
	n.loops.Add(1)
	go func() {
		defer n.loops.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-n.ctx.Done():
				return
			case <-t.C:
			case <-kick:
			}
			n.gate.RLock()
			if n.ctx.Err() == nil {
				step()
			}
			n.gate.RUnlock()
		}
	}()
}

func (n *Node) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(n.ctx, n.opts.OpTimeout)
}

// watch follows a bucket from its current content on; ready closes once that is
// loaded. A watch that delivers nothing for two renew intervals is restarted: this
// node's own heartbeat and renewals land there every interval, so silence means the
// consumer behind the watch died (its server went down) and JetStream's own detection
// would take longer. A restarted watch reloads the bucket and prunes what is gone.
func (n *Node) watch(kv jetstream.KeyValue, ready chan struct{}, on func(jetstream.KeyValueEntry), prune func(seen map[string]bool)) error {
	w, err := kv.WatchAll(n.ctx)
	if err != nil {
		return fmt.Errorf("cluster: watching %s: %w", kv.Bucket(), err)
	}
	stall := 2 * n.opts.RenewInterval
	n.loops.Add(1)
	go func() {
		defer n.loops.Done()
		first := true
		for {
			seen := map[string]bool{}
			loading := true
			timer := time.NewTimer(stall)
		follow:
			for {
				select {
				case <-n.ctx.Done():
					timer.Stop()
					stopWatch(w)
					return
				case <-timer.C:
					n.log.Warn("bucket watch silent, restarting it", "bucket", kv.Bucket(), "silent_for", stall)
					n.metrics.restarts.Inc()
					break follow
				case e, ok := <-w.Updates():
					if !ok {
						break follow
					}
					timer.Reset(stall)
					n.gate.RLock()
					if e == nil {
						if !first {
							prune(seen)
						}
						loading = false
					} else {
						if loading {
							seen[e.Key()] = true
						}
						on(e)
					}
					n.gate.RUnlock()
					if e == nil && first {
						first = false
						close(ready)
					}
					select {
					case n.kick <- struct{}{}:
					default:
					}
				}
			}
			timer.Stop()
			stopWatch(w)
			for {
				if w, err = kv.WatchAll(n.ctx); err == nil {
					break
				}
				select {
				case <-n.ctx.Done():
					return
				case <-time.After(100 * time.Millisecond): // retry pace while the server is away
				}
			}
		}
	}()
	return nil
}

// stopWatch stops w without waiting. Stopping a watch deletes its consumer with a
// request that, when the consumer's server is gone, waits for nats.go's 5 s request
// timeout: waiting would hold a restarting watch (and the node's Close) for as long.
// The consumer is ephemeral, so the server drops it by itself if the request is lost.
func stopWatch(w jetstream.KeyWatcher) {
	go func() { _ = w.Stop() }()
}

func (n *Node) pruneLeases(seen map[string]bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k := range n.view {
		if !seen[string(k)] {
			delete(n.view, k)
		}
	}
}

func (n *Node) pruneMembers(seen map[string]bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id := range n.members {
		if !seen[id] {
			delete(n.members, id)
		}
	}
}

func (n *Node) onLease(e jetstream.KeyValueEntry) {
	k := Key(e.Key())
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(n.view, k)
		return
	}
	v, err := decodeLease(e.Value(), e.Revision())
	if err != nil {
		n.log.Warn("unreadable lease", "key", k, "err", err)
		return
	}
	n.view[k] = owner{node: v.Node, token: v.Token, rev: e.Revision()}
	// Another node's claim of a session held here proves the lease lost; renewals
	// would find out too, later.
	if l, ok := n.held[k]; ok && v.Token != l.token {
		n.loseLocked(l, StopLost)
	}
}

func (n *Node) onMember(e jetstream.KeyValueEntry) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(n.members, e.Key())
		return
	}
	var m member
	if err := json.Unmarshal(e.Value(), &m); err != nil || m.ID != e.Key() {
		n.log.Warn("unreadable member", "key", e.Key(), "err", err)
		return
	}
	n.members[m.ID] = m
}

func (n *Node) heartbeat(ctx context.Context) error {
	b, _ := json.Marshal(member{ID: n.opts.NodeID, Capacity: n.opts.Capacity})
	ctx, cancel := context.WithTimeout(ctx, n.opts.OpTimeout)
	defer cancel()
	if _, err := n.nodes.Put(ctx, n.opts.NodeID, b); err != nil {
		return fmt.Errorf("cluster: heartbeat of %s: %w", n.opts.NodeID, err)
	}
	return nil
}

// renew heartbeats and renews every valid lease, in parallel.
func (n *Node) renew() {
	if err := n.heartbeat(n.ctx); err != nil {
		n.log.Warn("heartbeat failed", "err", err)
	}
	n.mu.Lock()
	ls := make([]*Lease, 0, len(n.held))
	for _, l := range n.held {
		ls = append(ls, l)
	}
	n.mu.Unlock()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, l := range ls {
		if !l.Valid() {
			continue // the watchdog stops it
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			n.renewOne(l)
		}()
	}
	wg.Wait()
}

func (n *Node) renewOne(l *Lease) {
	b, _ := json.Marshal(leaseValue{Node: n.opts.NodeID, Token: l.token})
	until := time.Now().Add(n.opts.OpTimeout)
	if d := l.Deadline(); d.Before(until) {
		until = d
	}
	ctx, cancel := context.WithDeadline(n.ctx, until)
	defer cancel()
	sent := time.Now()
	rev, err := n.leases.Update(ctx, string(l.key), b, l.revision())
	switch {
	case err == nil:
		if !l.renewed(rev, sent, n.opts.SafetyMargin) {
			// The session was stopped meanwhile: give the fresh revision up at once.
			dctx, dcancel := n.opCtx()
			_ = n.leases.Delete(dctx, string(l.key), jetstream.LastRevision(rev))
			dcancel()
		}
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound),
		errors.Is(err, jetstream.ErrKeyDeleted), isWrongLastSeq(err):
		n.lose(l, StopLost)
	case n.ctx.Err() != nil: // closing
	default:
		n.metrics.event(eventRenewFailed)
		n.log.Warn("lease renewal failed", "key", l.key, "err", err, "deadline", time.Until(l.Deadline()))
	}
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// watchdog stops the sessions whose lease deadline passed without a renewal.
func (n *Node) watchdog() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range n.held {
		if errors.Is(l.Err(), ErrLeaseExpired) {
			n.loseLocked(l, StopExpired)
		}
	}
}

func (n *Node) lose(l *Lease, reason StopReason) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.loseLocked(l, reason)
}

// loseLocked ends l and stops its session in the background.
func (n *Node) loseLocked(l *Lease, reason StopReason) {
	if !l.end(reason.err()) {
		return
	}
	if reason == StopExpired {
		n.metrics.event(eventExpired)
	} else {
		n.metrics.event(eventLost)
	}
	if n.held[l.key] == l {
		delete(n.held, l.key)
	}
	n.lapsed[l.key] = struct{}{}
	n.log.Warn("session lease ended", "key", l.key, "token", l.token, "reason", reason)
	n.stopping[l.key]++
	n.workers.Add(1)
	go func() {
		defer n.workers.Done()
		n.stop(l, reason)
		n.stopped(l.key)
	}()
}

// stopped records that one ended lease of k has been stopped.
func (n *Node) stopped(k Key) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopping[k]--; n.stopping[k] <= 0 {
		delete(n.stopping, k)
	}
}

// stop calls Handler.Stop once, if Start was called.
func (n *Node) stop(l *Lease, reason StopReason) {
	l.run.Lock()
	defer l.run.Unlock()
	if l.stopped {
		return
	}
	l.stopped = true
	if !l.startCalled {
		return
	}
	l.mu.Lock()
	expiry := l.expiry
	l.mu.Unlock()
	ctx, cancel := context.WithDeadline(context.Background(), expiry)
	defer cancel()
	n.opts.Handler.Stop(ctx, l.key, reason)
}

// start calls Handler.Start unless the lease already ended.
func (n *Node) start(l *Lease) {
	l.run.Lock()
	if l.stopped || !l.Valid() {
		l.run.Unlock()
		return
	}
	l.startCalled = true
	err := n.opts.Handler.Start(l.ctx, l)
	l.run.Unlock()
	if err != nil {
		n.log.Warn("session start failed, releasing its lease", "key", l.key, "err", err)
		n.release(l)
	}
}

// release stops l's session and deletes the lease, if it still holds it.
func (n *Node) release(l *Lease) {
	n.mu.Lock()
	if !l.end(ErrLeaseReleased) {
		n.mu.Unlock()
		return
	}
	n.metrics.event(eventReleased)
	if n.held[l.key] == l {
		delete(n.held, l.key)
	}
	if !l.Released() { // given up after its deadline: it had expired (Lease.end)
		n.lapsed[l.key] = struct{}{}
	}
	n.stopping[l.key]++
	n.mu.Unlock()
	n.stop(l, StopReleased)
	n.stopped(l.key)
	ctx, cancel := context.WithTimeout(context.Background(), n.opts.OpTimeout)
	defer cancel()
	if err := n.leases.Delete(ctx, string(l.key), jetstream.LastRevision(l.revision())); err != nil {
		n.log.Debug("lease release", "key", l.key, "err", err)
	}
}

// claim creates the lease of k; it reports whether this node won it.
func (n *Node) claim(k Key) bool {
	n.mu.Lock()
	busy := n.stopping[k] > 0
	n.mu.Unlock()
	if busy {
		return false // an older lease of k is still stopping here: claim it on a later pass
	}
	b, _ := json.Marshal(leaseValue{Node: n.opts.NodeID, Claimed: time.Now().UTC()})
	ctx, cancel := n.opCtx()
	defer cancel()
	sent := time.Now()
	rev, err := n.leases.Create(ctx, string(k), b)
	if err != nil {
		n.metrics.event(eventClaimLost)
		if !errors.Is(err, jetstream.ErrKeyExists) && n.ctx.Err() == nil {
			n.log.Warn("lease claim failed", "key", k, "err", err)
		}
		return false
	}
	l := newLease(n.ctx, k, rev, sent, n.opts.LeaseTTL, n.opts.SafetyMargin)
	n.mu.Lock()
	n.held[k] = l
	delete(n.lapsed, k)
	n.view[k] = owner{node: n.opts.NodeID, token: rev, rev: rev}
	n.mu.Unlock()
	n.metrics.event(eventClaimed)
	n.log.Info("session claimed", "key", k, "token", rev)
	n.workers.Add(1)
	go func() {
		defer n.workers.Done()
		n.start(l)
	}()
	return true
}

// reconcile releases the sessions no longer wanted, claims the unowned ones placement
// gives this node (or that stayed unowned past ClaimGrace), and hands sessions over to
// an underloaded node at most RebalanceMoves per RebalanceInterval.
func (n *Node) reconcile() {
	wanted := map[Key]bool{}
	for _, k := range n.opts.Wanted() {
		if validKey(k) {
			wanted[k] = true
		}
	}
	now := time.Now()
	self := n.opts.NodeID

	n.mu.Lock()
	var drop []*Lease
	for k, l := range n.held {
		if !wanted[k] {
			drop = append(drop, l)
		}
	}
	members := []member{{ID: self, Capacity: n.opts.Capacity}}
	for id, m := range n.members {
		if id != self {
			members = append(members, m)
		}
	}
	counts := map[string]int{}
	for k, o := range n.view {
		if wanted[k] {
			counts[o.node]++
		}
	}
	var held []Key
	for k := range n.held {
		if wanted[k] {
			held = append(held, k)
		}
	}
	counts[self] = len(held)
	var unowned []Key
	for k := range wanted {
		if _, owned := n.view[k]; owned {
			delete(n.unowned, k)
			continue
		}
		if _, ok := n.unowned[k]; !ok {
			n.unowned[k] = now
		}
		unowned = append(unowned, k)
	}
	for k := range n.unowned {
		if !wanted[k] {
			delete(n.unowned, k)
		}
	}
	since := make(map[Key]time.Time, len(unowned))
	for _, k := range unowned {
		since[k] = n.unowned[k]
	}
	rebalance := len(unowned) == 0 && n.opts.RebalanceMoves > 0 && now.Sub(n.lastRebalance) >= n.opts.RebalanceInterval
	if rebalance {
		n.lastRebalance = now
	}
	n.mu.Unlock()

	for _, l := range drop {
		n.release(l)
	}
	if now.Sub(n.started) < n.opts.Settle {
		return
	}
	slices.Sort(unowned)
	to := assign(unowned, members, counts)
	me := members[0]
	for _, k := range unowned {
		if !me.room(counts[self]) {
			break
		}
		if to[k] == self || now.Sub(since[k]) >= n.opts.ClaimGrace {
			if n.claim(k) {
				counts[self]++
			}
		}
	}
	if rebalance {
		for _, k := range toRelease(self, held, members, counts, len(wanted), n.opts.RebalanceMoves) {
			n.mu.Lock()
			l := n.held[k]
			n.mu.Unlock()
			if l != nil {
				n.log.Info("rebalancing session away", "key", k)
				n.release(l)
			}
		}
	}
}

// Check asks the leases bucket whether f is the current lease of its session: nil if
// so, ErrStaleToken if the session was claimed since or its lease is gone.
func (n *Node) Check(ctx context.Context, f Fence) error {
	e, err := n.leases.Get(ctx, string(f.Key))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return fmt.Errorf("%w: %s, the session has no lease", ErrStaleToken, f)
	}
	if err != nil {
		return fmt.Errorf("cluster: checking %s: %w", f, err)
	}
	v, err := decodeLease(e.Value(), e.Revision())
	if err != nil {
		return err
	}
	if v.Token != f.Token {
		return fmt.Errorf("%w: %s, the session's lease is now %d on %s", ErrStaleToken, f, v.Token, v.Node)
	}
	return nil
}

// Held lists the sessions this node owns, sorted.
func (n *Node) Held() []Key {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Key
	for k := range n.held {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Lease is this node's lease of k, or nil.
func (n *Node) Lease(k Key) *Lease {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.held[k]
}

// Lapsed reports whether this node's lease of k is held past its deadline, or its last
// one ended without the node giving it up — it expired (the node was frozen or cut off
// past it) or another node took it — and the node holds no newer one: what it did for k
// since may race k's new owner. A lease released (rebalance, shutdown) or a session
// never held here is not lapsed.
func (n *Node) Lapsed(k Key) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if l := n.held[k]; l != nil {
		return !l.Valid() && !l.Released()
	}
	_, ok := n.lapsed[k]
	return ok
}

// Owners is the owner of every leased session as this node last saw the leases bucket.
func (n *Node) Owners() map[Key]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[Key]string, len(n.view))
	for k, o := range n.view {
		out[k] = o.node
	}
	return out
}

// Owner is the node owning k as this node last saw the leases bucket, "" for none.
func (n *Node) Owner(k Key) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.view[k].node
}

// Kick asks for a reconcile now, instead of at the next interval: the wanted sessions
// changed.
func (n *Node) Kick() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// Members lists the live nodes this node sees, sorted.
func (n *Node) Members() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for id := range n.members {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Close leaves the cluster gracefully: it stops the loops, stops every session and
// releases its lease (so that others claim it at once instead of after the TTL), and
// removes the node's heartbeat. ctx bounds the whole.
func (n *Node) Close(ctx context.Context) error {
	if n.cancel == nil {
		return nil
	}
	n.cancel()
	if err := waitGroup(ctx, &n.loops); err != nil {
		return fmt.Errorf("cluster: closing node %s: %w", n.opts.NodeID, err)
	}
	n.mu.Lock()
	ls := make([]*Lease, 0, len(n.held))
	for _, l := range n.held {
		ls = append(ls, l)
	}
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() { defer wg.Done(); n.release(l) }()
	}
	wg.Wait()
	dctx, cancel := context.WithTimeout(ctx, n.opts.OpTimeout)
	err := n.nodes.Delete(dctx, n.opts.NodeID)
	cancel()
	if werr := waitGroup(ctx, &n.workers); werr != nil {
		return fmt.Errorf("cluster: closing node %s: %w", n.opts.NodeID, werr)
	}
	if err != nil {
		return fmt.Errorf("cluster: removing node %s: %w", n.opts.NodeID, err)
	}
	return nil
}

// waitGroup waits for wg, or until ctx ends.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
