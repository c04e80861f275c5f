package herald_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/storetest"
)

var authNow = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

// certAndKey is a self-signed PEM certificate for cn valid until notAfter, and its key.
func certAndKey(t testing.TB, cn string, notAfter time.Time, rsaKey bool) (string, string) {
	t.Helper()
	var pub, priv any
	if rsaKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv = &k.PublicKey, k
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv = &k.PublicKey, k
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}))
}

func TestEndpointAuthValidate(t *testing.T) {
	t.Parallel()
	cert, key := certAndKey(t, "ok", authNow.Add(30*24*time.Hour), false)
	rsaCert, rsaKey := certAndKey(t, "rsa", authNow.Add(30*24*time.Hour), true)
	_, otherKey := certAndKey(t, "other", authNow.Add(30*24*time.Hour), false)
	oldCert, oldKey := certAndKey(t, "old", authNow.Add(-time.Hour), false)
	oauth := func(f func(a *herald.EndpointAuth)) herald.EndpointAuth {
		a := herald.EndpointAuth{Type: herald.AuthOAuth2, TokenURL: "https://idp.example/token", ClientID: "c", ClientSecret: "s"}
		f(&a)
		return a
	}
	for _, tc := range []struct {
		name string
		a    herald.EndpointAuth
		want string // "" for valid, else a part of the error
	}{
		{"basic", herald.EndpointAuth{Type: herald.AuthBasic, Username: "u", Password: "p"}, ""},
		{"bearer", herald.EndpointAuth{Type: herald.AuthBearer, Token: "abc.def-ghi"}, ""},
		{"oauth2", oauth(func(a *herald.EndpointAuth) { a.Scopes = []string{"read:x"}; a.Audience = "api" }), ""},
		{"mtls ecdsa", herald.EndpointAuth{Type: herald.AuthMTLS, Certificate: cert, PrivateKey: key}, ""},
		{"mtls rsa", herald.EndpointAuth{Type: herald.AuthMTLS, Certificate: rsaCert, PrivateKey: rsaKey}, ""},
		{"no type", herald.EndpointAuth{Token: "x"}, "auth.type is required"},
		{"unknown type", herald.EndpointAuth{Type: "digest"}, `"digest" is not known`},
		{"none is not stored", herald.EndpointAuth{Type: herald.AuthNone}, "not known"},
		{"basic without user", herald.EndpointAuth{Type: herald.AuthBasic, Password: "p"}, "auth.username is required"},
		{"basic user with colon", herald.EndpointAuth{Type: herald.AuthBasic, Username: "a:b", Password: "p"}, "colon"},
		{"basic password with newline", herald.EndpointAuth{Type: herald.AuthBasic, Username: "a", Password: "p\r\nX: y"}, "control"},
		{"bearer with space", herald.EndpointAuth{Type: herald.AuthBearer, Token: "Bearer x"}, "spaces"},
		{"bearer too long", herald.EndpointAuth{Type: herald.AuthBearer, Token: strings.Repeat("t", herald.MaxAuthSecret+1)}, "at most"},
		{"bearer with a foreign field", herald.EndpointAuth{Type: herald.AuthBearer, Token: "t", Username: "u"}, "auth.username does not belong"},
		{"oauth2 relative url", oauth(func(a *herald.EndpointAuth) { a.TokenURL = "/token" }), "auth.token_url"},
		{"oauth2 url with credentials", oauth(func(a *herald.EndpointAuth) { a.TokenURL = "https://u:p@idp/t" }), "credentials"},
		{"oauth2 empty scope", oauth(func(a *herald.EndpointAuth) { a.Scopes = []string{""} }), "auth.scopes"},
		{"oauth2 too many scopes", oauth(func(a *herald.EndpointAuth) { a.Scopes = make([]string, 33) }), "at most 32"},
		{"mtls garbage", herald.EndpointAuth{Type: herald.AuthMTLS, Certificate: "x", PrivateKey: key}, "not PEM"},
		{"mtls key as cert", herald.EndpointAuth{Type: herald.AuthMTLS, Certificate: key, PrivateKey: key}, "CERTIFICATE block"},
		{"mtls wrong key", herald.EndpointAuth{Type: herald.AuthMTLS, Certificate: cert, PrivateKey: otherKey}, "not the key"},
		{"mtls key not PEM", herald.EndpointAuth{Type: herald.AuthMTLS, Certificate: cert, PrivateKey: "nope"}, "auth.private_key is not PEM"},
		{"mtls expired", herald.EndpointAuth{Type: herald.AuthMTLS, Certificate: oldCert, PrivateKey: oldKey}, "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.a.Validate(authNow)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v, want valid", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Validate accepted it, want an error saying %q", tc.want)
			case tc.want != "" && (herald.ErrorCode(err) != herald.EINVALID || !strings.Contains(herald.ErrorMessage(err), tc.want)):
				t.Fatalf("Validate: %v (%s), want EINVALID saying %q", err, herald.ErrorCode(err), tc.want)
			}
		})
	}
}

func TestEndpointAuthPublicVersionAndSeal(t *testing.T) {
	t.Parallel()
	expires := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	cert, key := certAndKey(t, "client", expires, false)
	a := &herald.EndpointAuth{Type: herald.AuthMTLS, Certificate: cert, PrivateKey: key}
	p := a.Public()
	if p.CertificateExpiresAt == nil || !p.CertificateExpiresAt.Equal(expires) || p.CertificateSubject != "CN=client" {
		t.Fatalf("Public = %+v, want the certificate's expiry %s and subject", p, expires)
	}
	for _, secretful := range []*herald.EndpointAuth{a,
		{Type: herald.AuthBasic, Username: "u", Password: "pw-secret"},
		{Type: herald.AuthBearer, Token: "tok-secret"},
		{Type: herald.AuthOAuth2, TokenURL: "https://i/t", ClientID: "c", ClientSecret: "cs-secret"}} {
		raw, _ := json.Marshal(secretful.Public())
		for _, s := range []string{"pw-secret", "tok-secret", "cs-secret", "PRIVATE KEY", "CERTIFICATE"} {
			if strings.Contains(string(raw), s) {
				t.Errorf("Public of %s shows %q: %s", secretful.Type, s, raw)
			}
		}
	}
	var none *herald.EndpointAuth
	if none.Public() != nil || none.Version() != "" {
		t.Error("a nil auth has a public view or a version")
	}

	b := &herald.EndpointAuth{Type: herald.AuthBasic, Username: "u", Password: "one"}
	v1 := b.Version()
	b.Password = "two"
	if v2 := b.Version(); v1 == v2 || strings.Contains(v2, "two") {
		t.Errorf("versions %q and %q: a changed password must change the version and not show in it", v1, v2)
	}

	sealed, err := herald.SealAuth(storetest.Cipher{}, b)
	if err != nil || strings.Contains(string(sealed), "two") {
		t.Fatalf("SealAuth: %v; sealed value must not hold the password", err)
	}
	opened, err := herald.OpenAuth(storetest.Cipher{}, sealed)
	if err != nil || opened.Password != "two" || opened.Version() != b.Version() {
		t.Fatalf("OpenAuth = %+v, %v; want the auth sealed", opened, err)
	}
	if s, err := herald.SealAuth(storetest.Cipher{}, nil); s != nil || err != nil {
		t.Errorf("SealAuth(nil) = %v, %v; want NULL", s, err)
	}
}

// FuzzEndpointAuthValidate: whatever a caller sends, Validate answers without
// panicking, with nil or EINVALID.
func FuzzEndpointAuthValidate(f *testing.F) {
	cert, key := certAndKey(f, "fuzz", authNow.Add(time.Hour), false)
	f.Add("mtls", cert, key, "")
	f.Add("mtls", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", key, "")
	f.Add("basic", "u", "p", "")
	f.Add("oauth2_client_credentials", "https://i/t", "c", "s")
	f.Fuzz(func(t *testing.T, typ, a, b, c string) {
		as := []herald.EndpointAuth{
			{Type: herald.AuthType(typ), Certificate: a, PrivateKey: b},
			{Type: herald.AuthType(typ), Username: a, Password: b},
			{Type: herald.AuthType(typ), TokenURL: a, ClientID: b, ClientSecret: c, Scopes: []string{c}},
			{Type: herald.AuthType(typ), Token: a},
		}
		for _, x := range as {
			if err := x.Validate(authNow); err != nil && herald.ErrorCode(err) != herald.EINVALID {
				t.Fatalf("Validate: %v with code %s, want EINVALID", err, herald.ErrorCode(err))
			}
			_ = x.Public()
		}
	})
}
