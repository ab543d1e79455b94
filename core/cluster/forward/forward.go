// Package forward carries an HTTP request for a session owned by another node to that
// node over NATS request/reply, and its answer back (docs/cluster.md, "Forwarding"). The
// owner runs the same handler a local request would reach, so status codes, error bodies
// and headers are the same on every node.
//
//	// on every node, once:
//	srv, err := forward.Serve(nc, "gw-2", handler) // handler: the API's fasthttp handler
//	// on a node that got a request for a session gw-2 owns, after authenticating it:
//	res, err := forward.Call(ctx, nc, "gw-2", forward.Request{Method: "GET", URI: "/api/default/auth/qr", Principal: p})
//
// The request carries the authenticated principal, never the caller's API key: the
// owner trusts what comes on rpc.<node>.http, so that subject must be reachable only by
// the gateway's nodes (the NATS account is the trust boundary). A request body and an
// answer each fit in one NATS message (the server's max_payload, 1 MiB by default).
package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/valyala/fasthttp"
)

// Errors of Call.
var (
	// ErrNoOwner: no node answers on the owner's subject (it died, or is not up yet).
	ErrNoOwner = errors.New("forward: the owning node does not answer")
	// ErrTooLarge: the request does not fit in one NATS message.
	ErrTooLarge = errors.New("forward: request too large to forward")
)

// Headers of a forwarded request and of its answer.
const (
	hMethod    = "Wagate-Method"
	hURI       = "Wagate-Uri"
	hPrincipal = "Wagate-Principal"
	hStatus    = "Wagate-Status"
	// PrincipalKey is the user value under which Serve hands the forwarded principal
	// (the raw JSON given to Call) to the handler: the handler authorizes from it instead
	// of an X-Api-Key.
	PrincipalKey = "wagate.forwarded_principal"
)

// Subject is where a node takes forwarded requests.
func Subject(node string) string { return "rpc." + node + ".http" }

// Request is one forwarded HTTP request.
type Request struct {
	Method string
	// URI is the path with its query, as the client sent it.
	URI string
	// Header holds the request headers to pass on (Content-Type, Idempotency-Key...);
	// X-Api-Key is never passed.
	Header http.Header
	Body   []byte
	// Principal is whom the forwarding node authenticated, encoded as JSON.
	Principal json.RawMessage
}

// Response is the owner's answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Call sends r to node and waits for the answer until ctx ends.
func Call(ctx context.Context, nc *nats.Conn, node string, r Request) (Response, error) {
	m := nats.NewMsg(Subject(node))
	for k, vs := range r.Header {
		if http.CanonicalHeaderKey(k) == "X-Api-Key" {
			continue
		}
		for _, v := range vs {
			m.Header.Add(k, v)
		}
	}
	m.Header.Set(hMethod, r.Method)
	m.Header.Set(hURI, r.URI)
	m.Header.Set(hPrincipal, string(r.Principal))
	m.Data = r.Body
	if int64(len(r.Body))+4096 > nc.MaxPayload() {
		return Response{}, fmt.Errorf("%w: %d bytes, the NATS server takes %d", ErrTooLarge, len(r.Body), nc.MaxPayload())
	}
	reply, err := nc.RequestMsgWithContext(ctx, m)
	if errors.Is(err, nats.ErrNoResponders) {
		return Response{}, fmt.Errorf("%w: %s", ErrNoOwner, node)
	}
	if err != nil {
		return Response{}, fmt.Errorf("forward: %s %s to %s: %w", r.Method, r.URI, node, err)
	}
	status, err := strconv.Atoi(reply.Header.Get(hStatus))
	if err != nil || status < 100 || status > 599 {
		return Response{}, fmt.Errorf("forward: %s answered without a status", node)
	}
	res := Response{Status: status, Header: http.Header{}, Body: reply.Data}
	for k, vs := range reply.Header {
		if k != hStatus {
			res.Header[k] = vs
		}
	}
	return res, nil
}

// Server answers the requests forwarded to one node.
type Server struct{ sub *nats.Subscription }

// Serve runs h for every request forwarded to node, with the forwarded principal under
// PrincipalKey, and answers with what h wrote. Requests are served concurrently.
func Serve(nc *nats.Conn, node string, h fasthttp.RequestHandler) (*Server, error) {
	sub, err := nc.Subscribe(Subject(node), func(m *nats.Msg) {
		go serveOne(nc, m, h)
	})
	if err != nil {
		return nil, fmt.Errorf("forward: serving %s: %w", Subject(node), err)
	}
	return &Server{sub: sub}, nil
}

func serveOne(nc *nats.Conn, m *nats.Msg, h fasthttp.RequestHandler) {
	var req fasthttp.Request
	req.Header.SetMethod(m.Header.Get(hMethod))
	req.SetRequestURI(m.Header.Get(hURI))
	for k, vs := range m.Header {
		switch http.CanonicalHeaderKey(k) {
		case hMethod, hURI, hPrincipal, "X-Api-Key":
			continue
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.SetBody(m.Data)
	var c fasthttp.RequestCtx
	c.Init(&req, nil, nil)
	c.SetUserValue(PrincipalKey, json.RawMessage(m.Header.Get(hPrincipal)))
	h(&c)
	reply := nats.NewMsg(m.Reply)
	c.Response.Header.VisitAll(func(k, v []byte) {
		switch string(k) {
		case fasthttp.HeaderContentLength, fasthttp.HeaderServer, fasthttp.HeaderDate, fasthttp.HeaderConnection:
			return // the forwarding node's own
		}
		reply.Header.Add(string(k), string(v))
	})
	reply.Header.Set(hStatus, strconv.Itoa(c.Response.StatusCode()))
	reply.Data = append([]byte(nil), c.Response.Body()...)
	if int64(len(reply.Data))+4096 > nc.MaxPayload() {
		reply.Data = []byte(`{"error":{"code":"response_too_large_to_forward","message":"the owning node's answer does not fit in one NATS message"}}`)
		reply.Header = nats.Header{hStatus: []string{"502"}, "Content-Type": []string{"application/json"}}
	}
	_ = m.RespondMsg(reply)
}

// Close stops serving.
func (s *Server) Close() error { return s.sub.Unsubscribe() }
