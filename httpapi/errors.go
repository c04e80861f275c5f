package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldhq/herald"
)

// apiError is the answer to a failed request: a herald.Error, which is its body, with
// the status it is sent with. It is what huma writes for the errors handlers return and
// for its own; its name names the error schema in the OpenAPI document ("ApiError").
type apiError struct {
	ErrorBody
	status int
	// retryAfter, when set, is the Retry-After of a 429, in seconds.
	retryAfter int
}

// ErrorBody is the body of every failed request: a herald.Error, whose JSON is
// {"error", "code", "details"}. herald.ErrorFromResponse reads it back. apiError embeds
// it under this name because a field named Error would hide the Error method, and
// exported so that huma documents its fields.
type ErrorBody = herald.Error

// answer returns the response for e, with the status its code is answered with.
func answer(e *herald.Error) *apiError {
	return &apiError{ErrorBody: *e, status: herald.ErrorStatus(e.Code)}
}

// GetStatus makes apiError a huma.StatusError.
func (e *apiError) GetStatus() int { return e.status }

// GetHeaders makes apiError a huma.HeadersError: a 503 asks the caller to come back soon,
// a 429 says when its bucket has a token again.
func (e *apiError) GetHeaders() http.Header {
	switch {
	case e.retryAfter > 0:
		return http.Header{"Retry-After": {strconv.Itoa(e.retryAfter)}}
	case e.status == http.StatusServiceUnavailable:
		return http.Header{"Retry-After": {"1"}}
	}
	return nil
}

// TransformSchema documents the error body's fields in the OpenAPI document, which huma
// reads from herald.Error's JSON names.
func (*apiError) TransformSchema(_ huma.Registry, s *huma.Schema) *huma.Schema {
	doc := map[string]string{
		"error":   "What went wrong, safe to show a user",
		"code":    "Machine-readable error code",
		"details": "More about the error: the field, JSON pointer or limit concerned; may be empty",
	}
	for name, prop := range s.Properties {
		prop.Description = doc[name]
	}
	if code := s.Properties["code"]; code != nil {
		code.Enum = nil
		for _, c := range herald.ErrorCodes() {
			code.Enum = append(code.Enum, c)
		}
	}
	return s
}

// codeFor is the code of an error that starts as a status (huma's, the mux's):
// herald.StatusCode, but for the statuses the API answers under another code's name.
func codeFor(status int) string {
	switch status {
	case http.StatusUnsupportedMediaType, http.StatusRequestTimeout:
		return herald.EMALFORMED
	case http.StatusMethodNotAllowed:
		return herald.ENOTFOUND
	}
	return herald.StatusCode(status)
}

// toAPIError turns any error into the response for it. Domain errors keep their message
// and details; anything else is a 500 with a generic message, and the real error is
// logged (errors never carry secrets: handlers do not wrap them into errors).
func toAPIError(ctx context.Context, log *slog.Logger, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var he *herald.Error
	if errors.As(err, &he) && herald.ErrorStatus(he.Code) != http.StatusInternalServerError {
		return answer(he)
	}
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), errStoreTimeout) {
		// The request ran out of its store timeout: the database is not answering, which
		// is for the caller to retry, not a fault of the request.
		log.WarnContext(ctx, "request timed out waiting for the store", "error", err)
		return answer(herald.Errorf(herald.EUNAVAILABLE, "the database did not answer in time; try again later"))
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// The caller went away; nobody reads this answer.
		log.DebugContext(ctx, "request canceled", "error", err)
	} else {
		log.ErrorContext(ctx, "request failed", "error", err)
	}
	return answer(errInternal)
}

// errInternal is what the caller is told of any failure that is not theirs to know.
var errInternal = &herald.Error{Code: herald.EINTERNAL, Message: "internal error"}

// errStoreTimeout is the cause of a request context that reached the store timeout.
var errStoreTimeout = errors.New("the store did not answer within the request's store timeout")

// invalid returns a 422 about one field.
func invalid(details, format string, args ...any) *herald.Error {
	e := herald.Errorf(herald.EINVALID, format, args...)
	e.Details = details
	return e
}

// humaError is what huma builds for its own failures (body parsing, validation, size).
// It keeps the locations and messages of huma's details but never their values: those
// echo the request, which may hold a secret.
func humaError(status int, msg string, maxBody int64, errs ...error) huma.StatusError {
	var details []string
	var malformed string // a strictUnmarshal refusal, whose message says what is wrong
	if status < 500 {
		for _, err := range errs {
			if err == nil {
				continue
			}
			var d huma.ErrorDetailer
			if !errors.As(err, &d) {
				continue
			}
			ed := d.ErrorDetail()
			if strings.HasPrefix(ed.Message, malformedPrefix) && malformed == "" {
				malformed = ed.Message
			}
			if ed.Location != "" {
				details = append(details, ed.Location+": "+ed.Message)
			} else {
				details = append(details, ed.Message)
			}
		}
	}
	switch {
	case status == http.StatusBadRequest && msg == "validation failed" && malformed != "":
		msg, details = malformed, []string{"body"}
	case status == http.StatusBadRequest && msg == "validation failed":
		msg = "malformed request: the body is not valid JSON"
	case status == http.StatusRequestEntityTooLarge:
		msg = "request body is too large"
		if maxBody > 1 {
			// Operations are registered with one byte more than the limit, because huma
			// refuses a body whose length equals its limit.
			details = []string{fmt.Sprintf("the limit is %d bytes", maxBody-1)}
		}
	case status == http.StatusUnprocessableEntity && msg == "validation failed" && len(details) > 0:
		msg = "invalid request: " + details[0]
		switch n := len(details) - 1; {
		case n == 1:
			msg += " (and 1 more problem)"
		case n > 1:
			msg += fmt.Sprintf(" (and %d more problems)", n)
		}
	case status == http.StatusUnsupportedMediaType:
		status = http.StatusBadRequest
		msg = "malformed request: the body must be JSON"
	case status >= 500:
		msg = "internal error"
	case status == 0:
		// Registration asks for an example error to document its schema.
	}
	return &apiError{ErrorBody: herald.Error{Code: codeFor(status), Message: msg, Details: strings.Join(details, "; ")}, status: status}
}

func init() {
	// Lists are never null in this API, in responses or requests.
	huma.DefaultArrayNullable = false

	// huma builds its own errors through these package variables: replace them so its
	// parse and validation failures take Herald's error shape. They are process-wide, so
	// anything else built on huma in the same binary answers in this shape too.
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		return humaError(status, msg, 0, errs...)
	}
	huma.NewErrorWithContext = func(ctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		var maxBody int64
		if ctx != nil && ctx.Operation() != nil {
			maxBody = ctx.Operation().MaxBodyBytes
		}
		return humaError(status, msg, maxBody, errs...)
	}
}

// writeError writes e as a JSON response on a plain net/http writer.
func writeError(w http.ResponseWriter, e *apiError) {
	for k, vs := range e.GetHeaders() {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.status)
	// The status is sent: a failed write means the caller left and there is nobody to tell.
	_ = json.NewEncoder(w).Encode(e)
}
