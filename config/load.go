package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the YAML file at path and returns the configuration it describes, as Parse
// does. lookupEnv is usually os.LookupEnv; nil ignores the environment.
func Load(path string, lookupEnv func(string) (string, bool)) (Config, error) {
	text, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, fmt.Errorf("config file %s does not exist; start from the gateway.yaml shipped with wagate or point --config at your file: %w", path, err)
	}
	if err != nil {
		return Config{}, fmt.Errorf("reading config file %s: %w", path, err)
	}
	cfg, err := Parse(text, lookupEnv)
	if err != nil {
		return Config{}, fmt.Errorf("config file %s: %w", path, err)
	}
	return cfg, nil
}

// Parse returns the configuration described by yamlText, built in this order:
//
//  1. Defaults().
//  2. The YAML, decoded strictly: an unknown key or a value of the wrong type is a
//     *FieldError naming the YAML path and line. Keys left out, or given no value, keep
//     their default. Empty text gives the defaults.
//  3. Environment overrides read through lookupEnv (see EnvVars); a bad value is an
//     *EnvError. A nil lookupEnv ignores the environment.
//  4. Validate.
//
// All problems found in a step are returned together (errors.Join); a later step does
// not run after a failed one.
func Parse(yamlText []byte, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg := Defaults()
	if err := decodeYAML(yamlText, &cfg); err != nil {
		return Config{}, err
	}
	if err := applyEnv(&cfg, lookupEnv); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// decodeYAML decodes the single YAML document in text over cfg.
//
// The document is first checked against the schema by checkNode, which names the YAML
// path of each mistake (yaml.v3 names only the Go type) and rejects what yaml.v3 lets
// through, such as 1.5 for a whole number. It is then decoded by yaml.v3 with
// KnownFields(true).
func decodeYAML(text []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(text))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil
	} else if err != nil {
		return err
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return fmt.Errorf("line %d: a second YAML document starts here; the config is a single document, remove the ---", next.Line)
	} else if !errors.Is(err, io.EOF) {
		return err
	}
	if errs := checkNode(&doc, reflect.TypeFor[Config](), ""); len(errs) > 0 {
		return errors.Join(errs...)
	}
	strict := yaml.NewDecoder(bytes.NewReader(text))
	strict.KnownFields(true)
	return strict.Decode(cfg)
}

// checkNode reports every key under n that the struct or leaf type t lacks, and every
// value that does not fit its field. path is the YAML path of n ("" for the document).
func checkNode(n *yaml.Node, t reflect.Type, path string) []error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return checkNode(n.Content[0], t, path)
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil // no value: the field keeps its default
	}
	if t.Kind() == reflect.Struct {
		return checkMapping(n, t, path)
	}
	return checkLeaf(n, t, path)
}

// checkMapping checks n against the section type t.
func checkMapping(n *yaml.Node, t reflect.Type, path string) []error {
	if n.Kind != yaml.MappingNode {
		if path == "" {
			return []error{fmt.Errorf("line %d: the config must be a mapping of sections; write it like \"server:\" followed by indented keys", n.Line)}
		}
		return []error{&FieldError{
			Path:    path,
			Problem: fmt.Sprintf("line %d: expected a section of keys, found %s", n.Line, nodeKind(n)),
			Fix:     "indent its keys below it: " + strings.Join(yamlKeys(t), ", "),
		}}
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if key.ShortTag() == "!!merge" {
			errs = append(errs, checkMerge(value, t, path)...)
			continue
		}
		sf, ok := fieldByKey(t, key.Value)
		if !ok {
			errs = append(errs, unknownKey(key, t, path))
			continue
		}
		errs = append(errs, checkNode(value, sf.Type, joinPath(path, key.Value))...)
	}
	return errs
}

// checkMerge checks the value of a "<<" merge key: a mapping or a list of mappings.
func checkMerge(n *yaml.Node, t reflect.Type, path string) []error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.SequenceNode {
		return checkMapping(n, t, path)
	}
	var errs []error
	for _, m := range n.Content {
		errs = append(errs, checkMerge(m, t, path)...)
	}
	return errs
}

// unknownKey reports key, which the section type t at path does not have.
func unknownKey(key *yaml.Node, t reflect.Type, path string) error {
	keys := yamlKeys(t)
	where := "keys under " + path
	if path == "" {
		where = "sections"
	}
	fix := where + " are " + strings.Join(keys, ", ")
	if near := closest(key.Value, keys); near != "" {
		fix = "did you mean " + near + "? " + fix
	}
	return &FieldError{
		Path:    joinPath(path, key.Value),
		Problem: fmt.Sprintf("unknown key at line %d", key.Line),
		Fix:     fix,
	}
}

// checkLeaf checks that the value n decodes as the leaf type t.
func checkLeaf(n *yaml.Node, t reflect.Type, path string) []error {
	st, _ := describe(t)
	if n.Kind != yaml.ScalarNode {
		return []error{&FieldError{
			Path:    path,
			Problem: fmt.Sprintf("line %d: expected %s, found %s", n.Line, st.noun, nodeKind(n)),
			Fix:     st.fix,
		}}
	}
	bad := &FieldError{
		Path:    path,
		Problem: fmt.Sprintf("line %d: %q is not %s", n.Line, n.Value, st.noun),
		Fix:     st.fix,
	}
	// yaml.v3 truncates 1.5 into an int field; only an integer will do.
	if t.Kind() == reflect.Int && n.ShortTag() != "!!int" {
		return []error{bad}
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		var syn *syntaxError
		if errors.As(err, &syn) {
			bad.Problem = fmt.Sprintf("line %d: %s", n.Line, syn.problem)
			bad.Fix = syn.fix
		}
		return []error{bad}
	}
	return nil
}

// nodeKind names the kind of n for an error message.
func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section of keys"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// closest returns the key in keys nearest to s by edit distance, or "" when none is
// near enough to be a likely typo.
func closest(s string, keys []string) string {
	best, bestDist := "", 3
	for _, k := range keys {
		if d := editDistance(strings.ToLower(s), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
