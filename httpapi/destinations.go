package httpapi

import (
	"context"
	"net/url"

	"github.com/heraldhq/herald"
)

// checkBrokerURL refuses a broker destination URL that names no subject, stream or
// topic (see herald.ValidateBrokerURL), or whose host the egress guard refuses, as it
// would refuse an HTTP endpoint's: loopback and private addresses only with
// --allow-private-networks.
func (s *server) checkBrokerURL(ctx context.Context, raw string) error {
	if err := herald.ValidateBrokerURL(raw); err != nil {
		return invalidField("url", err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("url", "url is not valid") // ValidateBrokerURL parsed it
	}
	// The guard checks http(s) URLs; the host and port are what it judges.
	if err := s.urls.CheckURL(ctx, "http://"+herald.BrokerAddress(u)+"/"); err != nil {
		if herald.ErrorCode(err) == herald.EINTERNAL {
			return invalid(err.Error(), "url cannot be used as a destination")
		}
		return invalidField("url", err)
	}
	return nil
}
