package session

import (
	"maps"

	"github.com/wagate/wagate/core/event"
)

// envContext is what every event of a session carries of it (event.Envelope's Me,
// Engine, Environment and Metadata, WAHA's webhook fields). It is rebuilt when the
// record changes one of them and shared, read-only, by every event published until
// then: stamping an event costs four word copies, no allocation.
type envContext struct {
	me       *event.Me
	engine   string
	env      *event.Environment
	metadata map[string]string
}

func (m *Manager) newEnvContext(r Record) *envContext {
	c := &envContext{engine: r.Provider, env: m.envs[r.Provider], metadata: r.Metadata}
	if c.env == nil { // a provider no longer enabled
		c.env = m.environment(r.Provider)
	}
	if r.Me != nil {
		c.me = &event.Me{ID: r.Me.ID.String(), PushName: r.Me.PushName}
	}
	return c
}

// refreshEnvContextLocked rebuilds the context when the change from old touched it.
// Callers hold l.mu.
func (l *live) refreshEnvContextLocked(old Record) {
	r := &l.rec
	if r.Me != old.Me || r.Provider != old.Provider || !maps.Equal(r.Metadata, old.Metadata) {
		l.envCtx.Store(l.m.newEnvContext(*r))
	}
}

// stampEnvelope fills env's session context.
func (l *live) stampEnvelope(env *event.Envelope) {
	c := l.envCtx.Load()
	env.Me, env.Engine, env.Environment, env.Metadata = c.me, c.engine, c.env, c.metadata
}

// Stamp returns env with the session context filled in, for events published outside
// the manager (queue acks, failover): the bus calls it (event.Bus.SetStamp) for every
// event that names a session. An event of a session that does not exist (any more) is
// returned as it is.
func (m *Manager) Stamp(env event.Envelope) event.Envelope {
	m.mu.Lock()
	l := m.lives[key{env.Tenant, env.Session}]
	m.mu.Unlock()
	if l != nil {
		l.stampEnvelope(&env)
	}
	return env
}

// Environment is the gateway's environment as GET /api/server/version shows it (WAHA's
// WAHAEnvironment): the engine is the default provider.
func (m *Manager) Environment() event.Environment {
	return *m.environment(m.opts.DefaultProvider)
}

func (m *Manager) environment(engine string) *event.Environment {
	return &event.Environment{Version: m.opts.Version, Engine: engine, Tier: event.Tier}
}
