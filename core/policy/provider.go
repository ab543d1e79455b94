package policy

import (
	"context"
	"errors"

	"github.com/wagate/wagate/core/provider"
)

// ErrorOf flattens a failed send into the failover hook's Error: the *provider.SendError
// code when there is one, else the code of the provider sentinel it wraps; Retryable as
// provider.Retryable says; the text clipped to MaxReasonLen bytes.
//
//	d := chain.Failover(ctx, policy.FailoverInput{..., Error: policy.ErrorOf(sendErr), Attempt: m.Attempts})
func ErrorOf(err error) Error {
	if err == nil {
		return Error{}
	}
	e := Error{Code: "provider_error", Message: Clip(err.Error(), MaxReasonLen), Retryable: provider.Retryable(err)}
	var se *provider.SendError
	if errors.As(err, &se) && se.Code != "" {
		e.Code = se.Code
		return e
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			e.Code = c.code
			break
		}
	}
	return e
}

var errorCodes = []struct {
	err  error
	code string
}{
	{provider.ErrAuth, "auth_failed"},
	{provider.ErrBanned, "banned"},
	{provider.ErrLoggedOut, "logged_out"},
	{provider.ErrInvalidRecipient, "invalid_recipient"},
	{provider.ErrUnsupported, "unsupported"},
	{provider.ErrNotConnected, "not_connected"},
	{context.DeadlineExceeded, "timeout"},
}
