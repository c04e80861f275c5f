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

// apiError is the body of every failed request, and the error handlers return so huma
// writes it with its status.
type apiError struct {
	status  int
	Message string `json:"error" doc:"What went wrong, safe to show a user"`
	Code    string `json:"code" doc:"Machine-readable error code" enum:"MALFORMED_REQUEST,UNAUTHORIZED,FORBIDDEN,NOT_FOUND,CONFLICT,GONE,PAYLOAD_TOO_LARGE,VALIDATION_FAILED,RATE_LIMITED,UNAVAILABLE,INTERNAL"`
	Details string `json:"details" doc:"More about the error: the field, JSON pointer or limit concerned; may be empty"`
	// retryAfter, when set, is the Retry-After of a 429, in seconds.
	retryAfter int
}

func (e *apiError) Error() string { return e.Message }

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

// statuses is the one place a herald error code becomes an HTTP status, and the
// reverse: each status here belongs to exactly one code.
var statuses = map[string]int{
	herald.EMALFORMED:    http.StatusBadRequest,
	herald.EUNAUTHORIZED: http.StatusUnauthorized,
	herald.EFORBIDDEN:    http.StatusForbidden,
	herald.ENOTFOUND:     http.StatusNotFound,
	herald.ECONFLICT:     http.StatusConflict,
	herald.EGONE:         http.StatusGone,
	herald.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	herald.EINVALID:      http.StatusUnprocessableEntity,
	herald.ERATELIMITED:  http.StatusTooManyRequests,
	herald.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// statusFor returns the status for an error code; 500 for any other.
func statusFor(code string) int {
	if status, ok := statuses[code]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// codeFor is statusFor's inverse, for errors that start as a status (huma's, the mux's).
func codeFor(status int) string {
	switch status {
	case http.StatusUnsupportedMediaType, http.StatusRequestTimeout:
		return herald.EMALFORMED
	case http.StatusMethodNotAllowed:
		return herald.ENOTFOUND
	}
	for code, s := range statuses {
		if s == status {
			return code
		}
	}
	return herald.EINTERNAL
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
	if errors.As(err, &he) {
		status := statusFor(he.Code)
		if status != http.StatusInternalServerError {
			return &apiError{status: status, Message: he.Message, Code: he.Code, Details: he.Details}
		}
	}
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), errStoreTimeout) {
		// The request ran out of its store timeout: the database is not answering, which
		// is for the caller to retry, not a fault of the request.
		log.WarnContext(ctx, "request timed out waiting for the store", "error", err)
		return errorf(herald.EUNAVAILABLE, "the database did not answer in time; try again later")
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// The caller went away; nobody reads this answer.
		log.DebugContext(ctx, "request canceled", "error", err)
	} else {
		log.ErrorContext(ctx, "request failed", "error", err)
	}
	return &apiError{status: http.StatusInternalServerError, Message: "internal error", Code: herald.EINTERNAL}
}

// errStoreTimeout is the cause of a request context that reached the store timeout.
var errStoreTimeout = errors.New("the store did not answer within the request's store timeout")

// errorf returns an *apiError with a herald code, its status and a formatted message.
func errorf(code, format string, args ...any) *apiError {
	return &apiError{status: statusFor(code), Code: code, Message: fmt.Sprintf(format, args...)}
}

// invalid returns a 422 about one field.
func invalid(details, format string, args ...any) *apiError {
	e := errorf(herald.EINVALID, format, args...)
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
	return &apiError{status: status, Message: msg, Code: codeFor(status), Details: strings.Join(details, "; ")}
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
