package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/api"
	"github.com/wagate/wagate/core/audience"
	"github.com/wagate/wagate/core/campaign"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/policy/catalog"
	wasmhost "github.com/wagate/wagate/core/policy/wasm"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/provider/cloudapi"
	"github.com/wagate/wagate/core/provider/sandbox"
	"github.com/wagate/wagate/core/provider/whatsmeow"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/route"
	"github.com/wagate/wagate/core/session"
	"github.com/wagate/wagate/core/steer"
	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/tenant"
	"github.com/wagate/wagate/core/webhook"
)

// gateway is the composition root: it builds every component from the config in
// dependency order and tears them down in reverse.
//
//	g, err := openGateway(ctx, cfg, logger, os.Stderr) // store, tenants, sessions restored
//	go g.serve(listener)
//	g.shutdown(ctx)                                      // HTTP drain, sessions, store
type gateway struct {
	cfg      config.Config
	log      *slog.Logger
	db       *store.DB
	bus      *event.Bus
	registry *prometheus.Registry
	tenants  *tenant.Service
	sandbox  *sandbox.Network
	sessions *session.Manager
	queue    *queue.Queue
	router   *route.Router
	dispatch *queue.Dispatcher
	pacer    policy.RatePreviewer // the built-in pacing rule, nil when pacing is off (policy.go)
	webhooks *webhook.Service
	chains   *policy.Chains
	policies *catalog.Catalog
	audience *audience.Service // contact lists and opt-outs (docs/campaigns.md)
	// campaigns runs the tenants' campaigns (campaigns.go).
	campaigns *campaign.Service
	wasm      *wasmhost.Runtime
	steer     *steer.Steer
	watch     *steer.Watch // pacing's view of the providers (restrictions, typing)
	api       *api.Server
	guards    *guards      // storage optimizer, low-disk guard, memory manager (resources.go)
	hold      *restoreHold // a restored store on hold until resumed (backup.go)
	cluster   *clusterMode // nil on a single node (cluster.go)
	closers   []io.Closer  // files opened for components, closed last

	campaignClock campaignClock // the campaign runners' clock (campaigns.go)
}

// sessionSender lets the dispatcher, built before the session manager (whose hooks
// call it), send through the manager.
type sessionSender struct{ g *gateway }

func (s sessionSender) Send(ctx context.Context, tenant, name string, msg provider.Outbound) (provider.SendResult, error) {
	// Pacing's typing indicator, where the provider can show it (steer.BeforeSend).
	if err := s.g.steer.BeforeSend(ctx, tenant, name, msg); err != nil {
		return provider.SendResult{}, err
	}
	return s.g.sessions.Send(ctx, tenant, name, msg)
}

// openGateway opens the store and builds the services. notice receives the one-time
// admin key banner on first start. Sessions are restored before it returns.
func openGateway(ctx context.Context, cfg config.Config, log *slog.Logger, notice io.Writer) (g *gateway, err error) {
	key, err := cfg.Store.ResolveEncryptionKey()
	if err != nil {
		return nil, err
	}
	adminKey, err := cfg.Admin.ResolveAPIKey()
	if err != nil {
		return nil, err
	}
	db, err := store.Open(store.Options{
		Dir: cfg.Store.Dir, EncryptionKey: key, SyncWrites: cfg.Store.SyncWrites,
		GCInterval: cfg.Store.GCInterval.D(), GCDiscardRatio: cfg.Store.GCDiscardRatio, Logger: log,
		MemTableSize: int64(cfg.Store.MemtableSize), NumMemtables: cfg.Store.NumMemtables,
		BlockCacheSize: int64(cfg.Store.BlockCacheSize), IndexCacheSize: int64(cfg.Store.IndexCacheSize),
		BaseTableSize: int64(cfg.Store.TableSize), NumCompactors: cfg.Store.NumCompactors,
		Compression: cfg.Store.Compression,
	})
	if err != nil {
		return nil, err
	}
	g = &gateway{cfg: cfg, log: log, db: db, registry: prometheus.NewRegistry()}
	built := g // every error return below sets g to nil
	defer func() {
		if err != nil {
			built.shutdown(context.Background())
		}
	}()
	if g.hold, err = openHold(db, log); err != nil {
		return nil, err
	}
	if cfg.Cluster.Enabled {
		// Before any service reads or writes: this node's store mirrors the cluster's.
		if g.cluster, err = openCluster(ctx, g); err != nil {
			return nil, err
		}
	}
	g.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Built first, so every component can ask them; started once the queue exists
	// (their sweeps read it).
	g.guards = openGuards(g)
	g.bus = event.NewBus(event.Options{
		MaxSubscribers: cfg.Limits.MaxSubscribers, Buffer: cfg.Limits.SubscriberBuffer, Registerer: g.registry,
	})
	g.tenants = tenant.NewService(db, tenant.Options{
		DefaultPlan: tenant.Plan{MaxSessions: cfg.Limits.DefaultPlan.MaxSessions, MaxMessagesPerDay: cfg.Limits.DefaultPlan.MaxMessagesPerDay,
			MaxCampaigns: cfg.Limits.DefaultPlan.MaxCampaigns, MaxListSize: cfg.Limits.DefaultPlan.MaxListSize},
		MaxTenants: cfg.Limits.MaxTenants,
		NodeID:     clusterNodeID(cfg), // usage counted per node, summed over the nodes
	})
	generated, err := g.tenants.SetupAdmin(ctx, adminKey)
	if err != nil {
		return nil, fmt.Errorf("setting up the admin key: %w", err)
	}
	if generated != "" {
		fmt.Fprintf(notice, "\n"+
			"  First start: an admin API key was generated. It is shown only once; only\n"+
			"  its hash is stored. Keep it, or set WAGATE_ADMIN_API_KEY before starting.\n\n"+
			"    %s\n\n", generated)
		log.Warn("admin API key generated and printed once; only its hash is stored")
	}

	if g.chains, err = openChains(ctx, g); err != nil {
		return nil, err
	}
	if g.policies, err = openCatalog(ctx, g); err != nil {
		return nil, err
	}
	networks, err := cfg.Webhooks.Networks()
	if err != nil {
		return nil, err
	}
	g.webhooks, err = webhook.New(webhook.Deps{
		DB: db, Publish: g.bus.Publish, Logger: log.With("component", "webhook"), Registerer: g.registry,
		Transform: steer.Transformer(g.chains),
	}, webhook.Options{
		MaxPerTenant: cfg.Webhooks.MaxPerTenant, MaxConcurrent: cfg.Webhooks.MaxConcurrent,
		MaxInFlightPerEndpoint: cfg.Webhooks.MaxInFlightPerEndpoint, Timeout: cfg.Webhooks.Timeout.D(),
		RetryHorizon: cfg.Webhooks.RetryHorizon.D(), BackoffBase: cfg.Webhooks.BackoffBase.D(),
		BackoffMax: cfg.Webhooks.BackoffMax.D(), DisableAfter: cfg.Webhooks.DisableAfter.D(),
		Retention: cfg.Webhooks.Retention.D(), MaxResponseBytes: int(cfg.Webhooks.MaxResponseBytes),
		Buffer:    cfg.Webhooks.Buffer,
		Paused:    g.hold.active(), // a restored store delivers once resumed
		URLPolicy: &webhook.URLPolicy{AllowNetworks: networks, AllowHosts: config.List(cfg.Webhooks.AllowHosts)},
		// Under memory pressure deliveries wait.
		Hold: func() time.Duration {
			if d, held := g.guards.hold(queue.Message{}); held {
				return d
			}
			return 0
		},
	})
	if err != nil {
		return nil, err
	}
	// Every event published from here on reaches the webhook outbox.
	if g.cluster != nil {
		g.bus.SetTap(g.cluster.tap) // and to the other nodes' subscribers
	} else {
		g.bus.SetTap(g.webhooks.Tap)
	}
	g.audience = audience.New(db, audience.Options{
		MaxLists: cfg.Campaigns.MaxLists, MaxListSize: cfg.Campaigns.MaxListSize,
		ListSize: func(ctx context.Context, tenant string) (int, error) {
			t, err := g.tenants.Get(ctx, tenant)
			return t.Plan.MaxListSize, err
		},
		StopWords: config.List(cfg.Campaigns.StopWords), Publish: g.bus.Publish,
		InUse: g.listInUse,
	})

	g.queue, err = queue.Open(db, queue.Options{
		MaxPerSession: cfg.Queue.MaxPerSession, MaxTotal: cfg.Queue.MaxTotal,
		IdempotencyTTL: cfg.Queue.IdempotencyTTL.D(), Logger: log.With("component", "queue"),
	})
	if err != nil {
		return nil, err
	}
	if g.cluster != nil {
		g.cluster.relayTo(g.queue)
	}
	g.router = route.New(db)
	var handoff queue.Handoff // a failover to a session another node runs
	if g.cluster != nil {
		handoff = clusterHandoff{g}
	}
	g.dispatch = queue.NewDispatcher(g.queue, sessionSender{g}, queue.DispatchOptions{
		Rate: cfg.Queue.RatePerSession, Burst: cfg.Queue.Burst, MaxAttempts: cfg.Queue.MaxAttempts,
		BackoffBase: cfg.Queue.BackoffBase.D(), BackoffMax: cfg.Queue.BackoffMax.D(),
		MaxWait: cfg.Queue.MaxWait.D(), MaxConcurrent: cfg.Queue.MaxConcurrent,
		OnTransition: func(tenant string, m queue.Message) {
			if g.cluster != nil {
				g.cluster.sink.Transition(tenant, m) // acknowledged on the send stream once final
			}
			g.bus.Publish(event.New(event.MessageAck, tenant, m.Session,
				session.NewAckPayload(m.ID, m.ProviderID, m.ChatID, string(m.Status), m.Reason)))
			if m.Status == queue.StatusFailed && g.sessions != nil { // a session's recent failures (its health)
				g.sessions.RecordFailure(tenant, m.Session, session.Failure{Kind: session.FailureMessage, Reason: m.Reason, Message: m.ID})
			}
		},
		OnSentDurable: func(tenant string, m queue.Message) {
			if g.cluster != nil {
				g.cluster.sink.Transition(tenant, m)
			}
		},
		OnSent: func(txn *badger.Txn, tenant string, m queue.Message) error {
			return g.router.Record(txn, tenant, m.ChatID, m.Session)
		},
		Pace: func(tenant string, m queue.Message, name string) (time.Duration, string) {
			if d, held := g.guards.hold(m); held { // memory pressure
				return d, ""
			}
			return g.steer.Pace(tenant, m, name)
		},
		Failover:      failoverOf{g},
		Handoff:       handoff,
		FailoverAfter: cfg.Queue.FailoverAfter.D(),
		OnFailover: func(tenant string, ev queue.FailoverEvent) {
			g.bus.Publish(event.New(event.MessageFailover, tenant, ev.From, failoverPayload(ev)))
		},
		IsNotWorking: func(err error) bool {
			var nw *session.NotWorkingError
			return errors.As(err, &nw)
		},
		Registerer: g.registry,
		Logger:     log.With("component", "dispatch"),
	})

	var factories []provider.Factory
	if cfg.Providers.Sandbox.Enabled {
		opts := []sandbox.Option{sandbox.WithLogger(log.With("provider", "sandbox"))}
		if p := cfg.Providers.Sandbox.SendLog; p != "" {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				return nil, fmt.Errorf("opening providers.sandbox.send_log: %w", err)
			}
			g.closers = append(g.closers, f)
			opts = append(opts, sandbox.WithSendLog(f))
		}
		g.sandbox = sandbox.NewNetwork(cfg.Providers.Sandbox, sandbox.StoreLinks{DB: db}, opts...)
		factories = append(factories, g.sandbox)
	}
	if cfg.Providers.Whatsmeow.Enabled {
		// Each session's whatsmeow device state lives in db (wam/<tenant>/<session>/...).
		factories = append(factories, whatsmeow.NewFactory(cfg.Providers.Whatsmeow, db,
			whatsmeow.WithLogger(log.With("provider", "whatsmeow"))))
	}
	var window steer.Window
	if cfg.Providers.CloudAPI.Enabled {
		// Each contact's last inbound time (the 24-hour window) lives in db (cai/...).
		cloud := cloudapi.New(cfg.Providers.CloudAPI, cloudapi.StoreInbound{DB: db}, cloudapi.WithLogger(log))
		factories = append(factories, cloud)
		window = func(tenant, session, chat string) bool {
			id, err := chatid.Parse(chat)
			if err != nil {
				return false
			}
			last, err := cloud.LastInbound(context.Background(), tenant, session, id)
			return err == nil && cloudapi.WindowOpen(last, time.Now())
		}
	}
	// Pacing sees every provider's events on their way to the session manager.
	g.watch = steer.NewWatch(steer.WatchOptions{PauseUnknown: cfg.Pacing.PauseUnknown.D(), Registerer: g.registry})
	for i, f := range factories {
		factories[i] = g.watch.Factory(f)
	}
	defaultProvider := ""
	if len(factories) > 0 {
		defaultProvider = factories[0].Name()
	}
	var placement session.Placement
	if g.cluster != nil {
		placement = g.cluster
	}
	g.sessions = session.NewManager(db, g.bus, session.Options{
		Placement:    placement,
		StartTimeout: cfg.Sessions.StartTimeout.D(), StopTimeout: cfg.Sessions.StopTimeout.D(),
		SendTimeout: cfg.Sessions.SendTimeout.D(), DefaultProvider: defaultProvider,
		Health: session.HealthFromConfig(cfg.Sessions.Health), Pool: session.PoolFromConfig(cfg.Sessions.Pool),
		QR: session.QRFromConfig(cfg.Sessions.QR), RestoreConcurrency: cfg.Sessions.RestoreConcurrency,
		RestoreWindow: cfg.Sessions.RestoreWindow.D(),
		MaxSessions: func(ctx context.Context, id string) (int, error) {
			t, err := g.tenants.Get(ctx, id)
			return t.Plan.MaxSessions, err
		},
		OnStatus: func(tenant, name string, st session.State) {
			g.dispatch.SessionStatus(tenant, name, st == session.StateWorking)
			if st == session.StateLoggedOut || st == session.StateFailed {
				go g.sessionLost(tenant, name)
			}
		},
		OnAck: func(tenant, name, msgID string, ack provider.Ack, errText string) {
			g.dispatch.Ack(tenant, msgID, ack, errText)
		},
		AckLookup: func(tenant, name, providerID string) (string, bool) {
			id, err := g.queue.ByProviderID(tenant, name, providerID)
			return id, err == nil
		},
		OnMessage: func(tenant, name string, msg provider.Inbound) {
			if !msg.FromMe {
				if err := g.router.RecordInbound(tenant, msg.ChatID.String(), name); err != nil {
					log.Warn("recording sticky route", "tenant", tenant, "session", name, "err", err)
				}
			}
			if err := g.queue.RecordReceived(tenant, name, msg); err != nil {
				log.Warn("recording a received message in its chat's history", "tenant", tenant, "session", name, "err", err)
			}
			// A contact that replies a stop word leaves every campaign (docs/campaigns.md).
			if !msg.FromMe && msg.Kind == provider.KindText && audience.Reachable(msg.ChatID) && g.audience.IsStopWord(msg.Text) {
				if _, err := g.audience.OptOut(context.Background(), tenant, g.contactIDs(tenant, name, msg.ChatID), audience.ReasonStopWord, name); err != nil {
					log.Warn("opting out a contact that replied a stop word", "tenant", tenant, "session", name, "err", err)
				}
			}
			g.campaignReply(tenant, name, msg)
		},
		OnCallRejected: func(tenant, name string, call provider.CallData, message string) {
			g.replyToCall(tenant, name, call, message)
		},
		OnDelete: func(tenant, name string) {
			g.dispatch.SessionDeleted(tenant, name)
			g.steer.Delete(tenant, name)
		},
		Version: buildVersion(),
		Logger:  log.With("component", "session"),
	}, factories...)
	// Every event of a session carries its context (me, engine, environment, metadata).
	g.bus.SetStamp(g.sessions.Stamp)
	g.registry.MustRegister(g.sessions.Collector(), g.queue.Collector(), openFilesCollector(cfg))
	g.steer = steer.New(steer.Deps{Chains: g.chains, Sessions: g.sessions, Queue: g.queue, Contacts: g.router, Window: window,
		Watch: g.watch, Typing: pacingTyping(cfg.Pacing), Preview: g.pacer})
	g.openCampaigns()

	g.guards.start()
	deps := api.Deps{
		Admission: g.guards.admit,
		Tenants:   g.tenants, Bus: g.bus, Registry: g.registry, Logger: log,
		Sessions: g.sessions, Queue: g.queue, Webhooks: g.webhooks, Policies: g.policies, Audience: g.audience, Campaigns: g.campaigns,
		Contacts: g.router, LenientFields: !cfg.API.StrictFields, Backups: g.backups(), Steer: g.steer,
		Route: func(ctx context.Context, tenant string, m policy.Message) (string, error) {
			name, err := g.steer.Route(ctx, tenant, m)
			if errors.Is(err, steer.ErrNoSession) {
				return "", api.ErrNoWorkingSession
			}
			return name, err
		},
		DeleteTenantSessions: func(ctx context.Context, tenant string) error {
			g.webhooks.DeleteTenant(tenant)
			g.policies.DeleteTenant(tenant)
			g.steer.Forget(tenant)
			return g.sessions.DeleteTenant(ctx, tenant)
		},
		Ready: func(ctx context.Context) error {
			if err := db.Ping(ctx); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			if !g.sessions.Ready() {
				return errors.New("sessions are being restored")
			}
			if g.cluster != nil {
				if err := g.cluster.ready(); err != nil {
					return err
				}
			}
			return g.guards.ready()
		},
	}
	if g.sandbox != nil {
		deps.Sandbox = g.sandbox
	}
	if g.cluster != nil {
		deps.Locate, deps.Forward, deps.Peers, deps.Intake = g.cluster.locate, g.cluster.forwardTo, g.cluster.peers, g.cluster.intake
		// Campaign runners are not cluster-aware yet: each node would run every
		// campaign into its own queue (docs/cluster.md, "Not yet").
		deps.Campaigns = nil
	}
	g.api = api.New(cfg.Server, deps)

	// In cluster mode no session starts here by itself: the node starts those it claims.
	if err := g.sessions.Restore(ctx, cfg.Sessions.RestoreOnStart && !g.hold.active() && g.cluster == nil); err != nil {
		return nil, fmt.Errorf("restoring sessions: %w", err)
	}
	if g.cluster != nil {
		if err := g.cluster.start(ctx); err != nil {
			return nil, fmt.Errorf("joining the cluster: %w", err)
		}
		return g, nil
	}
	if err := g.campaigns.Restore(ctx); err != nil {
		return nil, fmt.Errorf("restoring campaigns: %w", err)
	}
	return g, nil
}

// serve answers HTTP on ln until shutdown.
func (g *gateway) serve(ln net.Listener) error { return g.api.Serve(ln) }

// shutdown stops accepting, drains in-flight requests, stops the dispatcher, stops
// sessions (each bounded by sessions.stop_timeout, all by ctx), writes the last events to
// the webhook outbox and stops the deliverers (pending deliveries resume at the next
// start), and closes the store. Safe on a half-built gateway.
func (g *gateway) shutdown(ctx context.Context) {
	start := time.Now()
	if g.api != nil {
		if err := g.api.Shutdown(ctx); err != nil {
			g.log.Warn("http shutdown", "err", err)
		}
	}
	if g.cluster != nil {
		g.cluster.leave(ctx) // sessions stopped, leases released: the others take them now
	}
	g.guards.close() // retention stops before the store it sweeps
	if g.campaigns != nil {
		g.campaigns.Close() // no new chunks; what is queued stays queued
	}
	if g.dispatch != nil {
		g.dispatch.Close() // no new provider calls; in-flight ones end with their context
	}
	if g.sessions != nil {
		g.sessions.Close(ctx)
	}
	if g.queue != nil {
		g.queue.Close()
	}
	if g.sandbox != nil {
		g.sandbox.Close()
	}
	if g.webhooks != nil {
		// After everything that publishes: their last events are in the outbox.
		g.bus.SetTap(nil)
		g.webhooks.Close()
	}
	if g.policies != nil {
		g.policies.Close() // its reloads on other nodes' changes
	}
	if g.chains != nil {
		g.chains.Close() // after everything that calls them: plugin processes killed
	}
	if g.tenants != nil {
		if err := g.tenants.Close(); err != nil { // the usage counters still to write (cluster mode)
			g.log.Warn("writing usage counters", "err", err)
		}
	}
	if g.wasm != nil {
		g.wasm.Close()
	}
	if g.bus != nil {
		g.bus.Close()
	}
	if g.cluster != nil {
		g.cluster.close(ctx) // after every writer of shared state
	}
	if g.db != nil {
		if err := g.db.Close(); err != nil {
			g.log.Error("closing store", "err", err)
		}
	}
	for _, c := range g.closers {
		c.Close()
	}
	g.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
}
