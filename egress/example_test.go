package egress_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/heraldhq/herald/egress"
)

func ExampleGuard_CheckURL() {
	g := &egress.Guard{} // AllowPrivate false, as Herald starts by default
	err := g.CheckURL(context.Background(), "http://169.254.169.254/latest/meta-data/")
	fmt.Println(err)
	// Output: url resolves to 169.254.169.254, a cloud metadata address; Herald refuses private, loopback, link-local and metadata addresses unless started with --allow-private-networks
}

func ExampleGuard_Transport() {
	g := &egress.Guard{AllowPrivate: false}
	client := &http.Client{
		Transport: g.Transport(),
		// Herald never follows redirects; the guard would check them anyway.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	_ = client // deliver with client.Do
}
