package herald

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Error codes. Each is answered with one HTTP status (see ErrorStatus) and is returned
// to API callers as the "code" field, so they are stable, machine-readable strings.
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

// codeStatuses is the one place a code becomes an HTTP status, and the reverse: each
// status here belongs to exactly one code. The API answers with these statuses, the
// portal shows its pages with them, and ErrorFromResponse reads them back.
var codeStatuses = []struct {
	code   string
	status int
}{
	{EMALFORMED, http.StatusBadRequest},
	{EUNAUTHORIZED, http.StatusUnauthorized},
	{EFORBIDDEN, http.StatusForbidden},
	{ENOTFOUND, http.StatusNotFound},
	{ECONFLICT, http.StatusConflict},
	{EGONE, http.StatusGone},
	{ETOOLARGE, http.StatusRequestEntityTooLarge},
	{EINVALID, http.StatusUnprocessableEntity},
	{ERATELIMITED, http.StatusTooManyRequests},
	{EUNAVAILABLE, http.StatusServiceUnavailable},
	{EINTERNAL, http.StatusInternalServerError},
}

// ErrorCodes lists every error code, in the order of the list above.
func ErrorCodes() []string {
	codes := make([]string, len(codeStatuses))
	for i, cs := range codeStatuses {
		codes[i] = cs.code
	}
	return codes
}

// ErrorStatus returns the HTTP status an error with code is answered with: 500 for
// EINTERNAL and for any code not in the list above.
func ErrorStatus(code string) int {
	for _, cs := range codeStatuses {
		if cs.code == code {
			return cs.status
		}
	}
	return http.StatusInternalServerError
}

// StatusCode is ErrorStatus's inverse: the code an HTTP status stands for, EINTERNAL
// for a status no code is answered with.
func StatusCode(status int) string {
	for _, cs := range codeStatuses {
		if cs.status == status {
			return cs.code
		}
	}
	return EINTERNAL
}

// Error is a domain error: a code from the list above and a message that is safe to show
// the caller. Details, when set, says more (which field, which pointer). Its JSON is
// the API's error body, {"error": Message, "code": Code, "details": Details}.
type Error struct {
	Message string `json:"error"`
	Code    string `json:"code"`
	Details string `json:"details"`
}

// Error is the message, then the details when the message does not already say them
// (a field's name, say).
func (e *Error) Error() string {
	if e.Details != "" && !strings.Contains(e.Message, e.Details) {
		return e.Message + ": " + e.Details
	}
	return e.Message
}

// maxForeignBody bounds how much of an error answer not in the API's shape
// ErrorFromResponse keeps, so a proxy's HTML page does not flood a terminal.
const maxForeignBody = 200

// ErrorFromResponse turns an API error answer, its status and body, back into the
// *Error the server answered with: the same code, message and details.
//
// An answer not in the API's shape did not come from Herald (a proxy, a load balancer,
// another server at that address): its code is the one its status stands for, its
// message names the status, and its details hold the start of the body.
func ErrorFromResponse(status int, body []byte) *Error {
	answered := strings.TrimSpace(fmt.Sprintf("the server answered %d %s", status, http.StatusText(status)))
	var e Error
	if json.Unmarshal(body, &e) == nil && e.Code != "" {
		if e.Message == "" {
			e.Message = answered
		}
		return &e
	}
	e = Error{Code: StatusCode(status), Message: answered}
	e.Details = strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	if len(e.Details) > maxForeignBody {
		cut := maxForeignBody
		for cut > 0 && !utf8.RuneStart(e.Details[cut]) {
			cut--
		}
		e.Details = e.Details[:cut] + "…"
	}
	return &e
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
