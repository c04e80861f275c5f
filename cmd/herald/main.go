// Command herald runs the Herald webhook delivery service.
//
//	herald serve      run the API and the dispatcher (see herald serve -h)
//	herald migrate … migrate-store … backup … rotate-encryption-key …
//	                  the database: PostgreSQL migrations, SQLite to PostgreSQL, backups,
//	                  re-sealing secrets under a new encryption key
//	herald bench      measure Herald's performance on this machine (see BENCHMARKS.md)
//	herald version    print the version
//	herald webhooks … deliveries … events … event-types … trigger … tenants …
//	                  API client commands for a running server (see herald help)
//	herald sign … verify … listen …
//	                  tools for the receiving side: sign, check and watch deliveries
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldhq/herald"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

const usage = `Herald delivers webhooks: signed, retried, logged.

Usage:
  herald serve [flags]   run the API and the dispatcher on SQLite or PostgreSQL
  herald migrate --database-url postgres://…
                         apply the PostgreSQL schema's migrations (serve does it too)
  herald migrate-store --from herald-data/herald.db --to postgres://…
                         copy everything from SQLite into an empty PostgreSQL database
  herald backup --output FILE [--data-dir DIR]
                         copy the SQLite database to FILE while the server runs
  herald rotate-encryption-key --encryption-key NEW --previous-encryption-keys OLD
                         re-seal every webhook secret under a new key (on PostgreSQL while
                         servers run; on SQLite with the server stopped)
  herald bench [--short] measure this machine: throughput, CPU, latency, backlog, isolation
  herald version         print the version

Run 'herald serve -h' for the flags; each has a HERALD_* environment variable.

API client, for a running server:
  herald webhooks COMMAND     list, create, get, update, delete, test, rotate-secret, deliveries
  herald deliveries COMMAND   get, retry
  herald events COMMAND       publish, get
  herald event-types list     list the event catalog
  herald trigger TYPE         publish the catalog's sample of TYPE
  herald tenants rotate-key ID [--grace 1h]
                              give a tenant a new API key (admin or the tenant's own key)

For receivers:
  herald sign --format F --secret S < body        print the signature headers of a body
  herald verify --format F --secret S --header 'Name: value'... < body
                                                  check a received request, say what is wrong
  herald listen --format F --secret S [--forward-to URL]
                                                  a local receiver that prints every delivery

The API client commands take --server URL (HERALD_SERVER, default http://127.0.0.1:8080),
--api-key KEY (HERALD_API_KEY) and -o table|json; run 'herald webhooks -h' and the like
for more.
`

// run dispatches to a subcommand. Tests call it in-process. -h on any command prints its
// usage and is no error: the usage is what was asked for.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return helpIsNoError(runCommand(ctx, args, stdout, stderr, getenv))
}

// runCommand runs the subcommand args name.
func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr, getenv)
	case "migrate":
		return migrate(ctx, args[1:], stdout, stderr, getenv)
	case "migrate-store":
		return migrateStore(ctx, args[1:], stdout, stderr)
	case "backup":
		return backup(ctx, args[1:], stdout, stderr, getenv)
	case "rotate-encryption-key":
		return rotateEncryptionKey(ctx, args[1:], stdout, stderr, getenv)
	case "webhooks":
		return runWebhooks(ctx, args[1:], stdout, stderr, getenv)
	case "deliveries":
		return runDeliveries(ctx, args[1:], stdout, stderr, getenv)
	case "events":
		return runEvents(ctx, args[1:], stdout, stderr, getenv)
	case "event-types":
		return runEventTypes(ctx, args[1:], stdout, stderr, getenv)
	case "trigger":
		return runTrigger(ctx, args[1:], stdout, stderr, getenv)
	case "tenants":
		return runTenants(ctx, args[1:], stdout, stderr, getenv)
	case "sign":
		return sign(args[1:], stdin, stdout, stderr)
	case "verify":
		return verify(args[1:], stdin, stdout, stderr)
	case "listen":
		return listen(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr, getenv)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "herald", herald.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
