package herald

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// AuthType is how Herald authenticates to a webhook's endpoint.
type AuthType string

// The endpoint authentication methods. AuthNone is only a request to remove a webhook's
// auth: a webhook without auth has a nil Auth.
const (
	AuthNone   AuthType = "none"
	AuthBasic  AuthType = "basic"
	AuthBearer AuthType = "bearer"
	AuthOAuth2 AuthType = "oauth2_client_credentials"
	AuthMTLS   AuthType = "mtls"
)

// AuthTypes lists the methods a webhook's auth can have.
var AuthTypes = []AuthType{AuthBasic, AuthBearer, AuthOAuth2, AuthMTLS}

// Limits on an EndpointAuth's fields.
const (
	MaxAuthUsername  = 256
	MaxAuthSecret    = 4096 // a password, token or client secret
	MaxAuthTokenURL  = 2048
	MaxAuthClientID  = 512
	MaxAuthScopes    = 32
	MaxAuthScope     = 256
	MaxAuthAudience  = 1024
	MaxAuthPEM       = 64 << 10 // a certificate chain or a private key
	CertExpiryNotice = 14 * 24 * time.Hour
)

// EndpointAuth is how Herald authenticates to a webhook's endpoint. Its secrets
// (Password, Token, ClientSecret, PrivateKey) are plaintext in memory only: stores seal
// the whole of it with their Cipher, and the API never returns them (see Public).
type EndpointAuth struct {
	Type AuthType `json:"type"`
	// basic
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// bearer
	Token string `json:"token,omitempty"`
	// oauth2_client_credentials
	TokenURL     string   `json:"token_url,omitempty"`
	ClientID     string   `json:"client_id,omitempty"`
	ClientSecret string   `json:"client_secret,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	Audience     string   `json:"audience,omitempty"`
	// mtls: PEM, the leaf certificate first, then any intermediates.
	Certificate string `json:"certificate,omitempty"`
	PrivateKey  string `json:"private_key,omitempty"`
}

// PublicAuth is what may be shown of an EndpointAuth: everything but its secrets.
type PublicAuth struct {
	Type                 AuthType   `json:"type" enum:"basic,bearer,oauth2_client_credentials,mtls" doc:"The method"`
	Username             string     `json:"username,omitempty" doc:"basic: the user name"`
	TokenURL             string     `json:"token_url,omitempty" doc:"oauth2_client_credentials: the token endpoint"`
	ClientID             string     `json:"client_id,omitempty" doc:"oauth2_client_credentials: the client id"`
	Scopes               []string   `json:"scopes,omitempty" doc:"oauth2_client_credentials: the scopes asked for"`
	Audience             string     `json:"audience,omitempty" doc:"oauth2_client_credentials: the audience parameter sent, if any"`
	CertificateExpiresAt *time.Time `json:"certificate_expires_at,omitempty" doc:"mtls: when the client certificate expires; a notice goes out 14 days before"`
	CertificateSubject   string     `json:"certificate_subject,omitempty" doc:"mtls: the client certificate's subject"`
}

// Public returns what may be shown of a: no password, token, client secret or key.
func (a *EndpointAuth) Public() *PublicAuth {
	if a == nil {
		return nil
	}
	p := &PublicAuth{Type: a.Type, Username: a.Username, TokenURL: a.TokenURL, ClientID: a.ClientID,
		Scopes: a.Scopes, Audience: a.Audience}
	if a.Type == AuthMTLS {
		if leaf, err := a.Leaf(); err == nil {
			at := leaf.NotAfter.UTC()
			p.CertificateExpiresAt = &at
			p.CertificateSubject = leaf.Subject.String()
		}
	}
	return p
}

// Version is a digest of every field of a, secrets included, that changes whenever any
// of them does: dispatchers key what they build from an auth (a TLS client, a token
// cache) by it, so an edit takes effect at the next attempt. It reveals nothing of the
// secrets. A nil auth's version is "".
func (a *EndpointAuth) Version() string {
	if a == nil {
		return ""
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return "" // a struct of strings always marshals
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

// Leaf parses the mtls certificate's first PEM block.
func (a *EndpointAuth) Leaf() (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(a.Certificate))
	if block != nil && block.Type != "CERTIFICATE" {
		return nil, Errorf(EINVALID, "auth.certificate must start with a PEM CERTIFICATE block, not %q", block.Type)
	}
	if block == nil {
		return nil, Errorf(EINVALID, "auth.certificate is not PEM: it must hold a -----BEGIN CERTIFICATE----- block")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, Errorf(EINVALID, "auth.certificate does not parse: %v", err)
	}
	return leaf, nil
}

// KeyPair returns the mtls certificate chain and key as a tls.Certificate, EINVALID
// when either does not parse or the key is not the certificate's.
func (a *EndpointAuth) KeyPair() (tls.Certificate, error) {
	pair, err := tls.X509KeyPair([]byte(a.Certificate), []byte(a.PrivateKey))
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "does not match"):
			return pair, Errorf(EINVALID, "auth.private_key is not the key of auth.certificate")
		case strings.Contains(msg, "failed to find any PEM data in key"), strings.Contains(msg, "failed to find PEM block with type ending in \"PRIVATE KEY\""):
			return pair, Errorf(EINVALID, "auth.private_key is not PEM: it must hold a -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY) block")
		case strings.Contains(msg, "failed to parse private key"):
			return pair, Errorf(EINVALID, "auth.private_key does not parse: give an unencrypted PKCS#8, PKCS#1 or SEC 1 key")
		}
		return pair, Errorf(EINVALID, "auth.certificate and auth.private_key do not make a key pair: %s", strings.TrimPrefix(msg, "tls: "))
	}
	return pair, nil
}

// Validate checks a against the rules of its type at now: the fields its type needs are
// given, no other type's fields are, each is within its limit, a token URL is an
// absolute http(s) URL, and an mtls certificate and key parse, match, and the
// certificate has not expired. Every error is EINVALID and names the field to fix
// ("auth.token"). Whether the token URL's host may be called is the egress guard's
// business, not Validate's.
func (a *EndpointAuth) Validate(now time.Time) error {
	if a == nil {
		return nil
	}
	given := map[string]bool{
		"username": a.Username != "", "password": a.Password != "", "token": a.Token != "",
		"token_url": a.TokenURL != "", "client_id": a.ClientID != "", "client_secret": a.ClientSecret != "",
		"scopes": len(a.Scopes) > 0, "audience": a.Audience != "",
		"certificate": a.Certificate != "", "private_key": a.PrivateKey != "",
	}
	var needs, may []string
	switch a.Type {
	case AuthBasic:
		needs = []string{"username", "password"}
	case AuthBearer:
		needs = []string{"token"}
	case AuthOAuth2:
		needs, may = []string{"token_url", "client_id", "client_secret"}, []string{"scopes", "audience"}
	case AuthMTLS:
		needs = []string{"certificate", "private_key"}
	case "":
		return Errorf(EINVALID, "auth.type is required: one of basic, bearer, oauth2_client_credentials, mtls, or none to remove it")
	default:
		return Errorf(EINVALID, "auth.type %q is not known: use basic, bearer, oauth2_client_credentials, mtls, or none", a.Type)
	}
	for _, f := range needs {
		if !given[f] {
			return Errorf(EINVALID, "auth.%s is required for auth type %s", f, a.Type)
		}
	}
	for _, f := range []string{"username", "password", "token", "token_url", "client_id", "client_secret", "scopes", "audience", "certificate", "private_key"} {
		if given[f] && !contains(needs, f) && !contains(may, f) {
			return Errorf(EINVALID, "auth.%s does not belong to auth type %s: leave it out", f, a.Type)
		}
	}
	switch a.Type {
	case AuthBasic:
		if err := authText("username", a.Username, MaxAuthUsername); err != nil {
			return err
		}
		if strings.Contains(a.Username, ":") {
			return Errorf(EINVALID, "auth.username must not contain a colon (RFC 7617)")
		}
		return authText("password", a.Password, MaxAuthSecret)
	case AuthBearer:
		if err := authText("token", a.Token, MaxAuthSecret); err != nil {
			return err
		}
		if strings.ContainsFunc(a.Token, unicode.IsSpace) {
			return Errorf(EINVALID, "auth.token must not contain spaces: give the token alone, without \"Bearer \"")
		}
		return nil
	case AuthOAuth2:
		return a.validateOAuth2()
	}
	return a.validateMTLS(now)
}

func (a *EndpointAuth) validateOAuth2() error {
	if len(a.TokenURL) > MaxAuthTokenURL {
		return Errorf(EINVALID, "auth.token_url must be at most %d characters", MaxAuthTokenURL)
	}
	u, err := url.Parse(a.TokenURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Errorf(EINVALID, "auth.token_url must be an absolute http or https URL, like https://auth.example.com/oauth2/token")
	}
	if u.User != nil {
		return Errorf(EINVALID, "auth.token_url must not carry credentials: give client_id and client_secret")
	}
	if err := authText("client_id", a.ClientID, MaxAuthClientID); err != nil {
		return err
	}
	if err := authText("client_secret", a.ClientSecret, MaxAuthSecret); err != nil {
		return err
	}
	if len(a.Scopes) > MaxAuthScopes {
		return Errorf(EINVALID, "auth.scopes may list at most %d scopes", MaxAuthScopes)
	}
	for _, s := range a.Scopes {
		if s == "" || len(s) > MaxAuthScope || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r > '~' }) {
			return Errorf(EINVALID, "auth.scopes: %q is not a scope: 1 to %d printable ASCII characters, no spaces, quotes or backslashes", clipText(s), MaxAuthScope)
		}
	}
	if a.Audience != "" {
		return authText("audience", a.Audience, MaxAuthAudience)
	}
	return nil
}

func (a *EndpointAuth) validateMTLS(now time.Time) error {
	if len(a.Certificate) > MaxAuthPEM {
		return Errorf(EINVALID, "auth.certificate must be at most %d bytes", MaxAuthPEM)
	}
	if len(a.PrivateKey) > MaxAuthPEM {
		return Errorf(EINVALID, "auth.private_key must be at most %d bytes", MaxAuthPEM)
	}
	leaf, err := a.Leaf()
	if err != nil {
		return err
	}
	if _, err := a.KeyPair(); err != nil {
		return err
	}
	if !now.Before(leaf.NotAfter) {
		return Errorf(EINVALID, "auth.certificate expired at %s: give a current one", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// authText checks one text field: at most max bytes, valid UTF-8 without control
// characters (which would break a header).
func authText(field, s string, max int) error {
	if len(s) > max {
		return Errorf(EINVALID, "auth.%s must be at most %d bytes", field, max)
	}
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) {
		return nil
	}
	return Errorf(EINVALID, "auth.%s must be text without control characters", field)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// clipText cuts s for quoting in an error message.
func clipText(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// CertificateExpiringData is the data of a webhook.certificate_expiring notice.
type CertificateExpiringData struct {
	WebhookID string    `json:"webhook_id"`
	TenantID  string    `json:"tenant_id"`
	URL       string    `json:"url"`
	Name      string    `json:"name"`
	Subject   string    `json:"subject"`
	ExpiresAt time.Time `json:"expires_at"`
}

// NoticeCertificateExpiring is the notice that a webhook's mtls client certificate
// expires within CertExpiryNotice.
const NoticeCertificateExpiring = "webhook.certificate_expiring"

// CertificateExpiringNotice is the notice, raised at at, that w's mtls certificate
// (subject, expiring at expires) will soon stop being accepted.
func CertificateExpiringNotice(w *Webhook, subject string, expires, at time.Time) Notice {
	at = at.UTC()
	return newNotice(NoticeCertificateExpiring, w.TenantID, w.ID, at, CertificateExpiringData{
		WebhookID: w.ID, TenantID: w.TenantID, URL: w.URL, Name: w.Name, Subject: subject, ExpiresAt: expires.UTC(),
	})
}

// SealAuth is how stores keep a webhook's auth: its JSON sealed with c, or nil (NULL)
// for none.
func SealAuth(c Cipher, a *EndpointAuth) ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	return c.Seal(raw)
}

// OpenAuth reverses SealAuth: nil for a nil (NULL) column.
func OpenAuth(c Cipher, sealed []byte) (*EndpointAuth, error) {
	if sealed == nil {
		return nil, nil
	}
	raw, err := c.Open(sealed)
	if err != nil {
		return nil, err
	}
	var a EndpointAuth
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	return &a, nil
}
