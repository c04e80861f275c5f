package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
)

// webhooksCommand is `herald webhooks`: the webhook routes of the API.
var webhooksCommand = &clientGroup{
	name:    "webhooks",
	summary: "Manage the webhooks of a running Herald server through its API.",
	commands: []clientSubcommand{
		{"list", "[--tenant T] [--page N] [--per-page N]", "List webhooks, newest first.", webhooksList},
		{"create", "--url U --name N [--events a,b] [--format F] [--signing ed25519] [--tenant T] [--secret S] [--description D] [--rate-limit N] [--header 'Name: value']... " + authUsage + " [--filter CEL] [--channel C]... [--ordering none|key] [--wait 10s]",
			"Register a webhook. It is sent a ping, whose outcome is printed, and its signing secret is printed.", webhooksCreate},
		{"get", "ID", "Show a webhook.", webhooksGet},
		{"update", "ID [--url U] [--name N] [--events a,b] [--enabled true|false] [--format F] [--description D] [--rate-limit N] [--header 'Name: value']... " + authUsage + " [--filter CEL] [--channel C]... [--ordering none|key]",
			"Change the fields given and keep the others.", webhooksUpdate},
		{"delete", "ID", "Delete a webhook and its deliveries.", webhooksDelete},
		{"test", "ID [--type T]", "Send a ping, or the catalog's sample of a subscribed type, to this webhook only; wait for it and say how it went; fails when the test does.", webhooksTest},
		{"reveal-secret", "ID", "Show a webhook's signing secret again (its public key for ed25519), and the previous one while a rotation's grace lasts.", webhooksRevealSecret},
		{"rotate-secret", "ID [--grace 24h] [--secret S]",
			"Give a webhook a new signing secret; the old one keeps signing too for the grace period.", webhooksRotateSecret},
		{"replay", "ID --since TIME [--until TIME] [--type T]... [--only-failed]",
			"Send again, to this webhook only, the stored events created in the window that it takes now (its types, channels and filter). Receivers that deduplicate drop events they already handled.", webhooksReplay},
		{"deliveries", "ID [--status pending|retrying|success|failed] [--event-type T] [--channel C] [--page N] [--per-page N]",
			"List a webhook's deliveries, newest first, with each one's next attempt and last error.", webhooksDeliveries},
	},
}

// runWebhooks runs `herald webhooks`.
func runWebhooks(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return webhooksCommand.run(ctx, args, stdout, stderr, getenv)
}

// showEvents is a subscription as people read it: every type for none or "*".
func showEvents(events []string) string {
	if len(events) == 0 || (len(events) == 1 && events[0] == "*") {
		return "* (every type)"
	}
	return strings.Join(events, ",")
}

// showHealth is a webhook's health in a few words: its state, and while failing for how
// many attempts since when.
func showHealth(h *herald.Health) string {
	if h.State == "" {
		return "-" // a server from before health was reported
	}
	if h.State == herald.HealthFailing {
		return fmt.Sprintf("failing: %d failed in a row since %s", h.ConsecutiveFailures, showTimePtr(h.FailingSince))
	}
	return string(h.State)
}

func showLastDelivery(w *client.Webhook) string {
	if w.LastDeliveryStatus == "" {
		return "-"
	}
	return w.LastDeliveryStatus + " " + showTimePtr(w.LastDeliveryAt)
}

// writeWebhook writes one webhook as NAME value lines.
func writeWebhook(w io.Writer, wh *client.Webhook) {
	fmt.Fprintf(w, "ID\t%s\n", wh.ID)
	fmt.Fprintf(w, "TENANT\t%s\n", wh.TenantID)
	fmt.Fprintf(w, "NAME\t%s\n", cell(wh.Name))
	fmt.Fprintf(w, "DESCRIPTION\t%s\n", cell(wh.Description))
	fmt.Fprintf(w, "URL\t%s\n", cell(wh.URL))
	if wh.Destination != "" && wh.Destination != "http" {
		fmt.Fprintf(w, "DESTINATION\t%s\n", wh.Destination)
	}
	fmt.Fprintf(w, "FORMAT\t%s\n", wh.Format)
	fmt.Fprintf(w, "SIGNING\t%s\n", wh.Signing)
	if wh.PublicKey != "" {
		fmt.Fprintf(w, "PUBLIC KEY\t%s\n", wh.PublicKey)
	}
	fmt.Fprintf(w, "EVENTS\t%s\n", showEvents(wh.Events))
	writeRouting(w, wh)
	fmt.Fprintf(w, "ENABLED\t%t\n", wh.Enabled)
	if !wh.Enabled {
		fmt.Fprintf(w, "DISABLED REASON\t%s\n", cell(wh.DisabledReason))
	}
	fmt.Fprintf(w, "HEALTH\t%s\n", showHealth(&wh.Health))
	if wh.Health.LastError != "" {
		fmt.Fprintf(w, "LAST ERROR\t%s\n", cell(wh.Health.LastError))
	}
	rate := "none"
	if wh.RateLimit > 0 {
		rate = fmt.Sprintf("%d/s", wh.RateLimit)
	}
	fmt.Fprintf(w, "RATE LIMIT\t%s\n", rate)
	fmt.Fprintf(w, "AUTH\t%s\n", showAuth(wh.Auth))
	if len(wh.Headers) == 0 {
		fmt.Fprintf(w, "HEADERS\t-\n")
	}
	for i, name := range slices.Sorted(maps.Keys(wh.Headers)) {
		label := ""
		if i == 0 {
			label = "HEADERS"
		}
		fmt.Fprintf(w, "%s\t%s: %s\n", label, cell(name), cell(wh.Headers[name]))
	}
	fmt.Fprintf(w, "CREATED\t%s\n", showTime(wh.CreatedAt))
	fmt.Fprintf(w, "UPDATED\t%s\n", showTime(wh.UpdatedAt))
	fmt.Fprintf(w, "LAST DELIVERY\t%s\n", showLastDelivery(wh))
}

// splitEvents reads --events a,b; empty means every type.
func splitEvents(s string) []string {
	events := []string{}
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			events = append(events, e)
		}
	}
	return events
}

// parseHeaders reads --header 'Name: value' flags. A single empty one means none.
func parseHeaders(given []string) (map[string]string, error) {
	headers := map[string]string{}
	if len(given) == 1 && strings.TrimSpace(given[0]) == "" {
		return headers, nil
	}
	for _, h := range given {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--header %q: want 'Name: value'", h)
		}
		if _, dup := headers[name]; dup {
			return nil, fmt.Errorf("--header %s is given twice", name)
		}
		headers[name] = strings.TrimSpace(value)
	}
	return headers, nil
}

func webhooksList(ctx context.Context, c *clientCommand, args []string) error {
	var tenant string
	var page, perPage int
	c.flags.StringVar(&tenant, "tenant", "", "only this `tenant`'s webhooks (admin key)")
	c.flags.IntVar(&page, "page", 0, "page `number`, from 1")
	c.flags.IntVar(&perPage, "per-page", 0, "webhooks per page, at most 100 (default 20)")
	if _, err := c.parse(args); err != nil {
		return err
	}
	paging, err := c.pageOptions(page, perPage)
	if err != nil {
		return err
	}
	got, err := c.api.Webhooks.List(c.capture(ctx), client.WebhookListOptions{ListOptions: paging, TenantID: tenant})
	if err != nil {
		return failed(err)
	}
	list := got.Items
	return c.show(func(w io.Writer) {
		if len(list) == 0 {
			fmt.Fprintln(w, "No webhooks.")
			return
		}
		fmt.Fprintln(w, "ID\tNAME\tFORMAT\tENABLED\tURL\tEVENTS\tLAST DELIVERY\tHEALTH")
		for i := range list {
			wh := &list[i]
			health := "-"
			if wh.Health.State != "" {
				health = string(wh.Health.State)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%t\t%s\t%s\t%s\t%s\n", wh.ID, cell(wh.Name), wh.Format, wh.Enabled,
				cell(wh.URL), showEvents(wh.Events), showLastDelivery(wh), health)
		}
		moreNote(w, "webhooks", len(list), got.Total)
	})
}

func webhooksCreate(ctx context.Context, c *clientCommand, args []string) error {
	var req client.WebhookCreate
	var events, format string
	var headers, channels listFlag
	var auth authFlags
	auth.register(c.flags)
	c.flags.StringVar(&req.Filter, "filter", "", "a CEL `expression` over type, data, channels and tenant_id: only events for which it is true are sent")
	c.flags.Var(&channels, "channel", "only events on this `channel`; repeat for more (default every channel)")
	c.flags.StringVar(&req.Ordering, "ordering", "", "none (default) or key: events sharing an ordering key are sent one at a time, in order")
	var wait time.Duration
	c.flags.DurationVar(&wait, "wait", 10*time.Second, "how long to wait for the ping's first attempt to say how it went; 0 not to wait (-o json never waits)")
	c.flags.StringVar(&req.URL, "url", "", "the endpoint `URL`: http or https, or a broker: nats://, amqp://, redis://, kafka:// (required; see README, Broker destinations)")
	c.flags.StringVar(&req.Name, "name", "", "a `name` to tell it by (required)")
	c.flags.StringVar(&events, "events", "", "event `types` to send, comma-separated (default every type)")
	c.flags.StringVar(&format, "format", "", "wire `format`: standard, infraaudit or frugally (default the server's)")
	c.flags.StringVar(&req.TenantID, "tenant", "", "the owning `tenant` (admin key; default the default tenant)")
	c.flags.StringVar(&req.Secret, "secret", "", "your own signing `secret` (default a new whsec_ secret)")
	c.flags.StringVar(&req.Signing, "signing", "", "hmac-sha256 (default) or ed25519 (standard format: Herald keeps the private key, you get the public key)")
	c.flags.StringVar(&req.Description, "description", "", "a `description`")
	c.flags.IntVar(&req.RateLimit, "rate-limit", 0, "attempts per second at most; 0 for no limit")
	c.flags.Var(&headers, "header", "an extra request `header` for every delivery, 'Name: value'; repeat for more")
	if _, err := c.parse(args); err != nil {
		return err
	}
	if req.URL == "" || req.Name == "" {
		return fmt.Errorf("webhooks create: --url and --name are required (usage: %s)", c.usageLine())
	}
	req.Events = splitEvents(events)
	req.Channels = channels
	req.Format = herald.Format(format)
	var err error
	if req.Headers, err = parseHeaders(headers); err != nil {
		return err
	}
	if req.Auth, err = auth.request(c.given); err != nil {
		return err
	}
	wh, err := c.api.Webhooks.Create(c.capture(ctx), req)
	if err != nil {
		return failed(err)
	}
	var ping *herald.Delivery
	if wh.Enabled && wait > 0 && c.output != "json" {
		// The webhook exists whatever the ping finds: its outcome is news, not an error.
		ping = c.waitForPing(ctx, wh.ID, wait)
	}
	return c.show(func(w io.Writer) {
		writeWebhook(w, wh)
		if wh.Secret != "" {
			fmt.Fprintf(w, "SECRET\t%s\n", wh.Secret)
		}
		if wh.Enabled && wait > 0 {
			fmt.Fprintf(w, "PING\t%s\n", showPing(ping, wait))
		}
		if wh.Secret != "" {
			fmt.Fprintf(w, "\nStore the secret with your receiver. 'herald webhooks reveal-secret %s' shows it again; "+
				"'herald webhooks rotate-secret %s' makes a new one.\n", wh.ID, wh.ID)
		}
		if ping != nil && ping.Status != herald.StatusSuccess {
			fmt.Fprintf(w, "\nThe endpoint did not accept the ping. 'herald webhooks deliveries %s' shows what it answered; "+
				"'herald webhooks test %s' sends another.\n", wh.ID, wh.ID)
		}
	})
}

// pingPoll is how often waitForPing asks whether the ping was attempted.
const pingPoll = 200 * time.Millisecond

// waitForPing waits up to wait for the new webhook's ping to be attempted and returns
// its delivery then, or nil if it was not attempted in time or could not be read.
func (c *clientCommand) waitForPing(ctx context.Context, id string, wait time.Duration) *herald.Delivery {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	opts := client.DeliveryListOptions{EventType: herald.PingType, ListOptions: client.ListOptions{PerPage: 1}}
	for {
		got, err := c.api.Webhooks.Deliveries(ctx, id, opts)
		if err == nil && len(got.Items) == 1 && got.Items[0].AttemptCount > 0 {
			return &got.Items[0]
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pingPoll):
		}
	}
}

// showPing says how a new webhook's ping went.
func showPing(d *herald.Delivery, waited time.Duration) string {
	switch {
	case d == nil:
		return fmt.Sprintf("not attempted within %s: see 'herald webhooks deliveries'", waited)
	case d.Status == herald.StatusSuccess:
		code := "-"
		if n := len(d.Attempts); n > 0 {
			a := d.Attempts[n-1]
			code = fmt.Sprintf("HTTP %d in %s", a.StatusCode, showDuration(a.DurationMS))
			if a.StatusCode == 0 { // a broker: its acknowledgement is the response body
				code = fmt.Sprintf("acknowledged %s in %s", cell(a.ResponseBody), showDuration(a.DurationMS))
			}
		}
		return "delivered: " + code
	case d.NextAttemptAt != nil:
		return fmt.Sprintf("failed: %s; next attempt %s", cell(d.LastError), showTimePtr(d.NextAttemptAt))
	}
	return "failed: " + cell(d.LastError)
}

func webhooksGet(ctx context.Context, c *clientCommand, args []string) error {
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	return c.showWebhook(c.api.Webhooks.Get(c.capture(ctx), ids[0]))
}

func webhooksUpdate(ctx context.Context, c *clientCommand, args []string) error {
	var target, name, events, enabled, format, description string
	var rateLimit int
	var headers, channels listFlag
	var auth authFlags
	auth.register(c.flags)
	var filterExpr, ordering string
	c.flags.StringVar(&filterExpr, "filter", "", "a CEL `expression` events must satisfy; '' removes it")
	c.flags.Var(&channels, "channel", "only events on this `channel`; replaces them all; repeat for more, '' for every channel")
	c.flags.StringVar(&ordering, "ordering", "", "none or key")
	c.flags.StringVar(&target, "url", "", "the endpoint `URL`, http or https")
	c.flags.StringVar(&name, "name", "", "a `name` to tell it by")
	c.flags.StringVar(&events, "events", "", "event `types` to send, comma-separated; '' or '*' for every type")
	c.flags.StringVar(&enabled, "enabled", "", "`true` to enable it (and reset its health), false to disable it")
	c.flags.StringVar(&format, "format", "", "wire `format`: standard, infraaudit or frugally")
	c.flags.StringVar(&description, "description", "", "a `description`")
	c.flags.IntVar(&rateLimit, "rate-limit", 0, "attempts per second at most; 0 for no limit")
	c.flags.Var(&headers, "header", "an extra request `header`, 'Name: value'; replaces them all; repeat for more, '' for none")
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	// Only the fields given: PATCH keeps the others. Every setIfGiven runs before
	// Contains looks for one that set its field.
	var u client.WebhookUpdate
	given := slices.Contains([]bool{
		setIfGiven(c, "url", &u.URL, target),
		setIfGiven(c, "name", &u.Name, name),
		setIfGiven(c, "description", &u.Description, description),
		setIfGiven(c, "format", &u.Format, herald.Format(format)),
		setIfGiven(c, "events", &u.Events, splitEvents(events)),
		setIfGiven(c, "rate-limit", &u.RateLimit, rateLimit),
		setIfGiven(c, "filter", &u.Filter, filterExpr),
		setIfGiven(c, "ordering", &u.Ordering, ordering),
		setIfGiven(c, "channel", &u.Channels, slices.DeleteFunc(slices.Clone([]string(channels)), func(c string) bool { return c == "" })),
	}, true)
	if c.given("enabled") {
		on, err := strconv.ParseBool(enabled)
		if err != nil {
			return fmt.Errorf("--enabled %q: want true or false", enabled)
		}
		u.Enabled, given = &on, true
	}
	if c.given("header") {
		h, err := parseHeaders(headers)
		if err != nil {
			return err
		}
		u.Headers, given = &h, true
	}
	if a, err := auth.request(c.given); err != nil {
		return err
	} else if a != nil {
		u.Auth, given = a, true
	}
	if !given {
		return errors.New("webhooks update: nothing to change: give at least one of --url, --name, --events, --enabled, --format, --description, --rate-limit, --header, --auth and its kin, --filter, --channel, --ordering")
	}
	return c.showWebhook(c.api.Webhooks.Update(c.capture(ctx), ids[0], u))
}

// setIfGiven points *field at v when the flag was given, and reports whether it was.
func setIfGiven[T any](c *clientCommand, flag string, field **T, v T) bool {
	if !c.given(flag) {
		return false
	}
	*field = &v
	return true
}

// showWebhook prints the webhook an API call answered with.
func (c *clientCommand) showWebhook(wh *client.Webhook, err error) error {
	if err != nil {
		return failed(err)
	}
	return c.show(func(w io.Writer) { writeWebhook(w, wh) })
}

func webhooksDelete(ctx context.Context, c *clientCommand, args []string) error {
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	if err := c.api.Webhooks.Delete(c.capture(ctx), ids[0]); err != nil {
		return failed(err)
	}
	// The API answers 204 with no body: -o json prints nothing, and the exit status says
	// it worked.
	return c.show(func(w io.Writer) { fmt.Fprintf(w, "Deleted webhook %s.\n", ids[0]) })
}

func webhooksTest(ctx context.Context, c *clientCommand, args []string) error {
	var eventType string
	c.flags.StringVar(&eventType, "type", "", "send the catalog's sample of this event `type`, which the webhook subscribes to (default a ping)")
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	res, err := c.api.Webhooks.Test(c.capture(ctx), ids[0], eventType)
	if err != nil {
		return failed(err)
	}
	err = c.show(func(w io.Writer) {
		fmt.Fprintf(w, "DELIVERY\t%s\n", res.DeliveryID)
		fmt.Fprintf(w, "SUCCESS\t%t\n", res.Success)
		fmt.Fprintf(w, "STATUS CODE\t%s\n", showStatusCode(res.StatusCode))
		fmt.Fprintf(w, "DURATION\t%s\n", showDuration(res.DurationMS))
		fmt.Fprintf(w, "ERROR\t%s\n", cell(res.Error))
	})
	if err != nil {
		return err
	}
	if !res.Success {
		// A script running `herald webhooks test ID && …` must see the endpoint fail.
		what := "ping"
		if eventType != "" {
			what = eventType + " test"
		}
		return fmt.Errorf("the %s to webhook %s failed (delivery %s)", what, ids[0], res.DeliveryID)
	}
	return nil
}

func webhooksRevealSecret(ctx context.Context, c *clientCommand, args []string) error {
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	res, err := c.api.Webhooks.RevealSecret(c.capture(ctx), ids[0])
	if err != nil {
		return failed(err)
	}
	return c.show(func(w io.Writer) {
		fmt.Fprintf(w, "WEBHOOK\t%s\n", ids[0])
		if res.PublicKey != "" {
			fmt.Fprintf(w, "PUBLIC KEY\t%s\n", res.PublicKey)
			return
		}
		fmt.Fprintf(w, "SECRET\t%s\n", res.Secret)
		if res.PreviousSecret != "" {
			fmt.Fprintf(w, "PREVIOUS SECRET\t%s\n", res.PreviousSecret)
			fmt.Fprintf(w, "PREVIOUS SIGNS UNTIL\t%s\n", showTimePtr(res.PreviousSecretExpiresAt))
		}
	})
}

func webhooksRotateSecret(ctx context.Context, c *clientCommand, args []string) error {
	var grace time.Duration
	var secret string
	c.flags.DurationVar(&grace, "grace", 24*time.Hour, "how long the old secret keeps signing too, at most 720h")
	c.flags.StringVar(&secret, "secret", "", "your own new `secret` (default a new whsec_ secret)")
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	if grace < 0 || grace%time.Second != 0 {
		return fmt.Errorf("--grace %s: want whole seconds, 0 or more", grace)
	}
	res, err := c.api.Webhooks.RotateSecret(c.capture(ctx), ids[0], client.RotateSecret{Grace: &grace, Secret: secret})
	if err != nil {
		return failed(err)
	}
	return c.show(func(w io.Writer) {
		fmt.Fprintf(w, "WEBHOOK\t%s\n", ids[0])
		if res.PublicKey != "" {
			fmt.Fprintf(w, "PUBLIC KEY\t%s\n", res.PublicKey)
		} else {
			fmt.Fprintf(w, "SECRET\t%s\n", res.Secret)
		}
		if grace > 0 {
			fmt.Fprintf(w, "PREVIOUS KEY\tkeeps signing too for %s\n", grace)
		} else {
			fmt.Fprintf(w, "PREVIOUS KEY\tno longer signs\n")
		}
		if res.Secret != "" {
			fmt.Fprintf(w, "\nStore the new secret with your receiver. 'herald webhooks reveal-secret %s' shows it again.\n", ids[0])
		}
	})
}

func webhooksDeliveries(ctx context.Context, c *clientCommand, args []string) error {
	var status, eventType, channel string
	var page, perPage int
	c.flags.StringVar(&status, "status", "", "only deliveries in this `state`: pending, retrying (pending after a failed attempt), success or failed")
	c.flags.StringVar(&eventType, "event-type", "", "only deliveries of this event `type`")
	c.flags.StringVar(&channel, "channel", "", "only deliveries of events on this `channel`")
	c.flags.IntVar(&page, "page", 0, "page `number`, from 1")
	c.flags.IntVar(&perPage, "per-page", 0, "deliveries per page, at most 100 (default 20)")
	ids, err := c.parse(args, "ID")
	if err != nil {
		return err
	}
	paging, err := c.pageOptions(page, perPage)
	if err != nil {
		return err
	}
	got, err := c.api.Webhooks.Deliveries(c.capture(ctx), ids[0], client.DeliveryListOptions{ListOptions: paging, Status: status, EventType: eventType, Channel: channel})
	if err != nil {
		return failed(err)
	}
	return c.show(func(w io.Writer) {
		if len(got.Items) == 0 {
			fmt.Fprintln(w, "No deliveries.")
			return
		}
		writeDeliveryRows(w, got.Items, false)
		moreNote(w, "deliveries", len(got.Items), got.Total)
	})
}
