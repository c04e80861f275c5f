package dispatch_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/dispatch"
	"github.com/heraldhq/herald/egress"
)

// authReceiver is an endpoint that answers 204 when the request's Authorization header
// is one of want() and 401 otherwise, recording every header it got.
func authReceiver(t *testing.T, want func() []string, ca ...*pki) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var got []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		mu.Lock()
		got = append(got, h)
		mu.Unlock()
		for _, ok := range want() {
			if h == ok {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	start(t, srv, ca)
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// withAuth stores a on webhook w.
func (e *env) withAuth(w *herald.Webhook, a *herald.EndpointAuth) {
	e.t.Helper()
	got, err := e.store.Webhook(context.Background(), w.ID)
	if err != nil {
		e.t.Fatalf("read webhook: %v", err)
	}
	got.Auth = a
	if err := e.store.UpdateWebhook(context.Background(), got); err != nil {
		e.t.Fatalf("set auth: %v", err)
	}
}

func TestBasicAndBearerAuthReachTheEndpoint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		auth   *herald.EndpointAuth
		header string // what the endpoint must get
		logged string // what the attempt log shows
	}{
		{&herald.EndpointAuth{Type: herald.AuthBasic, Username: "herald", Password: "pa:ss wörd"},
			"Basic aGVyYWxkOnBhOnNzIHfDtnJk", "Basic [redacted]"},
		{&herald.EndpointAuth{Type: herald.AuthBearer, Token: "tok.en-123"}, "Bearer tok.en-123", "Bearer [redacted]"},
	} {
		t.Run(string(tc.auth.Type), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			srv, got := authReceiver(t, func() []string { return []string{tc.header} })
			w := e.webhook(srv.URL, herald.FormatStandard)
			e.withAuth(w, tc.auth)
			id := e.publish()[0]
			e.deliverDue(t0)
			if d := e.delivery(id); d.Status != herald.StatusSuccess {
				t.Fatalf("delivery %s (%s), want success; the endpoint got Authorization %q", d.Status, d.LastError, got())
			}
			as := e.attempts(id)
			if h := as[0].RequestHeaders.Get("Authorization"); h != tc.logged {
				t.Errorf("attempt log shows Authorization %q, want %q", h, tc.logged)
			}
			for _, a := range as {
				raw, _ := json.Marshal(a)
				for _, secret := range []string{tc.auth.Password, tc.auth.Token} {
					if secret != "" && strings.Contains(string(raw), secret) {
						t.Errorf("the attempt log holds the credential: %s", raw)
					}
				}
			}
		})
	}
}

// tokenServer is an OAuth2 token endpoint for client "herald" with secret "s3cret":
// each request gets a new token tok-N valid for ttl seconds, and the latest token is
// the only one current() accepts.
type tokenServer struct {
	*httptest.Server
	issued atomic.Int64
	ttl    atomic.Int64
	fail   atomic.Bool // answer 401 invalid_client
	form   atomic.Value
}

func newTokenServer(t *testing.T, ca ...*pki) *tokenServer {
	t.Helper()
	ts := &tokenServer{}
	ts.ttl.Store(3600)
	ts.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		ts.form.Store(r.Form)
		user, pass, ok := r.BasicAuth()
		if !ok {
			user, pass = r.Form.Get("client_id"), r.Form.Get("client_secret")
		}
		if ts.fail.Load() || user != "herald" || pass != "s3cret" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client","error_description":"client authentication failed"}`)
			return
		}
		n := ts.issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":%d}`, n, ts.ttl.Load())
	}))
	start(t, ts.Server, ca)
	t.Cleanup(ts.Close)
	return ts
}

// start starts srv, over TLS with a certificate from ca when one is given.
func start(t *testing.T, srv *httptest.Server, ca []*pki) {
	t.Helper()
	if len(ca) == 0 {
		srv.Start()
		return
	}
	certPEM, keyPEM := ca[0].issue("127.0.0.1", true)
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
}

func (ts *tokenServer) current() []string {
	return []string{fmt.Sprintf("Bearer tok-%d", ts.issued.Load())}
}

func oauth2Auth(tokenURL string) *herald.EndpointAuth {
	return &herald.EndpointAuth{Type: herald.AuthOAuth2, TokenURL: tokenURL, ClientID: "herald",
		ClientSecret: "s3cret", Scopes: []string{"webhooks:write", "events"}, Audience: "https://api.example"}
}

func TestOAuth2TokenIsCachedAndRefreshedOnceOn401(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ts := newTokenServer(t)
	accept := ts.current
	var acceptMu sync.Mutex
	srv, got := authReceiver(t, func() []string { acceptMu.Lock(); defer acceptMu.Unlock(); return accept() })
	w := e.webhook(srv.URL, herald.FormatStandard)
	e.withAuth(w, oauth2Auth(ts.URL))

	// Two deliveries, one token: it is cached.
	for i := range 2 {
		id := e.publish()[0]
		e.deliverDue(t0)
		if d := e.delivery(id); d.Status != herald.StatusSuccess {
			t.Fatalf("delivery %d: %s (%s), want success", i, d.Status, d.LastError)
		}
	}
	if n := ts.issued.Load(); n != 1 {
		t.Fatalf("the token endpoint issued %d tokens for two deliveries, want 1 (cached)", n)
	}
	form := ts.form.Load().(url.Values)
	if form.Get("scope") != "webhooks:write events" || form.Get("audience") != "https://api.example" {
		t.Errorf("token request scope %q audience %q, want the webhook's", form.Get("scope"), form.Get("audience"))
	}

	// The endpoint stops accepting tok-1 (revoked): one 401, a new token, one retry.
	acceptMu.Lock()
	accept = func() []string { return []string{"Bearer tok-2"} }
	acceptMu.Unlock()
	before := len(got())
	id := e.publish()[0]
	e.deliverDue(t0)
	d := e.delivery(id)
	if d.Status != herald.StatusSuccess || d.AttemptCount != 1 {
		t.Fatalf("after a revoked token: %s after %d attempts (%s), want success in 1", d.Status, d.AttemptCount, d.LastError)
	}
	if seen := got()[before:]; len(seen) != 2 || seen[0] != "Bearer tok-1" || seen[1] != "Bearer tok-2" {
		t.Fatalf("the endpoint got %q, want the stale token then the fresh one", seen)
	}
	if n := ts.issued.Load(); n != 2 {
		t.Fatalf("the token endpoint issued %d tokens, want 2", n)
	}

	// An endpoint that refuses every token: one refresh per attempt, not a loop.
	acceptMu.Lock()
	accept = func() []string { return nil }
	acceptMu.Unlock()
	before = len(got())
	id = e.publish()[0]
	e.deliverDue(t0)
	d = e.delivery(id)
	if d.Status == herald.StatusSuccess || !strings.Contains(d.LastError, "401") {
		t.Fatalf("an endpoint refusing every token: %s (%q), want a failed attempt with its 401", d.Status, d.LastError)
	}
	if n := len(got()) - before; n != 2 {
		t.Fatalf("the endpoint got %d requests for one attempt, want 2 (one refresh)", n)
	}
}

func TestOAuth2TokenNearExpiryIsFetchedAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ts := newTokenServer(t)
	ts.ttl.Store(20) // within the margin before expiry: never reused
	srv, _ := authReceiver(t, ts.current)
	w := e.webhook(srv.URL, herald.FormatStandard)
	e.withAuth(w, oauth2Auth(ts.URL))
	for range 3 {
		id := e.publish()[0]
		e.deliverDue(t0)
		if d := e.delivery(id); d.Status != herald.StatusSuccess {
			t.Fatalf("delivery: %s (%s), want success", d.Status, d.LastError)
		}
	}
	if n := ts.issued.Load(); n != 3 {
		t.Fatalf("token endpoint issued %d tokens for 3 deliveries with 20 s tokens, want 3", n)
	}
}

func TestOAuth2TokenFailureIsTheAttemptsError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ts := newTokenServer(t)
	ts.fail.Store(true)
	srv, got := authReceiver(t, ts.current)
	w := e.webhook(srv.URL, herald.FormatStandard)
	e.withAuth(w, oauth2Auth(ts.URL+"/oauth/token"))
	id := e.publish()[0]
	e.deliverDue(t0)
	d := e.delivery(id)
	if d.Status != herald.StatusPending || d.AttemptCount != 1 {
		t.Fatalf("delivery %s after %d attempts, want a failed attempt and a retry", d.Status, d.AttemptCount)
	}
	for _, want := range []string{"OAuth2 token request to " + ts.URL + "/oauth/token", "401 Unauthorized", "invalid_client", "client authentication failed"} {
		if !strings.Contains(d.LastError, want) {
			t.Errorf("last error %q does not say %q", d.LastError, want)
		}
	}
	if strings.Contains(d.LastError, "s3cret") {
		t.Errorf("last error %q holds the client secret", d.LastError)
	}
	if n := len(got()); n != 0 {
		t.Errorf("the endpoint got %d requests without a token, want 0", n)
	}
}

// pki is a test CA that issues server and client certificates.
type pki struct {
	t    *testing.T
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Herald test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &pki{t: t, cert: cert, key: key, pool: pool}
}

// issue returns a PEM certificate and PKCS#8 key for cn, a server (for 127.0.0.1) or a
// client certificate.
func (p *pki) issue(cn string, server bool) (certPEM, keyPEM string) {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		p.t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}))
}

// mtlsReceiver is an https endpoint that requires a client certificate from ca and
// records each request's client certificate CN.
func mtlsReceiver(t *testing.T, ca *pki) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var cns []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cns = append(cns, r.TLS.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	certPEM, keyPEM := ca.issue("127.0.0.1", true)
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), cns...)
	}
}

func TestMutualTLSPresentsTheWebhooksCertificate(t *testing.T) {
	t.Parallel()
	ca := newPKI(t)
	srv, cns := mtlsReceiver(t, ca)
	e := newEnvWith(t, dispatch.Config{Client: &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool},
	}}})
	withCert := e.webhook(srv.URL, herald.FormatStandard)
	cert, key := ca.issue("client-1", false)
	e.withAuth(withCert, &herald.EndpointAuth{Type: herald.AuthMTLS, Certificate: cert, PrivateKey: key})
	without := e.webhook(srv.URL, herald.FormatStandard)

	status := func(ids []string) map[string]*herald.Delivery {
		out := map[string]*herald.Delivery{}
		for _, id := range ids {
			d := e.delivery(id)
			out[d.WebhookID] = d
		}
		return out
	}
	got := status(e.publish())
	e.deliverDue(t0)
	got = status([]string{got[withCert.ID].ID, got[without.ID].ID})
	if d := got[withCert.ID]; d.Status != herald.StatusSuccess {
		t.Fatalf("with a client certificate: %s (%s), want success", d.Status, d.LastError)
	}
	if d := got[without.ID]; d.Status == herald.StatusSuccess || !strings.Contains(d.LastError, "TLS") && !strings.Contains(d.LastError, "certificate") {
		t.Fatalf("without a client certificate: %s (%q), want a failed TLS handshake", d.Status, d.LastError)
	}
	if seen := cns(); len(seen) != 1 || seen[0] != "client-1" {
		t.Fatalf("the endpoint saw client certificates %q, want [client-1]", seen)
	}

	// A new certificate takes effect at the next attempt.
	cert2, key2 := ca.issue("client-2", false)
	e.withAuth(withCert, &herald.EndpointAuth{Type: herald.AuthMTLS, Certificate: cert2, PrivateKey: key2})
	got = status(e.publish())
	e.deliverDue(t0)
	if d := e.delivery(got[withCert.ID].ID); d.Status != herald.StatusSuccess {
		t.Fatalf("with the new certificate: %s (%s), want success", d.Status, d.LastError)
	}
	if seen := cns(); len(seen) != 2 || seen[1] != "client-2" {
		t.Fatalf("the endpoint saw client certificates %q, want client-2 last", seen)
	}
}

// forwardProxy is an HTTP forward proxy: CONNECT tunnels and absolute-URI requests,
// each counted, with the authority it was asked for.
type forwardProxy struct {
	*httptest.Server
	mu       sync.Mutex
	connects []string
	absolute []string
}

func newForwardProxy(t *testing.T) *forwardProxy {
	t.Helper()
	p := &forwardProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			p.mu.Lock()
			p.connects = append(p.connects, r.Host)
			p.mu.Unlock()
			upstream, err := net.Dial("tcp", r.Host)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				upstream.Close()
				return
			}
			io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
			go func() { io.Copy(upstream, buf); upstream.(*net.TCPConn).CloseWrite() }()
			io.Copy(conn, upstream)
			conn.Close()
			upstream.Close()
			return
		}
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.absolute = append(p.absolute, r.URL.Host)
		p.mu.Unlock()
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), r.Body)
		out.Header = r.Header.Clone()
		out.Header.Del("Proxy-Connection")
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, bufio.NewReader(resp.Body))
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *forwardProxy) counts() (connects, absolute []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.connects...), append([]string(nil), p.absolute...)
}

// TestEgressProxyCarriesDeliveriesAndTokenRequests: with a proxy, an https delivery goes
// by CONNECT, and a plain http one and its OAuth2 token request as absolute-URI
// requests; nothing reaches an endpoint another way.
func TestEgressProxyCarriesDeliveriesAndTokenRequests(t *testing.T) {
	t.Parallel()
	proxy := newForwardProxy(t)
	hosts := deliverThroughProxy(t, proxy.URL, false)
	connects, absolute := proxy.counts()
	checkProxied(t, hosts, connects, absolute)
}

// TestEgressProxyTinyproxy delivers through Debian's tinyproxy to https endpoints (mTLS,
// and OAuth2 with an https token endpoint), counting the CONNECTs its log shows.
func TestEgressProxyTinyproxy(t *testing.T) {
	t.Parallel()
	bin := os.Getenv("HERALD_TEST_TINYPROXY")
	if bin == "" {
		t.Skip("set HERALD_TEST_TINYPROXY to a tinyproxy binary (e.g. /usr/bin/tinyproxy) to test through a real forward proxy")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // tinyproxy binds it next; a race with another bind only fails this test
	dir := t.TempDir()
	conf := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("Port %d\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nLogLevel Connect\nMaxClients 20\n", port)), 0o600); err != nil {
		t.Fatal(err)
	}
	var log syncLog
	cmd := exec.Command(bin, "-d", "-c", conf)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tinyproxy: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tinyproxy does not listen on %s: %v\n%s", addr, err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tinyproxy's log:\n%s", log.String())
		}
	})
	// Every endpoint over https, so through CONNECT tunnels: tinyproxy closes a client's
	// connection after each plain-http request without saying so, and a request sent
	// at once on that connection (a delivery right after its token request) can find it
	// closed. That is tinyproxy's doing, and such an attempt is retried like any other;
	// the test proxy above covers plain http.
	hosts := deliverThroughProxy(t, "http://"+addr, true)
	var connects, absolute []string
	for _, line := range strings.Split(log.String(), "\n") {
		_, req, ok := strings.Cut(line, "): ")
		if !ok || !strings.Contains(line, "Request (file descriptor") {
			continue
		}
		method, rest, _ := strings.Cut(req, " ")
		target, _, _ := strings.Cut(rest, " ")
		switch {
		case method == http.MethodConnect:
			connects = append(connects, target)
		case strings.HasPrefix(target, "http://"):
			u, _ := url.Parse(target)
			absolute = append(absolute, u.Host)
		}
	}
	checkProxied(t, hosts, connects, absolute)
}

// syncLog collects what is written to it while the test reads it: a child process's
// output, a dispatcher's log.
type syncLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// proxiedHosts are the host:port of the endpoints deliverThroughProxy reached.
type proxiedHosts struct {
	tls, plain, token string
	allTLS            bool // the plain and token endpoints are https too
}

// deliverThroughProxy delivers to an mtls https endpoint and to an OAuth2 http one,
// through the proxy at proxyURL, and fails t unless both succeed with their auth.
func deliverThroughProxy(t *testing.T, proxyURL string, allTLS bool) proxiedHosts {
	t.Helper()
	u, err := egress.ParseProxy(proxyURL)
	if err != nil {
		t.Fatal(err)
	}
	ca := newPKI(t)
	tlsSrv, cns := mtlsReceiver(t, ca)
	tr := (&egress.Guard{AllowPrivate: true}).ProxyTransport(u)
	tr.TLSClientConfig = &tls.Config{RootCAs: ca.pool}
	e := newEnvWith(t, dispatch.Config{Client: &http.Client{Transport: tr}})

	var tlsCA []*pki
	if allTLS {
		tlsCA = []*pki{ca}
	}
	ts := newTokenServer(t, tlsCA...)
	plain, got := authReceiver(t, ts.current, tlsCA...)
	viaToken := e.webhook(plain.URL, herald.FormatStandard)
	e.withAuth(viaToken, oauth2Auth(ts.URL))
	viaTLS := e.webhook(tlsSrv.URL, herald.FormatStandard)
	cert, key := ca.issue("client-proxy", false)
	e.withAuth(viaTLS, &herald.EndpointAuth{Type: herald.AuthMTLS, Certificate: cert, PrivateKey: key})

	ids := e.publish()
	e.deliverDue(t0)
	for _, id := range ids {
		if d := e.delivery(id); d.Status != herald.StatusSuccess {
			t.Fatalf("delivery to %s through the proxy: %s (%s), want success (mtls %s)", d.WebhookID, d.Status, d.LastError, viaTLS.ID)
		}
	}
	if len(got()) != 1 || len(cns()) != 1 || cns()[0] != "client-proxy" {
		t.Errorf("endpoints got %d plain and %q TLS requests, want one each with the client certificate", len(got()), cns())
	}
	host := func(u string) string { return strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://") }
	return proxiedHosts{tls: host(tlsSrv.URL), plain: host(plain.URL), token: host(ts.URL), allTLS: allTLS}
}

// checkProxied fails t unless the proxy saw one CONNECT, to the https endpoint, and
// one absolute-URI request to each of the plain endpoint and the token endpoint.
func checkProxied(t *testing.T, h proxiedHosts, connects, absolute []string) {
	t.Helper()
	want := map[string]bool{h.plain: true, h.token: true}
	if h.allTLS {
		slices.Sort(connects)
		wantConnects := []string{h.tls, h.plain, h.token}
		slices.Sort(wantConnects)
		if !slices.Equal(connects, wantConnects) || len(absolute) != 0 {
			t.Errorf("proxy CONNECTs %q and absolute-URI requests %q, want one CONNECT to each of %q", connects, absolute, wantConnects)
		}
		return
	}
	if len(connects) != 1 || connects[0] != h.tls {
		t.Errorf("proxy CONNECTs %q, want one to %s", connects, h.tls)
	}
	if len(absolute) != 2 || !want[absolute[0]] || !want[absolute[1]] || absolute[0] == absolute[1] {
		t.Errorf("proxy absolute-URI requests to %q, want one to the token endpoint %s and one to the endpoint %s", absolute, h.token, h.plain)
	}
}
