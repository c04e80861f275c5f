package herald_test

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald"
)

// TestErrorStatusIsOneToOne: every code has its own status, and StatusCode gives the
// code back, so an answer's status alone says which code it carries.
func TestErrorStatusIsOneToOne(t *testing.T) {
	t.Parallel()
	seen := map[int]string{}
	for _, code := range herald.ErrorCodes() {
		status := herald.ErrorStatus(code)
		if other, ok := seen[status]; ok {
			t.Errorf("%s and %s are both answered %d", other, code, status)
		}
		seen[status] = code
		if got := herald.StatusCode(status); got != code {
			t.Errorf("StatusCode(%d) = %s, want %s", status, got, code)
		}
	}
	if len(seen) != 11 {
		t.Errorf("%d codes, want the 11 the API documents", len(seen))
	}
	if got := herald.ErrorStatus("NO_SUCH_CODE"); got != http.StatusInternalServerError {
		t.Errorf("ErrorStatus of an unknown code = %d, want 500", got)
	}
	if got := herald.StatusCode(http.StatusBadGateway); got != herald.EINTERNAL {
		t.Errorf("StatusCode(502) = %s, want %s", got, herald.EINTERNAL)
	}
}

func TestErrorFromResponse(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 150) // 300 bytes: the cut must fall between runes
	tests := []struct {
		name   string
		status int
		body   string
		want   herald.Error
	}{
		{"the API's shape", 404, `{"error":"webhook \"wh_1\" not found","code":"NOT_FOUND","details":""}`,
			herald.Error{Code: herald.ENOTFOUND, Message: `webhook "wh_1" not found`}},
		{"with details", 422, `{"error":"invalid url","code":"VALIDATION_FAILED","details":"url"}`,
			herald.Error{Code: herald.EINVALID, Message: "invalid url", Details: "url"}},
		{"the body's code, not the status's", 405, `{"error":"method PUT is not allowed","code":"NOT_FOUND","details":"allowed: GET"}`,
			herald.Error{Code: herald.ENOTFOUND, Message: "method PUT is not allowed", Details: "allowed: GET"}},
		{"a code without a message", 409, `{"code":"CONFLICT"}`,
			herald.Error{Code: herald.ECONFLICT, Message: "the server answered 409 Conflict"}},
		{"a proxy's page", 503, "<html><body>No upstream</body></html>\n",
			herald.Error{Code: herald.EUNAVAILABLE, Message: "the server answered 503 Service Unavailable", Details: "<html><body>No upstream</body></html>"}},
		{"another server's JSON", 401, `{"message":"who are you"}`,
			herald.Error{Code: herald.EUNAUTHORIZED, Message: "the server answered 401 Unauthorized", Details: `{"message":"who are you"}`}},
		{"an empty body", 502, "",
			herald.Error{Code: herald.EINTERNAL, Message: "the server answered 502 Bad Gateway"}},
		{"a long body", 500, long,
			herald.Error{Code: herald.EINTERNAL, Message: "the server answered 500 Internal Server Error", Details: strings.Repeat("é", 100) + "…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := herald.ErrorFromResponse(tt.status, []byte(tt.body))
			if *got != tt.want {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestErrorSaysDetailsOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		e    herald.Error
		want string
	}{
		{herald.Error{Message: "event is too large"}, "event is too large"},
		{herald.Error{Message: "event is too large", Details: "the limit is 10 bytes"}, "event is too large: the limit is 10 bytes"},
		{herald.Error{Message: "url must be an absolute http or https URL", Details: "url"}, "url must be an absolute http or https URL"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.e, got, tt.want)
		}
	}
}

// FuzzErrorFromResponse: whatever a server answers, the error has a code and a message,
// and what it keeps of a foreign body is short, valid UTF-8.
func FuzzErrorFromResponse(f *testing.F) {
	f.Add(404, []byte(`{"error":"not found","code":"NOT_FOUND","details":""}`))
	f.Add(502, []byte("<html>bad gateway</html>"))
	f.Add(500, []byte("\xff\xfe"+strings.Repeat("日本", 100)))
	f.Add(0, []byte(`null`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := herald.ErrorFromResponse(status, body)
		if e.Code == "" {
			t.Fatalf("no code for %d %q", status, body)
		}
		if e.Message == "" {
			t.Fatalf("no message for %d %q", status, body)
		}
		if strings.HasPrefix(e.Message, "the server answered") && (len(e.Details) > 210 || !utf8.ValidString(e.Details)) {
			t.Fatalf("details of a foreign answer: %d bytes, valid UTF-8 %v", len(e.Details), utf8.ValidString(e.Details))
		}
	})
}
