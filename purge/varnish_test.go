package purge_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/veil-media/veil/purge"
	"github.com/veil-media/veil/veiltest"
)

// varnishBackend is an origin behind a real Varnish that counts the requests reaching it per host
// and path. /redirect/… answers 302, /private/… answers private, no-store, anything else 200; all
// but private answers are public for an hour.
type varnishBackend struct {
	mu   sync.Mutex
	hits map[string]int
}

func (b *varnishBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.hits[r.Host+r.URL.Path]++
	b.mu.Unlock()
	switch {
	case strings.HasPrefix(r.URL.Path, "/private/"):
		w.Header().Set("Cache-Control", "private, no-store")
		fmt.Fprint(w, "secret")
	case strings.HasPrefix(r.URL.Path, "/redirect/"):
		w.Header().Set("Cache-Control", "public, max-age=3600")
		http.Redirect(w, r, "https://storage.example/bucket/x.webp", http.StatusFound)
	default:
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fmt.Fprint(w, "pixels")
	}
}

func (b *varnishBackend) count(hostPath string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hits[hostPath]
}

// startVarnish fronts a counting backend with a real Varnish and returns both, with a GET that
// reports the status and X-Cache of path asked for under host ("" for the cache's own address).
func startVarnish(t *testing.T) (cache string, backend *varnishBackend, get func(host, path string, header ...string) (int, string)) {
	backend = &varnishBackend{hits: map[string]int{}}
	origin := httptest.NewServer(backend)
	t.Cleanup(origin.Close)
	cache = veiltest.StartVarnish(t, origin.URL)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get = func(host, path string, header ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, cache+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Cache")
	}
	return cache, backend, get
}

// TestVarnishPurge: a real Varnish caches a public 200 and a public 302; a PURGE through the
// purger removes each, and the next request reaches the backend again.
func TestVarnishPurge(t *testing.T) {
	cache, backend, get := startVarnish(t)
	p, err := purge.Open("purge:"+cache, "", fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(cache, "http://") // what clients of the cache send as Host
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/media/renditions/img_1/sig/width-100.webp", http.StatusOK},
		{"/redirect/img_2", http.StatusFound},
	} {
		t.Run(c.path, func(t *testing.T) {
			if code, x := get("", c.path); code != c.status || x != "MISS" {
				t.Fatalf("first GET: %d %s, want %d MISS", code, x, c.status)
			}
			if code, x := get("", c.path); code != c.status || x != "HIT" || backend.count(host+c.path) != 1 {
				t.Fatalf("second GET: %d %s, backend asked %d times; want %d HIT, asked once", code, x, backend.count(host+c.path), c.status)
			}
			res := p.Purge(context.Background(), []string{cache + c.path})
			if len(res) != 1 || !res[0].OK || res[0].Status != http.StatusOK {
				t.Fatalf("purge: %+v", res)
			}
			if code, x := get("", c.path); code != c.status || x != "MISS" || backend.count(host+c.path) != 2 {
				t.Errorf("GET after purge: %d %s, backend asked %d times; want %d MISS, asked twice", code, x, backend.count(host+c.path), c.status)
			}
			if _, x := get("", c.path); x != "HIT" {
				t.Errorf("GET after refill: %s, want HIT", x)
			}
		})
	}
}

// TestVarnishPurgePublicHost: the CDN's public URL is purged at the cache's own address with the
// public host in Host; the same path cached under another host stays cached.
func TestVarnishPurgePublicHost(t *testing.T) {
	cache, backend, get := startVarnish(t)
	p, err := purge.Open("purge:"+cache, "", fast, nil)
	if err != nil {
		t.Fatal(err)
	}
	const path = "/media/originals/img_1/photo.jpg"
	for _, host := range []string{"cdn.example.com", "other.example.com"} {
		get(host, path)
		if _, x := get(host, path); x != "HIT" || backend.count(host+path) != 1 {
			t.Fatalf("%s: %s, backend asked %d times; want HIT, asked once", host, x, backend.count(host+path))
		}
	}
	res := p.Purge(context.Background(), []string{"https://CDN.example.com" + path, "https://cdn.example.com/media/never-cached"})
	for _, r := range res {
		if !r.OK || r.Status != http.StatusOK {
			t.Errorf("purge: %+v", r)
		}
	}
	if _, x := get("cdn.example.com", path); x != "MISS" || backend.count("cdn.example.com"+path) != 2 {
		t.Errorf("purged host: %s, backend asked %d times; want MISS, asked twice", x, backend.count("cdn.example.com"+path))
	}
	if _, x := get("other.example.com", path); x != "HIT" || backend.count("other.example.com"+path) != 1 {
		t.Errorf("other host: %s, backend asked %d times; want HIT, asked once", x, backend.count("other.example.com"+path))
	}
}

// TestVarnishHarnessDefaults: the harness keeps Varnish's defaults for what is never shared:
// requests with Authorization and private, no-store answers always reach the backend.
func TestVarnishHarnessDefaults(t *testing.T) {
	_, backend, get := startVarnish(t)
	const host = "cdn.example.com"
	for range 2 {
		if code, x := get(host, "/media/a", "Authorization", "Bearer t"); code != http.StatusOK || x != "MISS" {
			t.Errorf("with Authorization: %d %s, want 200 MISS", code, x)
		}
		if code, x := get(host, "/private/b"); code != http.StatusOK || x != "MISS" {
			t.Errorf("private: %d %s, want 200 MISS", code, x)
		}
	}
	if a, b := backend.count(host+"/media/a"), backend.count(host+"/private/b"); a != 2 || b != 2 {
		t.Errorf("backend asked %d and %d times, want 2 and 2", a, b)
	}
}
