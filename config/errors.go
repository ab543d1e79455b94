package config

import "fmt"

// FieldError is one problem with one field of gateway.yaml. Parse, Load, Validate and
// the Resolve methods return it, alone or inside errors.Join; find it with errors.As:
//
//	var fe *config.FieldError
//	if errors.As(err, &fe) && fe.Path == "server.listen" { ... }
type FieldError struct {
	// Path is the field as a YAML path, e.g. "server.listen" or "limits.default_plan.max_sessions".
	Path string
	// Problem says what is wrong, e.g. `"abc" is not host:port`.
	Problem string
	// Fix says how to put it right, e.g. "write it like 127.0.0.1:8080". May be empty.
	Fix string
}

// Error formats the problem as "<path>: <problem>; <fix>".
func (e *FieldError) Error() string {
	if e.Fix == "" {
		return e.Path + ": " + e.Problem
	}
	return e.Path + ": " + e.Problem + "; " + e.Fix
}

// EnvError is a WAGATE_* environment variable whose value does not parse as the type of
// the field it overrides. Find it with errors.As.
type EnvError struct {
	// Name is the variable, e.g. "WAGATE_SERVER_READ_TIMEOUT".
	Name string
	// Path is the field it overrides, e.g. "server.read_timeout".
	Path string
	// Err says what is wrong with the value and how to write it.
	Err error
}

// Error formats the problem as "<variable> (<path>): <problem>; <fix>".
func (e *EnvError) Error() string {
	return fmt.Sprintf("%s (overrides %s): %v", e.Name, e.Path, e.Err)
}

// Unwrap returns the parse error.
func (e *EnvError) Unwrap() error { return e.Err }
