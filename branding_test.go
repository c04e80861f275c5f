package herald_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald"
)

func TestBrandingValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		b     herald.Branding
		field string // "" for valid
	}{
		{"empty", herald.Branding{}, ""},
		{"full", herald.Branding{Name: "Acme", Color: "#0B5CAD", LogoURL: "https://cdn.example.com/a.png?v=1"}, ""},
		{"short colour", herald.Branding{Color: "#0a7"}, ""},
		{"png data logo", herald.Branding{LogoURL: "data:image/png;base64,iVBORw0KGgo="}, ""},
		{"colour name", herald.Branding{Color: "red"}, "branding.color"},
		{"colour escaping css", herald.Branding{Color: "#fff;}body{display:none"}, "branding.color"},
		{"http logo", herald.Branding{LogoURL: "http://cdn.example.com/a.png"}, "branding.logo_url"},
		{"javascript logo", herald.Branding{LogoURL: "javascript:alert(1)"}, "branding.logo_url"},
		{"svg data logo", herald.Branding{LogoURL: "data:image/svg+xml;base64,PHN2Zz4="}, "branding.logo_url"},
		{"html data logo", herald.Branding{LogoURL: "data:text/html,<script>alert(1)</script>"}, "branding.logo_url"},
		{"quote in logo", herald.Branding{LogoURL: `https://cdn.example.com/a.png"onerror="x`}, "branding.logo_url"},
		{"logo with credentials", herald.Branding{LogoURL: "https://u:p@cdn.example.com/a.png"}, "branding.logo_url"},
		{"huge logo", herald.Branding{LogoURL: "data:image/png;base64," + strings.Repeat("A", herald.MaxLogoURLLen)}, "branding.logo_url"},
		{"long name", herald.Branding{Name: strings.Repeat("n", herald.MaxBrandNameLen+1)}, "branding.name"},
		{"control in name", herald.Branding{Name: "Acme\nInc"}, "branding.name"},
	} {
		err := c.b.Validate()
		var he *herald.Error
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: %v, want valid", c.name, err)
		case c.field != "" && (err == nil || herald.ErrorCode(err) != herald.EINVALID):
			t.Errorf("%s: %v, want EINVALID on %s", c.name, err, c.field)
		case c.field != "" && asError(err, &he) && he.Details != c.field:
			t.Errorf("%s: error names %q, want %q", c.name, he.Details, c.field)
		}
	}
}

func asError(err error, target **herald.Error) bool {
	e, ok := err.(*herald.Error)
	*target = e
	return ok
}

func TestBrandingOverAndLogoOrigin(t *testing.T) {
	t.Parallel()
	install := herald.Branding{Name: "Acme", Color: "#111", LogoURL: "https://CDN.example.com/logo.png"}
	got := herald.Branding{Color: "#222"}.Over(install)
	if got != (herald.Branding{Name: "Acme", Color: "#222", LogoURL: install.LogoURL}) {
		t.Errorf("Over = %+v", got)
	}
	if o := got.LogoOrigin(); o != "https://cdn.example.com" {
		t.Errorf("LogoOrigin = %q, want https://cdn.example.com", o)
	}
	if o := (herald.Branding{LogoURL: "data:image/png;base64,AA=="}).LogoOrigin(); o != "" {
		t.Errorf("a data: logo's origin = %q, want none", o)
	}
}

func TestValidateReturnURL(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"":                                     true,
		"https://app.example.com/settings":     true,
		"http://localhost:3000/settings":       true,
		"javascript:alert(1)":                  false,
		"data:text/html,hi":                    false,
		"/settings":                            false,
		"//evil.example/":                      false,
		"https://user:pw@app.example.com/":     false,
		"https://app.example.com/\n":           false,
		"https://" + strings.Repeat("a", 2100): false,
	} {
		if err := herald.ValidateReturnURL(s); (err == nil) != want {
			t.Errorf("ValidateReturnURL(%q) = %v, want valid %v", s, err, want)
		}
	}
}
