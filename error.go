package herald

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in httpapi and is returned to API callers as
// the "code" field, so they are stable, machine-readable strings.
const (
	EMALFORMED    = "MALFORMED_REQUEST" // 400: the request cannot be parsed
	EUNAUTHORIZED = "UNAUTHORIZED"      // 401: no or unknown API key
	EFORBIDDEN    = "FORBIDDEN"         // 403: the key may not do this
	ENOTFOUND     = "NOT_FOUND"         // 404: no such thing, or not the caller's
	ECONFLICT     = "CONFLICT"          // 409: the thing exists or is busy
	EGONE         = "GONE"              // 410: the thing is known but what it held was removed
	ETOOLARGE     = "PAYLOAD_TOO_LARGE" // 413
	EINVALID      = "VALIDATION_FAILED" // 422: well-formed but not acceptable
	ERATELIMITED  = "RATE_LIMITED"      // 429
	EUNAVAILABLE  = "UNAVAILABLE"       // 503: the store cannot take writes now
	EINTERNAL     = "INTERNAL"          // 500: a bug or an unexpected failure
)

// PurgedMarker starts the message of the database's refusal to lease a delivery whose
// event's data retention removed (see Store.PurgePayloads); stores recognise it to
// answer EGONE.
const PurgedMarker = "herald: payload removed by retention"

// ErrPurged is what a store returns for a delivery that cannot be sent again because
// retention removed its event's data.
func ErrPurged(deliveryID string) *Error {
	return Errorf(EGONE, "delivery %q cannot be sent again: retention removed its event's data", deliveryID)
}

// Error is a domain error: a code from the list above and a message that is safe to show
// the caller. Details, when set, says more (which field, which pointer).
type Error struct {
	Code    string
	Message string
	Details string
}

func (e *Error) Error() string {
	if e.Details != "" {
		return e.Message + ": " + e.Details
	}
	return e.Message
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of the first *Error in err's chain, or a
// generic message for any other error, so internal details never reach a caller.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
