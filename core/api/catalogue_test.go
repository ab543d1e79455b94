package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
	"github.com/wagate/wagate/core/webhook"
)

// markdownTable returns the cells of the rows of the first table after the heading
// line in docs/api.md, header and separator rows left out.
func markdownTable(t *testing.T, heading string) [][]string {
	t.Helper()
	b, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/api.md has no %q heading", heading)
	}
	var rows [][]string
	started := false
	for _, line := range strings.Split(after, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if started {
				break
			}
			continue
		}
		started = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	if len(rows) < 3 {
		t.Fatalf("no table under %q", heading)
	}
	return rows[2:]
}

// catalogue is every event name the gateway publishes: event.Names and the names the
// webhook service and the policy chain declare beside their payloads.
func catalogue() []string {
	return append(slices.Clone(event.Names), webhook.EventDisabled, policy.EventError, policy.EventDisabled)
}

// The event catalogue of docs/api.md has a row for every event and no other.
func TestEventCatalogue(t *testing.T) {
	var documented []string
	for _, row := range markdownTable(t, "### Event catalogue") {
		documented = append(documented, strings.Trim(row[0], "`"))
	}
	names := catalogue()
	for _, n := range names {
		if !slices.Contains(documented, n) {
			t.Errorf("event %q has no row in docs/api.md's event catalogue", n)
		}
	}
	for _, n := range documented {
		if !slices.Contains(names, n) {
			t.Errorf("docs/api.md's event catalogue has %q, which the code does not publish (event.Names)", n)
		}
	}
	if len(documented) != len(slices.Compact(slices.Sorted(slices.Values(documented)))) {
		t.Errorf("a row of the event catalogue is there twice: %v", documented)
	}
}

// eventNamePattern is how an event name reads: lowercase dotted words.
var eventNamePattern = regexp.MustCompile(`^[a-z]+(\.[a-z0-9]+)*$`)

// Every event-name constant of core/event is in event.Names, so that the catalogue
// test above sees it.
func TestEventNamesListsEveryConstant(t *testing.T) {
	files, err := filepath.Glob("../event/*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			spec, ok := n.(*ast.ValueSpec)
			if !ok || len(spec.Values) != len(spec.Names) {
				return true
			}
			for i, name := range spec.Names {
				lit, ok := spec.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING || !name.IsExported() {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				if !eventNamePattern.MatchString(v) {
					continue
				}
				found++
				if !slices.Contains(event.Names, v) {
					t.Errorf("event.%s = %q is not in event.Names (core/event/event.go): add it there and a row to docs/api.md's catalogue", name.Name, v)
				}
			}
			return true
		})
	}
	if found < 5 {
		t.Fatalf("found only %d event-name constants in core/event: the parse is broken", found)
	}
}

// wahaPathParam matches a path parameter of either table.
var wahaPathParam = regexp.MustCompile(`\{[^}]*\}`)

func routeKey(method, path string) string {
	return method + " " + wahaPathParam.ReplaceAllString(path, "{}")
}

// The WAHA compatibility table does not lie: a route wagate serves at a path of WAHA's
// is marked served there, and a row marked served is a route of the table.
func TestWAHARouteTable(t *testing.T) {
	e := newEnv(t)
	ours := map[string]bool{}
	for _, r := range e.srv.table {
		ours[routeKey(r.method, r.path)] = true
	}
	rows := markdownTable(t, "## WAHA compatibility")
	statuses := map[string]bool{"served": true, "not served": true, "planned (issue 12)": true}
	seen := map[string]bool{}
	for _, row := range rows {
		if len(row) != 4 {
			t.Errorf("row %v: want 4 cells (method, WAHA path, wagate, note)", row)
			continue
		}
		key := routeKey(row[0], strings.Trim(row[1], "`"))
		if seen[key] {
			t.Errorf("%s is in the table twice", key)
		}
		seen[key] = true
		if !statuses[row[2]] {
			t.Errorf("%s: status %q is none of served, not served, planned (issue 12)", key, row[2])
		}
		switch served := row[2] == "served"; {
		case ours[key] && !served:
			t.Errorf("%s is served by wagate but the table says %q", key, row[2])
		case !ours[key] && served:
			t.Errorf("%s is marked served but is not in wagate's route table", key)
		}
		if row[2] == "not served" && row[3] == "" {
			t.Errorf("%s is not served and the table does not say why", key)
		}
	}
	if len(rows) < 100 {
		t.Errorf("only %d WAHA routes in the table", len(rows))
	}
}
