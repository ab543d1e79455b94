package cloudapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/provider"
)

// graph is the HTTP side of the provider: one fasthttp client shared by every session
// of the factory (connections to graph.facebook.com are pooled), each call bounded by
// the caller's context and by the request timeout.
type graph struct {
	client  *fasthttp.Client
	timeout time.Duration
}

// maxResponseBytes bounds a Graph API answer (JSON); media downloads set their own.
const maxResponseBytes = 1 << 20

func newGraph(timeout time.Duration) *graph {
	return &graph{timeout: timeout, client: &fasthttp.Client{
		Name:                "wagate",
		ReadTimeout:         timeout,
		WriteTimeout:        timeout,
		MaxIdleConnDuration: 90 * time.Second,
		MaxConnsPerHost:     512,
		MaxConnWaitTimeout:  timeout,
		MaxResponseBodySize: 128 << 20, // media downloads; JSON answers are checked below
	}}
}

// request is one Graph API call.
type request struct {
	method      string
	url         string
	token       string
	contentType string
	body        []byte
	// maxBody bounds the answer; 0 means maxResponseBytes.
	maxBody int
}

// response is a completed call.
type response struct {
	status      int
	contentType string
	body        []byte
}

// errBodyTooLarge: the answer exceeded request.maxBody.
var errBodyTooLarge = errors.New("response body too large")

// do performs r and returns when the answer is complete, ctx ends, or the request
// timeout passes, whichever comes first. fasthttp honours deadlines but not
// cancellation, so the exchange runs on its own goroutine, which owns the pooled
// request and response and ends by the deadline at the latest.
func (g *graph) do(ctx context.Context, r request) (response, error) {
	deadline := time.Now().Add(g.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := ctx.Err(); err != nil {
		return response{}, err
	}
	maxBody := r.maxBody
	if maxBody <= 0 {
		maxBody = maxResponseBytes
	}
	type result struct {
		res response
		err error
	}
	done := make(chan result, 1)
	go func() {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod(r.method)
		req.SetRequestURI(r.url)
		if r.token != "" {
			req.Header.Set("Authorization", "Bearer "+r.token)
		}
		if r.contentType != "" {
			req.Header.SetContentType(r.contentType)
		}
		if r.body != nil {
			req.SetBodyRaw(r.body)
		}
		err := g.client.DoDeadline(req, resp, deadline)
		var out result
		switch {
		case err != nil:
			out.err = err
		case len(resp.Body()) > maxBody:
			out.err = fmt.Errorf("%w: more than %d bytes", errBodyTooLarge, maxBody)
		default:
			out.res = response{status: resp.StatusCode(), contentType: string(resp.Header.ContentType()),
				body: append([]byte(nil), resp.Body()...)}
		}
		done <- out
	}()
	select {
	case out := <-done:
		return out.res, out.err
	case <-ctx.Done():
		return response{}, ctx.Err()
	}
}

// graphErrorBody is Meta's error answer.
type graphErrorBody struct {
	Error *struct {
		Message   string `json:"message"`
		Type      string `json:"type"`
		Code      *int   `json:"code"`
		Subcode   int    `json:"error_subcode"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
		TraceID string `json:"fbtrace_id"`
	} `json:"error"`
}

// answerError turns a non-2xx answer into a *provider.SendError carrying a *GraphError.
func answerError(res response) error {
	ge := &GraphError{HTTPStatus: res.status}
	var body graphErrorBody
	hasCode := false
	if json.Unmarshal(res.body, &body) == nil && body.Error != nil {
		e := body.Error
		ge.Message, ge.Type, ge.Subcode, ge.Details, ge.TraceID = e.Message, e.Type, e.Subcode, e.ErrorData.Details, e.TraceID
		if e.Code != nil {
			ge.Code, hasCode = *e.Code, true
		}
	} else {
		ge.Message = clip(string(res.body), 200)
	}
	c := classify(res.status, ge.Code, hasCode)
	ge.class, ge.cause = c.code, c.cause
	return &provider.SendError{Code: c.code, Retryable: c.retryable, Err: ge}
}

// transportError turns an error of graph.do into a *provider.SendError: every one is
// retryable (the call may not have reached Meta, or its answer was lost).
func transportError(err error) error {
	code := CodeNetworkError
	switch {
	case errors.Is(err, context.Canceled):
		code = CodeCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, fasthttp.ErrTimeout),
		errors.Is(err, fasthttp.ErrDialTimeout), errors.Is(err, fasthttp.ErrNoFreeConns):
		code = CodeTimeout
	}
	return &provider.SendError{Code: code, Retryable: true, Err: fmt.Errorf("cloudapi: graph api call: %w", err)}
}

// call performs r and decodes a 2xx JSON answer into out (nil to skip). Every error is
// a *provider.SendError.
func (g *graph) call(ctx context.Context, r request, out any) error {
	res, err := g.do(ctx, r)
	if err != nil {
		return transportError(err)
	}
	if res.status < 200 || res.status > 299 {
		return answerError(res)
	}
	if out != nil {
		if err := json.Unmarshal(res.body, out); err != nil {
			return &provider.SendError{Code: CodeServerError, Retryable: true,
				Err: fmt.Errorf("%w: http %d, %v: %s", ErrBadResponse, res.status, err, clip(string(res.body), 200))}
		}
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
