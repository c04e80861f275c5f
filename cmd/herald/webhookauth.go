package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/client"
)

// authFlags are the endpoint authentication flags of `webhooks create` and `update`.
type authFlags struct {
	auth                                       string
	tokenURL, clientID, clientSecret, audience string
	scopes                                     string
	cert, key                                  string
}

// register adds the flags to fs.
func (a *authFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.auth, "auth", "", "endpoint `auth`: basic:USER:PASSWORD, bearer:TOKEN, or none to remove it; a secret written @FILE is read from FILE, which keeps it out of ps and shell history")
	fs.StringVar(&a.tokenURL, "auth-oauth2-token-url", "", "OAuth2 client credentials: the token endpoint `URL`")
	fs.StringVar(&a.clientID, "auth-oauth2-client-id", "", "OAuth2 client credentials: the client `id`")
	fs.StringVar(&a.clientSecret, "auth-oauth2-client-secret", "", "OAuth2 client credentials: the client `secret`, or @FILE")
	fs.StringVar(&a.scopes, "auth-oauth2-scopes", "", "OAuth2 client credentials: `scopes`, comma-separated")
	fs.StringVar(&a.audience, "auth-oauth2-audience", "", "OAuth2 client credentials: an `audience` parameter, for providers that want one")
	fs.StringVar(&a.cert, "auth-mtls-cert", "", "mutual TLS: the client certificate, a PEM `file`")
	fs.StringVar(&a.key, "auth-mtls-key", "", "mutual TLS: the certificate's private key, a PEM `file`")
}

// authUsage is the flags as the usage lines show them.
const authUsage = "[--auth basic:USER:PASS|bearer:TOKEN|none] [--auth-oauth2-token-url U --auth-oauth2-client-id I --auth-oauth2-client-secret S [--auth-oauth2-scopes a,b] [--auth-oauth2-audience A]] [--auth-mtls-cert FILE --auth-mtls-key FILE]"

// request is the API's auth object for the flags given (given reports a flag set on
// the command line), or nil when none was. One method at a time.
func (a *authFlags) request(given func(string) bool) (*client.Auth, error) {
	oauth := given("auth-oauth2-token-url") || given("auth-oauth2-client-id") || given("auth-oauth2-client-secret") ||
		given("auth-oauth2-scopes") || given("auth-oauth2-audience")
	mtls := given("auth-mtls-cert") || given("auth-mtls-key")
	methods := 0
	for _, on := range []bool{given("auth"), oauth, mtls} {
		if on {
			methods++
		}
	}
	switch {
	case methods == 0:
		return nil, nil
	case methods > 1:
		return nil, errors.New("give one endpoint auth method: --auth, the --auth-oauth2-* flags, or --auth-mtls-cert and --auth-mtls-key")
	case oauth:
		secret, err := readSecret("--auth-oauth2-client-secret", a.clientSecret)
		if err != nil {
			return nil, err
		}
		req := client.OAuth2ClientCredentials(a.tokenURL, a.clientID, secret, splitEvents(a.scopes)...)
		req.Audience = a.audience
		return req, nil
	case mtls:
		if a.cert == "" || a.key == "" {
			return nil, errors.New("mutual TLS needs both --auth-mtls-cert FILE and --auth-mtls-key FILE")
		}
		cert, err := readPEM("--auth-mtls-cert", a.cert)
		if err != nil {
			return nil, err
		}
		key, err := readPEM("--auth-mtls-key", a.key)
		if err != nil {
			return nil, err
		}
		return client.MTLS(cert, key), nil
	}
	method, rest, _ := strings.Cut(a.auth, ":")
	switch herald.AuthType(method) {
	case herald.AuthNone:
		return client.NoAuth(), nil
	case herald.AuthBearer:
		token, err := readSecret("--auth bearer:", rest)
		if err != nil {
			return nil, err
		}
		return client.BearerAuth(token), nil
	case herald.AuthBasic:
		user, pass, ok := strings.Cut(rest, ":")
		if !ok || user == "" {
			return nil, errors.New("--auth basic: want basic:USER:PASSWORD (or basic:USER:@FILE)")
		}
		pass, err := readSecret("--auth basic password", pass)
		if err != nil {
			return nil, err
		}
		return client.BasicAuth(user, pass), nil
	}
	return nil, fmt.Errorf("--auth %q: want basic:USER:PASSWORD, bearer:TOKEN or none (OAuth2 and mTLS have flags of their own)", method)
}

// maxSecretFile bounds what readSecret and readPEM read.
const maxSecretFile = herald.MaxAuthPEM + 1

// readSecret returns v, or the content of file FILE for @FILE without its trailing
// newline.
func readSecret(what, v string) (string, error) {
	file, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v, nil
	}
	b, err := readFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func readPEM(what, file string) (string, error) {
	b, err := readFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return string(b), nil
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile))
	if err != nil {
		return nil, err
	}
	if len(b) >= maxSecretFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxSecretFile-1)
	}
	return b, nil
}

// showAuth is a webhook's auth in a line: the method and what identifies it.
func showAuth(a *client.Auth) string {
	if a == nil {
		return "none"
	}
	switch herald.AuthType(a.Type) {
	case herald.AuthBasic:
		return "basic, user " + cell(a.Username)
	case herald.AuthOAuth2:
		s := fmt.Sprintf("OAuth2 client credentials, client %s at %s", cell(a.ClientID), cell(a.TokenURL))
		if len(a.Scopes) > 0 {
			s += ", scopes " + cell(strings.Join(a.Scopes, " "))
		}
		return s
	case herald.AuthMTLS:
		s := "mutual TLS, " + cell(a.CertificateSubject)
		if a.CertificateExpiresAt != nil {
			s += ", certificate expires " + showTime(*a.CertificateExpiresAt)
		}
		return s
	}
	return a.Type
}
