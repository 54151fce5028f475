package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"cshub/internal/api"
	"cshub/internal/auth"
	"cshub/internal/bus"
	"cshub/internal/certs"
	"cshub/internal/collab"
	"cshub/internal/collab/webhook"
	"cshub/internal/correlation"
	"cshub/internal/feed"
	"cshub/internal/gather"
	"cshub/internal/hub"
	"cshub/internal/lookup"
	"cshub/internal/metrics"
	"cshub/internal/policy"
	"cshub/internal/ratelimit"
	"cshub/internal/schedule"
	"cshub/internal/search"
	"cshub/internal/snapshot"
	"cshub/internal/stream"
	"cshub/internal/taxii"
	"cshub/internal/warninglist"
	"cshub/internal/web"
)

// metricsTokenEnv names the environment variable holding the bearer token that clients other
// than loopback ones need to read /metrics.
const metricsTokenEnv = "CSHUB_METRICS_TOKEN"

// serveFlags are the flags of the commands that serve the hub (serve, demo).
type serveFlags struct {
	common
	addr         string
	tlsCert      string
	tlsKey       string
	insecureHTTP bool
	clientCerts  string
	clientCA     string
	guard        guardFlags
	commonAfter  int // correlation links: holders above which a value becomes a common-value node
}

func (f *serveFlags) register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
	IntVar(*int, string, int, string)
}) {
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8443", "`HOST:PORT` to listen on")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate `file` (PEM); default: a self-signed one made in the data directory")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS private key `file` (PEM), with --tls-cert")
	fs.BoolVar(&f.insecureHTTP, "insecure-http", false, "serve plain HTTP (only allowed on a loopback address)")
	fs.StringVar(&f.clientCerts, "client-certs", "", "client certificate mapping `file` (JSON rules: fingerprint or subject+issuer -> org, scope) for machine-to-machine clients")
	f.guard.register(fs)
	fs.StringVar(&f.clientCA, "client-ca", "", "CA certificates `file` (PEM) that client certificates mapped by subject and issuer must chain to, with --client-certs")
	fs.IntVar(&f.commonAfter, "common-value-after", correlation.DefaultCommonAfter, "a value held by more than `N` objects links them to one common-value node instead of to each other (0: the default)")
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "serve")
	var f serveFlags
	f.common.register(fs)
	f.register(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, e, &f.common, false)
	if err != nil {
		return err
	}
	defer a.close()
	return serve(ctx, e, a, &f, nil)
}

// serve runs the HTTP(S) server until ctx ends, then shuts it down gracefully. ready, when set,
// is called with the base URL once the listener is open.
func serve(ctx context.Context, e *env, a *app, f *serveFlags, ready func(url string)) error {
	host, _, err := net.SplitHostPort(f.addr)
	if err != nil {
		return hub.FieldError("addr", "%q is not HOST:PORT", f.addr)
	}
	if f.insecureHTTP && !isLoopback(host) {
		return hub.FieldError("insecure-http", "plain HTTP is only allowed on a loopback address, not %q", host)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return hub.FieldError("tls-cert", "--tls-cert and --tls-key go together")
	}
	clientCAs, err := clientCertificates(a, f)
	if err != nil {
		return err
	}
	if err := followKeyring(ctx, a); err != nil {
		return err
	}
	mx := metrics.NewHub()
	readiness := mx.Readiness(func(ctx context.Context) error { _, _, err := a.store.Keyring(ctx); return err })
	busEvents, err := a.bus.Subscribe(ctx, 0)
	if err != nil {
		return err
	}
	go mx.FollowBus(busEvents)
	streams := stream.New(stream.Config{Bus: a.bus, KB: a.kb, Dir: a.store, Log: a.log})
	// The indexes save their snapshots when their context ends, also when serve fails early,
	// and need the keyring for it: serve waits for them before it returns.
	indexCtx, stopIndexes := context.WithCancel(ctx)
	var saved []*snapshot.Follower
	defer func() {
		stopIndexes()
		for _, f := range saved {
			f.Wait()
		}
	}()
	lookups := lookup.New(a.kb, a.log)
	lookupsSaved, err := lookups.StartSaved(indexCtx, snapshotConfig(a, f.data, "lookup"))
	if err != nil {
		return err
	}
	saved = append(saved, lookupsSaved)
	a.log.Info("matching index loaded", "indicators", lookupsSaved.Objects, "resumed", lookupsSaved.Resumed)
	index, indexSaved, err := startSearch(indexCtx, a, f.data)
	if err != nil {
		return err
	}
	saved = append(saved, indexSaved)
	readiness.MarkLoaded()
	gatherer := gather.New(a.kb, nil)
	features := startGathering(ctx, a, gatherer, f.guard.guard())
	collabSvc, collabRoutes, linksSaved, err := startCollaboration(ctx, indexCtx, a, f)
	if err != nil {
		return err
	}
	saved = append(saved, linksSaved)
	features = append(features, collabRoutes...)
	exercises := startExercises(ctx, a)
	features = append(features, exercises)
	startPeerSync(ctx, a)
	feeds := feed.New(feed.Config{KB: a.kb, Dir: a.store, Warninglists: warninglist.Default(), Log: a.log})
	if err := feeds.Start(ctx, a.bus); err != nil {
		return err
	}
	features = append(features, feeds)
	apiSrv := api.New(api.Config{KB: a.kb, Gather: gatherer, Dir: a.store, Auth: a.auth, Log: a.log, Stream: streams, Lookup: lookups, Search: index, Admin: a.admin, Audit: a.audit, Features: features})
	webSrv, err := web.New(web.Config{KB: a.kb, Dir: a.store, Auth: a.auth, Sessions: a.sessions, Audit: a.audit, Log: a.log,
		Search: index, Gather: gatherer, Admin: a.admin, Keys: a.barrier, Stream: streams,
		Collab: collabSvc, Exercises: exercises, Policy: policy.New(a.kb), Feeds: feeds})
	if err != nil {
		return err
	}
	refsSaved, err := webSrv.StartSaved(indexCtx, snapshotConfig(a, f.data, "refs"))
	if err != nil {
		return err
	}
	saved = append(saved, refsSaved)
	mux := http.NewServeMux()
	mux.Handle("/api/", ratelimit.IdleBody(time.Minute, ratelimit.Middleware(ratelimit.DefaultConfig, apiSrv)))
	mux.Handle("/healthz", apiSrv)
	mux.Handle("GET /metrics", mx.Handler(e.getenv(metricsTokenEnv)))
	mux.Handle("GET /readyz", readiness)
	mux.Handle(taxii.DiscoveryPath, taxii.New(taxii.Config{KB: a.kb, Dir: a.store, Auth: a.auth, Log: a.log, Objects: a.store, Bus: a.bus, Audit: a.audit}))
	mux.Handle("/", webSrv)
	srv := &http.Server{
		Handler:        mx.Instrument(mux),
		MaxHeaderBytes: 64 << 10,
		// Bundles may be large and streams long-lived, so there is no overall read or write
		// timeout; slow clients are bounded by the header timeout and idle timeout.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	srv.RegisterOnShutdown(streams.Close) // Shutdown waits for handlers; streams end only when told
	scheme := "https"
	if f.insecureHTTP {
		scheme = "http"
	} else {
		var cert tls.Certificate
		if f.tlsCert != "" {
			cert, err = tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		} else {
			cert, err = certs.SelfSigned(filepath.Join(f.data, "tls"), host)
		}
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if f.clientCerts != "" {
			srv.TLSConfig = api.ClientCertTLS(srv.TLSConfig, clientCAs)
		}
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	url := fmt.Sprintf("%s://%s", scheme, ln.Addr())
	a.log.Info("serving", "url", url, "data", f.data)
	if ready != nil {
		ready(url)
	}
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	a.log.Info("stopped")
	return nil
}

// clientCertificates reads --client-certs and --client-ca and, when a mapping is given, gives
// the hub an authenticator that knows it. It returns the CA pool the TLS server verifies
// client chains against (nil: none given, certificates can then only be pinned by fingerprint).
func clientCertificates(a *app, f *serveFlags) (*x509.CertPool, error) {
	if f.clientCerts == "" {
		if f.clientCA != "" {
			return nil, hub.FieldError("client-ca", "needs --client-certs: the CAs only serve to verify mapped certificates")
		}
		return nil, nil
	}
	if f.insecureHTTP {
		return nil, hub.FieldError("client-certs", "client certificates need TLS; drop --insecure-http")
	}
	file, err := os.Open(f.clientCerts)
	if err != nil {
		return nil, hub.FieldError("client-certs", "%v", err)
	}
	defer file.Close()
	mapping, err := api.ReadCertRules(file)
	if err != nil {
		return nil, err
	}
	var pool *x509.CertPool
	if f.clientCA != "" {
		pem, err := os.ReadFile(f.clientCA)
		if err != nil {
			return nil, hub.FieldError("client-ca", "%v", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, hub.FieldError("client-ca", "%s holds no PEM certificate", f.clientCA)
		}
	}
	cfg := a.authConfig
	cfg.Certs, cfg.CertRoots = mapping, pool
	if a.auth, err = auth.New(cfg); err != nil {
		return nil, err
	}
	return pool, nil
}

// startCollaboration returns the collaboration service and its endpoints (sightings, notes, opinions, cases,
// correlations, webhooks), starts the correlation links (from their snapshot when they can,
// following the bus until indexCtx ends), and starts, on the one replica holding each lease,
// the correlation notices and the webhook deliveries.
func startCollaboration(ctx, indexCtx context.Context, a *app, f *serveFlags) (*collab.Service, []api.Routes, *snapshot.Follower, error) {
	if f.commonAfter < 0 {
		return nil, nil, nil, hub.FieldError("common-value-after", "must not be negative, not %d", f.commonAfter)
	}
	c := collab.New(collab.Config{KB: a.kb, Dir: a.store, Log: a.log, CommonAfter: f.commonAfter})
	links, err := c.StartLinksSaved(indexCtx, snapshotConfig(a, f.data, "links"))
	if err != nil {
		return nil, nil, nil, err
	}
	a.log.Info("correlation links loaded", "objects", links.Objects, "resumed", links.Resumed)
	hooks := webhook.New(a.kb, a.store, c, a.barrier, nil, webhook.Config{Log: a.log})
	if l, ok := a.bus.(bus.Leaser); ok {
		schedule.Every(ctx, l, "collab-correlations", time.Minute, func(held context.Context) error { return c.FollowCorrelations(held, a.bus) }, a.log)
		schedule.Every(ctx, l, "webhook-delivery", time.Minute, func(held context.Context) error { return hooks.Run(held, a.bus, 0) }, a.log)
	} else {
		a.log.Warn("no correlation notices or webhook deliveries: the bus grants no leases")
	}
	return c, []api.Routes{collab.Routes{S: c}, webhook.Routes{S: hooks}}, links, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// keyringPoll is how often a serving hub re-reads the keyring even without an announcement: a
// `cshub keys` run on a SQLite hub has no shared bus to announce its change on.
const keyringPoll = time.Minute

// followKeyring reloads the keyring whenever a replica announces a change, and every
// keyringPoll, so that a rotation takes effect and a destroyed workspace key leaves every
// replica's memory, not only the one that destroyed it.
func followKeyring(ctx context.Context, a *app) error {
	events, err := a.bus.Subscribe(ctx, 0)
	if err != nil {
		return err
	}
	go func() {
		tick := time.NewTicker(keyringPoll)
		defer tick.Stop()
		for {
			select {
			case e, ok := <-events:
				if !ok {
					return
				}
				if e.Kind != hub.EventKeys {
					continue
				}
			case <-tick.C:
			}
			if err := a.barrier.Reload(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("keyring reload failed", "err", err)
			}
		}
	}()
	return nil
}

// startSearch builds the full-text index, from its snapshot and the events since or from the
// sealed store, and keeps it current from the bus.
func startSearch(ctx context.Context, a *app, data string) (*search.Index, *snapshot.Follower, error) {
	start := time.Now()
	index, saved, err := search.StartSaved(ctx, snapshotConfig(a, data, "search"))
	if err != nil {
		return nil, nil, err
	}
	a.log.Info("search index loaded", "objects", index.Len(), "resumed", saved.Resumed, "took", time.Since(start).Round(time.Millisecond))
	return index, saved, nil
}

// snapshotConfig is where an in-memory index of this replica saves itself: in the replica's
// own data directory (replicas sharing PostgreSQL each have one), sealed by the keyring. With
// the in-process bus it saves nothing: that bus starts afresh with each process, so no
// snapshot could be resumed from, and the index is rebuilt from the store at every start.
func snapshotConfig(a *app, data, index string) snapshot.Config {
	c := snapshot.Config{Sealer: a.barrier, Bus: a.bus, KB: a.kb, Log: a.log}
	if _, inProcess := a.bus.(*bus.Bus); !inProcess {
		c.Path = filepath.Join(data, "snapshots", index)
	}
	return c
}
