package dispatch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/heraldhq/herald"
)

// tokenEarly is how long before its expiry a cached OAuth2 token is fetched anew, so a
// token never expires between being read and reaching the endpoint.
const tokenEarly = 30 * time.Second

// endpointIdle is how long an endpoint's client (an mtls webhook's TLS connections) and
// token cache are kept after their last use; sweepEvery is how often that is checked.
const (
	endpointIdle = 10 * time.Minute
	sweepEvery   = time.Minute
)

// redacted stands for a credential in the attempt log's request headers.
const redacted = "[redacted]"

// endpoints holds what the dispatcher builds from webhooks' auth: a client with the
// certificate of each mtls webhook, a token cache for each OAuth2 one. Each is keyed by
// webhook id and kept for the auth's version (herald.EndpointAuth.Version): an edited
// auth gets a new one at its next attempt, and the old one's idle connections close.
type endpoints struct {
	base *http.Client // the dispatcher's client: guard, proxy, no redirects

	mu        sync.Mutex
	byHook    map[string]*endpoint
	lastSweep time.Time
}

// endpoint is one webhook's share of endpoints.
type endpoint struct {
	version string
	client  *http.Client // mtls: the base client with the webhook's certificate
	tokens  *tokenCache  // oauth2_client_credentials
	used    time.Time
}

func newEndpoints(base *http.Client) *endpoints {
	return &endpoints{base: base, byHook: make(map[string]*endpoint)}
}

// get returns w's endpoint for its auth as it is now, building it if the auth is new or
// changed.
func (e *endpoints) get(w *herald.Webhook) (*endpoint, error) {
	version := w.Auth.Version()
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sweep(now)
	if ep, ok := e.byHook[w.ID]; ok && ep.version == version {
		ep.used = now
		return ep, nil
	}
	if old, ok := e.byHook[w.ID]; ok {
		old.close()
		delete(e.byHook, w.ID)
	}
	ep := &endpoint{version: version, client: e.base, used: now}
	switch w.Auth.Type {
	case herald.AuthMTLS:
		client, err := e.mtlsClient(w.Auth)
		if err != nil {
			return nil, err
		}
		ep.client = client
	case herald.AuthOAuth2:
		ep.tokens = &tokenCache{auth: w.Auth}
	}
	e.byHook[w.ID] = ep
	return ep, nil
}

// sweep drops the endpoints unused for endpointIdle, closing their idle connections.
func (e *endpoints) sweep(now time.Time) {
	if now.Sub(e.lastSweep) < sweepEvery {
		return
	}
	e.lastSweep = now
	for id, ep := range e.byHook {
		if now.Sub(ep.used) >= endpointIdle {
			ep.close()
			delete(e.byHook, id)
		}
	}
}

// close closes the idle connections of an mtls endpoint's own transport; connections
// in use close when their attempt ends.
func (ep *endpoint) close() {
	if ep.client != nil {
		if tr, ok := ep.client.Transport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
	}
}

// mtlsClient is the base client with a transport of its own that presents a's
// certificate. The transport is a clone of the base one, so it dials through the same
// egress guard and proxy and trusts the same roots.
func (e *endpoints) mtlsClient(a *herald.EndpointAuth) (*http.Client, error) {
	pair, err := a.KeyPair()
	if err != nil {
		return nil, &authError{msg: "mTLS client certificate: " + herald.ErrorMessage(err)}
	}
	var tr *http.Transport
	switch base := e.base.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = base.Clone()
	default:
		return nil, &authError{msg: fmt.Sprintf("mTLS needs an *http.Transport to add a client certificate to, not %T", base)}
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.Certificates = []tls.Certificate{pair}
	client := *e.base
	client.Transport = tr
	return &client, nil
}

// tokenCache holds one OAuth2 webhook's access token until shortly before it expires.
type tokenCache struct {
	auth *herald.EndpointAuth

	mu  sync.Mutex
	tok *oauth2.Token
}

// token returns the cached token, or fetches one through client when there is none, it
// expires within tokenEarly, or fresh is set (the endpoint refused the cached one).
// Concurrent attempts wait for one fetch.
func (c *tokenCache) token(ctx context.Context, client *http.Client, fresh bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !fresh && c.tok != nil && (c.tok.Expiry.IsZero() || time.Until(c.tok.Expiry) > tokenEarly) {
		return c.tok.AccessToken, nil
	}
	c.tok = nil
	cfg := clientcredentials.Config{
		ClientID:     c.auth.ClientID,
		ClientSecret: c.auth.ClientSecret,
		TokenURL:     c.auth.TokenURL,
		Scopes:       c.auth.Scopes,
	}
	if c.auth.Audience != "" {
		cfg.EndpointParams = url.Values{"audience": {c.auth.Audience}}
	}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, client))
	if err != nil {
		return "", err
	}
	c.tok = tok
	return tok.AccessToken, nil
}

// authError is an attempt that failed in authenticating before or instead of reaching
// the endpoint: its message is the attempt's error as it stands.
type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

// do sends req to w's endpoint with w's auth, and records the auth in a's request
// headers with its credential redacted. An OAuth2 webhook's request goes with the cached
// token; if the endpoint answers 401, the token is fetched anew and the request sent
// once more, and the attempt is what the second request got.
func (d *Dispatcher) do(req *http.Request, w *herald.Webhook, a *herald.Attempt, timeout time.Duration) (*http.Response, error) {
	if w.Auth == nil {
		return d.cfg.Client.Do(req)
	}
	ep, err := d.endpoints.get(w)
	if err != nil {
		return nil, err
	}
	switch w.Auth.Type {
	case herald.AuthBasic:
		req.SetBasicAuth(w.Auth.Username, w.Auth.Password)
		a.RequestHeaders.Set("Authorization", "Basic "+redacted)
	case herald.AuthBearer:
		req.Header.Set("Authorization", "Bearer "+w.Auth.Token)
		a.RequestHeaders.Set("Authorization", "Bearer "+redacted)
	case herald.AuthOAuth2:
		return d.doOAuth2(req, ep, a, timeout)
	case herald.AuthMTLS:
		// The certificate goes in the TLS handshake of ep.client's connections.
	}
	return ep.client.Do(req)
}

func (d *Dispatcher) doOAuth2(req *http.Request, ep *endpoint, a *herald.Attempt, timeout time.Duration) (*http.Response, error) {
	ctx := req.Context()
	tok, err := ep.tokens.token(ctx, d.cfg.Client, false)
	if err != nil {
		return nil, tokenProblem(ctx, ep.tokens.auth.TokenURL, err, timeout)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	a.RequestHeaders.Set("Authorization", "Bearer "+redacted)
	resp, err := ep.client.Do(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || req.GetBody == nil {
		return resp, err
	}
	// The token may have been revoked or the endpoint's keys rotated before its expiry:
	// one fresh token, one more try.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit)) // reuse the connection if it can be
	resp.Body.Close()
	if tok, err = ep.tokens.token(ctx, d.cfg.Client, true); err != nil {
		return nil, tokenProblem(ctx, ep.tokens.auth.TokenURL, err, timeout)
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("resend with a fresh token: %w", err)
	}
	retry := req.Clone(ctx)
	retry.Body = body
	retry.Header.Set("Authorization", "Bearer "+tok)
	return ep.client.Do(retry)
}

// tokenProblem says why fetching a token failed, naming the token endpoint and what it
// answered (its status and error, or its body, clipped), or the transport error as
// describe words it.
func tokenProblem(ctx context.Context, tokenURL string, err error, timeout time.Duration) error {
	where := "OAuth2 token request to " + clip(tokenURL)
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		answer := strings.TrimSpace(re.ErrorCode)
		if re.ErrorDescription != "" {
			answer += ": " + re.ErrorDescription
		}
		if answer == "" {
			answer = strings.TrimSpace(string(re.Body))
		}
		msg := fmt.Sprintf("%s failed: the token endpoint answered %d %s", where, re.Response.StatusCode, http.StatusText(re.Response.StatusCode))
		if answer != "" {
			msg += ": " + clip(answer)
		}
		return &authError{msg: msg}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &authError{msg: where + " failed: " + describe(ctx, ue, timeout)}
	}
	// oauth2's own errors ("server response missing access_token") name no secret.
	return &authError{msg: where + " failed: " + clip(strings.TrimPrefix(err.Error(), "oauth2: "))}
}
