package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// oneShotWait bounds a one-shot request: a subscription that is not refused waits for an event
// that never comes, so the client gives up after it (it only decides how long a failing test takes).
const oneShotWait = 5 * time.Second

const privacySubscription = `subscription { privacyChanged { mediaId } }`

// oneShotSubscription sends privacySubscription as a plain GET or POST with Accept accept, and
// returns the status and the decoded answer; it fails the test if the answer does not come within
// oneShotWait.
func oneShotSubscription(t *testing.T, srv *veiltest.Server, method, accept string) (int, veiltest.Response) {
	t.Helper()
	status, r, err := sendOneShotSubscription(t.Context(), srv, method, accept)
	if err != nil {
		t.Fatal(err)
	}
	return status, r
}

// sendOneShotSubscription is oneShotSubscription for any goroutine.
func sendOneShotSubscription(ctx context.Context, srv *veiltest.Server, method, accept string) (int, veiltest.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, oneShotWait)
	defer cancel()
	var out veiltest.Response
	target, body := srv.URL+"/graphql", io.Reader(nil)
	if method == http.MethodGet {
		target += "?query=" + url.QueryEscape(privacySubscription)
	} else {
		raw, _ := json.Marshal(map[string]any{"query": privacySubscription})
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return 0, out, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	resp, err := srv.HTTP.Client().Do(req)
	if err != nil {
		return 0, out, fmt.Errorf("%s subscription (Accept %s): no answer within %v: %w", method, accept, oneShotWait, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, out, fmt.Errorf("%s subscription: reading the answer: %w", method, err)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return 0, out, fmt.Errorf("%s subscription: %d %s: %w", method, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, out, nil
}

func wantSubscriptionTransport(t *testing.T, r veiltest.Response) {
	t.Helper()
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != server.CodeSubscriptionTransport {
		t.Fatalf("errors %+v, want one %s", r.Errors, server.CodeSubscriptionTransport)
	}
	if len(r.Data) > 0 && string(r.Data) != "null" {
		t.Errorf("data %s, want none", r.Data)
	}
}

// TestSubOverPlainHTTP (issue 15, item 12): a subscription sent as a plain POST or GET is refused
// at once with SUBSCRIPTION_TRANSPORT (a request error: 200 for application/json, 400 for
// application/graphql-response+json, as GraphQL over HTTP asks) instead of waiting for its first event; SSE still streams;
// a graceful shutdown during such a request is not held up by it.
func TestSubOverPlainHTTP(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	for _, tc := range []struct {
		method, accept string
		status         int
	}{
		{http.MethodPost, "application/json", http.StatusOK},
		{http.MethodPost, "application/graphql-response+json", http.StatusBadRequest},
		{http.MethodGet, "application/json", http.StatusOK},
		{http.MethodGet, "application/graphql-response+json", http.StatusBadRequest},
	} {
		t.Run(tc.method+" "+tc.accept, func(t *testing.T) {
			status, r := oneShotSubscription(t, srv, tc.method, tc.accept)
			wantSubscriptionTransport(t, r)
			if status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
			if bus := srv.Media.Bus(); bus.Subscribers() != 0 {
				t.Errorf("%d bus subscribers after a refused subscription, want 0", bus.Subscribers())
			}
		})
	}

	t.Run("SSE streams", func(t *testing.T) {
		s := subscribeSSE(t, srv, srv.Token, ssePrivacyQuery, nil)
		defer s.Close()
		waitSubscribers(t, srv, 1)
		srv.Media.Bus().Publish(t.Context(), events.Event{Kind: events.PrivacyChanged, MediaID: "m1", CollectionID: "c1",
			CollectionPath: "/c1/", Privacy: models.Public, Time: time.Now()})
		if ev := s.nextPrivacy(t); ev.MediaID != "m1" {
			t.Fatalf("SSE event for %s, want m1", ev.MediaID)
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		// The request reaches the handler only once Shutdown has begun, so it is in flight for
		// the whole shutdown: Shutdown returns once it is answered.
		entered, shuttingDown := make(chan struct{}), make(chan struct{})
		srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(entered)
				<-shuttingDown
				h.ServeHTTP(w, r)
			})
		}})
		srv.HTTP.Config.RegisterOnShutdown(func() { close(shuttingDown) })
		type answer struct {
			status int
			r      veiltest.Response
			err    error
		}
		answered := make(chan answer, 1)
		go func() {
			status, r, err := sendOneShotSubscription(context.Background(), srv, http.MethodPost, "application/json")
			answered <- answer{status, r, err}
		}()
		<-entered
		ctx, cancel := context.WithTimeout(context.Background(), oneShotWait)
		defer cancel()
		if err := srv.HTTP.Config.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown with a plain-POST subscription in flight: %v", err)
		}
		a := <-answered
		if a.err != nil {
			t.Fatal(a.err)
		}
		wantSubscriptionTransport(t, a.r)
	})
}
