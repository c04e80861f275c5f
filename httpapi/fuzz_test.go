package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/heraldhq/herald"
)

// FuzzPublishDecode posts arbitrary bodies to the publish handler: whatever arrives, the
// answer is a success or a 4xx in the error shape, never a 500 or a panic.
func FuzzPublishDecode(f *testing.F) {
	for _, seed := range []string{
		`{"type":"drift.detected","data":` + driftData + `}`,
		`{"type":"ping","data":{"webhook_id":"wh_1","message":"hi"},"id":"a:b","timestamp":"2024-01-15T10:00:00Z"}`,
		`{"type":"drift.detected","data":{"severity":"nope"}}`,
		`{"type":"nope","data":{}}`,
		`{"type":"drift.detected","data":null,"tenant_id":"ghost"}`,
		`{"type":"drift.detected","data":{},"timestamp":"2024-13-45T99:00:00Z"}`,
		`{"type":["x"],"data":1e999}`,
		`{"events":[]}`,
		`{`, `null`, `[]`, `""`, `{"type":"\u0000","data":"\ud800"}`,
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f)
	e.createWebhook(e.adminKey, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		te := *e // the same API, reporting to this run
		te.t = t
		r := te.do("POST", "/api/v1/events", e.adminKey, body)
		switch {
		case r.code == http.StatusAccepted || r.code == http.StatusOK:
		case r.code >= 400 && r.code < 500:
			var code string
			switch r.code {
			case 400:
				code = herald.EMALFORMED
			case 409:
				code = herald.ECONFLICT
			case 413:
				code = herald.ETOOLARGE
			default:
				code = herald.EINVALID
			}
			checkError(t, r, r.code, code)
		default:
			t.Fatalf("status %d for body %q: %s", r.code, body, r.body)
		}
	})
}
