package herald_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

func TestDestinationOf(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]herald.DestinationKind{
		"https://example.com/x":        herald.DestinationHTTP,
		"HTTP://example.com/x":         herald.DestinationHTTP,
		"nats://h:4222/a.b":            herald.DestinationNATS,
		"amqp://u:p@h/v?routing_key=q": herald.DestinationAMQP,
		"redis://h:6379/0?stream=s":    herald.DestinationRedis,
		"kafka://h:9092/t":             herald.DestinationKafka,
		"ftp://h/x":                    "",
		"no scheme":                    "",
	} {
		if got := herald.DestinationOf(url); got != want {
			t.Errorf("DestinationOf(%q) = %q, want %q", url, got, want)
		}
	}
}

func TestValidateBrokerURL(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{
		"nats://h:4222/orders.events",
		"nats://h/orders?core=true",
		"nats://:tok@h/orders",
		"amqp://u:p@h:5672/vhost?exchange=x&routing_key=y",
		"amqp://h/?routing_key=q",
		"amqp://h?exchange=fan",
		"redis://h:6379/0?stream=s&maxlen=100000",
		"redis://:pw@h?stream=s",
		"kafka://h:9092/orders",
	} {
		if err := herald.ValidateBrokerURL(ok); err != nil {
			t.Errorf("ValidateBrokerURL(%q) = %v, want nil", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"ftp://h/x":                     "scheme must be",
		"nats://h:4222":                 "needs a subject",
		"nats://h/a.*":                  "not valid",
		"nats://h/a?core=yes":           "core must be true or false",
		"nats://tok@h/a":                "user:password@",
		"nats://h/a?cor=true":           `"cor" is not known`,
		"amqp://h/v":                    "needs a routing_key",
		"amqp://h/v?exchange=":          "needs a routing_key",
		"redis://h/0":                   "needs a stream",
		"redis://h/x?stream=s":          "database number",
		"redis://h/0?stream=s&maxlen=0": "maxlen",
		"kafka://h:9092":                "needs a topic",
		"kafka://h:9092/a b":            "not valid",
		"kafka:///t":                    "no host",
		"kafka://h:0/t":                 "port",
		"amqp://u:***@h/?routing_key=q": "give the password itself",
	} {
		err := herald.ValidateBrokerURL(bad)
		if herald.ErrorCode(err) != herald.EINVALID || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateBrokerURL(%q) = %v, want EINVALID with %q", bad, err, want)
		}
	}
}

func TestURLPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ url, redacted, password string }{
		{"amqp://user:p%40ss@h:5672/v?routing_key=q", "amqp://user:***@h:5672/v?routing_key=q", "p%40ss"},
		{"redis://:secret@h:6379/0?stream=s", "redis://:***@h:6379/0?stream=s", "secret"},
		{"nats://h:4222/a.b", "nats://h:4222/a.b", ""},
		{"https://example.com/a@b", "https://example.com/a@b", ""},
		{"kafka://u:x:y@h/t", "kafka://u:***@h/t", "x:y"},
	} {
		redacted, password := herald.SplitURLPassword(c.url)
		if redacted != c.redacted || password != c.password {
			t.Errorf("SplitURLPassword(%q) = %q, %q; want %q, %q", c.url, redacted, password, c.redacted, c.password)
		}
		if got := herald.JoinURLPassword(redacted, password); got != c.url {
			t.Errorf("JoinURLPassword(%q, %q) = %q, want %q", redacted, password, got, c.url)
		}
	}
	current := "amqp://user:hunter2@h/v?routing_key=q"
	for _, c := range []struct{ updated, want, err string }{
		{"amqp://user:***@h/v?routing_key=other", "amqp://user:hunter2@h/v?routing_key=other", ""},
		{"amqp://user:new@h/v?routing_key=q", "amqp://user:new@h/v?routing_key=q", ""},
		{"amqp://h/v?routing_key=q", "amqp://h/v?routing_key=q", ""},
		{"amqp://user:***@elsewhere/v?routing_key=q", "", "same scheme, user and host"},
		{"amqp://other:***@h/v?routing_key=q", "", "same scheme, user and host"},
	} {
		got, err := herald.KeepURLPassword(c.updated, current)
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("KeepURLPassword(%q) = %q, %v; want %q, %q", c.updated, got, err, c.want, c.err)
		}
	}
	if _, err := herald.KeepURLPassword("amqp://user:***@h/v?routing_key=q", "amqp://h/v?routing_key=q"); herald.ErrorCode(err) != herald.EINVALID {
		t.Errorf("KeepURLPassword with *** and no password to keep: %v, want EINVALID", err)
	}
}

// FuzzBrokerURL checks that no URL makes the broker URL rules panic, that splitting a
// password out and joining it back gives the URL again, and that the redacted URL
// never holds the password.
func FuzzBrokerURL(f *testing.F) {
	for _, s := range []string{
		"amqp://user:p%40ss@h:5672/v?routing_key=q", "redis://:pw@h/0?stream=s", "nats://h/a.b?core=true",
		"kafka://u:x:y@h/t", "nats://a@b@c/x", "amqp://:@h/?exchange=x", "https://h/p@q", "redis://[::1]:6379/0?stream=s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_ = herald.ValidateBrokerURL(raw)
		redacted, password := herald.SplitURLPassword(raw)
		if got := herald.JoinURLPassword(redacted, password); got != raw {
			t.Fatalf("Join(Split(%q)) = %q", raw, got)
		}
		if _, again := herald.SplitURLPassword(redacted); password != "" && again != herald.RedactedPassword {
			t.Fatalf("redacted %q has password %q where *** belongs", redacted, again)
		}
	})
}

// TestNoticesRedactURLPassword: notices go to operators and tenants by webhook and
// mail; a broker URL's password must not travel with them.
func TestNoticesRedactURLPassword(t *testing.T) {
	t.Parallel()
	w := &herald.Webhook{ID: "wh_1", TenantID: "t", URL: "amqp://u:hunter2@h/?routing_key=q"}
	for _, n := range []herald.Notice{
		herald.WebhookDisabledNotice(w, "failing", time.Now()),
		herald.WebhookEnabledNotice(w, time.Now()),
	} {
		if strings.Contains(string(n.Data), "hunter2") || !strings.Contains(string(n.Data), "u:***@h") {
			t.Errorf("%s notice data %s, want the URL with *** for its password", n.Type, n.Data)
		}
	}
}
