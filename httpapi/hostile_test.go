package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
)

// nested returns n arrays nested in each other around inner.
func nested(n int, inner string) string {
	return strings.Repeat("[", n) + inner + strings.Repeat("]", n)
}

// pingWith is a valid ping event whose data has one more field, extra, holding raw.
func pingWith(raw string) string {
	return `{"type":"ping","data":{"webhook_id":"wh_1","message":"m","extra":` + raw + `}}`
}

// TestPublishRefusesHostileBodies posts hostile bodies to the real handler: each gets a
// clear 4xx in the error shape, quickly, and nothing is stored.
func TestPublishRefusesHostileBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createWebhook(e.adminKey, nil)
	big := strings.Repeat("x", 1<<20)
	tests := []struct {
		name        string
		body        string
		contentType string
		status      int
		code        string
		want        []string // in the message or details
	}{
		{"100k nested arrays", pingWith(nested(100_000, "1")), "", 400, herald.EMALFORMED, []string{"malformed request"}},
		{"200 nested arrays", pingWith(nested(200, "1")), "", 400, herald.EMALFORMED, []string{"nests deeper than 128 levels", "/data/extra/0/0"}},
		{"data 65 levels deep", pingWith(nested(64, "1")), "", 422, herald.EINVALID, []string{"data nests deeper than 64 levels at /data/extra/0/0"}},
		{"exponent 1e999999", `{"type":"ping","data":{"webhook_id":"wh_1","message":"m","n":1e999999}}`, "", 400, herald.EMALFORMED, []string{"the number 1e999999 is out of range"}},
		{"exponent -1e999999", `{"type":"ping","data":{"webhook_id":"wh_1","message":"m","n":-1e999999}}`, "", 400, herald.EMALFORMED, []string{"the number -1e999999 is out of range"}},
		{"exponent 1e-999999", `{"type":"ping","data":{"webhook_id":"wh_1","message":"m","n":1e-999999}}`, "", 422, herald.EINVALID, []string{"/data/n", "number is out of range"}},
		{"300-digit integer", `{"type":"ping","data":{"webhook_id":"wh_1","message":"m","n":` + strings.Repeat("9", 300) + `}}`, "", 422, herald.EINVALID, []string{"/data/n", "number is out of range"}},
		{"invalid UTF-8 in data", pingWith("\"caf\xe9\""), "", 400, herald.EMALFORMED, []string{"not valid UTF-8", "byte"}},
		{"invalid UTF-8 in type", "{\"type\":\"p\xffing\",\"data\":{}}", "", 400, herald.EMALFORMED, []string{"not valid UTF-8"}},
		{"duplicate top-level key", `{"type":"ping","type":"drift.detected","data":{"webhook_id":"wh_1","message":"m"}}`, "", 400, herald.EMALFORMED,
			[]string{`the key "type" appears twice`, "signatures cover the exact bytes", "disagree on which duplicate wins"}},
		{"duplicate key in data", `{"type":"ping","data":{"webhook_id":"wh_1","message":"m","message":"n"}}`, "", 400, herald.EMALFORMED, []string{`"message" appears twice`, "at /data/message"}},
		{"duplicate key spelled with an escape", `{"type":"ping","data":{"webhook_id":"wh_1","message":"m","\u006dessage":"n"}}`, "", 400, herald.EMALFORMED, []string{`"message" appears twice`}},
		{"duplicate key deep in an array", pingWith(`[{"a":1},{"a":1,"b":2,"a":3}]`), "", 400, herald.EMALFORMED, []string{`"a" appears twice`, "at /data/extra/1/a"}},
		{"body over 1 MiB", pingWith(`"` + big + `"`), "", 413, herald.ETOOLARGE, []string{"too large", "1048576"}},
		{"not JSON", `type=ping&data=x`, "application/x-www-form-urlencoded", 400, herald.EMALFORMED, []string{"not valid JSON"}},
		{"empty body", ``, "", 400, herald.EMALFORMED, nil},
		{"a JSON array", `[` + pingWith("1") + `]`, "", 422, herald.EINVALID, nil},
		{"NUL in a string", `{"type":"ping\u0000","data":{}}`, "", 422, herald.EINVALID, nil},
		{"trailing garbage", pingWith("1") + `{}`, "", 400, herald.EMALFORMED, nil},
	}
	before := e.countDeliveries(herald.DeliveryFilter{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := []string{}
			if tt.contentType != "" {
				hdr = append(hdr, "Content-Type", tt.contentType)
			}
			te := *e
			te.t = t
			start := time.Now()
			r := te.do("POST", "/api/v1/events", e.adminKey, tt.body, hdr...)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v, want well under 2 s", took)
			}
			b := checkError(t, r, tt.status, tt.code)
			text := *b.Error + " | " + *b.Details
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("error %q does not say %q", text, w)
				}
			}
		})
	}
	if after := e.countDeliveries(herald.DeliveryFilter{}); after != before {
		t.Errorf("hostile bodies created %d deliveries, want 0", after-before)
	}
}

// TestPublishKeepsNumbersByteForByte: numbers within the catalog's limits are stored as
// sent, never rounded through float64, so what a receiver gets is what was published.
func TestPublishKeepsNumbersByteForByte(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, n := range []string{
		strings.Repeat("1234567890", 20), // 200 digits: float64 would keep 17
		"-0.000000000000000000000000000000000000000000000000001",
		"1e308", "12345678901234567890123", "1.5E+300",
	} {
		var out struct{ ID string }
		e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey,
			`{"type":"ping","data":{"webhook_id":"wh_1","message":"m","n":`+n+`}}`, &out)
		ev, err := e.store.Event(context.Background(), out.ID)
		if err != nil {
			t.Fatalf("Event(%s): %v", out.ID, err)
		}
		if !strings.Contains(string(ev.Data), `"n":`+n+`}`) {
			t.Errorf("stored data %s, want the number %s byte for byte", ev.Data, n)
		}
	}
}

// TestPublishAcceptsDepthAtTheLimit: data exactly maxDataDepth deep is accepted, so
// the limit is where the message says.
func TestPublishAcceptsDepthAtTheLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// data is one level, extra's arrays the other 63.
	e.must(http.StatusAccepted, "POST", "/api/v1/events", e.adminKey, pingWith(nested(63, "1")), nil)
	r := e.do("POST", "/api/v1/events", e.adminKey, pingWith(nested(64, "1")))
	checkError(t, r, http.StatusUnprocessableEntity, herald.EINVALID)
}

// TestBatchItemsObeyTheSingleEventLimit: an event over 1 MiB is refused inside a batch
// too (413 for that item alone); the batch's other events are stored.
func TestBatchItemsObeyTheSingleEventLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createWebhook(e.adminKey, nil)
	huge := pingWith(`"` + strings.Repeat("x", 3<<20) + `"`)
	atLimit := pingWith(`"` + strings.Repeat("y", (1<<20)-len(pingWith(`""`))) + `"`)
	if len(atLimit) != 1<<20 {
		t.Fatalf("test bug: event is %d bytes, want exactly 1 MiB", len(atLimit))
	}
	body := `{"events":[` + pingWith("1") + `,` + huge + `,` + atLimit + `]}`
	before := e.countDeliveries(herald.DeliveryFilter{})
	var out struct {
		Results []struct {
			Status  int    `json:"status"`
			ID      string `json:"id"`
			Code    string `json:"code"`
			Error   string `json:"error"`
			Details string `json:"details"`
		} `json:"results"`
	}
	e.must(http.StatusAccepted, "POST", "/api/v1/events/batch", e.adminKey, body, &out)
	if len(out.Results) != 3 {
		t.Fatalf("%d results, want 3", len(out.Results))
	}
	if r := out.Results[1]; r.Status != 413 || r.Code != herald.ETOOLARGE || r.ID != "" ||
		!strings.Contains(r.Error, "at most 1048576 bytes") {
		t.Errorf("3 MiB item: %+v, want a 413 %s saying the limit", r, herald.ETOOLARGE)
	}
	for _, i := range []int{0, 2} {
		if r := out.Results[i]; r.Status != 202 || r.ID == "" {
			t.Errorf("item %d: %+v, want accepted", i, r)
		}
	}
	if n := e.countDeliveries(herald.DeliveryFilter{}) - before; n != 2 {
		t.Errorf("%d deliveries created, want 2 (the oversized event must not be stored)", n)
	}
}

// TestBatchRefusesDuplicateKeysInItems: the body-wide checks cover batch items too.
func TestBatchRefusesDuplicateKeysInItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("POST", "/api/v1/events/batch", e.adminKey,
		`{"events":[`+pingWith("1")+`,{"type":"ping","data":{"webhook_id":"a","webhook_id":"b","message":"m"}}]}`)
	b := checkError(t, r, http.StatusBadRequest, herald.EMALFORMED)
	if !strings.Contains(*b.Error, "at /events/1/data/webhook_id") {
		t.Errorf("message %q should point at /events/1/data/webhook_id", *b.Error)
	}
}

// TestHostileBodiesOnOtherRoutes: every route with a body decodes it strictly.
func TestHostileBodiesOnOtherRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.createWebhook(e.adminKey, nil)
	for _, tt := range []struct{ method, path, body string }{
		{"POST", "/api/v1/webhooks", `{"name":"a","name":"b","url":"` + hookURL + `"}`},
		{"PATCH", "/api/v1/webhooks/" + w.ID, `{"headers":{"X-A":"1","X-A":"2"}}`},
		{"POST", "/api/v1/tenants", "{\"name\":\"\xff\"}"},
		{"POST", "/api/v1/event-types", `{"type":"x.y","schema":` + nested(300, "") + `}`},
	} {
		r := e.do(tt.method, tt.path, e.adminKey, tt.body)
		b := checkError(t, r, http.StatusBadRequest, herald.EMALFORMED)
		if !strings.HasPrefix(*b.Error, "malformed request: ") || *b.Error == "malformed request: the body is not valid JSON" {
			t.Errorf("%s %s: message %q should say what is malformed", tt.method, tt.path, *b.Error)
		}
	}
}
