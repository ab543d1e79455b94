package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/wagate/wagate/config"
)

// The console (core/api/dashboard) driven in Debian's headless Chromium against the
// real gateway: the scenario of issue 14. It skips when no chromium is installed
// (.ci/run installs it). Screenshots of every page at 1280x800 and 390x844 go to
// $WAGATE_CONSOLE_SHOTS (default: a temp dir, removed after the test), and of each page
// in the dark theme at 390x844.

// chromiumPath finds the browser: $WAGATE_CHROMIUM, else chromium on PATH.
func chromiumPath() string {
	if p := os.Getenv("WAGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// bootAt boots the gateway from yaml on addr ("127.0.0.1:0" for a random port); the
// console test boots it twice on one address to restart it under the open page.
func bootAt(t *testing.T, yaml, addr string) *testGateway {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	g, err := openGateway(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatalf("openGateway: %v", err)
	}
	var ln net.Listener
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the old listener's port is being released
	}
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{t: t, g: g, base: "http://" + ln.Addr().String(), done: make(chan error, 1)}
	go func() { tg.done <- g.serve(ln) }()
	t.Cleanup(tg.stop)
	return tg
}

// browser is one Chromium tab on the console.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	axe   string
	errs  atomic.Value // []string: uncaught exceptions and CSP violations
}

func (b *browser) run(what string, actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates js (a promise is awaited) into out.
func (b *browser) eval(js string, out any) {
	b.t.Helper()
	b.run("eval "+trim(js), chromedp.Evaluate(js, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// waitJS polls the expression until it is true (bounded by the context's deadline).
func (b *browser) waitJS(what, js string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.Poll(js, nil, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		var banners string
		_ = chromedp.Run(b.ctx, chromedp.Evaluate(`location.hash + " | " + document.getElementById("banners").textContent + " | " + document.getElementById("view").innerText.slice(-400)`, &banners))
		b.t.Fatalf("waiting for %s (%s): %v; banners: %q; page errors: %v", what, js, err, banners, b.errs.Load())
	}
}

func (b *browser) fill(sel, value string) {
	b.t.Helper()
	b.run("fill "+sel, chromedp.SetValue(sel, value, chromedp.ByQuery))
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.run("click "+sel, chromedp.Click(sel, chromedp.ByQuery, chromedp.NodeVisible))
}

func (b *browser) text(js string) string {
	b.t.Helper()
	var s string
	b.eval(js, &s)
	return s
}

func (b *browser) goTo(hash, ready string) {
	b.t.Helper()
	b.eval(`location.hash = `+jsString(hash)+`; true`, nil)
	b.waitJS(hash, ready)
}

// check takes the page at both sizes: no sideways scroll at 390 and 360 wide, axe-core
// without violations in the light and the dark theme, a screenshot of each size.
func (b *browser) check(name string) {
	b.t.Helper()
	for _, vp := range []struct {
		w, h int64
		shot bool
	}{{1280, 800, true}, {360, 740, false}, {390, 844, true}} {
		b.run("viewport", chromedp.EmulateViewport(vp.w, vp.h))
		var sw, iw int64
		b.eval(`document.documentElement.scrollWidth`, &sw)
		b.eval(`window.innerWidth`, &iw)
		if vp.w < 1000 && sw > iw {
			var wide string
			b.eval(`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > innerWidth + 1).slice(0, 5).map(e => e.tagName + "." + e.className + "#" + e.id).join(", ")`, &wide)
			b.t.Errorf("%s at %dx%d scrolls sideways: scrollWidth %d > innerWidth %d (%s)", name, vp.w, vp.h, sw, iw, wide)
		}
		if vp.shot {
			var png []byte
			b.run("screenshot", chromedp.CaptureScreenshot(&png))
			if err := os.WriteFile(filepath.Join(b.shots, fmt.Sprintf("%s-%dx%d.png", name, vp.w, vp.h)), png, 0o644); err != nil {
				b.t.Fatal(err)
			}
		}
	}
	for _, theme := range []string{"light", "dark"} {
		b.run("theme", emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: theme}}))
		var res []struct {
			ID    string `json:"id"`
			Help  string `json:"help"`
			Nodes []struct {
				Target  []string `json:"target"`
				Summary string   `json:"failureSummary"`
			} `json:"nodes"`
		}
		var loaded bool
		b.eval(`typeof window.axe === "object"`, &loaded)
		if !loaded {
			b.run("inject axe", chromedp.Evaluate(b.axe+";true", nil))
		}
		b.eval(`(async () => { const r = await axe.run(document, {resultTypes: ["violations"]});
			return r.violations.map(v => ({id: v.id, help: v.help, nodes: v.nodes.slice(0, 3).map(n => ({target: n.target.map(String), failureSummary: n.failureSummary}))})); })()`, &res)
		for _, v := range res {
			b.t.Errorf("%s (%s theme): axe %s: %s: %+v", name, theme, v.ID, v.Help, v.Nodes)
		}
		if theme == "dark" {
			var png []byte
			b.run("screenshot", chromedp.CaptureScreenshot(&png))
			if err := os.WriteFile(filepath.Join(b.shots, name+"-dark-390x844.png"), png, 0o644); err != nil {
				b.t.Fatal(err)
			}
		}
	}
	b.run("theme", emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}}))
	b.run("viewport", chromedp.EmulateViewport(1280, 800))
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestConsoleInBrowser(t *testing.T) {
	exe := chromiumPath()
	if exe == "" {
		t.Skip("no chromium on PATH (apt-get install chromium, or set WAGATE_CHROMIUM): skipping the console browser test")
	}
	axeSrc, err := os.ReadFile("testdata/axe/axe.min.js")
	if err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("WAGATE_CONSOLE_SHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("console screenshots in %s", shots)

	var hooks atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooks.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	dir := t.TempDir()
	yaml := `
server:
  listen: 127.0.0.1:0
  shutdown_timeout: 5s
store:
  dir: ` + dir + `
  gc_interval: 0
admin:
  api_key: ` + adminKey + `
log:
  level: error
queue:
  rate_per_session: 0
  backoff_base: 10ms
webhooks:
  allow_networks: 127.0.0.1/32
  backoff_base: 10ms
providers:
  sandbox:
    send_latency: 0
    delivery_delay: 20ms
    read_delay: 200ms
`
	tg := bootAt(t, yaml, "127.0.0.1:0")
	addr := strings.TrimPrefix(tg.base, "http://")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("headless", "new"), chromedp.WindowSize(1280, 800),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	ctx, cancelT := context.WithTimeout(ctx, 110*time.Second)
	defer cancelT()
	b := &browser{t: t, ctx: ctx, base: tg.base, shots: shots, axe: string(axeSrc)}
	b.errs.Store([]string{})
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			b.errs.Store(append(b.errs.Load().([]string), "exception: "+e.ExceptionDetails.Error()))
		}
	})
	start := time.Now()
	// Record CSP violations from the first byte on (the injected script is not subject to the CSP).
	b.run("start", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(`window.__csp = []; document.addEventListener("securitypolicyviolation",
			e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`).Do(ctx)
		return err
	}), chromedp.EmulateViewport(1280, 800), chromedp.Navigate(tg.base+"/"))

	// Favicon and CSP header.
	if r := tg.do("GET", "/favicon.ico", "", nil); r.status != 200 || r.header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("/favicon.ico: %d %s", r.status, r.header.Get("Content-Type"))
	}
	for _, p := range []string{"/", "/static/app.js", "/static/pages/sessions.js"} {
		if csp := tg.do("GET", p, "", nil).header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", p, csp)
		}
	}

	// 1. Sign in with the admin key: the Tenants page; create a tenant and a second key.
	b.waitJS("sign-in form", `!!document.querySelector("#signin input")`)
	b.check("signin")
	b.fill("#signin input", adminKey)
	b.click("#signin button[type=submit]")
	b.waitJS("tenants page", `!!document.querySelector("#createTenant") && !!document.querySelector('nav a[href="#/tenants"]')`)
	b.fill("#createTenant input[name=id]", "acme")
	b.fill("#createTenant input[name=name]", "Acme <b>Corp</b>")
	b.click("#createTenant button[type=submit]")
	b.waitJS("first key", `!!document.querySelector('[data-tenant="acme"]') && !!document.querySelector("#issueKey")`)
	first := b.text(`document.querySelector("[data-secret]").textContent`)
	b.fill("#issueKey input", "console")
	b.click("#issueKey button[type=submit]")
	b.waitJS("second key", `document.querySelector("[data-out] [data-secret]") !== null`)
	key := b.text(`document.querySelector("[data-out] [data-secret]").textContent`)
	if key == "" || key == first {
		t.Fatalf("issued key %q (first %q)", key, first)
	}
	b.fill("#editPlan input[name=planSessions]", "7")
	b.fill("#editPlan input[name=planPerDay]", "500")
	b.click("#editPlan button[type=submit]")
	b.waitJS("plan saved", `document.querySelector('[data-tenant="acme"]').textContent.includes("7 sessions · 500 msgs/day")`)
	b.check("tenants")
	b.goTo("#/overview", `!!document.querySelector("#figures .stat")`)
	b.check("overview-admin")

	// 2. The tenant signs in and creates a sandbox session; its QR appears.
	b.click("#signout")
	b.waitJS("signed out", `!!document.querySelector("#signin input")`)
	b.fill("#signin input", key)
	b.click("#signin button[type=submit]")
	b.waitJS("sessions page", `!!document.querySelector("#createSession") && document.getElementById("conn").dataset.state === "on"`)
	b.fill("#createSession input[name=name]", "alpha")
	b.fill("#createSession textarea[name=metadata]", `note=<img src=x onerror="window.__xss=1">`)
	b.click("#createSession button[type=submit]")
	b.waitJS("alpha's QR", `(() => { const f = document.querySelector('figure.qr[data-session="alpha"]');
		return f && f.dataset.code && f.querySelector("img").src.startsWith("blob:"); })()`)
	// The sandbox link stands in for the phone's scan; the page turns WORKING by itself.
	if r := tg.do("POST", "/api/sandbox/alpha/link", key, map[string]any{"phone": "15550000001"}); r.status != 200 {
		t.Fatalf("link: %d %s", r.status, r.body)
	}
	b.waitJS("alpha WORKING", `!!document.querySelector('tr[data-session="alpha"][data-status="WORKING"]') && !document.querySelector('figure.qr[data-session="alpha"]')`)
	if got := b.text(`document.querySelector('tr[data-session="alpha"] .meta').textContent`); got != `note=<img src=x onerror="window.__xss=1">` {
		t.Errorf("session metadata shown as %q", got)
	}
	// A second session stays unlinked: its QR is what the restart must renew.
	b.fill("#createSession input[name=name]", "beta")
	b.click("#createSession button[type=submit]")
	b.waitJS("beta's QR", `!!document.querySelector('figure.qr[data-session="beta"][data-code]')`)
	// Its detail offers a pairing code instead of the QR.
	b.click(`button[aria-label="Details session beta"]`)
	b.waitJS("beta's detail", `!!document.querySelector("#sessionDetail input[name=phoneNumber]")`)
	b.waitJS("beta's backlog in its detail", `[...document.querySelectorAll("#sessionDetail dt")].some(dt => dt.textContent === "Messages waiting" && dt.nextElementSibling.textContent === "0")`)
	b.fill("#sessionDetail input[name=phoneNumber]", "15550000009")
	b.click("#sessionDetail form button[type=submit]")
	b.waitJS("pairing code", `/Enter this code on the phone: [0-9A-Z]{4}-?[0-9A-Z]{4}/.test(document.getElementById("sessionDetail").textContent)`)
	b.check("sessions")

	// 3. A message from the chat view: ticks reach read; an XSS payload is text.
	payload := `<script>window.__xss=2</script><img src=y onerror="window.__xss=3">`
	b.goTo("#/chats/alpha", `!!document.querySelector("#chatList") && document.querySelector("select[name=session]").value === "alpha"`)
	b.fill("input[name=chatId]", "15550000002")
	b.click("#openChat button[type=submit]")
	b.waitJS("reply box", `!document.getElementById("reply").hidden`)
	b.fill("#replyText", payload)
	b.click("#reply button[type=submit]")
	b.waitJS("ticks reach read", `!!document.querySelector('#thread li.out[data-status="read"]')`)
	if r := tg.do("POST", "/api/sandbox/alpha/inbound", key, map[string]any{"from": "15550000002", "text": payload}); r.status/100 != 2 {
		t.Fatalf("inbound: %d %s", r.status, r.body)
	}
	b.waitJS("inbound message", `!!document.querySelector("#thread li.in")`)
	for _, sel := range []string{"#thread li.out .body", "#thread li.in .body"} {
		if got := b.text(`document.querySelector(` + jsString(sel) + `).textContent`); got != payload {
			t.Errorf("%s shows %q, want the payload as text", sel, got)
		}
	}
	b.check("chats")

	// 4. Restart the gateway under the open page: the stream reconnects, the page
	// resyncs and shows beta's new QR; the disconnect banner clears.
	b.goTo("#/sessions", `!!document.querySelector('figure.qr[data-session="beta"][data-code]')`)
	oldQR := b.text(`document.querySelector('figure.qr[data-session="beta"]').dataset.code`)
	tg.stop()
	b.waitJS("stream lost", `document.getElementById("conn").dataset.state !== "on"`)
	tg = bootAt(t, yaml, addr)
	b.waitJS("resynced with a new QR", `(() => { const f = document.querySelector('figure.qr[data-session="beta"]');
		return document.getElementById("conn").dataset.state === "on" && f && f.dataset.code && f.dataset.code !== `+jsString(oldQR)+`; })()`)
	b.waitJS("alpha WORKING again", `!!document.querySelector('tr[data-session="alpha"][data-status="WORKING"]')`)
	b.waitJS("error banners cleared", `document.querySelectorAll("#banners .err").length === 0`)
	// alpha's detail: its health, pacing state and failures (GET /api/sessions/{session}/health).
	b.goTo("#/sessions/alpha", `!!document.querySelector('#sessionHealth[data-verdict="healthy"]') &&
		/Sent \(minute \/ hour \/ day\)[0-9]+ \/ [0-9]+ \/ [0-9]+/.test(document.getElementById("sessionPacing").textContent)`)

	// 5. A webhook, and a delivery in its log.
	b.goTo("#/webhooks", `!!document.querySelector("#createWebhook")`)
	b.fill("#createWebhook input[name=url]", receiver.URL+"/hook")
	b.click("#createWebhook button[type=submit]")
	b.waitJS("webhook listed", `!!document.querySelector("#webhookList tr[data-webhook]")`)
	if r := tg.do("POST", "/api/sessions/beta/restart", key, nil); r.status != 200 {
		t.Fatalf("restart beta: %d %s", r.status, r.body)
	}
	b.waitJS("a delivery", `!!document.querySelector('#webhookDetail tr[data-delivery][data-status="delivered"]')`)
	if hooks.Load() == 0 {
		t.Error("the receiver got no delivery")
	}
	b.check("webhooks")

	// 6. A Lua policy and its test vector, passing; then a vector that fails.
	b.goTo("#/policies", `!!document.querySelector("#uploadPolicy") && document.querySelector("#bindings").value !== ""`)
	b.fill("#uploadPolicy input[name=name]", "first")
	b.click("#uploadPolicy button[type=submit]")
	b.waitJS("vector passed", `!!document.querySelector('#testResult [data-result="pass"]') && !!document.querySelector('tr[data-policy="first"]')`)
	b.eval(`document.getElementById("policyTests").value = document.getElementById("policyTests").value.replace('"want": {"session": "a"}', '"want": {"session": "b"}'); true`, nil)
	b.click("#uploadPolicy button[type=submit]")
	b.waitJS("vector failed", `!!document.querySelector('#testResult [data-result="fail"]')`)
	b.check("policies")

	// 7. A campaign from a CSV, progressing live.
	b.goTo("#/campaigns", `!!document.querySelector("#createCampaign")`)
	b.fill("#createCampaign input[name=name]", "launch")
	b.fill("#campaignCSV", "phone,name\n15550000003,Ana\n15550000004,Bo\n")
	b.fill("#createCampaign input[name=sessions]", "alpha")
	b.click("#createCampaign button[type=submit]")
	b.waitJS("campaign progress", `(() => { const p = document.querySelector("#campaignList tr[data-campaign] progress"); return p && p.value >= 2; })()`)
	b.check("campaigns")

	// The tenant's overview: its own figures (GET /api/overview), not the gateway's.
	b.goTo("#/overview", `!!document.querySelector("#sessionStates .stat") && !!document.querySelector('[data-stat="perMinute"]')`)
	if got := b.text(`document.getElementById("view").textContent`); strings.Contains(got, "gateway-wide") || !strings.Contains(got, "webhook deliveries pending") {
		t.Errorf("the tenant's overview shows: %q", got)
	}
	b.check("overview")

	// 8. The admin opens acme read-only: the banner, acme's sessions without their write
	// controls, alpha's detail with its health; the usage on the Tenants page.
	b.click("#signout")
	b.waitJS("signed out", `!!document.querySelector("#signin input")`)
	b.fill("#signin input", adminKey)
	b.click("#signin button[type=submit]")
	b.waitJS("acme's usage", `(() => { const c = document.querySelector('[data-tenant="acme"] [data-usage]'); return !!c && /[0-9]+ \/ 500 messages today/.test(c.textContent); })()`)
	b.click(`button[aria-label="Open read-only: tenant acme"]`)
	b.waitJS("read-only sessions", `!document.getElementById("actas").hidden && document.getElementById("actas").textContent.includes("acme") &&
		!!document.querySelector('tr[data-session="alpha"][data-status="WORKING"]') && document.getElementById("conn").dataset.state === "on"`)
	var writable []string
	b.eval(`[...document.querySelectorAll("#view button, #view form")].filter(e => e.offsetParent !== null && !e.hasAttribute("data-read")).map(e => e.textContent.trim() || e.id)`, &writable)
	if len(writable) > 0 {
		t.Errorf("write controls shown in the read-only view: %v", writable)
	}
	if n := b.text(`String(document.querySelectorAll("figure.qr").length)`); n != "0" {
		t.Errorf("the read-only view shows %s QR codes", n)
	}
	b.click(`button[aria-label="Details session alpha"]`)
	b.waitJS("alpha's health", `!!document.querySelector('#sessionHealth[data-verdict="healthy"]') && !!document.querySelector("#sessionPacing") &&
		document.getElementById("sessionHealth").textContent.includes("Recent failures")`)
	b.check("readonly-sessions")
	b.click(`#actas button`)
	b.waitJS("back to Tenants", `document.getElementById("actas").hidden && !!document.querySelector("#createTenant")`)

	var xss any
	b.eval(`window.__xss === undefined ? null : window.__xss`, &xss)
	if xss != nil {
		t.Errorf("an XSS payload ran: window.__xss = %v", xss)
	}
	var csp []string
	b.eval(`window.__csp`, &csp)
	if len(csp) > 0 {
		t.Errorf("CSP violations: %v", csp)
	}
	if errs := b.errs.Load().([]string); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
	t.Logf("console browser scenario took %s", time.Since(start).Round(time.Millisecond))
}
