package goplugin

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wagate/wagate/core/policy"
	sdk "github.com/wagate/wagate/sdk/goplugin"
)

// Errors of configuring the runtime and of starting a plugin's process.
var (
	// ErrBadBinary: a configured binary is malformed (name, path or sha256).
	ErrBadBinary = errors.New("invalid go-plugin binary configuration")
	// ErrUnknownBinary: a policy names a binary the operator did not configure. Binaries
	// come from the gateway's configuration only, never from a tenant.
	ErrUnknownBinary = errors.New("unknown go-plugin binary")
	// ErrChecksum: the binary's SHA-256 is not the one configured. The process is not
	// started.
	ErrChecksum = errors.New("go-plugin binary checksum mismatch")
	// ErrHandshake: the process started but is not a policy plugin of this contract
	// (handshake, protocol version, plugin set, Info).
	ErrHandshake = errors.New("go-plugin handshake failed")
)

// Errors of a hook call, besides core/policy's.
var (
	// ErrUnavailable: the plugin's process is down (it crashed, hung or failed to
	// start) and is being restarted with backoff. Calls fail at once meanwhile, so the
	// chain answers with its default.
	ErrUnavailable = errors.New("go-plugin process unavailable")
	// ErrCrashed: the plugin's process exited or its connection broke during the call.
	ErrCrashed = errors.New("go-plugin process crashed")
	// ErrHung: the plugin's calls timed out Options.HungAfter times in a row; its
	// process was killed and is being restarted.
	ErrHung = errors.New("go-plugin process hung")
)

// RemoteError is an error the plugin sent: a gRPC status code and message, flattened
// at the process boundary (sdk/goplugin's errors.go has the table). It matches
// policy.ErrPanic for a panic, policy.ErrBadConfig for a refused configuration,
// policy.ErrNotImplemented for a missing hook, policy.ErrTimeout and
// context.DeadlineExceeded for a deadline the plugin reported, and policy.ErrBadOutput
// for a response that does not decode or is too large.
type RemoteError struct {
	Code    codes.Code
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("plugin error (%s): %s", e.Code, policy.Clip(e.Message, 512))
}

// Is maps the status code onto core/policy's errors.
func (e *RemoteError) Is(target error) bool {
	switch e.Code {
	case sdk.CodePanic:
		return target == policy.ErrPanic
	case sdk.CodeBadConfig:
		return target == policy.ErrBadConfig
	case codes.Unimplemented:
		return target == policy.ErrNotImplemented
	case codes.DeadlineExceeded:
		return target == policy.ErrTimeout || target == context.DeadlineExceeded
	case codes.Internal, codes.ResourceExhausted:
		return target == policy.ErrBadOutput
	}
	return false
}

// callError classifies a failed RPC: the caller's context ending, a timeout, the
// process gone, or an error the plugin sent.
func callError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if cerr == context.DeadlineExceeded {
			return fmt.Errorf("%w: %w", policy.ErrTimeout, context.DeadlineExceeded)
		}
		return cerr
	}
	s, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%w: %v", ErrCrashed, err)
	}
	switch s.Code() {
	case codes.Unavailable:
		// The connection broke: the process died or stopped serving.
		return fmt.Errorf("%w: %s", ErrCrashed, s.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("%w: %w", policy.ErrTimeout, context.DeadlineExceeded)
	}
	return &RemoteError{Code: s.Code(), Message: s.Message()}
}
