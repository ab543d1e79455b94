package cloudapi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wagate/wagate/core/provider"
)

// Errors of the cloudapi provider besides the *provider.SendError of a failed send. Test
// them with errors.Is; they come wrapped with the tenant and session they concern.
var (
	// ErrInvalidConfig: the session's provider config (provider.Spec.Config) is not a
	// valid SessionConfig; the message names the field and how to fix it.
	ErrInvalidConfig = errors.New("cloudapi: invalid session config")
	// ErrNoPairing: Cloud API numbers are registered in WhatsApp Manager, never paired
	// by QR or code. It wraps provider.ErrUnsupported.
	ErrNoPairing = fmt.Errorf("cloudapi: numbers are registered in WhatsApp Manager, not paired by QR or code: %w", provider.ErrUnsupported)
	// ErrClosed: the provider was closed (its session deleted).
	ErrClosed = errors.New("cloudapi: closed")
	// ErrInvalidMessage is the cause inside the *provider.SendError of a message that
	// lacks what its kind needs (an image without media, a template without a name).
	ErrInvalidMessage = errors.New("cloudapi: invalid message")
	// ErrBadResponse: the Graph API answered 2xx with a body that is not what its
	// documentation promises (no message id). Retryable: the send may or may not have
	// happened, as after a network error.
	ErrBadResponse = errors.New("cloudapi: unexpected Graph API response")
	// ErrNoMedia: DownloadMedia was asked for a message this provider did not receive
	// with a media file, or received too long ago to remember.
	ErrNoMedia = errors.New("cloudapi: no media known for this message")
	// ErrMediaTooLarge: a media file to download is larger than MaxMediaBytes.
	ErrMediaTooLarge = errors.New("cloudapi: media file too large")
	// ErrBadPayload: a webhook body is not JSON in the shape Meta documents.
	ErrBadPayload = errors.New("cloudapi: malformed webhook payload")
)

// Codes of the *provider.SendError values the provider returns. The table in
// docs/cloudapi.md maps Meta's error codes onto them.
const (
	// CodeAuthFailed: the access token or the account was refused (Meta 0, 3, 10, 33,
	// 190, 200-299, 131005, 133010, or HTTP 401/403). Wraps provider.ErrAuth: fatal,
	// not retryable; the session reports FAILED with this reason.
	CodeAuthFailed = "auth_failed"
	// CodeBanned: the account is restricted for policy violations (368, 131031). Wraps
	// provider.ErrBanned: fatal, not retryable; the session reports FAILED.
	CodeBanned = "banned"
	// CodeRateLimited: an API call rate or the number's throughput was exceeded (4,
	// 80007, 130429, or HTTP 429). Retryable with backoff.
	CodeRateLimited = "rate_limited"
	// CodeSpamRateLimited: the number may send fewer messages for now because too many
	// were blocked or reported (131048). Retryable with a long backoff.
	CodeSpamRateLimited = "spam_rate_limited"
	// CodePairRateLimited: too many messages to this one recipient in a short time
	// (131056). Retryable with backoff; other recipients are not affected.
	CodePairRateLimited = "pair_rate_limited"
	// CodeInvalidParameter: the request was refused as malformed (100, 131008,
	// 131009). Not retryable.
	CodeInvalidParameter = "invalid_parameter"
	// CodeInvalidRecipient: the chat cannot be addressed by the Cloud API (a LID, the
	// number itself: 131021). Wraps provider.ErrInvalidRecipient.
	CodeInvalidRecipient = "invalid_recipient"
	// CodeUndeliverable: the recipient cannot receive it (not on WhatsApp, blocked the
	// business, old app: 131026). Wraps provider.ErrInvalidRecipient. Not retryable.
	CodeUndeliverable = "undeliverable"
	// CodeReengagementRequired: more than 24 hours passed since the recipient last
	// wrote; only a template may be sent (131047). Not retryable as such.
	CodeReengagementRequired = "reengagement_required"
	// CodeTemplateError: the template does not exist, is paused or disabled, or its
	// parameters do not fit (132000-132999). Not retryable.
	CodeTemplateError = "template_error"
	// CodeNotDelivered: Meta chose not to deliver (ecosystem engagement 131049, a
	// marketing experiment 130472). Not retryable now.
	CodeNotDelivered = "not_delivered"
	// CodeOptedOut: the recipient stopped marketing messages from this business
	// (131050). Not retryable.
	CodeOptedOut = "recipient_opted_out"
	// CodeUnsupported: the message kind cannot be sent through the Cloud API (131051,
	// or a kind this provider does not send), or the chat is a group, channel or
	// broadcast, which it has no send for. Wraps provider.ErrUnsupported.
	CodeUnsupported = "unsupported"
	// CodeMediaError: Meta could not fetch or accept the media (131052, 131053). Not
	// retryable: fix the URL or the file.
	CodeMediaError = "media_error"
	// CodeServerError: a Graph API outage (1, 2, 131000, 131016, 131057, 133004, or an
	// HTTP 5xx without a known code). Retryable.
	CodeServerError = "server_error"
	// CodeNetworkError: the Graph API could not be reached or the connection broke.
	// Retryable.
	CodeNetworkError = "network_error"
	// CodeTimeout: the call's deadline (the caller's, or request_timeout) passed first.
	// Retryable.
	CodeTimeout = "timeout"
	// CodeCanceled: the caller's context was canceled. Retryable.
	CodeCanceled = "canceled"
	// CodeThrottled: the number's throughput limit (SessionConfig.Throughput) would
	// have held the send past its deadline; nothing was sent. Retryable.
	CodeThrottled = "throttled"
	// CodeInvalidMessage: the message lacks what its kind needs (ErrInvalidMessage).
	// Not retryable.
	CodeInvalidMessage = "invalid_message"
	// CodeGraphError: any other error answer of the Graph API (a 4xx with an
	// undocumented code, 135000). Not retryable.
	CodeGraphError = "cloudapi_error"
)

// GraphError is an error answer of the Graph API, in Meta's documented shape:
//
//	{"error": {"message": "(#131047) Re-engagement message", "type": "OAuthException",
//	  "code": 131047, "error_data": {"messaging_product": "whatsapp", "details": "..."},
//	  "fbtrace_id": "..."}}
//
// It unwraps to the provider sentinel of its class (provider.ErrAuth, ErrBanned,
// ErrInvalidRecipient, ErrUnsupported) when there is one.
type GraphError struct {
	// HTTPStatus is the status of the answer.
	HTTPStatus int
	// Code is Meta's error code (130429, 131047, ...); 0 when the body had none.
	Code int
	// Subcode is Meta's error_subcode (deprecated by Meta, kept for logs).
	Subcode int
	// Type is Meta's error type ("OAuthException").
	Type string
	// Message and Details are Meta's texts: message, and error_data.details.
	Message string
	Details string
	// TraceID is fbtrace_id, what Meta's support asks for.
	TraceID string

	class string
	cause error
}

func (e *GraphError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph api error %d", e.Code)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.Details != "" && e.Details != e.Message {
		b.WriteString(": " + e.Details)
	}
	fmt.Fprintf(&b, " (http %d", e.HTTPStatus)
	if e.TraceID != "" {
		b.WriteString(", fbtrace_id " + e.TraceID)
	}
	b.WriteString(")")
	return b.String()
}

// Unwrap returns the provider sentinel of the error's class, or nil.
func (e *GraphError) Unwrap() error { return e.cause }

// errorClass is how one kind of Graph API error is reported.
type errorClass struct {
	code      string
	retryable bool
	cause     error // provider sentinel, or nil
}

var (
	classAuth           = errorClass{CodeAuthFailed, false, provider.ErrAuth}
	classBanned         = errorClass{CodeBanned, false, provider.ErrBanned}
	classRateLimited    = errorClass{CodeRateLimited, true, nil}
	classSpam           = errorClass{CodeSpamRateLimited, true, nil}
	classPair           = errorClass{CodePairRateLimited, true, nil}
	classParameter      = errorClass{CodeInvalidParameter, false, nil}
	classRecipient      = errorClass{CodeInvalidRecipient, false, provider.ErrInvalidRecipient}
	classUndeliverable  = errorClass{CodeUndeliverable, false, provider.ErrInvalidRecipient}
	classReengagement   = errorClass{CodeReengagementRequired, false, nil}
	classTemplate       = errorClass{CodeTemplateError, false, nil}
	classNotDelivered   = errorClass{CodeNotDelivered, false, nil}
	classOptedOut       = errorClass{CodeOptedOut, false, nil}
	classUnsupported    = errorClass{CodeUnsupported, false, provider.ErrUnsupported}
	classMedia          = errorClass{CodeMediaError, false, nil}
	classServer         = errorClass{CodeServerError, true, nil}
	classOtherGraphCode = errorClass{CodeGraphError, false, nil}
)

// metaCodes maps Meta's documented error codes to their class. Codes not here fall to
// the ranges and HTTP statuses of classify.
var metaCodes = map[int]errorClass{
	0: classAuth, 3: classAuth, 10: classAuth, 33: classAuth, 190: classAuth,
	131005: classAuth, 133010: classAuth,
	368: classBanned, 131031: classBanned,
	4: classRateLimited, 80007: classRateLimited, 130429: classRateLimited,
	131048: classSpam,
	131056: classPair,
	100:    classParameter, 131008: classParameter, 131009: classParameter,
	131021: classRecipient,
	131026: classUndeliverable,
	131047: classReengagement,
	131049: classNotDelivered, 130472: classNotDelivered,
	131050: classOptedOut,
	131051: classUnsupported,
	131052: classMedia, 131053: classMedia,
	1: classServer, 2: classServer, 131000: classServer, 131016: classServer, 131057: classServer, 133004: classServer,
}

// classify returns the class of an error answer with Meta code code (hasCode false
// when the body had none) and HTTP status status.
func classify(status, code int, hasCode bool) errorClass {
	if hasCode {
		if c, ok := metaCodes[code]; ok {
			return c
		}
		switch {
		case code >= 200 && code <= 299:
			return classAuth
		case code >= 132000 && code <= 132999:
			return classTemplate
		}
	}
	switch {
	case status == 401 || status == 403:
		return classAuth
	case status == 429:
		return classRateLimited
	case status >= 500:
		return classServer
	}
	return classOtherGraphCode
}

// codeName is the snake_case class of a Meta error code, for the text of failed acks.
func codeName(code int) string { return classify(400, code, true).code }
