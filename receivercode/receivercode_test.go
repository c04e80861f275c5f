package receivercode_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/receivercode"
)

// TestRenderNamesTheFormatsHeadersAndKey checks what a reader of each receiver must
// find in it; examples/ runs them against real deliveries.
func TestRenderNamesTheFormatsHeadersAndKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		format herald.Format
		want   []string // in every language's code
		absent []string
	}{
		{herald.FormatInfraAudit, []string{"X-InfraAudit-Signature", "whsec_ included"}, []string{"webhook-signature", "base64"}},
		{herald.FormatFrugally, []string{"X-Frugally-Signature", "whsec_ included"}, []string{"webhook-signature", "base64"}},
		{herald.FormatStandard, []string{"webhook-signature", "webhook-timestamp", "base64 after"}, []string{"Signature-Next", "whsec_ included"}},
	}
	for _, c := range cases {
		g, err := receivercode.Render(receivercode.Webhook{Format: c.format})
		if err != nil {
			t.Fatalf("Render(%s): %v", c.format, err)
		}
		rs := g.Receivers
		if len(rs) != len(receivercode.Languages) {
			t.Fatalf("Render(%s) gave %d receivers, want one per language", c.format, len(rs))
		}
		for _, r := range rs {
			code := strings.ReplaceAll(r.Code, `"whsec_"`, "whsec_")
			for _, w := range c.want {
				if r.Language == receivercode.Node {
					w = strings.Replace(w, "X-InfraAudit-Signature", "x-infraaudit-signature", 1)
					w = strings.Replace(w, "X-Frugally-Signature", "x-frugally-signature", 1)
				}
				if !strings.Contains(code, w) {
					t.Errorf("%s receiver of %s lacks %q", r.Label, c.format, w)
				}
			}
			for _, a := range c.absent {
				if strings.Contains(code, a) {
					t.Errorf("%s receiver of %s mentions %q, which is another format's", r.Label, c.format, a)
				}
			}
			if !strings.Contains(r.Code, "WEBHOOK_SECRET") || strings.Contains(r.Code, "{{") || strings.Contains(r.Code, "<no value>") {
				t.Errorf("%s receiver of %s is not rendered whole:\n%s", r.Label, c.format, r.Code)
			}
		}
	}
}

func TestRenderEd25519IsGoOnly(t *testing.T) {
	t.Parallel()
	g, err := receivercode.Render(receivercode.Webhook{Format: herald.FormatStandard, Signing: herald.SigningEd25519})
	if err != nil {
		t.Fatal(err)
	}
	rs := g.Receivers
	if len(rs) != 1 || rs[0].Language != receivercode.Go || !strings.Contains(rs[0].Code, "whpk_") {
		t.Errorf("ed25519 gave %d receivers, want the Go one, taking the whpk_ key", len(rs))
	}
	for _, w := range []receivercode.Webhook{
		{Format: "soap"},
		{Format: herald.FormatFrugally, Signing: herald.SigningEd25519},
		{Format: herald.FormatStandard, Signing: "rsa"},
	} {
		if _, err := receivercode.Render(w); herald.ErrorCode(err) != herald.EINVALID {
			t.Errorf("Render(%+v) = %v, want EINVALID", w, err)
		}
	}
}
