package server

import (
	"errors"
	"net/http/pprof"

	"github.com/veil-media/veil/config"

	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/graph"
	"github.com/veil-media/veil/graph/model"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/metrics"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/renditions"
	"github.com/veil-media/veil/server/graphiql"
	"github.com/veil-media/veil/server/library"
	"github.com/veil-media/veil/upload"
)

// Config holds the HTTP settings.
type Config struct {
	// PublicURL is the external base URL of this server (VEIL_PUBLIC_URL), used in the URLs the
	// API hands out. Empty means relative URLs ("/media/…").
	PublicURL string
	// MaxRequestBytes caps a non-multipart request body (VEIL_MAX_REQUEST_BYTES, default 1 MiB).
	MaxRequestBytes int64
	// MaxUploadRequestBytes caps a multipart request (derived from the upload limits).
	MaxUploadRequestBytes int64
	// MaxComplexity caps a query's complexity, lists counted at their page size (default 5000).
	MaxComplexity int
	// Query bounds the shape of GraphQL documents, checked before validation.
	Query QueryLimits
	// MaxResponseBytes caps the data of one GraphQL response or subscription event
	// (VEIL_MAX_RESPONSE_BYTES, default 4 MiB).
	MaxResponseBytes int64
	// Introspection enables schema introspection (default true: GraphiQL needs it).
	Introspection bool
	// UploadTempDir holds upload parts spooled because they were read out of order
	// (VEIL_UPLOAD_TEMP_DIR, default the system's temporary folder).
	UploadTempDir string
	// UploadSpoolRequestMax caps the bytes one request may spool (VEIL_UPLOAD_SPOOL_REQUEST_MAX,
	// default 256 MiB); UploadSpoolMax caps the bytes all requests together may hold spooled at
	// once (VEIL_UPLOAD_SPOOL_MAX, default 1 GiB). Past either, the upload fails with
	// UPLOAD_SPOOL_LIMIT.
	UploadSpoolRequestMax int64
	UploadSpoolMax        int64
	// CORSOrigins lists origins allowed to call the API from a browser (VEIL_CORS_ORIGINS,
	// default none; "*" allows any).
	CORSOrigins []string
	// WebsocketInitTimeout closes a websocket that sends no connection_init in time (default 10s).
	WebsocketInitTimeout time.Duration
	// WebsocketKeepAlive is the interval of keep-alive messages on websockets and SSE streams
	// (default 15s).
	WebsocketKeepAlive time.Duration
	// WebsocketWriteTimeout is how long a websocket or server-sent-events write may wait for the
	// client to read before the stream is ended as stalled (default 10s): a subscriber that stops
	// reading is let go rather than held with its queue. Tests that drive a thousand clients on
	// two cores raise it.
	WebsocketWriteTimeout time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed when finding the
	// client address (VEIL_TRUSTED_PROXIES, default none: the TCP peer is the client).
	TrustedProxies []netip.Prefix
	// ReadinessCache is how long /readyz reuses its answer, so a busy load balancer does not turn
	// it into a storage benchmark (default 2s; negative: never reused, for tests).
	ReadinessCache time.Duration
}

// DefaultConfig returns defaults for everything but PublicURL.
func DefaultConfig() Config {
	return Config{MaxRequestBytes: 1 << 20, MaxComplexity: 5000, Introspection: true,
		Query: DefaultQueryLimits(), MaxResponseBytes: 4 << 20,
		WebsocketInitTimeout: 10 * time.Second, WebsocketKeepAlive: 15 * time.Second,
		WebsocketWriteTimeout: 10 * time.Second, UploadSpoolRequestMax: 256 << 20, UploadSpoolMax: 1 << 30}
}

// withStreamDefaults fills the stream timings and GraphQL limits a Config built by hand may leave
// zero.
func (c Config) withStreamDefaults() Config {
	def := DefaultConfig()
	if c.WebsocketInitTimeout <= 0 {
		c.WebsocketInitTimeout = def.WebsocketInitTimeout
	}
	if c.WebsocketKeepAlive <= 0 {
		c.WebsocketKeepAlive = def.WebsocketKeepAlive
	}
	if c.WebsocketWriteTimeout <= 0 {
		c.WebsocketWriteTimeout = def.WebsocketWriteTimeout
	}
	c.Query = c.Query.withDefaults()
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = def.MaxResponseBytes
	}
	if c.UploadSpoolRequestMax <= 0 {
		c.UploadSpoolRequestMax = def.UploadSpoolRequestMax
	}
	if c.UploadSpoolMax <= 0 {
		c.UploadSpoolMax = def.UploadSpoolMax
	}
	return c
}

// Validate names the offending setting.
func (c Config) Validate() error {
	var errs []error
	fail := func(field, format string, args ...any) { errs = append(errs, config.Errorf(field, format, args...)) }
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fail("PublicURL", "%q is not an absolute http(s) URL", c.PublicURL)
		} else if u.RawQuery != "" || u.Fragment != "" {
			fail("PublicURL", "%q must not have a query or fragment", c.PublicURL)
		}
	}
	if c.MaxRequestBytes < 1024 {
		fail("MaxRequestBytes", "%d is too small (at least 1024)", c.MaxRequestBytes)
	}
	if c.MaxComplexity < 10 {
		fail("MaxComplexity", "%d is too small (at least 10)", c.MaxComplexity)
	}
	if c.MaxResponseBytes < 1024 {
		fail("MaxResponseBytes", "%d is too small (at least 1024)", c.MaxResponseBytes)
	}
	if c.UploadSpoolRequestMax < 0 || c.UploadSpoolMax < 0 {
		fail("UploadSpoolMax", "must not be negative")
	}
	errs = append(errs, config.Within("Query", c.Query.Validate()))
	return errors.Join(errs...)
}

// Deps are the components the server serves.
type Deps struct {
	DB     *models.DB
	Media  *media.Service
	Auth   *auth.Service
	Logger *slog.Logger
}

// Server is Veil's HTTP handler.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	mux  *http.ServeMux
	// rendition is the rendition view, which routes calls before the mux (see renditionRoute).
	rendition http.HandlerFunc
	handler   http.Handler
	ready     *readiness
	urls      URLs
	// streams ends when CloseStreams is called; every subscription stream's context ends with it.
	streams      context.Context
	closeStreams context.CancelFunc
}

// New assembles the handler.
func New(cfg Config, deps Deps) *Server {
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withStreamDefaults()
	s := &Server{cfg: cfg, deps: deps, log: log, mux: http.NewServeMux(), urls: URLs{Base: cfg.PublicURL}}
	s.ready = newReadiness(deps.DB, deps.Media, log)
	if cfg.ReadinessCache != 0 {
		s.ready.cacheFor = cfg.ReadinessCache
	}
	s.streams, s.closeStreams = context.WithCancel(context.Background())

	gql := withGraphQLHeaders(s.graphQLHandler())
	s.mux.Handle("POST /graphql", gql)
	s.mux.Handle("GET /graphql", gql)
	page := graphiql.Handler() // embedded: works offline
	s.mux.Handle("GET /{$}", page)
	s.mux.Handle("GET /favicon.ico", page)
	s.mux.Handle("GET /graphiql/", page)
	s.mux.Handle("GET "+library.Prefix, library.Handler()) // the media library page, embedded
	s.mux.Handle(TusPath, s.tusHandler())                  // resumable uploads, every method
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /media/originals/{id}/{filename}", s.serveOriginal())
	s.mux.HandleFunc("GET /media/documents/{id}/{filename}", s.serveDocument())
	s.rendition = s.serveRendition()
	s.mux.HandleFunc("GET "+renditionsPrefix+"{id}/{token}/{segment}", s.rendition)
	s.mux.HandleFunc("PUT /staged-uploads/{id}", s.putStaged())
	s.handler = s.withRequest(s.withCORS(s.withAuth(http.HandlerFunc(s.route))))
	return s
}

// route hands a request to its view: a rendition URL straight to the rendition view when
// renditionRoute can read it (the hottest URLs, and the mux's match is a good part of their cost),
// everything else through the mux.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if _, ok := renditionRoute(r); ok {
		s.rendition(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// MetricsHandler serves the Prometheus metrics at /metrics. The main handler does not: metrics
// tell anyone who can fetch them how busy the server is and how many items are outdated, so they
// are served on their own listener (VEIL_METRICS_LISTEN, loopback by default), without
// authentication, for a scraper on the host or the private network.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(metrics.Gauges{
		Subscriptions: func() int {
			if b := s.deps.Media.Bus(); b != nil {
				return b.Subscribers()
			}
			return 0
		},
		Outdated: s.deps.Media.CountOutdated,
	}))
	// Profiles on demand, here only: a profile names code paths and costs CPU, nothing for the
	// public listener.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// CloseStreams ends every open subscription stream, and any opened later: server-sent-event
// responses finish with "event: complete", websockets close with 1000. Register it with
// http.Server.RegisterOnShutdown: Shutdown waits for active requests, and an SSE response stays
// active for as long as its client listens.
func (s *Server) CloseStreams() { s.closeStreams() }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// URLs builds the public URLs of media.
type URLs struct{ Base string }

// Absolute prefixes a server path with the public base URL; absolute URLs pass through.
func (u URLs) Absolute(path string) string {
	if !strings.HasPrefix(path, "/") {
		return path
	}
	return strings.TrimRight(u.Base, "/") + path
}

func (s *Server) graphQLHandler() http.Handler {
	cfg := graph.Config{Resolvers: &graph.Resolver{Media: s.deps.Media, Auth: s.deps.Auth, URLs: s.urls}}
	setComplexity(&cfg.Complexity)
	srv := handler.New(graph.NewExecutableSchema(cfg))
	srv.AddTransport(s.websocketTransport())
	srv.AddTransport(sseTransport{transport.SSE{KeepAlivePingInterval: s.cfg.WebsocketKeepAlive}, s.cfg.WebsocketWriteTimeout}) // SSE comments keep proxies from cutting idle streams
	srv.AddTransport(upload.Transport{
		MaxRequestBytes: s.cfg.MaxUploadRequestBytes,
		MaxFieldBytes:   s.cfg.MaxRequestBytes,
		TempDir:         s.cfg.UploadTempDir,
		MaxSpoolRequest: s.cfg.UploadSpoolRequestMax,
		Spool:           upload.NewSpoolBudget(s.cfg.UploadSpoolMax),
	})
	srv.AddTransport(graphQLHTTP{}) // GET, HEAD and JSON POST, after the streaming and multipart ones
	srv.AddTransport(transport.Options{AllowedMethods: []string{"OPTIONS", "GET", "HEAD", "POST"}})
	queryCache := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(queryCache)
	srv.SetParserTokenLimit(s.cfg.Query.MaxTokens)
	// Before the persisted-query extension: a refused document is never stored.
	srv.Use(documentLimit{limits: s.cfg.Query, cache: queryCache})
	if s.cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	srv.Use(&complexityLimit{limit: s.cfg.MaxComplexity, intro: lru.New[introCached](256)})
	srv.Use(responseLimit{max: s.cfg.MaxResponseBytes})
	srv.Use(unavailableStatus{})
	srv.Use(previewScope{}) // before subscriptionTransport: a preview token learns only that it is read-only
	srv.Use(subscriptionTransport{})
	srv.Use(uploadRollback{media: s.deps.Media, log: s.log})
	srv.Use(streamEndReport{})
	srv.Use(sseResume{})
	srv.SetErrorPresenter(errorPresenter(s.log))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		s.log.ErrorContext(ctx, "panic in resolver", "request_id", RequestID(ctx), "panic", p)
		return errorf("panic: %v", p) // becomes INTERNAL in the presenter
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) && !s.websocketOriginAllowed(r) {
			// Refused here, once: past this point both the upgrader and gqlgen would answer.
			writeGraphQLError(w, http.StatusForbidden, "FORBIDDEN", "websocket origin %q is not allowed (VEIL_CORS_ORIGINS)", r.Header.Get("Origin"))
			return
		}
		if isMultipart(r) {
			// Refused before a byte of the body is read, and the connection is closed rather
			// than drained: a refused upload costs its sender, not the server.
			v := auth.ViewerFrom(r.Context())
			switch {
			case !csrfSafe(r):
				w.Header().Set("Connection", "close")
				writeGraphQLError(w, http.StatusBadRequest, "CSRF_PROTECTION", "multipart requests must carry an Authorization header or Apollo-Require-Preflight: true (protection against cross-site uploads)")
				return
			case v.IsAnonymous():
				w.Header().Set("Connection", "close")
				w.Header().Set("WWW-Authenticate", `Bearer realm="veil"`)
				writeGraphQLError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "uploads need an API token (Authorization: Bearer <token>)")
				return
			case !v.MayUpload():
				w.Header().Set("Connection", "close")
				writeGraphQLError(w, http.StatusForbidden, "FORBIDDEN", "forbidden: you may not upload to any collection (ADD permission)")
				return
			}
		}
		if !isMultipart(r) && r.Method == http.MethodPost {
			if r.ContentLength > s.cfg.MaxRequestBytes {
				writeGraphQLError(w, http.StatusRequestEntityTooLarge, CodePayloadTooLarge, "the request body is larger than the limit of %d bytes", s.cfg.MaxRequestBytes)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes)
		}
		ctx := graph.WithLoaders(r.Context(), graph.NewLoaders(s.deps.Media, s.deps.Auth))
		ctx = s.withClientAddr(ctx, r)
		if isOneShot(r) {
			ctx = withOneShot(ctx)
		}
		if !isStream(r) {
			w, ctx = withUnavailableHint(ctx, w)
		}
		if isStream(r) {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			stop := context.AfterFunc(s.streams, cancel)
			defer stop()
			if websocket.IsWebSocketUpgrade(r) {
				ctx = context.WithValue(ctx, wsConnKey{}, &wsConnHolder{})
			} else if sess := auth.SessionFrom(ctx); sess != nil {
				// Server-sent events: a token revoked or expired while streaming ends the stream.
				go sess.Watch(ctx, func(error) { cancel() })
			}
		}
		r = r.WithContext(ctx)
		if isStream(r) && !websocket.IsWebSocketUpgrade(r) {
			w, r = withSSEResume(w, r)
		}
		srv.ServeHTTP(w, r)
	})
}

// isStream reports a request the SSE or websocket transport serves: it lasts until the client or
// CloseStreams ends it.
func isStream(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

func isMultipart(r *http.Request) bool {
	return strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "multipart/")
}

// setComplexity makes list fields cost their page size times their children, so a list-aware
// limit rejects nested pages before they run.
func setComplexity(c *graph.ComplexityRoot) {
	page := func(child int, first *int) int {
		n := media.DefaultPageSize
		if first != nil && *first > 0 {
			n = *first
		}
		return 1 + n*child
	}
	c.Query.Images = func(child int, first *int, _ *string, _ *model.MediaFilter) int { return page(child, first) }
	c.Query.Documents = func(child int, first *int, _ *string, _ *model.MediaFilter) int { return page(child, first) }
	c.Collection.Images = func(child int, first *int, _ *string, _ *model.MediaFilter) int { return page(child, first) }
	c.Collection.Documents = func(child int, first *int, _ *string, _ *model.MediaFilter) int { return page(child, first) }
	c.Query.Collections = func(child int) int { return 1 + 50*child }
	c.Query.AuditLog = func(child int, first *int, _ *string, _ *model.AuditFilter) int { return page(child, first) }
	c.Query.WebhookDeliveries = func(child int, _ string, first *int) int { return page(child, first) }
	// A srcset or a list of renditions holds one URL per spec, brace patterns expanded.
	c.Image.Renditions = func(child int, specs []string) int { return 1 + specCount(specs)*max(child, 1) }
	c.Image.Srcset = func(_ int, specs []string) int { return 1 + specCount(specs) }
}

// specCount is the number of renditions patterns name once expanded, counted up to the 50 the
// API accepts (an invalid pattern counts one: it is refused when resolved).
func specCount(patterns []string) int {
	const maxSpecs = 51
	n := 0
	for _, p := range patterns {
		if n >= maxSpecs {
			break
		}
		specs, _ := renditions.Expand(p)
		n += max(len(specs), 1)
	}
	return min(n, maxSpecs)
}
