package httpapi

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/heraldhq/herald"
)

// newTracer returns the API's tracer from tp; nil traces nothing.
func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer("github.com/heraldhq/herald/httpapi", trace.WithInstrumentationVersion(herald.Version))
}

// startPublish starts the span of publishing e and sets e.TraceParent to it, so that the
// event's attempts, sent by any process at any later time, are its children. The span
// is named after the event's type, which the catalog has accepted by now, so span names
// stay few. Without tracing, e.TraceParent stays empty.
func (s *server) startPublish(ctx context.Context, e *herald.Event) (context.Context, trace.Span) {
	ctx, span := s.tracer.Start(ctx, "publish "+e.Type,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("herald.event.id", e.ID),
			attribute.String("herald.event.type", e.Type),
			attribute.String("herald.tenant.id", e.TenantID),
		))
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier) // nothing when the span context is invalid
	e.TraceParent = carrier.Get("traceparent")
	return ctx, span
}

// endPublish ends a publish span with what the store did: the event's id (a repeat names
// the first event) and how many deliveries it created, or the error.
func endPublish(span trace.Span, r herald.PublishResult, err error) {
	defer span.End()
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return
	}
	span.SetAttributes(
		attribute.String("herald.event.id", r.EventID),
		attribute.Int("herald.deliveries", r.Deliveries),
		attribute.Bool("herald.duplicate", r.Duplicate),
	)
}
