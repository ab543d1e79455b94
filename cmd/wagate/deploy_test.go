package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wagate/wagate/config"
)

// The files under deploy/ (the Grafana dashboard, the Prometheus alert rules) are
// checked against the gateway itself: every metric their queries name must be one a
// running gateway exports, every alert has a runbook in docs/operations.md and a unit
// test in alerts_test.yml, and promtool checks and tests the rules when installed.

const deployDir = "../../deploy"

// promqlMetricNames returns the metric names a PromQL expression (or a Grafana
// label_values(metric, label) query) selects. It is a tokenizer, not a parser: strings,
// label matchers {...}, ranges [...], grouping clauses by/without/on/ignoring/group_x
// (...) and Grafana's $variables are removed, then every identifier that is neither
// a keyword nor a function call is a metric name.
func promqlMetricNames(expr string) []string {
	s := labelValuesRE.ReplaceAllString(expr, "$1")
	s = stringRE.ReplaceAllString(s, `""`)
	s = matchersRE.ReplaceAllString(s, " ")
	s = rangeRE.ReplaceAllString(s, " ")
	s = groupingRE.ReplaceAllString(s, " ")
	s = variableRE.ReplaceAllString(s, " ")
	var names []string
	for _, m := range identRE.FindAllStringSubmatchIndex(s, -1) {
		word := s[m[2]:m[3]]
		rest := strings.TrimLeft(s[m[3]:], " \t\n")
		if strings.HasPrefix(rest, "(") || promqlKeywords[strings.ToLower(word)] {
			continue // a function or an aggregation, or an operator word
		}
		if m[2] > 0 && (s[m[2]-1] >= '0' && s[m[2]-1] <= '9' || s[m[2]-1] == '.') {
			continue // the unit of a duration or the exponent of a number: 5m, 1e9
		}
		if !slices.Contains(names, word) {
			names = append(names, word)
		}
	}
	sort.Strings(names)
	return names
}

var (
	labelValuesRE = regexp.MustCompile(`label_values\(\s*([^,()]+?)\s*,\s*[a-zA-Z_]\w*\s*\)`)
	stringRE      = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	matchersRE    = regexp.MustCompile(`\{[^{}]*\}`)
	rangeRE       = regexp.MustCompile(`\[[^\[\]]*\]`)
	groupingRE    = regexp.MustCompile(`(?i)\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	variableRE    = regexp.MustCompile(`\$\{?\w+\}?`)
	identRE       = regexp.MustCompile(`(?:^|[^a-zA-Z0-9_:])([a-zA-Z_:][a-zA-Z0-9_:]*)`)

	promqlKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true,
	}
)

func TestPromQLMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`up{job="wagate"} == 0`, []string{"up"}},
		{`sum by (state) (wagate_sessions{instance=~"$instance"})`, []string{"wagate_sessions"}},
		{`histogram_quantile(0.99, sum by (le, route) (rate(wagate_http_request_duration_seconds_bucket{a="b"}[$__rate_interval])))`,
			[]string{"wagate_http_request_duration_seconds_bucket"}},
		{`process_max_fds{job="wagate"} < wagate_open_files_needed{job="wagate"}`, []string{"process_max_fds", "wagate_open_files_needed"}},
		{"sum by (instance) (rate(x_total{outcome=~\"sent|failed\"}[10m]))\n  / sum by (instance) (rate(y_total[10m])) > 0.1", []string{"x_total", "y_total"}},
		{`a > 1000 and deriv(a[15m]) > 0 or b offset 5m unless on (instance) c`, []string{"a", "b", "c"}},
		{`wagate_disk_free_bytes / wagate_disk_total_bytes < 0.15 and wagate_disk_low == 0`,
			[]string{"wagate_disk_free_bytes", "wagate_disk_low", "wagate_disk_total_bytes"}},
		{`label_values(wagate_sessions, instance)`, []string{"wagate_sessions"}},
		{`sum(rate(q{l="a{b}"}[5m])) * 60 + 1e9`, []string{"q"}},
		{`label_replace(m, "dst", "$1", "src", "(.*)")`, []string{"m"}},
	} {
		if got := promqlMetricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.expr, got, c.want)
		}
	}
}

// deployQuery is one PromQL expression of a deploy file, and where it is.
type deployQuery struct{ where, expr string }

// dashboardQueries returns every query of the Grafana dashboard: panel targets (rows'
// panels included) and the templating variables of type query.
func dashboardQueries(t *testing.T) []deployQuery {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana", "wagate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("wagate.json: %v", err)
	}
	var qs []deployQuery
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			where := path
			if title, ok := v["title"].(string); ok {
				where = path + "/" + title
			}
			if expr, ok := v["expr"].(string); ok {
				qs = append(qs, deployQuery{where, expr})
			}
			if def, ok := v["definition"].(string); ok && v["type"] == "query" { // a templating variable
				qs = append(qs, deployQuery{where + "/$" + fmt.Sprint(v["name"]), def})
			}
			for k, x := range v {
				walk(where+"."+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		}
	}
	walk("wagate.json", doc)
	return qs
}

// alertRules is deploy/prometheus/alerts.yml.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadAlerts(t *testing.T) alertRules {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var r alertRules
	if err := yaml.Unmarshal(b, &r); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	return r
}

func alertQueries(t *testing.T) []deployQuery {
	var qs []deployQuery
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			qs = append(qs, deployQuery{"alerts.yml/" + r.Alert + r.Record, r.Expr})
		}
	}
	return qs
}

// prometheusOwn are the series Prometheus makes itself for every target.
var prometheusOwn = map[string]bool{"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true}

// TestDeployQueriesUseExportedMetrics boots the gateway, makes it do what every panel
// and alert watches (sessions linked, sent and banned, webhooks delivered and failing,
// a bound policy, storage measured) so that labelled series exist, then scrapes
// /metrics until every metric the dashboard and the alerts name is there. A name the
// gateway does not export fails the test.
func TestDeployQueriesUseExportedMetrics(t *testing.T) {
	queries := append(dashboardQueries(t), alertQueries(t)...)
	if len(queries) < 40 {
		t.Fatalf("only %d queries found in the dashboard and alerts", len(queries))
	}
	wanted := map[string][]string{} // metric -> where
	for _, q := range queries {
		names := promqlMetricNames(q.expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", q.where, q.expr)
		}
		for _, n := range names {
			wanted[n] = append(wanted[n], q.where)
		}
	}

	tg := bootYAML(t, t.TempDir(), `
webhooks:
  allow_networks: 127.0.0.1/32
  backoff_base: 10ms
retention:
  usage_interval: 100ms
`)
	key := tg.createTenant("ops")
	for _, name := range []string{"de", "uk"} {
		if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": name}); r.status != 201 {
			t.Fatalf("create session %s: %d %s", name, r.status, r.body)
		}
		if r := tg.do("POST", "/api/sandbox/"+name+"/link", key, map[string]any{}); r.status != 200 {
			t.Fatalf("link %s: %d %s", name, r.status, r.body)
		}
		waitWorking(t, tg, key, name)
	}
	if r := tg.raw("PUT", "/api/policies/by-country", key, "text/x-lua", countryRouter); r.status != 201 {
		t.Fatalf("upload policy: %d %s", r.status, r.body)
	}
	if r := tg.do("PUT", "/api/policies/bindings", key, map[string]any{"route": []map[string]any{{"policy": "by-country"}}}); r.status != 200 {
		t.Fatalf("bind policy: %d %s", r.status, r.body)
	}
	good := newHookReceiver(t)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	for _, url := range []string{good.srv.URL, failing.URL} {
		if r := tg.do("POST", "/api/webhooks", key, map[string]any{"url": url, "events": []string{"message.ack", "session.status"}}); r.status != 201 {
			t.Fatalf("create webhook %s: %d %s", url, r.status, r.body)
		}
	}
	for i := range 5 {
		if r := tg.do("POST", "/api/sendText", key, map[string]any{"chatId": fmt.Sprintf("4477009001%02d", i), "text": "hi"}); r.status != 202 {
			t.Fatalf("send: %d %s", r.status, r.body)
		}
	}
	good.waitFor(t, "message.ack", "status", "sent")
	// A ban: the session goes FAILED temporary_ban, a cause not retried.
	if r := tg.do("PUT", "/api/sandbox/de/faults", key, map[string]any{"temp_ban": true}); r.status != 200 {
		t.Fatalf("temp_ban: %d %s", r.status, r.body)
	}

	var missing []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		exported := scrapeNames(t, tg.base)
		missing = missing[:0]
		for n := range wanted {
			// The process collector exports process_* in full on Linux only.
			if !exported[n] && !prometheusOwn[n] && !(runtime.GOOS != "linux" && strings.HasPrefix(n, "process_")) {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	sort.Strings(missing)
	for _, n := range missing {
		t.Errorf("%s is not exported by the gateway; used by %v", n, wanted[n])
	}
	if len(missing) == 0 {
		t.Logf("%d queries name %d metrics, all exported", len(queries), len(wanted))
	}
}

// scrapeNames returns the names of the samples /metrics shows now (histograms as their
// _bucket, _sum and _count series, summaries with _sum and _count too).
func scrapeNames(t *testing.T, base string) map[string]bool {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// TestAlertRunbooks: every alert has a severity, a summary, a runbook_url pointing to a
// heading of docs/operations.md, and a unit test in alerts_test.yml.
func TestAlertRunbooks(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "#") {
			anchors[githubAnchor(strings.TrimLeft(line, "# "))] = true
		}
	}
	tests, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "https://github.com/wagate/wagate/blob/main/docs/operations.md#"
	n := 0
	for _, g := range loadAlerts(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: summary or description missing", r.Alert)
			}
			url := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(url, prefix)
			if !ok || !anchors[anchor] {
				t.Errorf("%s: runbook_url %q is not a heading of docs/operations.md", r.Alert, url)
			}
			if !strings.Contains(string(tests), "alertname: "+r.Alert+"\n") {
				t.Errorf("%s: no test in alerts_test.yml", r.Alert)
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d alerts", n)
	}
}

// githubAnchor is the anchor GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestAlertRulesPromtool runs promtool's rule checks and the unit tests of every alert
// (.ci/run installs promtool from Debian's prometheus package).
func TestAlertRulesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian: apt-get install prometheus): alert rules not checked")
	}
	dir := filepath.Join(deployDir, "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "prometheus.yml")); err == nil {
		cmd := exec.Command(promtool, "check", "config", "--syntax-only", "prometheus.yml")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check config: %v\n%s", err, out)
		}
	}
}

// dockerUsable reports whether a docker daemon answers, and why not.
func dockerUsable(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker not installed: image not built")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("docker daemon not reachable (%v): %s", err, firstLine(out))
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// TestDockerImage builds the image from the Dockerfile, runs it, and waits for its
// HEALTHCHECK (wagate health) to report healthy; `wagate version` runs in it too.
func TestDockerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: image not built")
	}
	dockerUsable(t)
	tag := fmt.Sprintf("wagate-test:%d", time.Now().UnixNano())
	build := exec.Command("docker", "build", "-t", tag, "--build-arg", "VERSION=v0.0.0-test", "../..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	out, err := exec.Command("docker", "run", "--rm", tag, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "wagate v0.0.0-test") {
		t.Errorf("docker run version: %v %s", err, out)
	}
	out, err = exec.Command("docker", "run", "-d", "-e", "WAGATE_ADMIN_API_KEY="+adminKey,
		"--health-interval", "1s", "--health-start-period", "1s", tag).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command("docker", "inspect", "--format", "{{.State.Health.Status}}", id).CombinedOutput()
		status := strings.TrimSpace(string(out))
		if err == nil && status == "healthy" {
			break
		}
		if time.Now().After(deadline) || status == "unhealthy" {
			logs, _ := exec.Command("docker", "logs", id).CombinedOutput()
			t.Fatalf("container health %q (%v); logs:\n%s", status, err, logs)
		}
		time.Sleep(500 * time.Millisecond)
	}
	out, _ = exec.Command("docker", "inspect", "--format", "{{.Config.User}}", tag).CombinedOutput()
	if u := strings.TrimSpace(string(out)); u == "" || u == "0" || u == "root" || strings.HasPrefix(u, "0:") {
		t.Errorf("the image runs as user %q, want a non-root user", u)
	}
}

// TestComposeConfig checks deploy/compose.yaml: the three services, every file it
// mounts present, the job Prometheus scrapes named as the alerts expect; then validates
// it with docker compose when available.
func TestComposeConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, name := range []string{"wagate", "prometheus", "grafana"} {
		svc, ok := compose.Services[name]
		if !ok {
			t.Errorf("compose.yaml: no service %s", name)
		}
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(deployDir, src)); err != nil {
					t.Errorf("compose.yaml: %s mounts %s: %v", name, src, err)
				}
			}
		}
	}
	prom, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(prom, &pc); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if len(pc.ScrapeConfigs) == 0 || pc.ScrapeConfigs[0].JobName != "wagate" || !slices.Contains(pc.RuleFiles, "/etc/prometheus/alerts.yml") {
		t.Errorf("prometheus.yml: jobs %+v, rule files %v; want job wagate and /etc/prometheus/alerts.yml", pc.ScrapeConfigs, pc.RuleFiles)
	}

	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker not installed: compose.yaml not validated")
	}
	if out, err := exec.Command("docker", "compose", "version").CombinedOutput(); err != nil {
		t.Skipf("docker compose not available (%v): %s", err, firstLine(out))
	}
	cmd := exec.Command("docker", "compose", "-f", filepath.Join(deployDir, "compose.yaml"), "config", "--quiet")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("docker compose config: %v\n%s", err, out)
	}
}

// TestPackagingFiles: the Dockerfile builds a static binary for a non-root image with a
// /data volume and a healthcheck that needs no curl; the systemd unit is hardened.
func TestPackagingFiles(t *testing.T) {
	for _, c := range []struct {
		file string
		want []string
	}{
		{"../../Dockerfile", []string{"CGO_ENABLED=0", "USER 65532", `VOLUME ["/data"]`,
			`HEALTHCHECK`, `"/usr/local/bin/wagate", "health"`, "WAGATE_STORE_DIR=/data", "WAGATE_SERVER_LISTEN=0.0.0.0:8080"}},
		{"../../.dockerignore", []string{".git", "data"}},
		{filepath.Join(deployDir, "systemd", "wagate.service"), []string{"LimitNOFILE=65536", "ProtectSystem=strict",
			"DynamicUser=yes", "StateDirectory=wagate", "Restart=on-failure", "NoNewPrivileges=yes",
			"Environment=WAGATE_STORE_DIR=/var/lib/wagate", "ExecStart=/usr/local/bin/wagate serve"}},
		{"../../LICENSE", []string{"Apache License", "Version 2.0, January 2004"}},
	} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: no %q", c.file, w)
			}
		}
	}
	// The build stage's Go is the one go.mod asks for.
	mod, _ := os.ReadFile("../../go.mod")
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	docker, _ := os.ReadFile("../../Dockerfile")
	if goLine == nil || !strings.Contains(string(docker), "ARG GO_VERSION="+string(goLine[1])+"\n") {
		t.Errorf("Dockerfile: ARG GO_VERSION is not go.mod's go version %q", goLine)
	}
	if path, err := exec.LookPath("systemd-analyze"); err == nil {
		// verify checks every directive; the only complaint allowed is the binary not
		// being installed on this machine.
		out, _ := exec.Command(path, "verify", filepath.Join(deployDir, "systemd", "wagate.service")).CombinedOutput()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" && !strings.Contains(line, "/usr/local/bin/wagate") {
				t.Errorf("systemd-analyze verify: %s", line)
			}
		}
	}
}

// composeInterpolate resolves compose's ${VAR}, ${VAR:-default} and ${VAR:?error} in s
// from env; a required variable missing is an error.
func composeInterpolate(s string, env map[string]string) (string, error) {
	var err error
	out := composeVarRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := composeVarRE.FindStringSubmatch(m)
		name, op, arg := sub[1], sub[2], sub[3]
		if v, ok := env[name]; ok && v != "" {
			return v
		}
		switch op {
		case ":-":
			return arg
		case ":?":
			err = fmt.Errorf("%s is required: %s", name, arg)
		}
		return ""
	})
	return out, err
}

var composeVarRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}`)

// TestComposeClusterConfig checks deploy/compose-cluster.yaml: three nats-server in one
// JetStream cluster, each routing to all three, at go.mod's nats-server version; three
// wagate, each on its own nats-server and volume, with distinct node ids and host ports.
// The configuration each wagate gets (the image's gateway.yaml and ENV, then the
// service's environment) passes config validation, cluster mode included; the admin key
// must be given.
func TestComposeClusterConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "compose-cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type service struct {
		Image       string            `yaml:"image"`
		Build       map[string]any    `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	}
	var compose struct {
		Services map[string]service `yaml:"services"`
		Volumes  map[string]any     `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("compose-cluster.yaml: %v", err)
	}

	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	natsVersion := regexp.MustCompile(`(?m)^\s*github.com/nats-io/nats-server/v2 v(\S+)`).FindSubmatch(mod)
	if natsVersion == nil {
		t.Fatal("go.mod: no nats-server")
	}
	routes := "nats://nats-1:6222,nats://nats-2:6222,nats://nats-3:6222"
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("nats-%d", i)
		svc, ok := compose.Services[name]
		if !ok {
			t.Errorf("no service %s", name)
			continue
		}
		if want := "nats:" + string(natsVersion[1]) + "-alpine"; svc.Image != want {
			t.Errorf("%s: image %q, want %q (go.mod's nats-server)", name, svc.Image, want)
		}
		flags := map[string]string{}
		for j := 0; j+1 < len(svc.Command); j++ {
			if strings.HasPrefix(svc.Command[j], "--") && !strings.HasPrefix(svc.Command[j+1], "--") {
				flags[svc.Command[j]] = svc.Command[j+1]
			}
		}
		if !slices.Contains(svc.Command, "--jetstream") || flags["--name"] != name || flags["--cluster_name"] != "wagate" ||
			flags["--routes"] != routes || flags["--cluster"] != "nats://0.0.0.0:6222" || flags["--store_dir"] != "/data" {
			t.Errorf("%s: command %q: want JetStream, --name %s, cluster wagate, routes to all three, store in /data", name, svc.Command, name)
		}
		if !slices.Contains(svc.Volumes, name+"-data:/data") {
			t.Errorf("%s: volumes %q, want %s-data:/data", name, svc.Volumes, name)
		}
		if len(svc.Healthcheck.Test) == 0 || !strings.Contains(strings.Join(svc.Healthcheck.Test, " "), "8222/healthz") || flags["--http_port"] != "8222" {
			t.Errorf("%s: no healthcheck on the monitoring port 8222", name)
		}
	}

	// What each wagate runs with: the image's default config and ENV, then its environment.
	gatewayYAML, err := os.ReadFile("../../gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docker, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	imageEnv := map[string]string{}
	for _, m := range regexp.MustCompile(`(WAGATE_[A-Z_]+)=(\S+)`).FindAllStringSubmatch(string(docker), -1) {
		imageEnv[m[1]] = m[2]
	}
	if imageEnv["WAGATE_STORE_DIR"] != "/data" {
		t.Fatalf("Dockerfile ENV: %v", imageEnv)
	}
	host := map[string]string{"WAGATE_ADMIN_API_KEY": adminKey}
	seen := map[string]string{} // node id, nats url, host port -> service
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("wagate-%d", i)
		svc, ok := compose.Services[name]
		if !ok {
			t.Errorf("no service %s", name)
			continue
		}
		if svc.Build["dockerfile"] != "Dockerfile" || svc.Build["context"] != ".." {
			t.Errorf("%s: build %v, want the repository's Dockerfile", name, svc.Build)
		}
		if _, err := composeInterpolate(svc.Environment["WAGATE_ADMIN_API_KEY"], nil); err == nil {
			t.Errorf("%s: starts without WAGATE_ADMIN_API_KEY (every node needs the same configured key)", name)
		}
		env := maps.Clone(imageEnv)
		for k, v := range svc.Environment {
			if env[k], err = composeInterpolate(v, host); err != nil {
				t.Fatalf("%s: %s: %v", name, k, err)
			}
		}
		lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		cfg, err := config.Parse(gatewayYAML, lookup)
		for _, e := range flattenErrors(err) {
			t.Errorf("%s: its configuration does not validate: %v", name, e)
		}
		if err != nil {
			continue
		}
		if !cfg.Cluster.Enabled {
			t.Errorf("%s: cluster.enabled is not on", name)
		}
		if svc.Environment["WAGATE_CLUSTER_ENABLED"] != "true" {
			t.Errorf("%s: WAGATE_CLUSTER_ENABLED %q", name, svc.Environment["WAGATE_CLUSTER_ENABLED"])
		}
		c := cfg.Cluster
		natsSvc := fmt.Sprintf("nats-%d", i)
		if c.NATSURL != "nats://"+natsSvc+":4222" || c.Replicas != 3 || c.NodeID == "" || c.Embedded {
			t.Errorf("%s: cluster %+v, want its own nats-server %s, replicas 3, a node id", name, c, natsSvc)
		}
		if cfg.Admin.APIKey != adminKey || cfg.Store.Dir != "/data" || cfg.Server.Listen != "0.0.0.0:8080" {
			t.Errorf("%s: admin key %q, store %q, listen %q", name, cfg.Admin.APIKey, cfg.Store.Dir, cfg.Server.Listen)
		}
		if dep, ok := svc.DependsOn[natsSvc]; !ok || dep.Condition != "service_healthy" {
			t.Errorf("%s: depends_on %v, want %s healthy", name, svc.DependsOn, natsSvc)
		}
		if !slices.Contains(svc.Volumes, name+"-data:/data") {
			t.Errorf("%s: volumes %q, want %s-data:/data", name, svc.Volumes, name)
		}
		if len(svc.Ports) != 1 || !strings.HasPrefix(svc.Ports[0], "127.0.0.1:") || !strings.HasSuffix(svc.Ports[0], ":8080") {
			t.Errorf("%s: ports %q, want one loopback port to 8080", name, svc.Ports)
		}
		for _, k := range []string{"node id " + c.NodeID, "nats " + c.NATSURL, "port " + strings.Join(svc.Ports, ",")} {
			if other, dup := seen[k]; dup {
				t.Errorf("%s and %s share %s", other, name, k)
			}
			seen[k] = name
		}
	}
	for _, v := range []string{"nats-1-data", "nats-2-data", "nats-3-data", "wagate-1-data", "wagate-2-data", "wagate-3-data"} {
		if _, ok := compose.Volumes[v]; !ok {
			t.Errorf("volume %s not declared", v)
		}
	}

	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker not installed: compose-cluster.yaml not validated by compose")
	}
	if out, err := exec.Command("docker", "compose", "version").CombinedOutput(); err != nil {
		t.Skipf("docker compose not available (%v): %s", err, firstLine(out))
	}
	cmd := exec.Command("docker", "compose", "-f", filepath.Join(deployDir, "compose-cluster.yaml"), "config", "--quiet")
	cmd.Env = append(os.Environ(), "WAGATE_ADMIN_API_KEY="+adminKey)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("docker compose config: %v\n%s", err, out)
	}
}

// flattenErrors returns the errors joined in err (errors.Join), recursively.
func flattenErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []error{err}
}
