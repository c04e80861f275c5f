package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald"
)

func TestIngestFlag(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HERALD_INGEST": "redis://127.0.0.1:6379/0?stream=a&group=g, nats://127.0.0.1:4222/orders.created"}
	getenv := func(k string) string { return env[k] }
	cfg, err := parseServe(nil, io.Discard, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.ingestSources) != 2 || cfg.ingestSources[0].String() != "redis:a" || cfg.ingestSources[1].String() != "nats:orders.created" ||
		cfg.ingestSources[1].Dead != "orders.created.dead" {
		t.Errorf("HERALD_INGEST, comma-separated: got %v", cfg.ingestSources)
	}
	cfg, err = parseServe([]string{"--ingest", "amqp://guest:guest@127.0.0.1:5672/?queue=q&dead=rejects", "--ingest", "nats://127.0.0.1:4222/x"}, io.Discard, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.ingestSources) != 2 || cfg.ingestSources[0].String() != "amqp:q" || cfg.ingestSources[0].Dead != "rejects" {
		t.Errorf("repeated --ingest must win over HERALD_INGEST: got %v", cfg.ingestSources)
	}

	for _, bad := range []string{
		"amqp://user:s3cret-pass@127.0.0.1:5672/",             // no queue
		"redis://:s3cret-pass@127.0.0.1:6379/0?stream=a",      // no group
		"nats://user:s3cret-pass@127.0.0.1:4222/",             // no subject
		"kafka://user:s3cret-pass@127.0.0.1:9092/t",           // not a source
		"nats://user:s3cret-pass@127.0.0.1:4222/a.*",          // a wildcard needs dead=
		"nats://user:s3cret-pass@127.0.0.1:4222/a.>?dead=a.b", // dead letters read back
		"redis://:s3cret-pass@127.0.0.1:6379/0?stream=a&group=g&claim_idle=soon",
	} {
		_, err := parseServe([]string{"--ingest", bad}, io.Discard, getenv)
		if err == nil {
			t.Errorf("--ingest %s: accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("--ingest %s: the error shows the password: %v", bad, err)
		}
	}
}

// TestServeIngestsFromRedis runs serve with --ingest on a Redis stream: a valid entry
// becomes an event the API shows, an invalid one a dead letter, and /metrics counts both.
func TestServeIngestsFromRedis(t *testing.T) {
	t.Parallel()
	base := os.Getenv("HERALD_TEST_REDIS_URL")
	if base == "" {
		t.Skip("HERALD_TEST_REDIS_URL is unset: set it to a Redis on loopback to run this test (.ci/run does)")
	}
	ctx := context.Background()
	opt, err := redis.ParseURL(base)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	t.Cleanup(func() { _ = rc.Close() })
	stream := "herald-serve-ingest-" + strings.ToLower(herald.NewID("s"))
	t.Cleanup(func() { rc.Del(context.Background(), stream, stream+".dead") })

	srv := startServer(t, t.TempDir(), "--ingest", base+"?stream="+stream+"&group=herald")
	eventID := "ingested-" + strings.ToLower(herald.NewID("e"))
	for _, body := range []string{
		fmt.Sprintf(`{"type":"alert.created","id":%q,"data":{"alert_id":12,"title":"S3 bucket made public","type":"security","severity":"critical","resource_id":5,"resource_name":"data-lake-bucket","created_at":"2024-01-15T14:31:00Z"}}`, eventID),
		`{"type":"alert.created","data":{"alert_id":"seven"}}`,
	} {
		if err := rc.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{"body": body}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for api(t, srv.URL, http.MethodGet, "/api/v1/events/"+eventID, testAdminKey, nil, nil) != http.StatusOK ||
		rc.XLen(ctx, stream+".dead").Val() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: event %s not stored, or %d dead letters, want 1", eventID, rc.XLen(ctx, stream+".dead").Val())
		}
		time.Sleep(20 * time.Millisecond)
	}
	m := scrape(t, srv.URL)
	source := map[string]string{"source": "redis:" + stream}
	if got := m.sum("herald_ingest_messages_ingested_total", source); got != 1 {
		t.Errorf("herald_ingest_messages_ingested_total %v, want 1", got)
	}
	if got := m.sum("herald_ingest_messages_dead_lettered_total", source); got != 1 {
		t.Errorf("herald_ingest_messages_dead_lettered_total %v, want 1", got)
	}
	if got := m.sum("herald_events_accepted_total", map[string]string{"type": "alert.created"}); got != 1 {
		t.Errorf("herald_events_accepted_total %v, want 1: ingest counts as the API does", got)
	}
}
