package events_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

const secret = "a webhook secret of some length"

// receiver is a webhook receiver that answers 500 to its first failFirst deliveries and checks
// every signature as a receiver would.
type receiver struct {
	mu        sync.Mutex
	failFirst int
	calls     int
	got       []string // cursors accepted, in order
	bad       []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls++
	// The documented check: Veil-Signature: t=<ts>,v1=<hex hmac_sha256(secret, ts + "." + body)>.
	var ts, sig string
	for _, part := range strings.Split(r.Header.Get("Veil-Signature"), ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	if !hmac.Equal([]byte(sig), []byte(events.Sign(secret, ts, body))) {
		rc.bad = append(rc.bad, string(body))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if rc.calls <= rc.failFirst {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	var ev struct{ Cursor, Kind string }
	_ = json.Unmarshal(body, &ev)
	if ev.Cursor != r.Header.Get("Veil-Event-Id") || ev.Kind != r.Header.Get("Veil-Event-Type") {
		rc.bad = append(rc.bad, string(body))
	}
	rc.got = append(rc.got, ev.Cursor)
}

func (rc *receiver) snapshot() (calls int, got []string, bad []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.calls, append([]string(nil), rc.got...), append([]string(nil), rc.bad...)
}

func newWebhooks(inst instance, clk *clock, allowPrivate bool) *events.Webhooks {
	return events.NewWebhooks(inst.box, events.WebhookConfig{AllowPrivate: allowPrivate, Clock: clk.Now}, nil)
}

// TestWebhookRetriesInOrder: a receiver failing its first 3 deliveries gets, after backoffs of
// 10s, 20s and 40s on the injected clock, every event of its types exactly once in cursor order;
// no attempt is made before its time; every attempt is recorded.
func TestWebhookRetriesInOrder(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		clk := newClock()
		a := newInstance(t, db, clk)
		record(t, db, a, 0, 3) // before the webhook: not sent
		rc := &receiver{failFirst: 3}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		wh := newWebhooks(a, clk, true)
		h, err := wh.Create(t.Context(), srv.URL+"/hook", []events.Kind{events.MediaUploaded, events.PrivacyChanged}, secret, "usr_1")
		if err != nil {
			t.Fatal(err)
		}
		record(t, db, a, 3, 5)                                                // cursors 4..8
		appendTx(t, db, a.box, true, events.Event{Kind: events.TokenCreated}) // 9: not of its types
		record(t, db, a, 8, 1)                                                // 10
		deliver := func() int {
			n, err := wh.DeliverOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		for i, wait := range []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second} {
			clk.Add(wait - time.Millisecond)
			if i > 0 && deliver() != 0 {
				t.Fatalf("an attempt %v before its backoff ended", time.Millisecond)
			}
			clk.Add(time.Millisecond)
			deliver()
		}
		calls, got, bad := rc.snapshot()
		if len(bad) > 0 {
			t.Fatalf("bad signatures or headers: %v", bad)
		}
		if want := "4,5,6,7,8,10"; strings.Join(got, ",") != want || calls != 3+6 {
			t.Fatalf("receiver got %v in %d calls, want %s after 3 failures", got, calls, want)
		}
		ds, err := wh.Deliveries(t.Context(), h.ID, 50)
		if err != nil || len(ds) != 9 {
			t.Fatalf("%d deliveries recorded (%v), want 9", len(ds), err)
		}
		for i, d := range ds[6:] { // the oldest three: the failures of cursor 4, attempts 3, 2, 1
			if d.OK || d.Status != 500 || d.Seq != 4 || d.Attempt != 3-i {
				t.Errorf("failed attempt %+v", d)
			}
		}
		if deliver() != 0 {
			t.Error("a delivered event was sent again")
		}
	})
}

// TestWebhookRetriesForADay: a receiver that never answers 2xx is retried, with backoff capped at
// an hour, for at least 24 hours; after 25 hours the event is abandoned (recorded) and the next
// one goes.
func TestWebhookRetriesForADay(t *testing.T) {
	db := veiltest.SQLite(t)
	clk := newClock()
	a := newInstance(t, db, clk)
	rc := &receiver{failFirst: 1 << 30}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	wh := newWebhooks(a, clk, true)
	h, err := wh.Create(t.Context(), srv.URL, nil, secret, "usr_1")
	if err != nil {
		t.Fatal(err)
	}
	record(t, db, a, 0, 2)
	start := clk.Now()
	var last time.Time
	for clk.Now().Sub(start) < 26*time.Hour {
		if n, _ := wh.DeliverOnce(context.Background()); n > 0 {
			last = clk.Now()
		}
		hs, _ := wh.List(t.Context())
		if hs[0].Cursor != 0 {
			break
		}
		clk.Add(time.Minute)
	}
	if d := last.Sub(start); d < 24*time.Hour {
		t.Fatalf("gave up after %s", d)
	}
	ds, _ := wh.Deliveries(t.Context(), h.ID, 500)
	// Newest first: the first attempt at cursor 2, which went at once, then the abandonment of 1.
	if len(ds) < 3 || ds[0].Seq != 2 || !strings.Contains(ds[1].Error, "abandoned") || ds[1].Seq != 1 {
		t.Fatalf("last attempts %+v, want the abandonment of cursor 1 and a first try of 2", ds[:2])
	}
	for i := 1; i+1 < len(ds); i++ {
		if gap := ds[i].At.Sub(ds[i+1].At); gap > time.Hour+time.Minute {
			t.Fatalf("%s between attempts: backoff not capped at 1h", gap)
		}
	}
	t.Logf("%d attempts over %s", len(ds), last.Sub(start))
}

// TestWebhookRefusesPrivateAddresses: URLs resolving to loopback, link-local or private
// addresses are refused when created, and when dialled (a name that resolves elsewhere later):
// the attempt fails and is recorded, nothing reaches the receiver.
func TestWebhookRefusesPrivateAddresses(t *testing.T) {
	db := veiltest.SQLite(t)
	clk := newClock()
	a := newInstance(t, db, clk)
	strict := newWebhooks(a, clk, false)
	for _, u := range []string{"http://127.0.0.1/x", "http://localhost:8080/", "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data",
		"http://[::1]/", "http://192.168.0.1/", "http://100.64.1.1/", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/"} {
		var qe *events.QueryError
		if _, err := strict.Create(t.Context(), u, nil, secret, "usr_1"); !errors.As(err, &qe) || qe.Field != "url" {
			t.Errorf("%s: %v, want refused", u, err)
		}
	}
	for _, u := range []string{"ftp://example.com/", "http://user:pw@example.com/", "/relative", "http://" + strings.Repeat("a", 2100)} {
		if _, err := strict.Create(t.Context(), u, nil, secret, "usr_1"); err == nil {
			t.Errorf("%s: accepted", u)
		}
	}
	if _, err := strict.Create(t.Context(), "http://93.184.215.14/", nil, "short", "usr_1"); err == nil {
		t.Error("a 5-character secret was accepted")
	}
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	h, err := newWebhooks(a, clk, true).Create(t.Context(), srv.URL, nil, secret, "usr_1")
	if err != nil {
		t.Fatal(err)
	}
	record(t, db, a, 0, 1)
	if n, err := strict.DeliverOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("attempts %d, %v", n, err)
	}
	if calls, _, _ := rc.snapshot(); calls != 0 {
		t.Fatal("a private address was dialled")
	}
	ds, _ := strict.Deliveries(t.Context(), h.ID, 10)
	if len(ds) != 1 || ds[0].OK || !strings.Contains(ds[0].Error, "private") {
		t.Fatalf("deliveries %+v", ds)
	}
}
