package notice

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldhq/herald"
)

// certificateSetting names the store setting that records that the expiry notice about
// one certificate of one webhook went out: created once (Store.CreateSetting), so of
// any number of processes and restarts exactly one sends it. A new certificate, with
// another expiry, gets a notice of its own.
func certificateSetting(webhookID string, expires time.Time) string {
	return fmt.Sprintf("notice.certificate_expiring.%s.%d", webhookID, expires.Unix())
}

// CheckCertificates raises a webhook.certificate_expiring notice, once per webhook and
// certificate, for every mtls webhook whose client certificate expires within
// herald.CertExpiryNotice of now (or has expired), and returns how many it raised.
func (s *Sender) CheckCertificates(ctx context.Context) (int, error) {
	now := s.cfg.Clock.Now()
	raised := 0
	for page := 1; ; page++ {
		ws, total, err := s.cfg.Store.Webhooks(ctx, herald.WebhookFilter{Page: page, PerPage: 100})
		if err != nil {
			return raised, fmt.Errorf("check client certificates: %w", err)
		}
		for i := range ws {
			w := &ws[i]
			if w.Auth == nil || w.Auth.Type != herald.AuthMTLS {
				continue
			}
			leaf, err := w.Auth.Leaf()
			if err != nil || leaf.NotAfter.Sub(now) > herald.CertExpiryNotice {
				continue
			}
			err = s.cfg.Store.CreateSetting(ctx, certificateSetting(w.ID, leaf.NotAfter), []byte(now.UTC().Format(time.RFC3339)))
			if herald.ErrorCode(err) == herald.ECONFLICT {
				continue // told already
			}
			if err != nil {
				return raised, fmt.Errorf("check client certificates: %w", err)
			}
			s.Notify(ctx, herald.CertificateExpiringNotice(w, leaf.Subject.String(), leaf.NotAfter, now))
			raised++
		}
		if page*100 >= total || len(ws) == 0 {
			return raised, nil
		}
	}
}

// WatchCertificates runs CheckCertificates now and then every interval until ctx ends,
// logging what fails; wake is called after a check that raised notices, so the
// dispatcher sends them to the operator webhook at once.
func (s *Sender) WatchCertificates(ctx context.Context, every time.Duration, wake func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.CheckCertificates(ctx)
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.ErrorContext(ctx, "check client certificates", "err", err)
		}
		if n > 0 && wake != nil {
			wake()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
