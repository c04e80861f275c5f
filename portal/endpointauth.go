package portal

import (
	"net/url"
	"strings"

	"github.com/heraldhq/herald"
)

// authForm is the endpoint authentication part of the webhook form. Secrets are read
// from the form but never written back into it: a form shown again after a refusal
// asks for them again.
type authForm struct {
	// Type is the method chosen: "" to keep the current one (edit) or none (create),
	// "none", or a herald.AuthType.
	Type     string
	Current  *herald.PublicAuth // the webhook's auth when editing
	Username string
	TokenURL string
	ClientID string
	Scopes   string
	Audience string
}

// readAuthForm reads the auth fields of a posted webhook form: the form's values to
// show again, and the API's auth object, nil when the auth is to stay as it is.
func readAuthForm(form url.Values, editing bool) (authForm, map[string]any) {
	f := authForm{
		Type:     form.Get("auth_type"),
		Username: strings.TrimSpace(form.Get("auth_username")),
		TokenURL: strings.TrimSpace(form.Get("auth_token_url")),
		ClientID: strings.TrimSpace(form.Get("auth_client_id")),
		Scopes:   strings.TrimSpace(form.Get("auth_scopes")),
		Audience: strings.TrimSpace(form.Get("auth_audience")),
	}
	switch herald.AuthType(f.Type) {
	case "":
		return f, nil
	case herald.AuthNone:
		if !editing {
			return f, nil
		}
		return f, map[string]any{"type": "none"}
	case herald.AuthBasic:
		return f, map[string]any{"type": f.Type, "username": f.Username, "password": form.Get("auth_password")}
	case herald.AuthBearer:
		return f, map[string]any{"type": f.Type, "token": strings.TrimSpace(form.Get("auth_token"))}
	case herald.AuthOAuth2:
		a := map[string]any{"type": f.Type, "token_url": f.TokenURL, "client_id": f.ClientID,
			"client_secret": form.Get("auth_client_secret")}
		if scopes := strings.FieldsFunc(f.Scopes, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }); len(scopes) > 0 {
			a["scopes"] = scopes
		}
		if f.Audience != "" {
			a["audience"] = f.Audience
		}
		return f, a
	case herald.AuthMTLS:
		return f, map[string]any{"type": f.Type, "certificate": form.Get("auth_certificate"), "private_key": form.Get("auth_private_key")}
	}
	// An unknown method goes to the API, whose refusal says what the methods are.
	return f, map[string]any{"type": f.Type}
}

// authMethod names an auth method for people.
func authMethod(t herald.AuthType) string {
	switch t {
	case herald.AuthBasic:
		return "HTTP Basic"
	case herald.AuthBearer:
		return "Bearer token"
	case herald.AuthOAuth2:
		return "OAuth2 client credentials"
	case herald.AuthMTLS:
		return "Mutual TLS (client certificate)"
	}
	return string(t)
}
