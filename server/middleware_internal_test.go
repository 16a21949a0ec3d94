package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/veil-media/veil/auth"
)

// TestRequestIDs: every request gets an id, echoed in X-Request-ID and carried by its context
// (next to its viewer) — the client's own when it is short and plain, else 16 random hex digits —
// and a panic's 500 names it.
func TestRequestIDs(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	var seen string
	var viewer *auth.Viewer
	h := s.withRequest(s.withCORS(s.withAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, viewer = RequestID(r.Context()), auth.ViewerFrom(r.Context())
		if r.URL.Path == "/panic" {
			panic("boom")
		}
	}))))
	generated := regexp.MustCompile(`^[0-9a-f]{16}$`)
	ids := map[string]bool{}
	for _, c := range []struct{ client, want string }{
		{"", ""}, {"", ""}, {"abc-1.2_XYZ", "abc-1.2_XYZ"}, {strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{strings.Repeat("a", 65), ""}, {"bad id", ""}, {"bad/id", ""}, {"ünï", ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		if c.client != "" {
			r.Header.Set("X-Request-ID", c.client)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get("X-Request-ID")
		switch {
		case c.want != "" && got != c.want:
			t.Errorf("client id %q: %q, want it echoed", c.client, got)
		case c.want == "" && (!generated.MatchString(got) || ids[got]):
			t.Errorf("client id %q: %q, want 16 new hex digits", c.client, got)
		case seen != got:
			t.Errorf("client id %q: the context carries %q, the header %q", c.client, seen, got)
		case viewer != auth.Anonymous:
			t.Errorf("client id %q: viewer %v, want anonymous", c.client, viewer)
		}
		ids[got] = true
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/panic", nil))
	body, _ := io.ReadAll(w.Result().Body)
	if id := w.Header().Get("X-Request-ID"); w.Code != http.StatusInternalServerError || id == "" || !strings.Contains(string(body), "request id "+id) {
		t.Errorf("panic: %d %q (X-Request-ID %q), want 500 naming the id", w.Code, body, id)
	}
}

// TestPlainRequestID: plainRequestID accepts what the pattern it replaced did.
func TestPlainRequestID(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	for _, id := range []string{"", "a", "A.z_0-9", strings.Repeat("x", 64), strings.Repeat("x", 65), "a b", "a\n", "a/b", "a+b", "é", "a\x00", "..", "-"} {
		if got, want := plainRequestID(id), pattern.MatchString(id); got != want {
			t.Errorf("plainRequestID(%q) = %v, want %v", id, got, want)
		}
	}
}
