package goplugin

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrBadConfig is the error Configure wraps to refuse a configuration (DecodeConfig
// does). It crosses the process boundary as INVALID_ARGUMENT and the gateway reports it
// as policy.ErrBadConfig.
var ErrBadConfig = errors.New("invalid policy configuration")

// Errors cross the process boundary flattened to a gRPC status: a code and a message.
// The codes, the one table both sides follow (docs/plugins.md, "go-plugin errors"):
//
//	plugin side                                 code               gateway's reason
//	a hook returned an error                    UNKNOWN            error
//	Configure returned ErrBadConfig (wrapped)   INVALID_ARGUMENT   configuration refused
//	the hook is not implemented                 UNIMPLEMENTED      error (not implemented)
//	a hook panicked (recovered here)            ABORTED            panic
//	a hook returned its ctx's deadline error    DEADLINE_EXCEEDED  timeout
//	a hook returned a *status.Status error      that status's code (as above; others: error)
//
// gRPC never sends ABORTED itself, so the gateway can tell a panic from the transport's
// own failures (UNAVAILABLE: the process is gone; INTERNAL, RESOURCE_EXHAUSTED: a
// response that does not decode or is too large, a bad output).
const (
	// CodePanic is the status code of a hook that panicked.
	CodePanic = codes.Aborted
	// CodeBadConfig is the status code of a refused configuration.
	CodeBadConfig = codes.InvalidArgument
)

// MaxErrorMessage bounds the message of an error sent to the gateway, in bytes.
const MaxErrorMessage = 1024

// statusOf flattens err, returned by a hook or Configure, to a gRPC status error.
func statusOf(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok {
		return s.Err()
	}
	code := codes.Unknown
	switch {
	case errors.Is(err, ErrBadConfig):
		code = CodeBadConfig
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, clip(err.Error(), MaxErrorMessage))
}

// recovered turns a recovered panic value into the status the gateway counts as a panic.
func recovered(v any) error {
	return status.Error(CodePanic, clip(fmt.Sprintf("panic: %v", v), MaxErrorMessage))
}

// clip shortens s to at most n bytes on a UTF-8 boundary, marking a cut with "...".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
