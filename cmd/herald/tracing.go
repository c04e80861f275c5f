package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/heraldhq/herald"
)

// tracingShutdownTimeout bounds how long stopping waits to export the last spans.
const tracingShutdownTimeout = 5 * time.Second

// setupTracing returns the tracer provider that herald serve traces publishes and
// attempts with, and a func that exports what is left when the server stops.
//
// Tracing is off, with a no-op provider, unless OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set and OTEL_SDK_DISABLED is not true. Then
// spans go by OTLP/HTTP (protobuf) to that endpoint, as service "herald" unless
// OTEL_SERVICE_NAME says otherwise. The endpoints and OTEL_BSP_SCHEDULE_DELAY are read
// through getenv; the SDK reads the other standard OTEL_* variables (headers, timeout,
// compression, certificates, sampler, resource attributes) from the environment itself.
func setupTracing(ctx context.Context, getenv func(string) string, logger *slog.Logger) (trace.TracerProvider, func(), error) {
	off := func() {}
	endpoint, err := tracesEndpoint(getenv)
	if err != nil || endpoint == nil || strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return noop.NewTracerProvider(), off, err
	}

	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint.String()))
	if err != nil {
		return nil, off, fmt.Errorf("tracing: %w", err)
	}
	var batch []sdktrace.BatchSpanProcessorOption
	if v := getenv("OTEL_BSP_SCHEDULE_DELAY"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms < 1 { // 0 would make the exporter's timer spin
			return nil, off, fmt.Errorf("OTEL_BSP_SCHEDULE_DELAY %q: want milliseconds, at least 1", v)
		}
		batch = append(batch, sdktrace.WithBatchTimeout(time.Duration(ms)*time.Millisecond))
	}
	// Later detectors win: the environment's service name and attributes over ours.
	res, err := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", "herald"),
			attribute.String("service.version", herald.Version),
		),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, off, fmt.Errorf("tracing resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter, batch...),
		sdktrace.WithResource(res),
	)
	logger.Info("tracing", "otlp_endpoint", endpoint.Redacted())

	shutdown := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingShutdownTimeout)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			logger.Warn("export the last spans", "err", err)
		}
	}
	return tp, shutdown, nil
}

// tracesEndpoint returns the URL spans are exported to, as the OTLP exporter
// specification derives it: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, or else
// OTEL_EXPORTER_OTLP_ENDPOINT as a base URL with /v1/traces appended. nil when neither
// is set.
func tracesEndpoint(getenv func(string) string) (*url.URL, error) {
	name := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	raw := strings.TrimSpace(getenv(name))
	if raw == "" {
		name = "OTEL_EXPORTER_OTLP_ENDPOINT"
		raw = strings.TrimSpace(getenv(name))
	}
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The value is not echoed: it may hold credentials.
		return nil, fmt.Errorf("%s: want an http:// or https:// URL, like http://localhost:4318", name)
	}
	switch {
	case name == "OTEL_EXPORTER_OTLP_ENDPOINT":
		u.Path = path.Join("/", u.Path, "v1/traces")
	case u.Path == "":
		u.Path = "/"
	}
	return u, nil
}
