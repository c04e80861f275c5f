package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/heraldhq/herald"
)

// call makes one request to the API in-process, as v's session (or, while signing in,
// v's key), and decodes a successful JSON answer into out (nil to skip). It returns the
// answer's headers; any answer outside 2xx is the *herald.Error the API answered with,
// whose message is safe to show to the person who sent the form: the portal never
// follows a redirect of the API's nor takes one for success.
//
// The request's first call is charged to the key's rate limit as any API request is;
// the later ones carry herald.WithRateLimitSpent, so one page costs one request.
func (p *portal) call(r *http.Request, v *viewer, method, path string, query url.Values, body, out any) (http.Header, error) {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		reader = bytes.NewReader(b)
	}
	target := path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	ctx := r.Context()
	if v.charged.Swap(true) {
		ctx = herald.WithRateLimitSpent(ctx)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reader)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, path, err)
	}
	req.Host, req.RemoteAddr = r.Host, r.RemoteAddr
	if v.session != nil {
		// The session stands for the key: the portal never holds it after sign-in.
		req = req.WithContext(herald.WithSession(ctx, v.session))
	} else {
		req.Header.Set("Authorization", "Bearer "+v.key)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{header: http.Header{}}
	p.api.ServeHTTP(rec, req)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	if rec.code < 200 || rec.code > 299 {
		return rec.header, fmt.Errorf("API answered %s %s with %d: %w", method, path, rec.code,
			herald.ErrorFromResponse(rec.code, rec.body.Bytes()))
	}
	if out != nil && rec.body.Len() > 0 {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return nil, fmt.Errorf("decode the answer to %s %s: %w", method, path, err)
		}
	}
	return rec.header, nil
}

// totalCount is the X-Total-Count of a list answer.
func totalCount(h http.Header) int {
	n, _ := strconv.Atoi(h.Get("X-Total-Count")) // absent or malformed counts as none
	return n
}

// recorder is the http.ResponseWriter the API answers the portal into.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(b)
}
