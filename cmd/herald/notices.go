package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/egress"
	"github.com/heraldhq/herald/notice"
)

// noticeConfig is how `herald serve` tells its operator and webhook owners about
// webhooks disabled and enabled and deliveries out of retries.
type noticeConfig struct {
	opsWebhookURL    string
	opsWebhookSecret string
	opsWebhookFormat string
	smtpURL          string
	smtpFrom         string
}

func (c *noticeConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.opsWebhookURL, "ops-webhook-url", "", "endpoint that receives Herald's notices (webhook.disabled, webhook.enabled, delivery.exhausted) as webhooks")
	fs.StringVar(&c.opsWebhookSecret, "ops-webhook-secret", "", "secret of the operator webhook; generated and printed once on first start when unset")
	fs.StringVar(&c.opsWebhookFormat, "ops-webhook-format", string(herald.FormatStandard), "format of the operator webhook: standard, infraaudit or frugally")
	fs.StringVar(&c.smtpURL, "smtp-url", "", "smtp://user:password@host:port to email notices to each tenant's notify_email (port 587 by default)")
	fs.StringVar(&c.smtpFrom, "smtp-from", "", "From address of notice emails")
}

// newNoticeSender makes the operator webhook match the configuration (printing its
// secret when it generated one) and returns the Sender that delivers notices. wake
// tells the dispatcher a notice was published.
func newNoticeSender(ctx context.Context, c *noticeConfig, store herald.Store, guard *egress.Guard, logger *slog.Logger, stdout io.Writer) (*notice.Sender, error) {
	cfg := notice.Config{Store: store, Logger: logger}
	if c.opsWebhookURL != "" {
		format := herald.Format(c.opsWebhookFormat)
		if !format.Valid() {
			return nil, fmt.Errorf("--ops-webhook-format %q: want standard, infraaudit or frugally", c.opsWebhookFormat)
		}
		if err := guard.CheckURL(ctx, c.opsWebhookURL); err != nil {
			return nil, fmt.Errorf("--ops-webhook-url: %s", herald.ErrorMessage(err))
		}
		secret, err := notice.EnsureOpsWebhook(ctx, store, notice.OpsWebhook{
			URL: c.opsWebhookURL, Format: format, Secret: c.opsWebhookSecret,
		}, time.Now().UTC())
		if err != nil {
			return nil, err
		}
		if secret != "" {
			fmt.Fprintf(stdout, "\nOperator webhook secret (shown once, keep it safe): %s\n\n", secret)
		}
		cfg.OpsWebhookID = notice.OpsWebhookID
	} else if c.opsWebhookSecret != "" {
		return nil, errors.New("--ops-webhook-secret needs --ops-webhook-url")
	}
	if c.smtpURL != "" {
		mail, err := notice.ParseMail(c.smtpURL, c.smtpFrom)
		if err != nil {
			return nil, fmt.Errorf("--smtp-url: %w", err)
		}
		cfg.Mail = mail
	} else if c.smtpFrom != "" {
		return nil, errors.New("--smtp-from needs --smtp-url")
	}
	return notice.New(cfg)
}
