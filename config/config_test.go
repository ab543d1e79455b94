package config

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// envMap turns a map into a lookupEnv function.
func envMap(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// fieldErrors returns every *FieldError inside err, through wrapping and errors.Join.
func fieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *FieldError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// errorPaths returns the Path of every *FieldError inside err.
func errorPaths(err error) []string {
	var paths []string
	for _, fe := range fieldErrors(err) {
		paths = append(paths, fe.Path)
	}
	return paths
}

// fieldValue returns the leaf f of c.
func fieldValue(c *Config, f field) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(f.index)
}

// formatScalar writes v as text parseScalar reads back.
func formatScalar(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case Duration:
		return x.String()
	case ByteSize:
		return x.String()
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	panic("formatScalar: unsupported type " + v.Type().String())
}

func TestDefaultsValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("Defaults().Validate() = %v, want nil", err)
	}
}

func TestShippedGatewayYAML(t *testing.T) {
	got, err := Load("../gateway.yaml", nil)
	if err != nil {
		t.Fatalf("Load(../gateway.yaml): %v", err)
	}
	want := Defaults()
	// The shipped file deliberately differs from Defaults() nowhere: it spells out every
	// default. Record any deliberate difference here.
	if !reflect.DeepEqual(got, want) {
		t.Errorf("gateway.yaml differs from Defaults():\n got %+v\nwant %+v", got, want)
	}
	if got.Store.Dir != "./data" || !got.Providers.Sandbox.Enabled || got.Server.Listen != "127.0.0.1:8080" ||
		got.Admin.APIKey != "" || got.Admin.APIKeyFile != "" {
		t.Errorf("gateway.yaml must give ./data, sandbox enabled, 127.0.0.1:8080 and no admin key; got %+v", got)
	}

	text, err := os.ReadFile("../gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind == yaml.DocumentNode {
			walk(n.Content[0], path)
			return
		}
		if n.Kind != yaml.MappingNode {
			present[path] = true
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			walk(n.Content[i+1], joinPath(path, n.Content[i].Value))
		}
	}
	walk(&doc, "")
	for _, f := range schemaFields() {
		if !present[f.path] {
			t.Errorf("gateway.yaml lacks %s; every field must be written out with its default", f.path)
		}
	}
}

func TestParseKeepsDefaults(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want func(*Config)
	}{
		{name: "empty", yaml: ""},
		{name: "comments only", yaml: "# nothing here\n"},
		{name: "empty document", yaml: "---\n"},
		{name: "section without keys", yaml: "server:\n"},
		{name: "key without value", yaml: "server:\n  listen:\n"},
		{name: "one key", yaml: "server:\n  listen: 0.0.0.0:9090\n", want: func(c *Config) { c.Server.Listen = "0.0.0.0:9090" }},
		{name: "nested key", yaml: "limits:\n  default_plan:\n    max_sessions: 3\n", want: func(c *Config) { c.Limits.DefaultPlan.MaxSessions = 3 }},
		{name: "false over true default", yaml: "store:\n  sync_writes: false\n", want: func(c *Config) { c.Store.SyncWrites = false }},
		{name: "typed values", yaml: "server:\n  read_timeout: 1m30s\n  max_body_bytes: 512KiB\nstore:\n  gc_discard_ratio: 0.25\n",
			want: func(c *Config) {
				c.Server.ReadTimeout = Duration(90 * time.Second)
				c.Server.MaxBodyBytes = 512 << 10
				c.Store.GCDiscardRatio = 0.25
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.yaml), nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Defaults()
			if tt.want != nil {
				tt.want(&want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseMerge(t *testing.T) {
	text := `
sessions: &s
  start_timeout: 5s
providers:
  sandbox:
    faults:
      <<: {temp_ban: true}
      send_failure_rate: 0.5
`
	got, err := Parse([]byte(text), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got.Sessions.StartTimeout != Duration(5*time.Second) || !got.Providers.Sandbox.Faults.TempBan || got.Providers.Sandbox.Faults.SendFailureRate != 0.5 {
		t.Errorf("got sessions %+v, faults %+v", got.Sessions, got.Providers.Sandbox.Faults)
	}
}

func TestParseUnknownKey(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		wantPath string
		wantLine string
		wantHint string
	}{
		{name: "top level", yaml: "servr:\n  listen: x\n", wantPath: "servr", wantLine: "line 1", wantHint: "did you mean server?"},
		{name: "nested", yaml: "server:\n  listn: 127.0.0.1:80\n", wantPath: "server.listn", wantLine: "line 2", wantHint: "did you mean listen?"},
		{name: "deep", yaml: "limits:\n  default_plan:\n    max_sesions: 3\n", wantPath: "limits.default_plan.max_sesions", wantLine: "line 3", wantHint: "did you mean max_sessions?"},
		{name: "faults", yaml: "providers:\n  sandbox:\n    faults:\n      tmp_ban: true\n", wantPath: "providers.sandbox.faults.tmp_ban", wantLine: "line 4", wantHint: "did you mean temp_ban?"},
		{name: "no close match", yaml: "log:\n  colour: red\n", wantPath: "log.colour", wantLine: "line 2", wantHint: "keys under log are level, format"},
		{name: "inside a merge", yaml: "store:\n  <<: {dirr: x}\n", wantPath: "store.dirr", wantLine: "line 2", wantHint: "did you mean dir?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), nil)
			if err == nil {
				t.Fatal("Parse succeeded, want an unknown-key error")
			}
			if paths := errorPaths(err); !slices.Equal(paths, []string{tt.wantPath}) {
				t.Errorf("error paths = %q, want [%s]; error: %v", paths, tt.wantPath, err)
			}
			for _, want := range []string{tt.wantPath, tt.wantLine, tt.wantHint} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestParseReportsAllUnknownKeys(t *testing.T) {
	_, err := Parse([]byte("server:\n  listn: x\nlog:\n  levl: info\n"), nil)
	if paths := errorPaths(err); !slices.Equal(paths, []string{"server.listn", "log.levl"}) {
		t.Errorf("error paths = %q, want both unknown keys; error: %v", paths, err)
	}
}

func TestParseWrongType(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		wantPath string
	}{
		{name: "int from text", yaml: "limits:\n  max_tenants: many\n", wantPath: "limits.max_tenants"},
		{name: "int from fraction", yaml: "limits:\n  max_tenants: 1.5\n", wantPath: "limits.max_tenants"},
		{name: "bool from text", yaml: "store:\n  sync_writes: maybe\n", wantPath: "store.sync_writes"},
		{name: "float from text", yaml: "store:\n  gc_discard_ratio: half\n", wantPath: "store.gc_discard_ratio"},
		{name: "duration without unit", yaml: "server:\n  read_timeout: 30\n", wantPath: "server.read_timeout"},
		{name: "negative duration", yaml: "server:\n  read_timeout: -1s\n", wantPath: "server.read_timeout"},
		{name: "bad size", yaml: "server:\n  max_body_bytes: lots\n", wantPath: "server.max_body_bytes"},
		{name: "list for a string", yaml: "server:\n  listen: [a, b]\n", wantPath: "server.listen"},
		{name: "mapping for a duration", yaml: "sessions:\n  send_timeout: {s: 1}\n", wantPath: "sessions.send_timeout"},
		{name: "scalar for a section", yaml: "server: 8080\n", wantPath: "server"},
		{name: "list for a nested section", yaml: "limits:\n  default_plan: [1]\n", wantPath: "limits.default_plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), nil)
			if err == nil {
				t.Fatal("Parse succeeded, want a type error")
			}
			if paths := errorPaths(err); !slices.Equal(paths, []string{tt.wantPath}) {
				t.Errorf("error paths = %q, want [%s]; error: %v", paths, tt.wantPath, err)
			}
			if !strings.Contains(err.Error(), "line ") {
				t.Errorf("error %q does not name the line", err)
			}
		})
	}
}

func TestParseBadDocument(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{name: "syntax error", yaml: "server:\n  listen: [\n", want: "line"},
		{name: "two documents", yaml: "log:\n  level: info\n---\nlog:\n  level: debug\n", want: "second YAML document"},
		{name: "not a mapping", yaml: "- server\n", want: "mapping of sections"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	missing := filepath.Join(dir, "missing.yaml")
	if err := os.WriteFile(good, []byte("log:\n  level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("log:\n  level: loud\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg, err := Load(good, nil)
	if err != nil || cfg.Log.Level != "debug" {
		t.Errorf("Load(good) = %+v, %v; want level debug", cfg.Log, err)
	}

	_, err = Load(missing, nil)
	if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want fs.ErrNotExist naming %s", err, missing)
	}

	_, err = Load(bad, nil)
	if err == nil || !strings.Contains(err.Error(), bad) || !slices.Equal(errorPaths(err), []string{"log.level"}) {
		t.Errorf("Load(bad) error = %v, want a log.level FieldError naming %s", err, bad)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*Config)
		wantPath string
	}{
		{"listen without port", func(c *Config) { c.Server.Listen = "abc" }, "server.listen"},
		{"listen empty", func(c *Config) { c.Server.Listen = "" }, "server.listen"},
		{"listen named port", func(c *Config) { c.Server.Listen = "127.0.0.1:http" }, "server.listen"},
		{"listen port too big", func(c *Config) { c.Server.Listen = "127.0.0.1:65536" }, "server.listen"},
		{"listen negative port", func(c *Config) { c.Server.Listen = "127.0.0.1:-1" }, "server.listen"},
		{"listen empty port", func(c *Config) { c.Server.Listen = "127.0.0.1:" }, "server.listen"},
		{"read timeout zero", func(c *Config) { c.Server.ReadTimeout = 0 }, "server.read_timeout"},
		{"write timeout zero", func(c *Config) { c.Server.WriteTimeout = 0 }, "server.write_timeout"},
		{"idle timeout negative", func(c *Config) { c.Server.IdleTimeout = -1 }, "server.idle_timeout"},
		{"max body too small", func(c *Config) { c.Server.MaxBodyBytes = 1023 }, "server.max_body_bytes"},
		{"max body too big", func(c *Config) { c.Server.MaxBodyBytes = 1<<30 + 1 }, "server.max_body_bytes"},
		{"shutdown timeout zero", func(c *Config) { c.Server.ShutdownTimeout = 0 }, "server.shutdown_timeout"},
		{"store dir empty", func(c *Config) { c.Store.Dir = " " }, "store.dir"},
		{"policies init timeout too short", func(c *Config) { c.Policies.InitTimeout = Duration(10 * time.Millisecond) }, "policies.init_timeout"},
		{"policies init timeout too long", func(c *Config) { c.Policies.InitTimeout = Duration(2 * time.Minute) }, "policies.init_timeout"},
		{"campaigns max lists zero", func(c *Config) { c.Campaigns.MaxLists = 0 }, "campaigns.max_lists"},
		{"campaigns max list size zero", func(c *Config) { c.Campaigns.MaxListSize = 0 }, "campaigns.max_list_size"},
		{"campaigns chunk size zero", func(c *Config) { c.Campaigns.ChunkSize = 0 }, "campaigns.chunk_size"},
		{"campaigns chunk size too big", func(c *Config) { c.Campaigns.ChunkSize = 1001; c.Campaigns.MaxInFlight = 2000 }, "campaigns.chunk_size"},
		{"campaigns in flight below a chunk", func(c *Config) { c.Campaigns.ChunkSize, c.Campaigns.MaxInFlight = 100, 99 }, "campaigns.max_in_flight"},
		{"campaigns max campaigns zero", func(c *Config) { c.Campaigns.MaxCampaigns = 0 }, "campaigns.max_campaigns"},
		{"campaigns reply window zero", func(c *Config) { c.Campaigns.ReplyWindow = 0 }, "campaigns.reply_window"},
		{"campaigns stop word too long", func(c *Config) { c.Campaigns.StopWords = "STOP," + strings.Repeat("x", 65) }, "campaigns.stop_words"},
		{"encryption key and file", func(c *Config) {
			c.Store.EncryptionKey = strings.Repeat("ab", 32)
			c.Store.EncryptionKeyFile = "/run/key"
		}, "store.encryption_key"},
		{"encryption key malformed", func(c *Config) { c.Store.EncryptionKey = "not-a-key" }, "store.encryption_key"},
		{"gc interval negative", func(c *Config) { c.Store.GCInterval = -1 }, "store.gc_interval"},
		{"gc discard ratio zero", func(c *Config) { c.Store.GCDiscardRatio = 0 }, "store.gc_discard_ratio"},
		{"gc discard ratio one", func(c *Config) { c.Store.GCDiscardRatio = 1 }, "store.gc_discard_ratio"},
		{"memtable too small", func(c *Config) { c.Store.MemtableSize = 1000 }, "store.memtable_size"},
		{"block cache zero", func(c *Config) { c.Store.BlockCacheSize = 0 }, "store.block_cache_size"},
		{"table size too large", func(c *Config) { c.Store.TableSize = 1 << 30 }, "store.table_size"},
		{"index cache negative", func(c *Config) { c.Store.IndexCacheSize = -1 }, "store.index_cache_size"},
		{"one memtable", func(c *Config) { c.Store.NumMemtables = 1 }, "store.num_memtables"},
		{"one compactor", func(c *Config) { c.Store.NumCompactors = 1 }, "store.num_compactors"},
		{"unknown compression", func(c *Config) { c.Store.Compression = "lz4" }, "store.compression"},
		{"api key and file", func(c *Config) {
			c.Admin.APIKey = "0123456789abcdef"
			c.Admin.APIKeyFile = "/run/admin"
		}, "admin.api_key"},
		{"api key short", func(c *Config) { c.Admin.APIKey = "short" }, "admin.api_key"},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "log.level"},
		{"log level upper case", func(c *Config) { c.Log.Level = "INFO" }, "log.level"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
		{"plan max sessions", func(c *Config) { c.Limits.DefaultPlan.MaxSessions = 0 }, "limits.default_plan.max_sessions"},
		{"plan max messages", func(c *Config) { c.Limits.DefaultPlan.MaxMessagesPerDay = -1 }, "limits.default_plan.max_messages_per_day"},
		{"max tenants", func(c *Config) { c.Limits.MaxTenants = -1 }, "limits.max_tenants"},
		{"max subscribers", func(c *Config) { c.Limits.MaxSubscribers = 0 }, "limits.max_subscribers"},
		{"subscriber buffer zero", func(c *Config) { c.Limits.SubscriberBuffer = 0 }, "limits.subscriber_buffer"},
		{"subscriber buffer too big", func(c *Config) { c.Limits.SubscriberBuffer = 65537 }, "limits.subscriber_buffer"},
		{"start timeout", func(c *Config) { c.Sessions.StartTimeout = 0 }, "sessions.start_timeout"},
		{"stop timeout", func(c *Config) { c.Sessions.StopTimeout = 0 }, "sessions.stop_timeout"},
		{"send timeout", func(c *Config) { c.Sessions.SendTimeout = 0 }, "sessions.send_timeout"},
		{"auto link negative", func(c *Config) { c.Providers.Sandbox.AutoLink = -1 }, "providers.sandbox.auto_link"},
		{"first qr timeout", func(c *Config) { c.Providers.Sandbox.FirstQRTimeout = 0 }, "providers.sandbox.first_qr_timeout"},
		{"qr timeout", func(c *Config) { c.Providers.Sandbox.QRTimeout = 0 }, "providers.sandbox.qr_timeout"},
		{"max qr codes", func(c *Config) { c.Providers.Sandbox.MaxQRCodes = 0 }, "providers.sandbox.max_qr_codes"},
		{"send latency negative", func(c *Config) { c.Providers.Sandbox.SendLatency = -1 }, "providers.sandbox.send_latency"},
		{"delivery delay negative", func(c *Config) { c.Providers.Sandbox.DeliveryDelay = -1 }, "providers.sandbox.delivery_delay"},
		{"read delay negative", func(c *Config) { c.Providers.Sandbox.ReadDelay = -1 }, "providers.sandbox.read_delay"},
		{"fault send latency negative", func(c *Config) { c.Providers.Sandbox.Faults.SendLatency = -1 }, "providers.sandbox.faults.send_latency"},
		{"send failure rate above 1", func(c *Config) { c.Providers.Sandbox.Faults.SendFailureRate = 1.5 }, "providers.sandbox.faults.send_failure_rate"},
		{"send failure rate negative", func(c *Config) { c.Providers.Sandbox.Faults.SendFailureRate = -0.1 }, "providers.sandbox.faults.send_failure_rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate succeeded, want an error")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate error %v is not a *FieldError", err)
			}
			if paths := errorPaths(err); !slices.Equal(paths, []string{tt.wantPath}) {
				t.Errorf("error paths = %q, want [%s]; error: %v", paths, tt.wantPath, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, tt.wantPath+": ") || !strings.Contains(msg, "; ") {
				t.Errorf("error %q is not formatted as \"<path>: <problem>; <fix>\"", msg)
			}
		})
	}
}

func TestValidateAcceptsEdges(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"listen on every interface", func(c *Config) { c.Server.Listen = ":8080" }},
		{"listen on IPv6", func(c *Config) { c.Server.Listen = "[::1]:8080" }},
		{"listen on a random port", func(c *Config) { c.Server.Listen = "127.0.0.1:0" }},
		{"smallest body", func(c *Config) { c.Server.MaxBodyBytes = 1 << 10 }},
		{"largest body", func(c *Config) { c.Server.MaxBodyBytes = 1 << 30 }},
		{"gc off", func(c *Config) { c.Store.GCInterval = 0 }},
		{"encryption key file only", func(c *Config) { c.Store.EncryptionKeyFile = "/does/not/exist" }},
		{"api key file only", func(c *Config) { c.Admin.APIKeyFile = "/does/not/exist" }},
		{"unlimited messages and tenants", func(c *Config) { c.Limits.DefaultPlan.MaxMessagesPerDay, c.Limits.MaxTenants = 0, 0 }},
		{"buffer bounds", func(c *Config) { c.Limits.SubscriberBuffer = 65536 }},
		{"always fail sends", func(c *Config) { c.Providers.Sandbox.Faults.SendFailureRate = 1 }},
		{"no stop words", func(c *Config) { c.Campaigns.StopWords = "" }},
		{"one list of one contact", func(c *Config) { c.Campaigns.MaxLists, c.Campaigns.MaxListSize = 1, 1 }},
		{"campaign chunks of one", func(c *Config) { c.Campaigns.ChunkSize, c.Campaigns.MaxInFlight = 1, 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mutate(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Defaults()
	c.Server.Listen = "abc"
	c.Log.Level = "loud"
	c.Limits.MaxSubscribers = 0
	want := []string{"server.listen", "log.level", "limits.max_subscribers"}
	if paths := errorPaths(c.Validate()); !slices.Equal(paths, want) {
		t.Errorf("error paths = %q, want %q", paths, want)
	}
}

func TestEnvOverrides(t *testing.T) {
	hexKey := strings.Repeat("0f", 32)
	tests := []struct {
		name string
		env  map[string]string
		want func(*Config)
	}{
		{"string", map[string]string{"WAGATE_SERVER_LISTEN": "0.0.0.0:9000"}, func(c *Config) { c.Server.Listen = "0.0.0.0:9000" }},
		{"secret string", map[string]string{"WAGATE_STORE_ENCRYPTION_KEY": hexKey}, func(c *Config) { c.Store.EncryptionKey = hexKey }},
		{"admin key", map[string]string{"WAGATE_ADMIN_API_KEY": "0123456789abcdef"}, func(c *Config) { c.Admin.APIKey = "0123456789abcdef" }},
		{"bool", map[string]string{"WAGATE_STORE_SYNC_WRITES": "false"}, func(c *Config) { c.Store.SyncWrites = false }},
		{"bool as 1", map[string]string{"WAGATE_PROVIDERS_SANDBOX_FAULTS_TEMP_BAN": "1"}, func(c *Config) { c.Providers.Sandbox.Faults.TempBan = true }},
		{"int", map[string]string{"WAGATE_LIMITS_DEFAULT_PLAN_MAX_SESSIONS": "3"}, func(c *Config) { c.Limits.DefaultPlan.MaxSessions = 3 }},
		{"float", map[string]string{"WAGATE_STORE_GC_DISCARD_RATIO": "0.25"}, func(c *Config) { c.Store.GCDiscardRatio = 0.25 }},
		{"duration", map[string]string{"WAGATE_PROVIDERS_SANDBOX_AUTO_LINK": "2s"}, func(c *Config) { c.Providers.Sandbox.AutoLink = Duration(2 * time.Second) }},
		{"size", map[string]string{"WAGATE_SERVER_MAX_BODY_BYTES": "2MiB"}, func(c *Config) { c.Server.MaxBodyBytes = 2 << 20 }},
		{"empty is ignored", map[string]string{"WAGATE_LOG_LEVEL": "", "WAGATE_LIMITS_MAX_TENANTS": ""}, nil},
		{"other variables ignored", map[string]string{"WAGATE_SERVER": "x", "HOME": "/root"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(nil, envMap(tt.env))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Defaults()
			if tt.want != nil {
				tt.want(&want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestEnvBeatsFile(t *testing.T) {
	got, err := Parse([]byte("log:\n  level: debug\n  format: json\n"), envMap(map[string]string{"WAGATE_LOG_LEVEL": "warn"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Log.Level != "warn" || got.Log.Format != "json" {
		t.Errorf("log = %+v, want level from env (warn) and format from file (json)", got.Log)
	}
}

func TestEnvValidated(t *testing.T) {
	_, err := Parse(nil, envMap(map[string]string{"WAGATE_SERVER_LISTEN": "nope"}))
	if paths := errorPaths(err); !slices.Equal(paths, []string{"server.listen"}) {
		t.Errorf("error paths = %q, want [server.listen]; error: %v", paths, err)
	}
}

func TestEnvBadValue(t *testing.T) {
	tests := []struct {
		name, env, value string
	}{
		{"bool", "WAGATE_STORE_SYNC_WRITES", "maybe"},
		{"int", "WAGATE_LIMITS_MAX_TENANTS", "ten"},
		{"int fraction", "WAGATE_LIMITS_MAX_TENANTS", "1.5"},
		{"float", "WAGATE_STORE_GC_DISCARD_RATIO", "half"},
		{"duration", "WAGATE_SERVER_READ_TIMEOUT", "soon"},
		{"negative duration", "WAGATE_SESSIONS_SEND_TIMEOUT", "-1s"},
		{"size", "WAGATE_SERVER_MAX_BODY_BYTES", "big"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(nil, envMap(map[string]string{tt.env: tt.value}))
			var ee *EnvError
			if !errors.As(err, &ee) {
				t.Fatalf("Parse error = %v, want an *EnvError", err)
			}
			if ee.Name != tt.env {
				t.Errorf("EnvError.Name = %s, want %s", ee.Name, tt.env)
			}
			if !strings.Contains(err.Error(), tt.env) || !strings.Contains(err.Error(), strconv.Quote(tt.value)) {
				t.Errorf("error %q does not name the variable and its value", err)
			}
		})
	}
}

func TestEnvEveryField(t *testing.T) {
	// Setting every variable to its field's default, written as text, must parse and
	// change nothing: every field type is supported by the environment.
	def := Defaults()
	env := map[string]string{}
	for _, f := range schemaFields() {
		env[f.env] = formatScalar(fieldValue(&def, f))
	}
	got, err := Parse(nil, envMap(env))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !reflect.DeepEqual(got, def) {
		t.Errorf("got %+v\nwant %+v", got, def)
	}
}

func TestEnvVars(t *testing.T) {
	names := EnvVars()
	if len(names) != len(schemaFields()) {
		t.Errorf("EnvVars() has %d names for %d fields", len(names), len(schemaFields()))
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("EnvVars() lists %s twice", n)
		}
		seen[n] = true
	}
	for _, want := range []string{
		"WAGATE_SERVER_LISTEN", "WAGATE_STORE_ENCRYPTION_KEY", "WAGATE_ADMIN_API_KEY",
		"WAGATE_LIMITS_DEFAULT_PLAN_MAX_SESSIONS", "WAGATE_PROVIDERS_SANDBOX_AUTO_LINK",
		"WAGATE_PROVIDERS_SANDBOX_FAULTS_TEMP_BAN",
	} {
		if !seen[want] {
			t.Errorf("EnvVars() lacks %s", want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    Duration
		wantErr bool
	}{
		{in: "30s", want: Duration(30 * time.Second)},
		{in: "1m30s", want: Duration(90 * time.Second)},
		{in: "250ms", want: Duration(250 * time.Millisecond)},
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: " 2h ", want: Duration(2 * time.Hour)},
		{in: "-1s", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "30", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Errorf("ParseDuration(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr bool
	}{
		{in: "1MiB", want: 1 << 20},
		{in: "512KiB", want: 512 << 10},
		{in: "2GiB", want: 2 << 30},
		{in: "1048576", want: 1 << 20},
		{in: "1MB", want: 1000000},
		{in: "1kb", want: 1000},
		{in: "1 MiB", want: 1 << 20},
		{in: "10B", want: 10},
		{in: "0", want: 0},
		{in: "1.5MiB", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "MiB", wantErr: true},
		{in: "lots", wantErr: true},
		{in: "1TiB", wantErr: true},
		{in: "", wantErr: true},
		{in: "9999999999999GiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Errorf("ParseByteSize(%q) = %d, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		in   ByteSize
		want string
	}{
		{0, "0"}, {1000, "1000"}, {1 << 10, "1KiB"}, {1536, "1536"}, {1 << 20, "1MiB"}, {3 << 30, "3GiB"}, {1 << 40, "1024GiB"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
			}
			back, err := ParseByteSize(tt.want)
			if err != nil || back != tt.in {
				t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.want, back, err, tt.in)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    SandboxFaults
		wantErr bool
	}{
		{name: "duration text", in: `{"send_latency":"2s","temp_ban":true}`, want: SandboxFaults{SendLatency: Duration(2 * time.Second), TempBan: true}},
		{name: "duration millis", in: `{"send_latency":1500}`, want: SandboxFaults{SendLatency: Duration(1500 * time.Millisecond)}},
		{name: "bad duration", in: `{"send_latency":"soon"}`, wantErr: true},
		{name: "negative millis", in: `{"send_latency":-5}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got SandboxFaults
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr {
				if err == nil {
					t.Errorf("Unmarshal succeeded with %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Unmarshal = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}

	sizes := []struct {
		in      string
		want    ByteSize
		wantErr bool
	}{
		{in: `"1MiB"`, want: 1 << 20},
		{in: `2048`, want: 2048},
		{in: `"big"`, wantErr: true},
		{in: `-1`, wantErr: true},
	}
	for _, tt := range sizes {
		t.Run("size "+tt.in, func(t *testing.T) {
			var got ByteSize
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr != (err != nil) || got != tt.want {
				t.Errorf("Unmarshal(%s) = %d, %v; want %d (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
	out, err := json.Marshal(struct {
		B ByteSize
		D Duration
	}{1 << 20, Duration(time.Second)})
	if err != nil || string(out) != `{"B":"1MiB","D":"1s"}` {
		t.Errorf("Marshal = %s, %v", out, err)
	}
}

func TestResolveEncryptionKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xa5}, 32)
	hexKey := hex.EncodeToString(key)
	b64Key := base64.StdEncoding.EncodeToString(key)
	dir := t.TempDir()
	file := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rawFile := file("raw", key)
	hexFile := file("hex", []byte(hexKey+"\n"))
	b64File := file("b64", []byte("  "+b64Key+"\n"))
	shortFile := file("short", []byte(hex.EncodeToString(key[:16])+"\n"))
	rawShortFile := file("rawshort", key[:20])

	tests := []struct {
		name     string
		store    Store
		want     []byte
		wantPath string // FieldError path, "" when any error will do
		wantErr  bool
	}{
		{name: "none", store: Store{}},
		{name: "hex", store: Store{EncryptionKey: hexKey}, want: key},
		{name: "hex upper case", store: Store{EncryptionKey: strings.ToUpper(hexKey)}, want: key},
		{name: "base64", store: Store{EncryptionKey: b64Key}, want: key},
		{name: "surrounding whitespace", store: Store{EncryptionKey: " " + hexKey + "\n"}, want: key},
		{name: "raw file", store: Store{EncryptionKeyFile: rawFile}, want: key},
		{name: "hex file", store: Store{EncryptionKeyFile: hexFile}, want: key},
		{name: "base64 file", store: Store{EncryptionKeyFile: b64File}, want: key},
		{name: "hex of 16 bytes", store: Store{EncryptionKey: hexKey[:32]}, wantErr: true, wantPath: "store.encryption_key"},
		{name: "base64 of 16 bytes", store: Store{EncryptionKey: base64.StdEncoding.EncodeToString(key[:16])}, wantErr: true, wantPath: "store.encryption_key"},
		{name: "passphrase", store: Store{EncryptionKey: "correct horse battery staple"}, wantErr: true, wantPath: "store.encryption_key"},
		{name: "short hex file", store: Store{EncryptionKeyFile: shortFile}, wantErr: true, wantPath: "store.encryption_key_file"},
		{name: "short raw file", store: Store{EncryptionKeyFile: rawShortFile}, wantErr: true, wantPath: "store.encryption_key_file"},
		{name: "both", store: Store{EncryptionKey: hexKey, EncryptionKeyFile: rawFile}, wantErr: true, wantPath: "store.encryption_key"},
		{name: "missing file", store: Store{EncryptionKeyFile: filepath.Join(dir, "nope")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.store.ResolveEncryptionKey()
			if !tt.wantErr {
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Errorf("ResolveEncryptionKey() = %x, %v; want %x", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ResolveEncryptionKey() = %x, want an error", got)
			}
			if tt.wantPath != "" {
				if paths := errorPaths(err); !slices.Equal(paths, []string{tt.wantPath}) {
					t.Errorf("error paths = %q, want [%s]; error: %v", paths, tt.wantPath, err)
				}
			}
			if tt.wantPath != "" && tt.name != "both" {
				for _, want := range []string{"32 bytes", "openssl rand -hex 32"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
			}
			if tt.store.EncryptionKey != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.store.EncryptionKey)) {
				t.Errorf("error %q repeats the secret key", err)
			}
		})
	}

	t.Run("missing file is fs.ErrNotExist", func(t *testing.T) {
		_, err := Store{EncryptionKeyFile: filepath.Join(dir, "nope")}.ResolveEncryptionKey()
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "store.encryption_key_file") {
			t.Errorf("error = %v, want fs.ErrNotExist naming store.encryption_key_file", err)
		}
	})
}

func TestResolveAPIKey(t *testing.T) {
	const key = "0123456789abcdef0123"
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		admin    Admin
		want     string
		wantPath string
		wantErr  bool
	}{
		{name: "none", admin: Admin{}},
		{name: "inline", admin: Admin{APIKey: key}, want: key},
		{name: "inline trimmed", admin: Admin{APIKey: " " + key + "\n"}, want: key},
		{name: "exactly 16", admin: Admin{APIKey: key[:16]}, want: key[:16]},
		{name: "file trimmed", admin: Admin{APIKeyFile: file("good", "\n"+key+"\n")}, want: key},
		{name: "inline short", admin: Admin{APIKey: key[:15]}, wantErr: true, wantPath: "admin.api_key"},
		{name: "file short", admin: Admin{APIKeyFile: file("short", "abc\n")}, wantErr: true, wantPath: "admin.api_key_file"},
		{name: "file empty", admin: Admin{APIKeyFile: file("empty", " \n")}, wantErr: true, wantPath: "admin.api_key_file"},
		{name: "both", admin: Admin{APIKey: key, APIKeyFile: file("both", key)}, wantErr: true, wantPath: "admin.api_key"},
		{name: "missing file", admin: Admin{APIKeyFile: filepath.Join(dir, "nope")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.admin.ResolveAPIKey()
			if !tt.wantErr {
				if err != nil || got != tt.want {
					t.Errorf("ResolveAPIKey() = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ResolveAPIKey() = %q, want an error", got)
			}
			if tt.wantPath != "" {
				if paths := errorPaths(err); !slices.Equal(paths, []string{tt.wantPath}) {
					t.Errorf("error paths = %q, want [%s]; error: %v", paths, tt.wantPath, err)
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error = %v, want fs.ErrNotExist", err)
			}
		})
	}
}

func TestSlogLevel(t *testing.T) {
	tests := []struct {
		level string
		want  slog.Level
	}{
		{"debug", slog.LevelDebug}, {"info", slog.LevelInfo}, {"warn", slog.LevelWarn}, {"error", slog.LevelError}, {"", slog.LevelInfo},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			if got := (Log{Level: tt.level}).SlogLevel(); got != tt.want {
				t.Errorf("SlogLevel() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name string
		log  Log
		want func(out string) bool
	}{
		{"json", Log{Level: "info", Format: "json"}, func(out string) bool {
			var m map[string]any
			return json.Unmarshal([]byte(out), &m) == nil && m["msg"] == "shown"
		}},
		{"text", Log{Level: "info", Format: "text"}, func(out string) bool {
			return strings.Contains(out, "msg=shown") && !strings.Contains(out, "hidden")
		}},
		{"warn hides info", Log{Level: "warn", Format: "text"}, func(out string) bool { return out == "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := NewLogger(tt.log, &buf)
			l.Debug("hidden")
			l.Info("shown")
			if !tt.want(buf.String()) {
				t.Errorf("unexpected output %q", buf.String())
			}
		})
	}
}

func TestDocsCoverEveryField(t *testing.T) {
	text, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(text)
	for _, name := range EnvVars() {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/config.md does not mention %s", name)
		}
	}

	// Rows look like: | `server.listen` | string | `127.0.0.1:8080` | `WAGATE_SERVER_LISTEN` | meaning |
	rows := map[string][]string{}
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) < 5 {
			t.Errorf("docs/config.md: table row %q has %d cells, want 5", line, len(cells))
			continue
		}
		rows[strings.Trim(cells[0], "`")] = cells
	}

	def := Defaults()
	for _, f := range schemaFields() {
		cells, ok := rows[f.path]
		if !ok {
			t.Errorf("docs/config.md has no table row for %s", f.path)
			continue
		}
		delete(rows, f.path)
		st, _ := describe(f.typ)
		if cells[1] != st.name {
			t.Errorf("docs/config.md: %s has type %q, want %q", f.path, cells[1], st.name)
		}
		if cells[3] != "`"+f.env+"`" {
			t.Errorf("docs/config.md: %s has variable %s, want `%s`", f.path, cells[3], f.env)
		}
		text := strings.Trim(cells[2], "`")
		if text == `""` {
			text = ""
		}
		got, err := parseScalar(f.typ, text)
		if err != nil || !reflect.DeepEqual(got.Interface(), fieldValue(&def, f).Interface()) {
			t.Errorf("docs/config.md: %s has default %s, but Defaults() has %s", f.path, cells[2], formatScalar(fieldValue(&def, f)))
		}
	}
	for path := range rows {
		t.Errorf("docs/config.md documents %s, which is not a field", path)
	}
}

func TestFieldErrorFormat(t *testing.T) {
	tests := []struct {
		err  FieldError
		want string
	}{
		{FieldError{Path: "server.listen", Problem: `"abc" is not host:port`, Fix: "write it like 127.0.0.1:8080"},
			`server.listen: "abc" is not host:port; write it like 127.0.0.1:8080`},
		{FieldError{Path: "store.dir", Problem: "is empty"}, "store.dir: is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Path, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}
