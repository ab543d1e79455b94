package api

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/policy/catalog"
)

// policyUpload is the JSON body of PUT /api/policies/{name}. The route also takes the
// bare script (Content-Type text/x-lua) or module (application/wasm) as the body.
type policyUpload struct {
	// Kind is "lua" or "wasm".
	Kind string `json:"kind"`
	// Source is the Lua script (kind lua).
	Source string `json:"source,omitempty"`
	// Module is the WASM module, base64 (kind wasm).
	Module []byte `json:"module,omitempty"`
	// Config is the policy's configuration (a JSON object), passed to configure.
	Config json.RawMessage `json:"config,omitempty"`
	// Tests are calls the new version must answer as expected before it is stored.
	Tests []catalog.TestVector `json:"tests,omitempty"`
	// Activate makes the new version active at once (the first version always is).
	Activate bool `json:"activate,omitempty"`
}

// policyDetail is a policy with its stored versions, newest first.
type policyDetail struct {
	catalog.Policy
	Versions []catalog.Version `json:"versions"`
}

// activateRequest is the body of POST /api/policies/{name}/activate.
type activateRequest struct {
	Version int `json:"version"`
}

func (s *Server) policyRoutes() []route {
	if s.d.Policies == nil {
		return nil
	}
	return []route{
		{method: http.MethodGet, path: "/api/policies", auth: authTenant, handle: s.listPolicies,
			doc: routeDoc{tag: "policies", summary: "List the tenant's uploaded policies", response: []catalog.Policy{}}},
		{method: http.MethodGet, path: "/api/policies/bindings", auth: authTenant, handle: s.getBindings,
			doc: routeDoc{tag: "policies", summary: "The tenant's chains: per hook, the policies in order", response: catalog.Bindings{}}},
		{method: http.MethodPut, path: "/api/policies/bindings", auth: authTenant, handle: s.putBindings,
			doc: routeDoc{tag: "policies", summary: "Replace the chains (every policy is loaded first; the swap is atomic)",
				request: catalog.Bindings{}, response: catalog.Bindings{}}},
		{method: http.MethodPut, path: "/api/policies/{name}", auth: authTenant, handle: s.putPolicy,
			doc: routeDoc{tag: "policies", summary: "Upload a new version of a Lua or WASM policy (validated, tested, stored)",
				description: "JSON body, or the bare script with Content-Type text/x-lua, or the bare module with application/wasm. The name `bindings` is reserved.",
				request:     policyUpload{}, response: catalog.Version{}, status: http.StatusCreated}},
		{method: http.MethodGet, path: "/api/policies/{name}", auth: authTenant, handle: s.getPolicy,
			doc: routeDoc{tag: "policies", summary: "A policy and its versions", response: policyDetail{}}},
		{method: http.MethodGet, path: "/api/policies/{name}/versions/{version}", auth: authTenant, handle: s.getPolicyVersion,
			doc: routeDoc{tag: "policies", summary: "One version, with its source", response: catalog.Version{}}},
		{method: http.MethodPost, path: "/api/policies/{name}/activate", auth: authTenant, handle: s.activatePolicy,
			doc: routeDoc{tag: "policies", summary: "Make a version active (rollback: an older one); bound chains swap at once",
				request: activateRequest{}, response: catalog.Policy{}}},
		{method: http.MethodDelete, path: "/api/policies/{name}", auth: authTenant, handle: s.deletePolicy,
			doc: routeDoc{tag: "policies", summary: "Delete a policy that is not bound", status: http.StatusNoContent}},
	}
}

func (s *Server) listPolicies(c *fasthttp.RequestCtx, r *request) error {
	ps, err := s.d.Policies.List(r.tenant())
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, ps)
}

func (s *Server) putPolicy(c *fasthttp.RequestCtx, r *request) error {
	name := pathParam(c, "name")
	if name == "bindings" {
		return badRequest("invalid_policy_name", "the name bindings is reserved", d("param", "name"))
	}
	var up catalog.Upload
	mt, _, _ := mime.ParseMediaType(string(c.Request.Header.ContentType()))
	switch mt {
	case "text/x-lua", "application/x-lua":
		up = catalog.Upload{Kind: catalog.KindLua, Source: append([]byte(nil), c.Request.Body()...)}
	case "application/wasm":
		up = catalog.Upload{Kind: catalog.KindWASM, Source: append([]byte(nil), c.Request.Body()...)}
	default:
		var in policyUpload
		if err := decodeJSON(c, &in); err != nil {
			return err
		}
		up = catalog.Upload{Kind: in.Kind, Config: in.Config, Tests: in.Tests, Activate: in.Activate, Source: []byte(in.Source)}
		if in.Kind == catalog.KindWASM {
			up.Source = in.Module
		}
	}
	v, err := s.d.Policies.Put(r.ctx, r.tenant(), name, up)
	if err != nil {
		return err
	}
	r.log.Info("policy uploaded", "tenant", r.tenant(), "policy", name, "version", v.Version, "kind", v.Kind)
	return writeJSON(c, http.StatusCreated, v)
}

func (s *Server) getPolicy(c *fasthttp.RequestCtx, r *request) error {
	p, vs, err := s.d.Policies.Get(r.tenant(), pathParam(c, "name"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, policyDetail{Policy: p, Versions: vs})
}

func (s *Server) getPolicyVersion(c *fasthttp.RequestCtx, r *request) error {
	n, err := strconv.Atoi(pathParam(c, "version"))
	if err != nil || n < 1 {
		return notFound("policy_version_not_found", "versions are numbers from 1")
	}
	v, err := s.d.Policies.Version(r.tenant(), pathParam(c, "name"), n)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, v)
}

func (s *Server) activatePolicy(c *fasthttp.RequestCtx, r *request) error {
	var in activateRequest
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	p, err := s.d.Policies.Activate(r.ctx, r.tenant(), pathParam(c, "name"), in.Version)
	if err != nil {
		return err
	}
	r.log.Info("policy activated", "tenant", r.tenant(), "policy", p.Name, "version", p.Active)
	return writeJSON(c, http.StatusOK, p)
}

func (s *Server) deletePolicy(c *fasthttp.RequestCtx, r *request) error {
	if err := s.d.Policies.Delete(r.ctx, r.tenant(), pathParam(c, "name")); err != nil {
		return err
	}
	return writeNoContent(c)
}

func (s *Server) getBindings(c *fasthttp.RequestCtx, r *request) error {
	b, err := s.d.Policies.Bindings(r.tenant())
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, b)
}

func (s *Server) putBindings(c *fasthttp.RequestCtx, r *request) error {
	var in catalog.Bindings
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	b, err := s.d.Policies.SetBindings(r.ctx, r.tenant(), in)
	if err != nil {
		return err
	}
	r.log.Info("policy bindings changed", "tenant", r.tenant())
	return writeJSON(c, http.StatusOK, b)
}

// mapPolicyError translates catalog errors.
func mapPolicyError(err error) *Error {
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return notFound("policy_not_found", err.Error())
	case errors.Is(err, catalog.ErrVersionAbsent):
		return notFound("policy_version_not_found", err.Error())
	case errors.Is(err, catalog.ErrTestFailed):
		return newError(http.StatusUnprocessableEntity, "policy_test_failed", err.Error())
	case errors.Is(err, catalog.ErrUnknownKind):
		return badRequest("unknown_policy_kind", err.Error(), d("field", "kind"))
	case errors.Is(err, catalog.ErrBadBinding):
		return badRequest("invalid_binding", err.Error())
	case errors.Is(err, catalog.ErrInvalid), errors.Is(err, policy.ErrBadName):
		return badRequest("invalid_policy", err.Error())
	case errors.Is(err, catalog.ErrLimit):
		return conflict("policy_limit_reached", err.Error())
	case errors.Is(err, catalog.ErrBound):
		return conflict("policy_bound", err.Error())
	}
	return nil
}
