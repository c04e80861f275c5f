-- The trace context of tracing with OpenTelemetry: the W3C traceparent an event was
-- published under, which every attempt's span is a child of, and the trace each attempt
-- was recorded in. '' when tracing was off. The names are SQLite's too, so a copy maps
-- them. A constant default makes each ADD COLUMN a catalog change, not a table rewrite.

-- +goose Up
ALTER TABLE events ADD COLUMN traceparent text NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN trace_id text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE attempts DROP COLUMN trace_id;
ALTER TABLE events DROP COLUMN traceparent;
