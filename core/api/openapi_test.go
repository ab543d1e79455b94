package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

type openAPIDoc struct {
	OpenAPI    string                               `json:"openapi"`
	Paths      map[string]map[string]map[string]any `json:"paths"`
	Components struct {
		Schemas map[string]map[string]any `json:"schemas"`
	} `json:"components"`
}

func servedOpenAPI(t *testing.T, e *testEnv) openAPIDoc {
	t.Helper()
	resp, b := e.do("GET", "/api/openapi.json", "", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc openAPIDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// routeSetDiff compares the (method, path) pairs of the document with those
// registered on the router; it returns the pairs only one side has.
func routeSetDiff(doc openAPIDoc, r *router.Router) (onlyDoc, onlyRouter []string) {
	inDoc := map[string]bool{}
	for p, item := range doc.Paths {
		for m := range item {
			inDoc[strings.ToUpper(m)+" "+p] = true
		}
	}
	inRouter := map[string]bool{}
	for m, paths := range r.List() {
		for _, p := range paths {
			inRouter[m+" "+openapiPath(p)] = true
		}
	}
	for k := range inDoc {
		if !inRouter[k] {
			onlyDoc = append(onlyDoc, k)
		}
	}
	for k := range inRouter {
		if !inDoc[k] {
			onlyRouter = append(onlyRouter, k)
		}
	}
	slices.Sort(onlyDoc)
	slices.Sort(onlyRouter)
	return onlyDoc, onlyRouter
}

// TestOpenAPIMatchesRouter: the served document lists exactly the routes the router
// answers. Both come from the route table, so a route registered any other way shows
// up here as "only on the router" (checked below with a rogue route).
func TestOpenAPIMatchesRouter(t *testing.T) {
	e := newEnv(t)
	doc := servedOpenAPI(t, e)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	onlyDoc, onlyRouter := routeSetDiff(doc, e.srv.router)
	if len(onlyDoc)+len(onlyRouter) > 0 {
		t.Errorf("document and router disagree:\n only in the document: %v\n only on the router (registered outside the route table?): %v", onlyDoc, onlyRouter)
	}
	if len(doc.Paths) < 8 {
		t.Errorf("only %d paths documented", len(doc.Paths))
	}

	// The check catches a route registered behind the table's back.
	e.srv.router.GET("/rogue", func(*fasthttp.RequestCtx) {})
	if _, onlyRouter := routeSetDiff(doc, e.srv.router); !slices.Equal(onlyRouter, []string{"GET /rogue"}) {
		t.Errorf("rogue route not detected: %v", onlyRouter)
	}
}

func TestOpenAPIOperations(t *testing.T) {
	e := newEnv(t)
	doc := servedOpenAPI(t, e)

	get := doc.Paths["/api/admin/tenants/{id}"]["get"]
	if get == nil {
		t.Fatal("GET /api/admin/tenants/{id} missing")
	}
	params, _ := get["parameters"].([]any)
	if len(params) != 1 || params[0].(map[string]any)["name"] != "id" || params[0].(map[string]any)["in"] != "path" {
		t.Errorf("parameters = %v", params)
	}
	if _, ok := get["security"]; !ok {
		t.Error("admin route without security")
	}
	responses := get["responses"].(map[string]any)
	for _, code := range []string{"200", "4XX", "5XX"} {
		if _, ok := responses[code]; !ok {
			t.Errorf("responses lack %s: %v", code, responses)
		}
	}
	if sec, ok := doc.Paths["/health"]["get"]["security"].([]any); !ok || len(sec) != 0 {
		t.Errorf("/health security = %v; want [] (explicitly public)", doc.Paths["/health"]["get"]["security"])
	}
	post := doc.Paths["/api/admin/tenants"]["post"]
	if _, ok := post["responses"].(map[string]any)["201"]; !ok {
		t.Error("POST /api/admin/tenants: no 201 response")
	}
	events := doc.Paths["/api/events"]["get"]
	var names []string
	for _, p := range events["parameters"].([]any) {
		names = append(names, p.(map[string]any)["name"].(string))
	}
	if !slices.Contains(names, "session") || !slices.Contains(names, "events") {
		t.Errorf("/api/events parameters = %v", names)
	}

	// Schemas from Go types.
	req := doc.Components.Schemas["CreateTenantRequest"]
	props, _ := req["properties"].(map[string]any)
	for _, f := range []string{"id", "name", "plan"} {
		if props[f] == nil {
			t.Errorf("CreateTenantRequest lacks %s: %v", f, req)
		}
	}
	if req["required"] != nil {
		t.Errorf("CreateTenantRequest has required fields %v; all are optional", req["required"])
	}
	ten := doc.Components.Schemas["Tenant"]
	created := ten["properties"].(map[string]any)["createdAt"].(map[string]any)
	if created["type"] != "string" || created["format"] != "date-time" {
		t.Errorf("Tenant.createdAt = %v", created)
	}
	env := doc.Components.Schemas["Envelope"]
	if p := env["properties"].(map[string]any)["payload"].(map[string]any); len(p) != 0 {
		t.Errorf("Envelope.payload (json.RawMessage) = %v, want {}", p)
	}
	if doc.Components.Schemas["Error"] == nil {
		t.Error("no Error schema")
	}
}

func TestSchemaGenerator(t *testing.T) {
	type Named string
	type inner struct {
		X int `json:"x"`
	}
	type Embedded struct {
		E string `json:"e"`
	}
	type node struct {
		Embedded
		Name     Named             `json:"name"`
		Opt      *int              `json:"opt,omitempty"`
		Zero     time.Time         `json:"zero,omitzero"`
		Skip     string            `json:"-"`
		AsString int64             `json:"asString,string"`
		Bytes    []byte            `json:"bytes"`
		Tags     map[string]string `json:"tags"`
		Kids     []*node           `json:"kids"`
		Anon     struct{ A bool }  `json:"anon"`
		In       inner             `json:"in"`
		Any      any               `json:"any"`
		hidden   int
	}
	g := newSchemaGen()
	got := g.schema(reflect.TypeOf(node{}))
	if got["$ref"] != "#/components/schemas/Node" {
		t.Fatalf("ref = %v", got)
	}
	n := g.defs["Node"].(map[string]any)
	props := n["properties"].(map[string]any)
	check := func(field string, want map[string]any) {
		t.Helper()
		if !reflect.DeepEqual(props[field], want) {
			t.Errorf("%s = %v, want %v", field, props[field], want)
		}
	}
	check("e", map[string]any{"type": "string"})
	check("name", map[string]any{"type": "string"})
	check("opt", map[string]any{"type": "integer"})
	check("zero", map[string]any{"type": "string", "format": "date-time"})
	check("asString", map[string]any{"type": "string"})
	check("bytes", map[string]any{"type": "string", "contentEncoding": "base64"})
	check("tags", map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}})
	check("kids", map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/Node"}})
	check("anon", map[string]any{"type": "object", "properties": map[string]any{"A": map[string]any{"type": "boolean"}}, "required": []string{"A"}})
	check("in", map[string]any{"$ref": "#/components/schemas/Inner"})
	check("any", map[string]any{})
	for _, f := range []string{"Skip", "-", "hidden"} {
		if _, ok := props[f]; ok {
			t.Errorf("%s should not be documented", f)
		}
	}
	req := n["required"].([]string)
	if slices.Contains(req, "opt") || slices.Contains(req, "zero") || !slices.Contains(req, "name") || !slices.Contains(req, "e") {
		t.Errorf("required = %v", req)
	}
}

// TestOpenAPINoOpaqueTypes: every type with a custom JSON encoding that the document
// reaches has an entry in schemaOverrides, so generated clients get its real type (a
// string for chat ids) instead of "any value".
func TestOpenAPINoOpaqueTypes(t *testing.T) {
	e := newEnv(t)
	_, b := e.do("GET", "/api/openapi.json", "", "")
	var opaque []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if d, _ := v["description"].(string); strings.HasPrefix(d, "Custom JSON encoding") {
				opaque = append(opaque, path+": "+d)
			}
			for k, x := range v {
				walk(path+"/"+k, x)
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		}
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	walk("", doc)
	slices.Sort(opaque)
	if len(opaque) > 0 {
		t.Errorf("%d schemas of types with a custom JSON encoding but no schemaOverrides entry, e.g.:\n%s", len(opaque), strings.Join(opaque[:min(5, len(opaque))], "\n"))
	}
	acct := servedOpenAPI(t, e).Components.Schemas["Account"]
	if id, _ := acct["properties"].(map[string]any)["id"].(map[string]any); id["type"] != "string" {
		t.Errorf("Account.id = %v; want a string schema", id)
	}
}

// The act-as header (security scheme ActAs) is documented on exactly the routes that
// honour it: tenant routes of the read scope.
func TestOpenAPIActAsHeader(t *testing.T) {
	e := newEnv(t)
	doc := servedOpenAPI(t, e)
	hasHeader := func(op map[string]any) bool {
		alts, _ := op["security"].([]any)
		for _, a := range alts {
			if _, ok := a.(map[string]any)["ActAs"]; ok {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		method, path string
		want         bool
	}{
		{"get", "/api/sessions", true},
		{"get", "/api/messages/{id}", true},
		{"post", "/api/sendText", false},          // send scope
		{"get", "/api/{session}/auth/qr", false},  // admin scope
		{"get", "/api/admin/tenants/{id}", false}, // an admin route
		{"get", "/health", false},                 // public
	} {
		op := doc.Paths[c.path][c.method]
		if op == nil {
			t.Errorf("%s %s missing", c.method, c.path)
			continue
		}
		if got := hasHeader(op); got != c.want {
			t.Errorf("%s %s: act-as header documented %v, want %v", c.method, c.path, got, c.want)
		}
	}
}
