package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wagate/wagate/core/provider"
)

func TestErrorOf(t *testing.T) {
	for _, tc := range []struct {
		err       error
		code      string
		retryable bool
	}{
		{&provider.SendError{Code: "rate_limited", Retryable: true, Err: errors.New("429")}, "rate_limited", true},
		{fmt.Errorf("send: %w", &provider.SendError{Code: "auth_failed", Err: provider.ErrAuth}), "auth_failed", false},
		{fmt.Errorf("whatsmeow: %w", provider.ErrBanned), "banned", false},
		{provider.ErrLoggedOut, "logged_out", false},
		{provider.ErrInvalidRecipient, "invalid_recipient", false},
		{provider.ErrUnsupported, "unsupported", false},
		{provider.ErrNotConnected, "not_connected", true},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), "timeout", true},
		{errors.New("connection reset"), "provider_error", true},
	} {
		e := ErrorOf(tc.err)
		if e.Code != tc.code || e.Retryable != tc.retryable || e.Message != tc.err.Error() {
			t.Errorf("%v: %+v, want code %s retryable %v", tc.err, e, tc.code, tc.retryable)
		}
	}
	if e := ErrorOf(errors.New(strings.Repeat("x", 1000))); len(e.Message) > MaxReasonLen+3 {
		t.Errorf("message of %d bytes", len(e.Message))
	}
	if e := ErrorOf(nil); e != (Error{}) {
		t.Errorf("nil: %+v", e)
	}
}
