package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/bench"
	"github.com/heraldhq/herald/catalog"
	"github.com/heraldhq/herald/destination"
	"github.com/heraldhq/herald/dispatch"
	"github.com/heraldhq/herald/egress"
	"github.com/heraldhq/herald/httpapi"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/portal"
	"github.com/heraldhq/herald/postgres"
	"github.com/heraldhq/herald/secretbox"
	"github.com/heraldhq/herald/sqlite"
	"github.com/heraldhq/herald/wire"
)

// serveConfig is everything `herald serve` is configured with.
type serveConfig struct {
	addr           string
	dataDir        string
	databaseURL    string
	adminKey       string
	format         string
	allowPrivate   bool
	egressProxy    string
	proxyURL       *url.URL // egressProxy, parsed
	retrySchedule  string
	attemptTimeout time.Duration
	encryptionKey  string
	previousKeys   string
	catalogDir     string
	concurrency    int
	perWebhook     int
	pollInterval   time.Duration
	logFormat      string
	logLevel       string
	notices        noticeConfig
	retention      retentionConfig
	apiRateLimit   float64
	adminRateLimit float64
	metricsToken   string
	metricsPublic  bool
	maxWebhooks    int
	portal         portalConfig
	dev            bool
	ingest         ingestFlag
	ingestSources  []*ingest.Source
}

func parseServe(args []string, stderr io.Writer, getenv func(string) string) (*serveConfig, error) {
	c := &serveConfig{}
	fs := flag.NewFlagSet("herald serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to serve the API on")
	fs.StringVar(&c.dataDir, "data-dir", "./herald-data", "directory for the SQLite database and the generated encryption key")
	fs.StringVar(&c.databaseURL, "database-url", "", "SQLite file path (default <data-dir>/herald.db) or postgres:// URL")
	fs.StringVar(&c.adminKey, "admin-key", "", "admin API key; generated and printed once on first start when unset")
	fs.StringVar(&c.format, "format", string(herald.FormatStandard), "default format of new webhooks: standard, infraaudit or frugally")
	fs.BoolVar(&c.allowPrivate, "allow-private-networks", false, "allow endpoints on loopback, private, link-local and metadata addresses")
	fs.StringVar(&c.egressProxy, "egress-proxy", "", "forward proxy `URL` (http://host:port) every outbound request goes through: deliveries, OAuth2 token requests, the operator webhook; https by CONNECT (see README)")
	fs.StringVar(&c.retrySchedule, "retry-schedule", "", "retry delays for every format, e.g. 1s,2s,5s (default: each format's own)")
	fs.DurationVar(&c.attemptTimeout, "attempt-timeout", 0, "timeout of one attempt for every format (default: each format's own)")
	fs.StringVar(&c.encryptionKey, "encryption-key", "", "32-byte key (base64 or hex) sealing secrets at rest (default: generated into <data-dir>/encryption.key)")
	fs.StringVar(&c.previousKeys, "previous-encryption-keys", "", "comma-separated keys that open secrets but never seal them, during a key rotation (see herald rotate-encryption-key -h)")
	fs.StringVar(&c.catalogDir, "catalog-dir", "", "directory of <type>.json schema files to add to the event catalog")
	fs.IntVar(&c.concurrency, "concurrency", 128, "attempts in flight at once in this process")
	fs.IntVar(&c.perWebhook, "per-webhook-concurrency", 8, "attempts in flight to one webhook at once in this process")
	fs.DurationVar(&c.pollInterval, "poll-interval", time.Second, "how often to look for due retries")
	fs.StringVar(&c.logFormat, "log-format", "auto", "log format: json, text, or auto (text on a terminal)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.Float64Var(&c.apiRateLimit, "api-rate-limit", 100, "requests per second each tenant key may make, in bursts of twice that; 429 with Retry-After beyond it; a client address sending invalid keys gets a tenth of it; 0 turns both off. Per process: N processes allow N times it")
	fs.Float64Var(&c.adminRateLimit, "admin-rate-limit", 0, "requests per second the admin key may make, in bursts of twice that; 0 (the default) is unlimited, because the admin key is the producer's publishing key and POST /api/v1/events/batch is the high-rate path")
	fs.StringVar(&c.metricsToken, "metrics-token", "", "a bearer token that may read /metrics besides the admin key, for Prometheus (see README)")
	fs.BoolVar(&c.metricsPublic, "metrics-public", false, "serve /metrics without a key; by default it needs the admin key or --metrics-token, since its counters show every tenant's volumes")
	fs.BoolVar(&c.dev, "dev", false, "development mode, for trying Herald with a receiver on this machine: endpoints on loopback and private networks are allowed, the server listens on loopback only, and it prints an export line for the CLI with an admin key kept in <data-dir>/"+devKeyFile+". Never in production")
	fs.IntVar(&c.maxWebhooks, "max-webhooks-per-tenant", 100, "most webhooks one tenant may have (409 beyond it); the default tenant, the admin's own, is exempt; 0 is no limit")
	fs.Var(&c.ingest, "ingest", "publish the events of a queue: nats://host:4222/subject, amqp://user:pass@host:5672/vhost?queue=q or redis://host:6379/0?stream=s&group=g, each with ?dead=name for its dead letters (default <name>.dead); repeat the flag, or separate URLs with commas (see README, Ingest)")
	c.notices.flags(fs)
	c.retention.flags(fs)
	c.portal.flags(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if !herald.Format(c.format).Valid() {
		return nil, fmt.Errorf("--format %q: want standard, infraaudit or frugally", c.format)
	}
	if err := c.retention.validate(); err != nil {
		return nil, err
	}
	if err := c.portal.validate(); err != nil {
		return nil, err
	}
	if c.dev {
		if !loopbackAddr(c.addr) {
			return nil, fmt.Errorf("--dev allows endpoints on this machine and private networks, so it listens on loopback only: --addr %q is not a loopback address (try 127.0.0.1:8080)", c.addr)
		}
		c.allowPrivate = true
	}
	if c.egressProxy != "" {
		u, err := egress.ParseProxy(c.egressProxy)
		if err != nil {
			return nil, fmt.Errorf("--egress-proxy: %w", err)
		}
		c.proxyURL = u
	}
	var err error
	if c.ingestSources, err = c.ingest.sources(); err != nil {
		return nil, fmt.Errorf("--ingest: %w", err)
	}
	if c.maxWebhooks < 0 {
		return nil, fmt.Errorf("--max-webhooks-per-tenant must be 0 (no limit) or more, not %d", c.maxWebhooks)
	}
	if c.metricsToken != "" && len(c.metricsToken) < 16 {
		return nil, errors.New("--metrics-token must be at least 16 characters")
	}
	if !(c.apiRateLimit >= 0) || !(c.adminRateLimit >= 0) || math.IsInf(c.apiRateLimit+c.adminRateLimit, 0) {
		return nil, fmt.Errorf("--api-rate-limit and --admin-rate-limit must be a number of requests per second, 0 or more")
	}
	return c, nil
}

// serve runs the API and the dispatcher until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := parseServe(args, stderr, getenv)
	if err != nil {
		return err
	}
	logger, err := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	if err != nil {
		return err
	}
	defer startCPUProfile(getenv(bench.CPUProfileEnv), logger)() // off unless set; see cpuprofile.go

	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	unlock, err := lockSQLite(cfg)
	if err != nil {
		return err
	}
	defer unlock() // last, once the store is closed
	cipher, err := openCipher(cfg)
	if err != nil {
		return err
	}
	store, notifier, err := openStore(ctx, cfg, cipher)
	if err != nil {
		return err
	}
	defer store.Close()
	store, storeOps := instrumentStore(store)
	if err := checkEncryptionKey(ctx, store, cipher); err != nil {
		return err
	}

	adminKeyHash, generated, err := adminKey(ctx, store, cfg.adminKey, stdout)
	if err != nil {
		return err
	}
	var devKey string
	if cfg.dev {
		if devKey, err = devAdminKey(cfg.dataDir, adminKeyHash, cfg.adminKey, generated); err != nil {
			return err
		}
	}
	if err := ensureDefaultTenant(ctx, store); err != nil {
		return err
	}
	cat, err := openCatalog(ctx, store, cfg.catalogDir)
	if err != nil {
		return err
	}
	policies, err := policies(cfg)
	if err != nil {
		return err
	}

	tracerProvider, stopTracing, err := setupTracing(ctx, getenv, logger)
	if err != nil {
		return err
	}
	defer stopTracing() // after the dispatcher has ended its last attempt's span

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		storeOps, newBacklogCollector(store, herald.SystemClock{}, logger))
	guard := &egress.Guard{AllowPrivate: cfg.allowPrivate}
	notices, err := newNoticeSender(ctx, &cfg.notices, store, guard, logger, stdout)
	if err != nil {
		return err
	}
	// Broker connections dial through the guard as HTTP endpoints do; they are closed
	// once the dispatcher and the API (which sends test attempts) have stopped.
	brokers := destination.New(guard.DialContext)
	dispatcher := dispatch.New(dispatch.Config{
		Store:        store,
		Notifier:     notifier,
		Policies:     policies,
		Client:       &http.Client{Transport: outboundTransport(guard, cfg.proxyURL)},
		Brokers:      brokers,
		Concurrency:  cfg.concurrency,
		PerWebhook:   cfg.perWebhook,
		PollInterval: cfg.pollInterval,
		Logger:       logger,
		Metrics:      registry,
		Notices:      notices.Notify,

		TracerProvider: tracerProvider,
	})
	api := httpapi.New(httpapi.Config{
		Store:         store,
		Catalog:       cat,
		Dispatcher:    dispatcher,
		URLs:          guard,
		AdminKeyHash:  adminKeyHash,
		DefaultFormat: herald.Format(cfg.format),
		Clock:         herald.SystemClock{},
		Logger:        logger,
		Version:       herald.Version,
		Metrics:       registry,
		Notices:       notices.Notify,
		RateLimits: httpapi.RateLimits{
			Tenant: cfg.apiRateLimit, Admin: cfg.adminRateLimit, AuthFailures: cfg.apiRateLimit / 10,
		},
		MetricsToken:         cfg.metricsToken,
		MetricsPublic:        cfg.metricsPublic,
		MaxWebhooksPerTenant: cfg.maxWebhooks,
		PublicURL:            cfg.portal.publicURL,

		TracerProvider: tracerProvider,
	})

	web, err := portal.New(portal.Config{API: api, Store: store, AdminKeyHash: adminKeyHash,
		Wake: dispatcher.Wake, Logger: logger, FrameAncestors: cfg.portal.frameAncestors, Branding: cfg.portal.branding})
	if err != nil {
		return err
	}
	// The API keeps its paths; the portal has every other, from / down.
	handler := http.NewServeMux()
	for _, path := range []string{"/api/", "/healthz", "/readyz", "/metrics", "/openapi.json"} {
		handler.Handle(path, api)
	}
	handler.Handle("/", web)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	server := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second, // a test or retry waits for one attempt
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(stdout, "Herald %s listening on http://%s (store: %s)\n", herald.Version, ln.Addr(), storeName(cfg))
	if cfg.dev {
		devBanner(stdout, "http://"+ln.Addr().String(), devKey)
	}
	logger.Info("serving", "addr", ln.Addr().String(), "owner", dispatcher.Owner(), "allow_private_networks", cfg.allowPrivate,
		"egress_proxy", cfg.egressProxy != "")

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error { return dispatcher.Run(gctx) })
	g.Go(func() error { return notices.Run(gctx) })
	g.Go(func() error { notices.WatchCertificates(gctx, time.Hour, dispatcher.Wake); return nil })
	g.Go(func() error { return runRetention(gctx, &cfg.retention, store, logger) })
	if len(cfg.ingestSources) > 0 {
		ingester, err := ingest.New(ingest.Config{
			Publisher: httpapi.NewPublisher(httpapi.Config{Store: store, Catalog: cat, Dispatcher: dispatcher,
				Clock: herald.SystemClock{}, Logger: logger, Metrics: registry, TracerProvider: tracerProvider}),
			Logger:  logger,
			Metrics: registry,
		}, cfg.ingestSources)
		if err != nil {
			return err
		}
		g.Go(func() error { return ingester.Run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		logger.Info("shutting down: no new work; finishing attempts in flight")
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return server.Shutdown(shutdownCtx)
	})
	err = g.Wait()
	if cerr := brokers.Close(); cerr != nil {
		logger.Warn("closing broker connections", "error", cerr)
	}
	logger.Info("stopped")
	return err
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json, text or auto", format)
}

func openCipher(cfg *serveConfig) (*secretbox.Box, error) {
	var key []byte
	var err error
	switch {
	case cfg.encryptionKey != "":
		key, err = secretbox.ParseKey(cfg.encryptionKey)
	case isPostgres(cfg.databaseURL):
		// Every process sharing the database must seal with one key; a key generated
		// into each one's data directory would make their secrets unreadable to the others.
		return nil, errors.New("on PostgreSQL every process needs the same --encryption-key (HERALD_ENCRYPTION_KEY): 32 bytes as base64 or hex, e.g. from `openssl rand -base64 32`")
	default:
		key, err = secretbox.LoadOrCreateKey(filepath.Join(cfg.dataDir, "encryption.key"))
	}
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	return newKeyring(key, cfg.previousKeys)
}

// encryptionCheckSetting holds a value sealed with the encryption key, to tell at start
// whether the key is the one the database's secrets were sealed with.
const encryptionCheckSetting = "encryption_key_check"

// checkEncryptionKey refuses to start with a key that did not seal this database's
// secrets, rather than fail every delivery later.
func checkEncryptionKey(ctx context.Context, store herald.Store, cipher herald.Cipher) error {
	mine, err := cipher.Seal([]byte("herald"))
	if err != nil {
		return err
	}
	// The first process to start on a database sets the check value; every other one,
	// even one starting at the same moment, must open it.
	err = store.CreateSetting(ctx, encryptionCheckSetting, mine)
	if herald.ErrorCode(err) != herald.ECONFLICT {
		return err
	}
	// Any key of the ring must open it (mid-rotation, a previous key does). Only
	// rotate-encryption-key seals it again, once every secret is re-sealed: were each
	// starting server to re-seal it with its own key, a server left on the old key
	// would make the new key alone look wrong, and a rollback before the rotation would
	// look wrong too.
	return openCheckValue(ctx, store, cipher)
}

// isPostgres reports whether a --database-url names PostgreSQL.
func isPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

func storeName(cfg *serveConfig) string {
	if isPostgres(cfg.databaseURL) {
		return "postgres"
	}
	return "sqlite " + sqlitePath(cfg)
}

func sqlitePath(cfg *serveConfig) string {
	if cfg.databaseURL == "" {
		return filepath.Join(cfg.dataDir, "herald.db")
	}
	return strings.TrimPrefix(strings.TrimPrefix(cfg.databaseURL, "sqlite://"), "sqlite:")
}

// lockSQLite takes the SQLite database's data directory for this process (see
// sqlite.LockDir) and returns what lets it go; on PostgreSQL it does nothing. serve
// holds it for its whole life, and so do the commands that must not write beside a
// server, which then refuse to start while one runs.
func lockSQLite(cfg *serveConfig) (unlock func(), err error) {
	if isPostgres(cfg.databaseURL) {
		return func() {}, nil
	}
	return lockSQLiteFile(sqlitePath(cfg))
}

// lockSQLiteFile is lockSQLite for the SQLite database file at path.
func lockSQLiteFile(path string) (unlock func(), err error) {
	lock, err := sqlite.LockDir(path)
	if err != nil {
		return nil, err
	}
	return func() { _ = lock.Unlock() }, nil // the process is ending; the OS drops the lock anyway
}

// openStore opens the configured store. The notifier is how processes sharing it tell
// each other of new work: the PostgreSQL store itself, which several processes may
// serve; nil for SQLite, which one process owns.
func openStore(ctx context.Context, cfg *serveConfig, cipher herald.Cipher) (store herald.Store, notifier herald.Notifier, err error) {
	if isPostgres(cfg.databaseURL) {
		pg, err := postgres.Open(ctx, cfg.databaseURL, cipher)
		if err != nil {
			return nil, nil, fmt.Errorf("open store: %w", err)
		}
		return pg, pg, nil
	}
	store, err = sqlite.Open(ctx, sqlitePath(cfg), cipher)
	if err != nil {
		return nil, nil, fmt.Errorf("open store: %w", err)
	}
	return store, nil, nil
}

// adminKeySetting holds the hash of the generated admin key.
const adminKeySetting = "admin_key_hash"

// adminKey returns the hash of the admin key: the configured one, or the one generated
// on first start, which is printed to stdout this once (and returned as generated) and
// only its hash is kept. A configured key replaces the generated one for as long as it
// is configured, which is how a lost generated key is replaced.
func adminKey(ctx context.Context, store herald.Store, configured string, stdout io.Writer) (hash []byte, generated string, err error) {
	if configured != "" {
		if len(configured) < 16 {
			return nil, "", errors.New("--admin-key must be at least 16 characters")
		}
		return herald.HashKey(configured), "", nil
	}
	// Only the process whose key is stored first prints it: processes starting at once
	// on one database must not each announce a key of their own.
	key := herald.NewAPIKey(herald.PrefixAdminKey)
	err = store.CreateSetting(ctx, adminKeySetting, herald.HashKey(key))
	switch herald.ErrorCode(err) {
	case "":
		fmt.Fprintf(stdout, "\nAdmin API key (shown once, keep it safe): %s\n\n", key)
		return herald.HashKey(key), key, nil
	case herald.ECONFLICT:
		hash, err := store.Setting(ctx, adminKeySetting)
		if err != nil {
			return nil, "", fmt.Errorf("read admin key: %w", err)
		}
		return hash, "", nil
	}
	return nil, "", fmt.Errorf("store admin key: %w", err)
}

// devKeyFile is where --dev keeps the admin key it generated, in the data directory and
// readable by its owner only, so that every start can print a ready-to-paste export
// line. Only --dev writes or reads it.
const devKeyFile = "dev-admin.key"

// devAdminKey returns the admin key for --dev's export line: the configured one; or the
// one generated now, which it keeps in devKeyFile; or else the one kept there, if it is
// still the admin key; "" when none of these.
func devAdminKey(dataDir string, hash []byte, configured, generated string) (string, error) {
	file := filepath.Join(dataDir, devKeyFile)
	switch {
	case configured != "":
		return configured, nil // the operator has it: nothing to keep
	case generated != "":
		if err := os.WriteFile(file, []byte(generated+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("--dev: keep the admin key: %w", err)
		}
		return generated, nil
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("--dev: read the admin key: %w", err)
	}
	kept := strings.TrimSpace(string(data))
	if subtle.ConstantTimeCompare(herald.HashKey(kept), hash) != 1 {
		return "", nil // a key replaced since, by --admin-key
	}
	return kept, nil
}

// devBanner says, on stdout, that --dev is on and what it allows, and prints the export
// line that points the CLI at this server with the admin key.
func devBanner(w io.Writer, serverURL, key string) {
	fmt.Fprintf(w, `
  ┌─ DEVELOPMENT MODE (--dev) ──────────────────────────────────────────────
  │ Endpoints on this machine (localhost, 127.0.0.1) and on private networks
  │ are allowed; the server listens on loopback only.
  │ Never use --dev in production: without it such endpoints are refused,
  │ so that no webhook can reach your internal services.
  └─────────────────────────────────────────────────────────────────────────
`)
	if key == "" {
		fmt.Fprintf(w, `
Paste this into the shell you run herald commands in, with the admin key printed when
this data directory was first used (lost it? see "Lost the admin key" in the README):

    export HERALD_SERVER=%s HERALD_API_KEY=<admin key>

`, serverURL)
		return
	}
	fmt.Fprintf(w, `
Paste this into the shell you run herald commands in (--dev keeps the key in the
data directory's %s, so every start prints this line):

    export HERALD_SERVER=%s HERALD_API_KEY=%s

Then open %s in a browser and sign in with that key, or try: herald webhooks list

`, devKeyFile, serverURL, key, serverURL)
}

// loopbackAddr reports whether a listen address is on loopback only: localhost or a
// loopback IP, with a port.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ensureDefaultTenant creates the tenant that owns what the admin creates without a
// tenant_id. Its API key is random and never shown: the admin key acts for it.
func ensureDefaultTenant(ctx context.Context, store herald.Store) error {
	_, err := store.Tenant(ctx, herald.DefaultTenantID)
	if herald.ErrorCode(err) != herald.ENOTFOUND {
		return err
	}
	t := &herald.Tenant{ID: herald.DefaultTenantID, Name: "Default", CreatedAt: time.Now().UTC()}
	err = store.CreateTenant(ctx, t, herald.HashKey(herald.NewAPIKey(herald.PrefixTenantKey)))
	if herald.ErrorCode(err) == herald.ECONFLICT {
		return nil // another process sharing the database made it first
	}
	return err
}

// openCatalog returns the built-in event types plus the custom ones added through the
// API (kept in the store) and those in the catalog directory.
func openCatalog(ctx context.Context, store herald.Store, dir string) (*catalog.Catalog, error) {
	custom, err := store.EventTypes(ctx)
	if err != nil {
		return nil, fmt.Errorf("read custom event types: %w", err)
	}
	cat, err := catalog.New(custom...)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if dir != "" {
		if _, err := cat.LoadDir(dir); err != nil {
			return nil, fmt.Errorf("--catalog-dir: %w", err)
		}
	}
	return cat, nil
}

// policies applies --retry-schedule and --attempt-timeout to every format's defaults.
func policies(cfg *serveConfig) (map[herald.Format]wire.Policy, error) {
	var schedule []time.Duration
	if cfg.retrySchedule != "" {
		var err error
		if schedule, err = wire.ParseSchedule(cfg.retrySchedule); err != nil {
			return nil, fmt.Errorf("--retry-schedule: %w", err)
		}
	}
	out := make(map[herald.Format]wire.Policy, len(herald.Formats))
	for _, f := range herald.Formats {
		p := wire.DefaultPolicy(f)
		if schedule != nil {
			p.Schedule = schedule
		}
		if cfg.attemptTimeout > 0 {
			p.Timeout = cfg.attemptTimeout
		}
		out[f] = p
	}
	return out, nil
}

// outboundTransport is the transport of every outbound HTTP request: through the egress
// proxy when one is set, else straight through the guard.
func outboundTransport(guard *egress.Guard, proxy *url.URL) *http.Transport {
	if proxy == nil {
		return guard.Transport()
	}
	return guard.ProxyTransport(proxy)
}
