package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/cluster/forward"
)

// Cluster mode: a request for a session that another node runs is served by that node.
//
// A route with a {session} path parameter needs the session's live client (QR, pairing,
// profile, chats, groups, presence...) or its node-local queue, so it is forwarded to the
// node that owns the session (Deps.Locate) and its answer relayed as is — same status,
// headers and body as a local request would give. Routes marked anyNode are served by
// any node from the shared state: reading a session's record, and start and stop, which
// write the session's desired state. Updating and deleting a session go to its owner,
// which restarts or logs out the live client. A request forwarded to us is never
// forwarded again.
//
// Without Deps.Locate (a single node) nothing is forwarded.

// OwnerLocator says where a session runs: local is true when this node runs it, or when
// no node runs it and none should (a stopped session: any node serves it from the shared
// state); else node is the owner's id, "" when the session should run but no node owns
// it right now (its node died and no other has claimed it yet).
type OwnerLocator func(tenant, session string) (node string, local bool)

// Forwarder sends a request to a node and returns its answer (forward.Call on the
// node's NATS connection).
type Forwarder func(ctx context.Context, node string, r forward.Request) (forward.Response, error)

// forwardsToOwner reports whether rt is served by the session's owner in cluster mode.
func forwardsToOwner(rt route) bool {
	return !rt.anyNode && strings.Contains(rt.path, "{session}")
}

// ownerRetryAfter is what a client is told to wait while a session has no owner: about
// the time the cluster takes to move a dead node's sessions.
const ownerRetryAfter = 10 * time.Second

// toOwner forwards the request when its session runs on another node; it reports
// whether it did (and wrote the answer or the error).
func (s *Server) toOwner(c *fasthttp.RequestCtx, r *request, rt route) bool {
	if s.d.Locate == nil || s.d.Forward == nil || !forwardsToOwner(rt) {
		return false
	}
	if _, forwarded := c.UserValue(forward.PrincipalKey).(json.RawMessage); forwarded {
		return false // the other node located us as the owner: serve it
	}
	sess := pathParam(c, "session")
	node, local := s.d.Locate(r.principal.Tenant, sess)
	if local {
		return false
	}
	if node == "" {
		s.writeError(c, r, unavailable("session_moving",
			"session "+sess+" is moving to another node (its node left the cluster); retry shortly",
			ownerRetryAfter, d("session", sess)))
		return true
	}
	req, err := forwardRequest(c, r)
	if err != nil {
		s.writeError(c, r, internalError(r.id, err))
		return true
	}
	ctx, cancel := context.WithTimeout(s.baseCtx, s.forwardTimeout(rt))
	defer cancel()
	res, err := s.d.Forward(ctx, node, req)
	switch {
	case errors.Is(err, forward.ErrNoOwner):
		s.writeError(c, r, unavailable("session_moving",
			"session "+sess+" is moving to another node (its node does not answer); retry shortly",
			ownerRetryAfter, d("session", sess, "node", node)))
		return true
	case errors.Is(err, forward.ErrTooLarge):
		s.writeError(c, r, newError(http.StatusRequestEntityTooLarge, "too_large_to_forward",
			"session "+sess+" runs on another node and this request is too large to hand over; send it to that node",
			d("session", sess, "node", node)))
		return true
	case err != nil:
		s.writeError(c, r, &Error{Status: http.StatusBadGateway, Code: "owner_unreachable",
			Message: "session " + sess + " runs on another node, which did not answer in time", Cause: err,
			Details: map[string]any{"session": sess, "node": node}})
		return true
	}
	relayAnswer(c, res)
	return true
}

// forwardRequest is the request of c as another node receives it: the authenticated
// principal instead of the API key.
func forwardRequest(c *fasthttp.RequestCtx, r *request) (forward.Request, error) {
	principal, err := json.Marshal(r.principal)
	if err != nil {
		return forward.Request{}, err
	}
	req := forward.Request{Method: string(c.Method()), URI: string(c.RequestURI()), Header: http.Header{},
		Body: c.PostBody(), Principal: principal}
	c.Request.Header.VisitAll(func(k, v []byte) {
		switch string(k) {
		case "X-Api-Key", fasthttp.HeaderContentLength, fasthttp.HeaderConnection, fasthttp.HeaderHost:
			return
		}
		req.Header.Add(string(k), string(v))
	})
	return req, nil
}

// forwardTimeout bounds a forwarded call of route rt.
func (s *Server) forwardTimeout(rt route) time.Duration {
	timeout := rt.timeout
	if timeout == 0 {
		timeout = s.cfg.WriteTimeout.D()
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return timeout
}

// relayAnswer writes another node's answer as this node's.
func relayAnswer(c *fasthttp.RequestCtx, res forward.Response) {
	for k, vs := range res.Header {
		for _, v := range vs {
			c.Response.Header.Add(k, v)
		}
	}
	c.SetStatusCode(res.Status)
	c.SetBody(res.Body)
}

// peerAskTimeout bounds asking the other nodes for a message this node does not hold.
const peerAskTimeout = 5 * time.Second

// askPeers, in cluster mode, asks every other node for what this node could not find
// (a message another node queued: GET /api/messages/{id}) and relays the answer of the
// node whose copy changed last; it reports whether one had it. A message is held by the
// nodes that ran its session: the one that runs it now has the newest copy, a node it
// moved away from an older one.
//
// after is the last change of this node's own copy (zero when it holds none): a peer's
// copy is relayed only when it changed later.
func (s *Server) askPeers(c *fasthttp.RequestCtx, r *request, after time.Time) bool {
	if s.d.Peers == nil || s.d.Forward == nil {
		return false
	}
	if _, forwarded := c.UserValue(forward.PrincipalKey).(json.RawMessage); forwarded {
		return false // we are the peer being asked
	}
	peers := s.d.Peers()
	if len(peers) == 0 {
		return false
	}
	req, err := forwardRequest(c, r)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(s.baseCtx, peerAskTimeout)
	defer cancel()
	answers := make([]forward.Response, len(peers))
	var wg sync.WaitGroup
	for i, node := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, err := s.d.Forward(ctx, node, req); err == nil {
				answers[i] = res
			}
		}()
	}
	wg.Wait()
	best, bestAt := -1, after
	for i, a := range answers {
		if a.Status != http.StatusOK {
			continue
		}
		var m struct {
			History []struct {
				At time.Time `json:"at"`
			} `json:"history"`
		}
		_ = json.Unmarshal(a.Body, &m)
		at := time.Time{}
		if n := len(m.History); n > 0 {
			at = m.History[n-1].At
		}
		if at.After(bestAt) || (best < 0 && after.IsZero()) {
			best, bestAt = i, at
		}
	}
	if best < 0 {
		return false
	}
	relayAnswer(c, answers[best])
	return true
}
