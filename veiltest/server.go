package veiltest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"testing"

	"github.com/veil-media/veil/app"
	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/purge"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/storage"
)

// Server is a real Veil HTTP server (httptest) over a real database and bucket.
type Server struct {
	URL   string
	DB    *models.DB
	Store *storage.Store
	Media *media.Service
	Auth  *auth.Service
	// Events is the outbox the server records its events in.
	Events *events.Outbox
	// App is the whole instance (its bus, background workers, shutdown).
	App *app.App
	// Token is sent as "Authorization: Bearer <Token>" by every helper; NewServer sets it to an
	// admin's token. "" sends no Authorization (the anonymous viewer). See As.
	Token string
	// AdminToken is the token of the admin NewServer created.
	AdminToken string
	HTTP       *httptest.Server
	// MetricsURL is the base URL of the server's metrics listener (GET MetricsURL+"/metrics"):
	// the main handler does not serve /metrics.
	MetricsURL string
	// Logs holds everything the server logged (JSON lines).
	Logs *LockedBuffer
	t    testing.TB
}

// ServerOptions change the defaults of NewServer. Zero values mean: a fileblob bucket in a temp
// dir, media.DefaultConfig, server.DefaultConfig, proxy-only.
type ServerOptions struct {
	StorageURL string
	Media      *media.Config
	Server     *server.Config
	Auth       *auth.Config
	// ACL, when set, is the file-permission driver (e.g. storage.NewMemACL); nil is proxy-only
	// unless StorageACL names a strategy to detect on the bucket, as VEIL_STORAGE_ACL does.
	ACL        media.PermissionSetter
	StorageACL string
	// ProxyReason is the reason reported for proxy-only (default "VEIL_STORAGE_ACL=none").
	ProxyReason string
	// Purger, when set, is called after every privacy change; PurgeBaseURL is the external base
	// URL it purges serve views under (VEIL_PUBLIC_URL in production).
	Purger       purge.Purger
	PurgeBaseURL string
	// Listener, when set, is where the server listens (a test that must know the address before
	// the server exists, e.g. for a cache in front of it).
	Listener net.Listener
	// NoRetryLoop leaves out the background permission retry loop (see app.Options.NoRetryLoop).
	NoRetryLoop bool
	// Wrap, when set, wraps the server's handler (e.g. to count SQL statements per request).
	Wrap func(http.Handler) http.Handler
	// WrapStore, when set, replaces the opened bucket by the one it returns (e.g. NewFaultyStore);
	// Server.Store is the replacement.
	WrapStore func(*storage.Store) *storage.Store
	// Events, when set, configures the event outbox (relay interval, retention, clock).
	Events *events.Config
	// Webhooks configures webhook deliveries; nil allows private addresses (test receivers
	// listen on 127.0.0.1).
	Webhooks *events.WebhookConfig
}

// NewServer starts Veil over db, built by app.New exactly as `veil serve` builds it, background
// workers included. The server and the bucket are closed at the end of the test.
func NewServer(t testing.TB, db *models.DB, opts *ServerOptions) *Server {
	t.Helper()
	if opts == nil {
		opts = &ServerOptions{}
	}
	ctx := context.Background()
	cfg := app.Defaults()
	cfg.MetricsListen = ""
	cfg.Storage.URL = opts.StorageURL
	if cfg.Storage.URL == "" {
		cfg.Storage.URL = "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "media"))
	}
	cfg.StorageACL = "none"
	if opts.StorageACL != "" {
		cfg.StorageACL = opts.StorageACL
	}
	if opts.Media != nil {
		cfg.Media = *opts.Media
	}
	if opts.Server != nil {
		cfg.Server = *opts.Server
	}
	if opts.Auth != nil {
		cfg.Auth = *opts.Auth
	}
	if opts.Events != nil {
		cfg.Events = *opts.Events
	}
	cfg.Webhooks = events.WebhookConfig{AllowPrivate: true}
	if opts.Webhooks != nil {
		cfg.Webhooks = *opts.Webhooks
	}
	if cfg.Server.MaxUploadRequestBytes == 0 {
		cfg.Server.MaxUploadRequestBytes = max(cfg.Media.MaxImageBytes, cfg.Media.MaxDocumentBytes) + 4<<20
	}
	logs := &LockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(ctx, cfg, &app.Options{Logger: log, DB: db, ACL: opts.ACL, ProxyReason: opts.ProxyReason, Purger: opts.Purger, PurgeBaseURL: opts.PurgeBaseURL, NoRetryLoop: opts.NoRetryLoop, WrapStore: opts.WrapStore})
	if err != nil {
		t.Fatalf("veiltest: start veil: %v", err)
	}
	a.Start(ctx)
	// The start's reconciliation pass ends before the test begins: it would otherwise race what
	// the test does with staged uploads, pending records and debris (it removes what is stale).
	<-a.Reconciled()
	t.Cleanup(func() {
		if err := a.Shutdown(context.Background()); err != nil {
			t.Errorf("veiltest: shutdown: %v", err)
		}
	})
	admin, err := a.Auth.CreateAdmin(ctx, "Test Admin", "admin@test.invalid", "tests")
	if err != nil {
		t.Fatalf("veiltest: create admin: %v", err)
	}
	handler := a.Handler()
	if opts.Wrap != nil {
		handler = opts.Wrap(handler)
	}
	ts := httptest.NewUnstartedServer(handler)
	if opts.Listener != nil {
		ts.Listener.Close()
		ts.Listener = opts.Listener
	}
	ts.Config.RegisterOnShutdown(a.CloseStreams)
	ts.Start()
	t.Cleanup(ts.Close)
	ms := httptest.NewServer(a.MetricsHandler())
	t.Cleanup(ms.Close)
	return &Server{URL: ts.URL, DB: a.DB, Store: a.Store, Media: a.Media, Auth: a.Auth, Events: a.Events, App: a, Token: admin, AdminToken: admin, HTTP: ts, MetricsURL: ms.URL, Logs: logs, t: t}
}

// As returns a copy of s whose helpers send token ("" = anonymous).
func (s *Server) As(token string) *Server {
	c := *s
	c.Token = token
	return &c
}

// GQLError is one GraphQL error.
type GQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Response is a GraphQL response with its HTTP status.
type Response struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []GQLError      `json:"errors"`
	Header http.Header
	Raw    []byte
}

// Code returns the extensions.code of the first error, or "".
func (r Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// Decode unmarshals data into v, failing the test on errors in the response.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("graphql errors: %s", r.Raw)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

// GraphQL POSTs a JSON GraphQL request.
func (s *Server) GraphQL(query string, vars map[string]any) Response {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return s.Do(req)
}

func (s *Server) authorize(req *http.Request) {
	if s.Token != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
}

// Do sends a request and parses a GraphQL response.
func (s *Server) Do(req *http.Request) Response {
	s.t.Helper()
	s.authorize(req)
	resp, err := s.HTTP.Client().Do(req)
	if err != nil {
		s.t.Fatalf("veiltest: %s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if err := json.Unmarshal(raw, &r); err != nil {
		s.t.Fatalf("veiltest: response is not JSON (%d): %.500s", resp.StatusCode, raw)
	}
	return r
}

// Part is one file of a multipart upload.
type Part struct {
	Filename    string
	ContentType string // "" lets the test decide nothing: no Content-Type header on the part
	Body        io.Reader
}

// FilePart opens a file as a Part named after its base name, with no claimed type.
func FilePart(t testing.TB, path string) Part {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return Part{Filename: filepath.Base(path), Body: f}
}

// MultipartRequest builds a GraphQL multipart request; files maps variable paths
// ("variables.input.file") to parts, sent in the order given by paths.
func (s *Server) MultipartRequest(query string, vars map[string]any, paths []string, files map[string]Part) *http.Request {
	s.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		ops, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		_ = mw.WriteField("operations", string(ops))
		m := map[string][]string{}
		for i, p := range paths {
			m[fmt.Sprint(i)] = []string{p}
		}
		mj, _ := json.Marshal(m)
		_ = mw.WriteField("map", string(mj))
		for i, p := range paths {
			part := files[p]
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%d"; filename="%s"`, i, escapeQuotes(part.Filename)))
			if part.ContentType != "" {
				h.Set("Content-Type", part.ContentType)
			}
			w, err := mw.CreatePart(h)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(w, part.Body); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Apollo-Require-Preflight", "true")
	return req
}

// Upload sends a multipart request with one file at variables.input.file.
func (s *Server) Upload(mutation string, input map[string]any, part Part) Response {
	s.t.Helper()
	if input == nil {
		input = map[string]any{}
	}
	input["file"] = nil
	return s.Do(s.MultipartRequest(mutation, map[string]any{"input": input}, []string{"variables.input.file"}, map[string]Part{"variables.input.file": part}))
}

// Mutations used by many tests.
const (
	UploadImageMutation    = `mutation($input: UploadImageInput!) { uploadImage(input: $input) { id title url width height fileSize contentType sha256 tags } }`
	UploadDocumentMutation = `mutation($input: UploadDocumentInput!) { uploadDocument(input: $input) { id title url fileSize contentType sha256 tags } }`
)

// Uploaded is the common shape of an upload result.
type Uploaded struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	URL         string   `json:"url"`
	Width       int      `json:"width"`
	Height      int      `json:"height"`
	FileSize    int64    `json:"fileSize"`
	ContentType string   `json:"contentType"`
	SHA256      string   `json:"sha256"`
	Tags        []string `json:"tags"`
}

// UploadImage uploads a file as an image and returns the result, failing on errors.
func (s *Server) UploadImage(t testing.TB, part Part, input map[string]any) Uploaded {
	t.Helper()
	var out struct{ UploadImage Uploaded }
	s.Upload(UploadImageMutation, input, part).Decode(t, &out)
	return out.UploadImage
}

// UploadDocument uploads a file as a document and returns the result, failing on errors.
func (s *Server) UploadDocument(t testing.TB, part Part, input map[string]any) Uploaded {
	t.Helper()
	var out struct{ UploadDocument Uploaded }
	s.Upload(UploadDocumentMutation, input, part).Decode(t, &out)
	return out.UploadDocument
}

// Get fetches a path (or absolute URL) and returns the response with its body read.
func (s *Server) Get(t testing.TB, pathOrURL string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	u := pathOrURL
	if len(u) > 0 && u[0] == '/' {
		u = s.URL + u
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	s.authorize(req)
	resp, err := s.HTTP.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// Objects lists every object key in the server's bucket (probe objects excluded).
func (s *Server) Objects(t testing.TB) []string {
	t.Helper()
	return ListKeys(t, s.Store)
}

// RowCounts returns the number of rows in every media table, to prove a failed operation left
// nothing behind.
func (s *Server) RowCounts(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for name, m := range map[string]any{
		"images": (*models.Image)(nil), "documents": (*models.Document)(nil),
		"media_tags": (*models.MediaTag)(nil), "renditions": (*models.Rendition)(nil),
		"collections": (*models.Collection)(nil),
	} {
		n, err := s.DB.NewSelect().Model(m).Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out[name] = n
	}
	return out
}

func escapeQuotes(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(`"`), []byte(`\"`)))
}
