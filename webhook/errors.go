package webhook

import (
	"errors"
	"fmt"
)

// Every error this package returns wraps one of these, so errors.Is tells them apart,
// and reads as a message that says what exactly is wrong. No message ever contains a
// secret.
var (
	// ErrNoSignature reports that the request carries no signature header of the
	// verifier's format.
	ErrNoSignature = errors.New("webhook: no signature")

	// ErrWrongFormat reports that the request carries no signature header of the
	// verifier's format, but another format's; the message names the format the request
	// looks like.
	ErrWrongFormat = errors.New("webhook: wrong format")

	// ErrMissingHeader reports that a standard request's webhook-id or webhook-timestamp
	// header is absent or malformed; the message names it.
	ErrMissingHeader = errors.New("webhook: missing header")

	// ErrTimestampOutOfTolerance reports that a standard request's webhook-timestamp is
	// further from now than the verifier's tolerance, in either direction; the message
	// says how far.
	ErrTimestampOutOfTolerance = errors.New("webhook: timestamp out of tolerance")

	// ErrSignatureMismatch reports that no signature of the request matches any
	// configured secret.
	ErrSignatureMismatch = errors.New("webhook: signature mismatch")

	// ErrWrongSecret reports that the signature does not match although the body matches
	// its Content-Digest header, so is intact: the secret is wrong. Every error that
	// wraps it is also an ErrSignatureMismatch.
	ErrWrongSecret error = &subError{"webhook: wrong secret", ErrSignatureMismatch}

	// ErrBodyChanged reports that the signature does not match and neither does the
	// body's Content-Digest header: the body was changed after it was sent (re-serialised,
	// trimmed, re-encoded). Every error that wraps it is also an ErrSignatureMismatch.
	ErrBodyChanged error = &subError{"webhook: body changed", ErrSignatureMismatch}

	// ErrInvalidSecret reports that a secret or key given to this package is malformed,
	// or of a kind the format does not use.
	ErrInvalidSecret = errors.New("webhook: invalid secret")

	// ErrUnknownFormat reports a format other than FormatInfraAudit, FormatFrugally and
	// FormatStandard.
	ErrUnknownFormat = errors.New("webhook: unknown format")

	// ErrBodyTooLarge reports that the request body is larger than the verifier's
	// MaxBody.
	ErrBodyTooLarge = errors.New("webhook: body too large")

	// ErrInvalidPayload reports that the body is not the format's envelope, or that the
	// event's data does not decode into the type asked for; the message names the field.
	ErrInvalidPayload = errors.New("webhook: invalid payload")
)

// subError is a sentinel that is a special case of another: errors.Is(err, parent) holds
// for every error that wraps it.
type subError struct {
	msg    string
	parent error
}

func (e *subError) Error() string { return e.msg }
func (e *subError) Unwrap() error { return e.parent }

// detailError is what the package returns: a sentinel (kind) and a message that says
// exactly what is wrong.
type detailError struct {
	kind error
	msg  string
}

func (e *detailError) Error() string { return "webhook: " + e.msg }
func (e *detailError) Unwrap() error { return e.kind }

// fail returns an error of the given kind with a formatted message.
func fail(kind error, format string, args ...any) error {
	return &detailError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
