package config

import (
	"errors"
	"reflect"
)

// EnvVars lists every environment variable that overrides a field, in the order of the
// fields in gateway.yaml: WAGATE_ followed by the field's YAML path in upper case, joined
// with "_", e.g. WAGATE_SERVER_LISTEN or WAGATE_LIMITS_DEFAULT_PLAN_MAX_SESSIONS.
func EnvVars() []string {
	fields := schemaFields()
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.env
	}
	return names
}

// applyEnv overrides the fields of c whose variable lookupEnv finds. A variable set to
// the empty string is ignored, as if unset. Every bad value is reported, each as an
// *EnvError; nothing is changed for a bad value. A nil lookupEnv reads nothing.
func applyEnv(c *Config, lookupEnv func(string) (string, bool)) error {
	if lookupEnv == nil {
		return nil
	}
	root := reflect.ValueOf(c).Elem()
	var errs []error
	for _, f := range schemaFields() {
		s, ok := lookupEnv(f.env)
		if !ok || s == "" {
			continue
		}
		v, err := parseScalar(f.typ, s)
		if err != nil {
			errs = append(errs, &EnvError{Name: f.env, Path: f.path, Err: err})
			continue
		}
		root.FieldByIndex(f.index).Set(v)
	}
	return errors.Join(errs...)
}
