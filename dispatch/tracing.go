package dispatch

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/heraldhq/herald"
)

// newTracer returns the dispatcher's tracer from tp; nil traces nothing.
func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer("github.com/heraldhq/herald/dispatch", trace.WithInstrumentationVersion(herald.Version))
}

// startAttempt starts the span of attempt a of claim c as a child of the span its event
// was published in (herald.Event.TraceParent), so that the publish and every attempt,
// retries by other processes included, make one trace; an event without one (published
// with tracing off) gets a trace per attempt. When this process records the span, a carries its trace id into the
// attempt log.
//
// The trace context stays in Herald: it is not sent to the receiver (no traceparent
// header). Receivers are other parties' endpoints; a traceparent would make their
// tracing, if they have any, continue a trace they cannot see into, and let them
// influence nothing useful to us, while every delivery would carry one more header
// that no format documents.
func (d *Dispatcher) startAttempt(ctx context.Context, c *herald.Claim, a *herald.Attempt) (context.Context, trace.Span) {
	if c.Event.TraceParent != "" {
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": c.Event.TraceParent})
	}
	ctx, span := d.tracer.Start(ctx, "attempt "+c.Event.Type,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("herald.delivery.id", c.Delivery.ID),
			attribute.String("herald.webhook.id", c.Webhook.ID),
			attribute.String("herald.event.id", c.Event.ID),
			attribute.Int("herald.attempt.number", a.Number),
		))
	if span.IsRecording() {
		a.TraceID = span.SpanContext().TraceID().String()
	}
	return ctx, span
}

// endAttempt ends an attempt's span with its outcome.
func endAttempt(span trace.Span, a *herald.Attempt) {
	if a.StatusCode != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", a.StatusCode))
	}
	span.SetAttributes(attribute.Bool("herald.attempt.success", a.Success))
	if !a.Success {
		span.SetStatus(codes.Error, a.Error)
	}
	span.End()
}
