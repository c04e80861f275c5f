package httpapi

import (
	"context"
	"net/url"

	"github.com/heraldhq/herald"
)

// authRequest is a webhook's auth as written. Its secrets are never returned: reads
// show herald.PublicAuth.
type authRequest struct {
	Type         herald.AuthType `json:"type" enum:"none,basic,bearer,oauth2_client_credentials,mtls" doc:"How Herald authenticates to the endpoint, besides signing: basic, bearer, oauth2_client_credentials, mtls; none removes it"`
	Username     string          `json:"username,omitempty" maxLength:"256" doc:"basic: the user name (no colon)"`
	Password     string          `json:"password,omitempty" maxLength:"4096" doc:"basic: the password; sealed at rest, never returned"`
	Token        string          `json:"token,omitempty" maxLength:"4096" doc:"bearer: the token, sent as Authorization: Bearer <token>; sealed at rest, never returned"`
	TokenURL     string          `json:"token_url,omitempty" maxLength:"2048" doc:"oauth2_client_credentials: the token endpoint (http or https), called through the egress guard and proxy" example:"https://auth.example.com/oauth2/token"`
	ClientID     string          `json:"client_id,omitempty" maxLength:"512" doc:"oauth2_client_credentials: the client id"`
	ClientSecret string          `json:"client_secret,omitempty" maxLength:"4096" doc:"oauth2_client_credentials: the client secret; sealed at rest, never returned"`
	Scopes       []string        `json:"scopes,omitempty" maxItems:"32" doc:"oauth2_client_credentials: scopes to ask for"`
	Audience     string          `json:"audience,omitempty" maxLength:"1024" doc:"oauth2_client_credentials: an audience parameter for the token request, for providers that want one"`
	Certificate  string          `json:"certificate,omitempty" maxLength:"65536" doc:"mtls: the client certificate, PEM, leaf first then any intermediates; its expiry is shown and a notice goes out 14 days before"`
	PrivateKey   string          `json:"private_key,omitempty" maxLength:"65536" doc:"mtls: the certificate's unencrypted private key, PEM (PKCS#8, PKCS#1 or SEC 1); sealed at rest, never returned"`
}

// checkAuth turns an auth request into the webhook's auth: nil for none. Every refusal
// is a 422 naming the field to fix.
func (s *server) checkAuth(ctx context.Context, req *authRequest) (*herald.EndpointAuth, error) {
	a := &herald.EndpointAuth{
		Type: req.Type, Username: req.Username, Password: req.Password, Token: req.Token,
		TokenURL: req.TokenURL, ClientID: req.ClientID, ClientSecret: req.ClientSecret,
		Scopes: req.Scopes, Audience: req.Audience, Certificate: req.Certificate, PrivateKey: req.PrivateKey,
	}
	if a.Type == herald.AuthNone {
		if a.Version() != (&herald.EndpointAuth{Type: herald.AuthNone}).Version() {
			return nil, invalid("auth", "auth of type none takes no other fields: it removes the webhook's auth")
		}
		return nil, nil
	}
	if err := a.Validate(s.clock.Now()); err != nil {
		return nil, invalidField("auth", err)
	}
	if a.Type == herald.AuthOAuth2 {
		if err := s.urls.CheckURL(ctx, a.TokenURL); err != nil {
			return nil, invalid("auth.token_url", "auth.token_url cannot be used: %s", herald.ErrorMessage(err))
		}
	}
	return a, nil
}

// checkAuthFits refuses an auth the webhook's URL cannot carry: a client certificate
// only goes over TLS.
func checkAuthFits(w *herald.Webhook) error {
	if w.Auth != nil && herald.DestinationOf(w.URL).IsBroker() {
		return invalid("auth", "auth is for http(s) endpoints: a broker's credentials go in its url (user:password@), which Herald seals")
	}
	if w.Auth == nil || w.Auth.Type != herald.AuthMTLS {
		return nil
	}
	if u, err := url.Parse(w.URL); err != nil || u.Scheme != "https" {
		return invalid("auth", "auth of type mtls needs an https url: a client certificate is only presented over TLS")
	}
	return nil
}
