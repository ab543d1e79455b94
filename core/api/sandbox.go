package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/provider/sandbox"
)

// linkBody is POST /api/sandbox/{session}/link: complete pairing as if a phone scanned
// the QR code. Phone is optional (the pairing-code phone, else a generated number).
type linkBody struct {
	Phone string `json:"phone,omitempty"`
}

// inboundBody is POST /api/sandbox/{session}/inbound: an external contact writes to
// the session.
type inboundBody struct {
	From string `json:"from"`
	Text string `json:"text"`
}

// callBody is POST /api/sandbox/{session}/call: someone calls the session.
type callBody struct {
	From  string `json:"from"`
	Video bool   `json:"video,omitempty"`
}

type okAnswer struct {
	OK bool `json:"ok"`
}

// sandboxRoutes exist only when the sandbox provider is enabled: they are how tests
// and users drive the simulated network (pairing, faults, inbound messages).
func (s *Server) sandboxRoutes() []route {
	if s.d.Sandbox == nil {
		return nil
	}
	return []route{
		{method: "POST", path: "/api/sandbox/{session}/link", auth: authTenant, handle: s.sandboxLink,
			doc: routeDoc{summary: "Sandbox: complete pairing as if the QR code was scanned", tag: "sandbox",
				request: linkBody{}, requestOptional: true, response: provider.Account{}}},
		{method: "GET", path: "/api/sandbox/{session}/faults", auth: authTenant, handle: s.sandboxFaults,
			doc: routeDoc{summary: "Sandbox: the session's fault-injection switches", tag: "sandbox", response: config.SandboxFaults{}}},
		{method: "PUT", path: "/api/sandbox/{session}/faults", auth: authTenant, handle: s.sandboxSetFaults,
			doc: routeDoc{summary: "Sandbox: set the session's fault-injection switches", tag: "sandbox",
				request: config.SandboxFaults{}, response: config.SandboxFaults{}}},
		{method: "POST", path: "/api/sandbox/{session}/inbound", auth: authTenant, handle: s.sandboxInbound,
			doc: routeDoc{summary: "Sandbox: an external contact sends a text to the session", tag: "sandbox",
				request: inboundBody{}, response: okAnswer{}}},
		{method: "POST", path: "/api/sandbox/{session}/call", auth: authTenant, handle: s.sandboxCall,
			doc: routeDoc{summary: "Sandbox: a contact calls the session (call.received); it rings until rejected", tag: "sandbox",
				request: callBody{}, response: provider.CallData{}}},
	}
}

// sandboxSession checks that the tenant owns a sandbox session of that name.
func (s *Server) sandboxSession(c *fasthttp.RequestCtx, r *request) (string, error) {
	name := sessionName(c)
	info, err := s.d.Sessions.Get(r.ctx, r.tenant(), name)
	if err != nil {
		return "", err
	}
	if info.Provider != sandbox.Name {
		return "", badRequest("not_a_sandbox_session", "session "+name+" runs on "+info.Provider+", not the sandbox")
	}
	return name, nil
}

func (s *Server) sandboxLink(c *fasthttp.RequestCtx, r *request) error {
	name, err := s.sandboxSession(c, r)
	if err != nil {
		return err
	}
	var b linkBody
	if err := decodeOptionalJSON(c, &b); err != nil {
		return err
	}
	acc, err := s.d.Sandbox.Link(r.tenant(), name, b.Phone)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, acc)
}

func (s *Server) sandboxFaults(c *fasthttp.RequestCtx, r *request) error {
	name, err := s.sandboxSession(c, r)
	if err != nil {
		return err
	}
	f, err := s.d.Sandbox.Faults(r.tenant(), name)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, f)
}

func (s *Server) sandboxSetFaults(c *fasthttp.RequestCtx, r *request) error {
	name, err := s.sandboxSession(c, r)
	if err != nil {
		return err
	}
	var f config.SandboxFaults
	if err := decodeJSON(c, &f); err != nil {
		return err
	}
	if err := sandbox.ValidateFaults(f); err != nil {
		return err // invalid_faults, also for a session the network has not seen yet
	}
	if err := s.d.Sandbox.SetFaults(r.tenant(), name, f); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, f)
}

func (s *Server) sandboxInbound(c *fasthttp.RequestCtx, r *request) error {
	name, err := s.sandboxSession(c, r)
	if err != nil {
		return err
	}
	var b inboundBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	from, err := chatid.Parse(b.From)
	if err != nil {
		return badRequest("invalid_chat_id", err.Error(), d("field", "from"))
	}
	if b.Text == "" {
		return badRequest("invalid_text", "text must not be empty", d("field", "text"))
	}
	if err := s.d.Sandbox.Inbound(r.tenant(), name, from, b.Text); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, okAnswer{OK: true})
}

func (s *Server) sandboxCall(c *fasthttp.RequestCtx, r *request) error {
	name, err := s.sandboxSession(c, r)
	if err != nil {
		return err
	}
	var b callBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	from, err := parseContactID(b.From, "from")
	if err != nil {
		return err
	}
	data, err := s.d.Sandbox.Call(r.tenant(), name, from, b.Video)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, data)
}

// mapSandboxError is the sandbox's part of mapError.
func mapSandboxError(err error) *Error {
	switch {
	case errors.Is(err, sandbox.ErrUnknownSession):
		return conflict("session_not_started", "the sandbox session has not been started yet")
	case errors.Is(err, sandbox.ErrNotPairing):
		return conflict("session_not_pairing", err.Error())
	case errors.Is(err, sandbox.ErrNotWorking):
		return conflict("session_not_working", err.Error())
	case errors.Is(err, sandbox.ErrEndlessQR):
		return conflict("endless_qr", err.Error())
	case errors.Is(err, sandbox.ErrPhoneInUse):
		return conflict("phone_in_use", err.Error())
	case errors.Is(err, sandbox.ErrInvalidPhone):
		return badRequest("invalid_phone_number", err.Error())
	case errors.Is(err, sandbox.ErrInvalidFaults):
		return badRequest("invalid_faults", err.Error())
	case errors.Is(err, provider.ErrLoggedOut):
		return conflict("session_logged_out", err.Error())
	case errors.Is(err, sandbox.ErrClosed):
		return unavailable("shutting_down", "the sandbox session was replaced or the gateway is shutting down; retry", 5*time.Second)
	}
	return nil
}
