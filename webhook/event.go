package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// Event is a parsed delivery, whatever its format.
type Event struct {
	// Format is the format the delivery came in.
	Format Format

	// ID is the key to deduplicate on, the one the format documents: infraaudit's
	// delivery_id (stable across retries), frugally's id (the event id) or standard's
	// webhook-id header (the event id).
	ID string

	// EventID is the event's id: frugally's id, standard's webhook-id. Empty for
	// infraaudit, which does not send one.
	EventID string

	// Type is the event type, such as "drift.detected".
	Type string

	// Timestamp is when the event occurred.
	Timestamp time.Time

	// WebhookID and DeliveryID are infraaudit's webhook_id and delivery_id.
	WebhookID  string
	DeliveryID string

	// TeamID is frugally's team_id.
	TeamID string

	// Data is the event's payload, byte for byte as sent. Payload and DecodeData decode
	// it.
	Data json.RawMessage
}

// Parse parses a delivery's body in format. For standard the event id comes from the
// webhook-id header of h; the other formats carry theirs in the body and ignore h.
//
// Parse does not verify: call Verifier.Verify (or VerifyRequest) first. It fails with
// ErrInvalidPayload, naming the field, when the body is not the format's envelope: every
// envelope field must be present with its JSON type, the type, timestamp (RFC 3339) and
// dedupe key must not be empty. Unknown envelope fields are ignored. A standard delivery
// without webhook-id fails with ErrMissingHeader.
func Parse(format Format, h http.Header, body []byte) (*Event, error) {
	if err := format.check(); err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, fail(ErrInvalidPayload, "the body is not a JSON object")
	}
	env := envelope{fields: fields}
	e := &Event{Format: format}
	switch format {
	case FormatInfraAudit:
		e.Type = env.str("event", true)
		e.WebhookID = env.str("webhook_id", false)
		e.DeliveryID = env.str("delivery_id", true)
		e.ID = e.DeliveryID
	case FormatFrugally:
		e.EventID = env.str("id", true)
		e.Type = env.str("type", true)
		e.TeamID = env.str("team_id", false)
		e.ID = e.EventID
	case FormatStandard:
		e.Type = env.str("type", true)
		e.EventID = headerValue(h, HeaderWebhookID)
		e.ID = e.EventID
	}
	e.Timestamp = env.time("timestamp")
	e.Data = env.data()
	if env.err != nil {
		return nil, env.err
	}
	if e.ID == "" { // only standard gets here without one: the others' id is required above
		return nil, fail(ErrMissingHeader, "no %s header", HeaderWebhookID)
	}
	return e, nil
}

// envelope reads the fields of an envelope, remembering the first problem.
type envelope struct {
	fields map[string]json.RawMessage
	err    error
}

// str returns the string field name; nonEmpty says it may not be "".
func (env *envelope) str(name string, nonEmpty bool) string {
	raw, ok := env.fields[name]
	var s string
	switch {
	case env.err != nil:
	case !ok:
		env.err = fail(ErrInvalidPayload, "the envelope has no %q field", name)
	case json.Unmarshal(raw, &s) != nil || bytes.Equal(raw, []byte("null")):
		env.err = fail(ErrInvalidPayload, "the envelope's %q is not a string", name)
	case nonEmpty && s == "":
		env.err = fail(ErrInvalidPayload, "the envelope's %q is empty", name)
	}
	return s
}

// time returns the RFC 3339 time field name.
func (env *envelope) time(name string) time.Time {
	s := env.str(name, true)
	if env.err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		env.err = fail(ErrInvalidPayload, "the envelope's %q %q is not an RFC 3339 time", name, s)
	}
	return t
}

// data returns the data field as sent.
func (env *envelope) data() json.RawMessage {
	raw, ok := env.fields["data"]
	if env.err == nil && !ok {
		env.err = fail(ErrInvalidPayload, "the envelope has no %q field", "data")
	}
	return raw
}

// Payload decodes e.Data into the struct of e.Type and returns a pointer to it, such as
// *DriftDetected for "drift.detected". For a type this package has no struct for (a
// custom event type), it returns e.Data as a json.RawMessage, for DecodeData into a type
// of your own. It fails with ErrInvalidPayload if Data does not decode into the struct.
// Decoding is lenient: fields the struct does not know are ignored, so a producer may
// add fields without breaking receivers.
func (e *Event) Payload() (any, error) {
	newPayload, ok := payloadTypes[e.Type]
	if !ok {
		return e.Data, nil
	}
	p := newPayload()
	if err := decodeData(e, p); err != nil {
		return nil, err
	}
	return p, nil
}

// DecodeData decodes e.Data into a T, with encoding/json's rules. It fails with
// ErrInvalidPayload if Data does not decode into a T.
func DecodeData[T any](e *Event) (T, error) {
	var t T
	err := decodeData(e, &t)
	return t, err
}

// decodeData decodes e.Data into p, a pointer.
func decodeData(e *Event, p any) error {
	if e == nil {
		return fail(ErrInvalidPayload, "no event")
	}
	if err := json.Unmarshal(e.Data, p); err != nil {
		return fail(ErrInvalidPayload, "the data of %s %s does not decode into %T: %v", e.Type, e.ID, p, err)
	}
	return nil
}
