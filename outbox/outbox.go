// Package outbox publishes Herald events from a Go service inside the service's own
// PostgreSQL transaction: the transactional outbox. When the service keeps its data in
// the database Herald runs on, it writes its change and the event that announces it in
// one transaction, so the event is delivered if and only if the change commits: never
// lost after a commit, never sent for a change rolled back.
//
//	tx, _ := pool.Begin(ctx)
//	tx.Exec(ctx, "UPDATE budgets SET spent = $1 WHERE id = $2", spent, id)
//	outbox.Publish(ctx, tx, outbox.Event{Type: "budget.exceeded", TenantID: team, Data: payload}) // last
//	tx.Commit(ctx) // now, and only now, Herald delivers it
//
// Herald's tables must be on the transaction's search_path. Every herald serve sharing
// the database hears of the commit (LISTEN/NOTIFY) and starts delivering at once.
package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/catalog"
	"github.com/heraldhq/herald/postgres"
)

// Event is an event to publish.
type Event struct {
	Type string
	// Data is the payload: a value encoding/json encodes, or json.RawMessage. It must
	// match the type's schema in Herald's catalog.
	Data any
	// TenantID owns the event: only its webhooks get it. Default herald.DefaultTenantID.
	TenantID string
	// ID is the event's id, default a new evt_ id. Publishing an id again is a no-op
	// that returns the first result, so a retried transaction never sends twice.
	ID string
	// Timestamp is when it occurred, default now; it is sent to whole seconds.
	Timestamp time.Time
}

// Result is what Publish did.
type Result struct {
	EventID    string
	Deliveries int  // one per subscribed, enabled webhook of the tenant
	Duplicate  bool // the id was published before: nothing new was stored
}

// Publish validates ev against Herald's catalog and stores it, with one pending delivery
// for each enabled webhook of its tenant that subscribes to its type, in tx. Nothing is
// visible or delivered until tx commits; if it rolls back, nothing happened.
//
// Publish share-locks the tenant's subscribed webhooks until tx ends, so that none is
// disabled with the new deliveries unseen: call it last, just before commit, so that
// disabling or deleting those webhooks, and recording attempts that disable them, do not
// wait for the rest of a long transaction.
//
// A type Herald does not know, or data that fails the type's schema, is an EINVALID
// *herald.Error naming the failing JSON pointer. On any error tx is aborted: roll it back.
func Publish(ctx context.Context, tx pgx.Tx, ev Event) (Result, error) {
	data, err := encode(ev.Data)
	if err != nil {
		return Result{}, err
	}
	cat, err := catalogFor(ctx, tx, ev.Type)
	if err != nil {
		return Result{}, err
	}
	if err := cat.Validate(ev.Type, data); err != nil {
		return Result{}, err
	}
	now := time.Now().UTC()
	e := herald.Event{ID: ev.ID, TenantID: ev.TenantID, Type: ev.Type, Data: data, Timestamp: ev.Timestamp, CreatedAt: now}
	if e.ID == "" {
		e.ID = herald.NewID(herald.PrefixEvent)
	}
	if e.TenantID == "" {
		e.TenantID = herald.DefaultTenantID
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = now
	}
	e.Timestamp = e.Timestamp.UTC().Truncate(time.Second)
	rs, err := postgres.PublishTx(ctx, tx, []herald.Publication{{Event: e}})
	if err != nil {
		return Result{}, err
	}
	return Result{EventID: rs[0].EventID, Deliveries: rs[0].Deliveries, Duplicate: rs[0].Duplicate}, nil
}

// encode returns data as compact JSON.
func encode(data any) (json.RawMessage, error) {
	raw, ok := data.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			return nil, herald.Errorf(herald.EINVALID, "event data does not encode as JSON: %v", err)
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, herald.Errorf(herald.EINVALID, "event data is not valid JSON: %v", err)
	}
	return buf.Bytes(), nil
}

// catalogFor returns a catalog that knows typ if Herald does: the built-in types, plus
// typ from the custom types Herald keeps in the database.
func catalogFor(ctx context.Context, tx pgx.Tx, typ string) (*catalog.Catalog, error) {
	cat, err := catalog.New()
	if err != nil {
		return nil, err
	}
	if cat.Builtin(typ) {
		return cat, nil
	}
	var t herald.EventType
	var sample *string
	err = tx.QueryRow(ctx, "SELECT type, description, schema, sample FROM event_types WHERE type = $1", typ).
		Scan(&t.Type, &t.Description, &t.Schema, &sample)
	switch {
	case err == pgx.ErrNoRows:
		return cat, nil // Validate says the type is unknown
	case err != nil:
		return nil, fmt.Errorf("read event type %s: %w", typ, err)
	}
	if sample != nil {
		t.Sample = json.RawMessage(*sample)
	}
	if err := cat.Add(t); err != nil {
		return nil, err
	}
	return cat, nil
}
