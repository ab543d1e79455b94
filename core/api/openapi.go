package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/tenant"
)

// The OpenAPI 3.1 document is generated from the route table at New and served at
// /api/openapi.json: paths and methods, summaries and tags, the ApiKey security of
// authenticated routes, path and query parameters, request and success bodies (JSON
// schemas made by reflection from the Go types in routeDoc), and the shared Error
// response for every 4xx and 5xx.

// apiVersion is the version of the HTTP API (info.version), not of the binary.
const apiVersion = "1.0.0"

// tagOrder lists the known tags in the order API browsers show them, with
// descriptions. Other tags follow in order of first use, without a description.
var tagOrder = []struct{ name, description string }{
	{"sessions", "Link WhatsApp numbers (sessions) and manage their lifecycle."},
	{"auth", "Pair a session: QR code or pairing code."},
	{"sending", "Send messages and follow their status."},
	{"events", "Live events over Server-Sent Events and WebSocket."},
	{"webhooks", "Signed, durable delivery of events to your endpoints: endpoints, secrets, delivery log, retry and replay."},
	{"policies", "Upload Lua and WASM policies, activate versions, bind the chains of each hook."},
	{"contacts", "Contacts of a session: list, check a number, about, picture, block; LIDs; which sessions talk with a contact."},
	{"profile", "The session's own profile: name, about, picture."},
	{"chats", "Chats of a session: read receipts, archive, unread, pin, delete, star."},
	{"presence", "Own presence, typing and recording, presence subscriptions (presence.update)."},
	{"groups", "Groups of a session: create, join by invite, participants and admins, subject, description, settings (group.v2.* events)."},
	{"calls", "Incoming calls: reject them (call.* events)."},
	{"labels", "WhatsApp Business labels and the chats they are on (label.* events)."},
	{"status", "Status updates (stories): text, image, video, voice, delete; who sees them."},
	{"lists", "Contact lists of campaigns: create, import (CSV, JSON, NDJSON), page, export (docs/campaigns.md)."},
	{"optouts", "The tenant's opt-out list: chats no campaign sends to, added by hand or by a stop word reply (optout.added)."},
	{"campaigns", "Campaigns: one message, personalised, to every contact of a list across the tenant's numbers, paced and durable."},
	{"channels", "WhatsApp channels (newsletters): list, create, follow, mute, preview; post by sending to the channel's id."},
	{"sandbox", "Drive the simulated WhatsApp network."},
	{"admin", "Manage tenants and their API keys (admin key)."},
	{"ops", "Health, readiness, metrics and this document."},
	{"server", "WAHA's server routes: ping, version, status."},
}

// paramPattern matches a router path parameter: {name}, {name?} or {name:regex}.
var paramPattern = regexp.MustCompile(`\{([^}:?]+)\??(?::[^}]*)?\}`)

// openapiPath turns a router pattern into an OpenAPI path: parameters become plain
// {name}.
func openapiPath(p string) string { return paramPattern.ReplaceAllString(p, "{$1}") }

func buildOpenAPI(table []route) ([]byte, error) {
	g := newSchemaGen()
	// The shared error schema first, so that a Go type named Error gets another name.
	g.defs["Error"] = map[string]any{
		"type":     "object",
		"required": []string{"error"},
		"properties": map[string]any{
			"error": map[string]any{
				"type":     "object",
				"required": []string{"code", "message"},
				"properties": map[string]any{
					"code":    map[string]any{"type": "string", "description": "Stable snake_case code, e.g. tenant_not_found (docs/api.md lists them)."},
					"message": map[string]any{"type": "string", "description": "Human-readable explanation; may change."},
					"details": map[string]any{"type": "object", "additionalProperties": true, "description": "Structured context, e.g. the offending field."},
				},
			},
		},
	}
	paths := map[string]any{}
	usedTags := map[string]bool{}
	var tagUse []string
	for _, rt := range table {
		p := openapiPath(rt.path)
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		m := strings.ToLower(rt.method)
		if _, dup := item[m]; dup {
			return nil, fmt.Errorf("route %s %s is in the table twice", rt.method, rt.path)
		}
		item[m] = g.operation(rt)
		if t := rt.doc.tag; t != "" && !usedTags[t] {
			usedTags[t] = true
			tagUse = append(tagUse, t)
		}
	}
	var tags []any
	known := map[string]bool{}
	for _, t := range tagOrder {
		known[t.name] = true
		if usedTags[t.name] {
			tags = append(tags, map[string]any{"name": t.name, "description": t.description})
		}
	}
	for _, t := range tagUse {
		if !known[t] {
			tags = append(tags, map[string]any{"name": t})
		}
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "wagate API",
			"version":     apiVersion,
			"description": "Multi-tenant WhatsApp gateway. Authenticate with the X-Api-Key header. Errors are {\"error\":{\"code\",\"message\",\"details\"}}; see docs/api.md.",
		},
		// Relative: the gateway that serves the document.
		"servers": []any{map[string]any{"url": "/", "description": "the gateway serving this document"}},
		"tags":    tags,
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"ApiKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-Api-Key",
					"description": "The admin key or a tenant key. A tenant key holds scopes (read, send, admin); each operation's x-wagate-scope is the one it needs (403 insufficient_scope otherwise)."},
				"ActAs": map[string]any{"type": "apiKey", "in": "header", "name": headerActAs,
					"description": "With the admin key in X-Api-Key only: read this tenant's resources as a read-scoped key of the tenant would (docs/api.md, acting as a tenant). Honoured on the operations that list it; any other tenant route answers 403 act_as_read_only, and a tenant key with it 403 act_as_admin_only."},
			},
			"schemas": g.defs,
			"responses": map[string]any{
				"Error": map[string]any{
					"description": "Error; every response carries X-Request-Id, 429 and some 503 carry Retry-After.",
					"content": map[string]any{
						"application/json": map[string]any{"schema": ref("Error")},
					},
				},
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func ref(name string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

// operation describes one route.
func (g *schemaGen) operation(rt route) map[string]any {
	op := map[string]any{
		"operationId": operationID(rt.method, rt.path),
		"summary":     rt.doc.summary,
	}
	if rt.doc.description != "" {
		op["description"] = rt.doc.description
	}
	if rt.doc.tag != "" {
		op["tags"] = []string{rt.doc.tag}
	}
	if rt.auth == authNone {
		op["security"] = []any{} // explicitly public
	} else {
		op["security"] = []any{map[string]any{"ApiKey": []string{}}}
		if rt.auth == authTenant && routeScope(rt) == tenant.ScopeRead {
			// Or the admin key acting as a tenant, read-only (actas.go).
			op["security"] = []any{map[string]any{"ApiKey": []string{}}, map[string]any{"ApiKey": []string{}, "ActAs": []string{}}}
		}
		who := "a tenant API key"
		if rt.auth == authAdmin {
			who = "the admin API key"
		} else if rt.auth == authAny {
			who = "any API key, a tenant's or the admin's"
		}
		op["x-wagate-auth"] = who
		if sc := routeScope(rt); sc != "" {
			op["x-wagate-scope"] = string(sc)
		}
	}
	var params []any
	for _, m := range paramPattern.FindAllStringSubmatch(rt.path, -1) {
		params = append(params, map[string]any{
			"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"},
		})
	}
	for _, q := range rt.doc.query {
		name, desc, _ := strings.Cut(q, ":")
		p := map[string]any{"name": strings.TrimSpace(name), "in": "query", "required": false,
			"schema": map[string]any{"type": "string"}}
		if desc = strings.TrimSpace(desc); desc != "" {
			p["description"] = desc
		}
		params = append(params, p)
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if rt.doc.request != nil {
		op["requestBody"] = map[string]any{
			"required": !rt.doc.requestOptional,
			"content": map[string]any{
				"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.doc.request))},
			},
		}
	}
	status := rt.doc.status
	if status == 0 {
		status = http.StatusOK
	}
	success := map[string]any{"description": http.StatusText(status)}
	switch {
	case status == http.StatusSwitchingProtocols:
		success["description"] = "Switching Protocols: then one JSON text frame per event, shaped as x-wagate-message."
		if rt.doc.response != nil {
			success["x-wagate-message"] = g.schema(reflect.TypeOf(rt.doc.response))
		}
	case rt.doc.contentType == "text/event-stream":
		success["description"] = "A stream of Server-Sent Events whose data is shaped as x-wagate-event."
		success["content"] = map[string]any{"text/event-stream": map[string]any{"schema": map[string]any{"type": "string"}}}
		if rt.doc.response != nil {
			success["x-wagate-event"] = g.schema(reflect.TypeOf(rt.doc.response))
		}
	case rt.doc.contentType != "":
		schema := map[string]any{"type": "string"}
		if strings.HasPrefix(rt.doc.contentType, "application/json") {
			schema = map[string]any{"type": "object"}
		}
		success["content"] = map[string]any{rt.doc.contentType: map[string]any{"schema": schema}}
	case rt.doc.response != nil:
		success["content"] = map[string]any{
			"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.doc.response))},
		}
	}
	errResp := map[string]any{"$ref": "#/components/responses/Error"}
	op["responses"] = map[string]any{
		strconv.Itoa(status): success,
		"4XX":                errResp,
		"5XX":                errResp,
	}
	return op
}

// operationID makes a stable id from method and path: GET /api/sessions/{session} →
// get_api_sessions_session.
func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, seg := range strings.Split(openapiPath(path), "/") {
		seg = strings.Trim(seg, "{}")
		if seg == "" {
			continue
		}
		b.WriteByte('_')
		for _, r := range seg {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
	}
	return b.String()
}

// schemaGen makes JSON schemas from Go types, the way encoding/json encodes them:
// structs by their json tags (omitempty/omitzero fields are optional, "-" skipped,
// embedded structs flattened, ",string" a string), slices and arrays as arrays, []byte
// as base64 strings, maps as objects, pointers as their element, time.Time as a
// date-time string, json.RawMessage and interfaces as any value, other TextMarshalers
// as strings. Named structs become components/schemas entries referenced by $ref.
type schemaGen struct {
	defs  map[string]any
	names map[reflect.Type]string
}

func newSchemaGen() *schemaGen {
	return &schemaGen{defs: map[string]any{}, names: map[reflect.Type]string{}}
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// schemaOverrides are types whose JSON form reflection cannot see (custom
// MarshalJSON). Add an entry when a request or response type uses a new one.
var schemaOverrides = map[reflect.Type]map[string]any{
	reflect.TypeFor[config.Duration](): {"type": "string", "description": "Go duration such as 30s or 1m30s (also accepted: a number of milliseconds).", "examples": []string{"30s"}},
	reflect.TypeFor[config.ByteSize](): {"type": "string", "description": "Size such as 512KiB or 1MiB (also accepted: a number of bytes).", "examples": []string{"1MiB"}},
	reflect.TypeFor[time.Duration]():   {"type": "integer", "description": "Nanoseconds."},
	reflect.TypeFor[chatid.ID]():       {"type": "string", "description": "Chat id: digits, @c.us, @s.whatsapp.net, @g.us, @lid or @newsletter.", "examples": []string{"15550000001@c.us"}},
	reflect.TypeFor[policy.Duration](): {"type": "string", "description": "Go duration such as 250ms or 1m30s.", "examples": []string{"250ms"}},
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	if o, ok := schemaOverrides[t]; ok {
		out := make(map[string]any, len(o))
		for k, v := range o {
			out[k] = v
		}
		return out
	}
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case rawType:
		return map[string]any{}
	}
	if t.Kind() == reflect.Pointer {
		return g.schema(t.Elem())
	}
	if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) {
		return map[string]any{"description": "Custom JSON encoding (" + t.String() + ")."}
	}
	if t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		s := map[string]any{"type": "integer"}
		if t.Kind() == reflect.Int64 || t.Kind() == reflect.Uint64 {
			s["format"] = "int64"
		}
		if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr {
			s["minimum"] = 0
		}
		return s
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem()), "minItems": t.Len(), "maxItems": t.Len()}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		name, ok := g.names[t]
		if !ok {
			name = g.defName(t)
			g.names[t] = name
			g.defs[name] = map[string]any{} // placeholder: recursive types refer to it
			g.defs[name] = g.object(t)
		}
		return ref(name)
	}
	// Interfaces, and kinds JSON cannot encode (documented as anything).
	return map[string]any{}
}

// defName picks the components/schemas name of a named type: its name, capitalised,
// qualified by its package when another type took the name already.
func (g *schemaGen) defName(t reflect.Type) string {
	clean := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
		s = b.String()
		if s != "" {
			s = strings.ToUpper(s[:1]) + s[1:]
		}
		return s
	}
	name := clean(t.Name())
	if _, taken := g.defs[name]; !taken {
		return name
	}
	pkg := t.PkgPath()
	if i := strings.LastIndexByte(pkg, '/'); i >= 0 {
		pkg = pkg[i+1:]
	}
	name = clean(pkg) + name
	for i := 2; ; i++ {
		if _, taken := g.defs[name]; !taken {
			return name
		}
		name = fmt.Sprintf("%s%d", strings.TrimRight(name, "0123456789"), i)
	}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		var s map[string]any
		if hasOpt(opts, "string") {
			s = map[string]any{"type": "string"}
		} else {
			s = g.schema(f.Type)
		}
		props[name] = s
		if !hasOpt(opts, "omitempty") && !hasOpt(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}
