package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// field is one leaf of the schema: a value a user sets, as opposed to a section that
// groups values. The YAML path, the environment variable and the docs all derive from it.
type field struct {
	path  string       // YAML path, e.g. "server.listen"
	env   string       // override variable, e.g. "WAGATE_SERVER_LISTEN"
	index []int        // reflect.Value.FieldByIndex from Config
	typ   reflect.Type // one of the types scalarTypes describes
}

// schemaFields lists every leaf of Config in declaration order.
var schemaFields = sync.OnceValue(func() []field {
	var out []field
	collectFields(reflect.TypeFor[Config](), nil, nil, &out)
	return out
})

// collectFields walks the struct t, whose fields sit at path and index below Config.
// It panics on a leaf type the loader cannot parse, which is a bug in the schema.
func collectFields(t reflect.Type, path []string, index []int, out *[]field) {
	for i := range t.NumField() {
		sf := t.Field(i)
		name := yamlName(sf)
		if name == "" {
			continue
		}
		p := append(path[:len(path):len(path)], name)
		idx := append(index[:len(index):len(index)], i)
		if sf.Type.Kind() == reflect.Struct {
			collectFields(sf.Type, p, idx, out)
			continue
		}
		if _, ok := describe(sf.Type); !ok {
			panic(fmt.Sprintf("config: field %s has type %s, which the loader cannot parse", strings.Join(p, "."), sf.Type))
		}
		*out = append(*out, field{
			path:  strings.Join(p, "."),
			env:   "WAGATE_" + strings.ToUpper(strings.Join(p, "_")),
			index: idx,
			typ:   sf.Type,
		})
	}
}

// yamlName is the key of sf in YAML, or "" when sf is not part of the file.
func yamlName(sf reflect.StructField) string {
	if !sf.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return strings.ToLower(sf.Name)
	}
	return name
}

// yamlKeys lists the keys of the struct t, in declaration order.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			keys = append(keys, name)
		}
	}
	return keys
}

// fieldByKey finds the struct field of t whose YAML key is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if sf := t.Field(i); yamlName(sf) == key {
			return sf, true
		}
	}
	return reflect.StructField{}, false
}

var (
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

// scalarType is how the docs and error messages name a leaf type.
type scalarType struct {
	name string // the Type column of docs/config.md
	noun string // what a value must be, for errors
	fix  string // how to write one
}

// describe names the leaf type t; ok is false for a type the loader cannot parse.
func describe(t reflect.Type) (scalarType, bool) {
	switch {
	case t == durationType:
		return scalarType{"duration", "a duration", "write it like 30s, 500ms or 1m30s"}, true
	case t == byteSizeType:
		return scalarType{"size", "a size", "write it like 1048576, 512KiB or 1MiB"}, true
	case t.Kind() == reflect.String:
		return scalarType{"string", "text", "write it as text"}, true
	case t.Kind() == reflect.Bool:
		return scalarType{"bool", "a boolean", "write true or false"}, true
	case t.Kind() == reflect.Int:
		return scalarType{"int", "a whole number", "write it like 10"}, true
	case t.Kind() == reflect.Float64:
		return scalarType{"float", "a number", "write it like 0.5"}, true
	}
	return scalarType{}, false
}

// parseScalar parses s as a value of the leaf type t, as an environment variable is
// read. The error is a *syntaxError.
func parseScalar(t reflect.Type, s string) (reflect.Value, error) {
	v := reflect.New(t).Elem()
	st, _ := describe(t)
	bad := &syntaxError{problem: fmt.Sprintf("%q is not %s", s, st.noun), fix: st.fix}
	switch {
	case t == durationType:
		d, err := ParseDuration(s)
		if err != nil {
			return v, err
		}
		v.SetInt(int64(d))
	case t == byteSizeType:
		b, err := ParseByteSize(s)
		if err != nil {
			return v, err
		}
		v.SetInt(int64(b))
	case t.Kind() == reflect.String:
		v.SetString(s)
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return v, bad
		}
		v.SetBool(b)
	case t.Kind() == reflect.Int:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 0)
		if err != nil {
			return v, bad
		}
		v.SetInt(n)
	case t.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return v, bad
		}
		v.SetFloat(f)
	default:
		return v, fmt.Errorf("config: cannot parse type %s", t)
	}
	return v, nil
}
