package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
	"github.com/heraldhq/herald/webhook"
)

// Register an endpoint, publish an event to it, and verify what it receives: the
// producer's side with package client, the receiver's with package webhook. The example
// runs against a real `herald serve`.
func Example() {
	baseURL, stop, err := runHerald()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()

	// The receiver: it verifies every request with the webhook's secret.
	var secret string
	verified := make(chan string, 10)
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := webhook.NewVerifier(webhook.FormatStandard, secret)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		body, err := v.VerifyRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		ev, err := webhook.Parse(webhook.FormatStandard, r.Header, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		verified <- ev.Type
	}))
	defer endpoint.Close()

	// The producer.
	ctx := context.Background()
	c, err := client.New(baseURL, adminKey)
	if err != nil {
		log.Fatal(err)
	}
	wh, err := c.Webhooks.Create(ctx, client.WebhookCreate{
		Name:   "alerts",
		URL:    endpoint.URL,
		Format: herald.FormatStandard,
		Events: []string{"alert.created"},
	})
	if err != nil {
		log.Fatal(err)
	}
	secret = wh.Secret
	fmt.Println("received:", <-verified) // the ping every new webhook is sent

	res, err := c.Events.Publish(ctx, client.Event{
		Type: "alert.created",
		Data: map[string]any{"alert_id": 12, "title": "S3 bucket made public", "type": "security",
			"severity": "critical", "resource_id": 5, "resource_name": "data-lake-bucket",
			"created_at": "2026-01-15T14:31:00Z"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("deliveries:", res.Deliveries)
	fmt.Println("received:", <-verified)
	// Output:
	// received: ping
	// deliveries: 1
	// received: alert.created
}

// Errors are the API's: *herald.Error with its code, message and details.
func ExampleStatusError() {
	baseURL, stop, err := runHerald()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	c, err := client.New(baseURL, adminKey)
	if err != nil {
		log.Fatal(err)
	}

	_, err = c.Webhooks.Get(context.Background(), "wh_missing")
	var herr *herald.Error
	if errors.As(err, &herr) && herr.Code == herald.ENOTFOUND {
		fmt.Println("not found:", herr.Message)
	}
	fmt.Println(err)
	// Output:
	// not found: webhook "wh_missing" not found
	// 404 NOT_FOUND: webhook "wh_missing" not found
}

// CaptureResponse gives the answer as the server sent it, for a program that shows the
// API's JSON or reads a header.
func ExampleCaptureResponse() {
	baseURL, stop, err := runHerald()
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	c, err := client.New(baseURL, adminKey)
	if err != nil {
		log.Fatal(err)
	}

	var resp client.Response
	page, err := c.Webhooks.List(client.CaptureResponse(context.Background(), &resp), client.WebhookListOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(page.Items), "webhooks;", resp.StatusCode, resp.Header.Get("X-Total-Count"))
	// Output:
	// 0 webhooks; 200 0
}
