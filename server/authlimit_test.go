package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// Issue 14, item 9: failed authentications are limited per token id (per client address only
// for malformed credentials), a valid token is never refused because of other requests'
// failures, and the client address honours VEIL_TRUSTED_PROXIES.

// fromAddr returns an HTTP client whose connections leave from the loopback address ip
// (127.0.0.0/8 is all local on Linux), so the server sees distinct TCP peers.
func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// meAs asks { me { id } } with the Authorization header value header (and X-Forwarded-For xff,
// when set) through client c, and returns the status and the error code ("" when none).
func meAs(t *testing.T, srv *veiltest.Server, c *http.Client, header, xff string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": `{ me { id } }`})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r veiltest.Response
	_ = json.Unmarshal(raw, &r)
	if resp.StatusCode == http.StatusOK && len(r.Errors) == 0 && !strings.Contains(string(r.Data), `"id"`) {
		t.Fatalf("200 without me: %s", raw)
	}
	return resp.StatusCode, r.Code()
}

func unknownToken() string {
	return "Bearer veil_tok_" + ulid.Make().String() + "_" + strings.Repeat("z", 43)
}

// wrongSecret keeps a real token's id and replaces its secret.
func wrongSecret(token string, n int) string {
	return "Bearer " + token[:len("veil_tok_")+26+1] + fmt.Sprintf("%043d", n)
}

// TestAuthLockoutGoodTokenAccepted: 25 bad tokens (unknown ids and malformed) from one address
// leave a valid token from that same address accepted, over HTTP and over a websocket.
func TestAuthLockoutGoodTokenAccepted(t *testing.T) {
	acfg := auth.DefaultConfig()
	acfg.FailuresPerMinute = 5
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Auth: &acfg})
	userID, _ := azUserInGroup(t, srv, "lockout")
	good := azToken(t, srv, userID, nil)
	c := fromAddr("127.0.0.1")
	for i := range 25 {
		header := unknownToken()
		if i%2 == 1 {
			header = "Bearer not-a-token"
		}
		meAs(t, srv, c, header, "")
	}
	if st, code := meAs(t, srv, c, "Bearer not-a-token", ""); st != http.StatusTooManyRequests || code != "RATE_LIMITED" {
		t.Errorf("malformed token past the limit: %d %s, want 429 RATE_LIMITED", st, code)
	}
	if st, code := meAs(t, srv, c, "Bearer "+good, ""); st != http.StatusOK || code != "" {
		t.Errorf("valid token from the address that failed 25 times: %d %s, want 200", st, code)
	}
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		w := dialWSProto(t, srv, proto)
		initWSProto(t, w, good)
	}
}

// TestAuthLockoutGuessingOneTokenID: wrong secrets for one token id, each from a different
// address, are limited together; the token's holder is still accepted.
func TestAuthLockoutGuessingOneTokenID(t *testing.T) {
	acfg := auth.DefaultConfig()
	acfg.FailuresPerMinute = 5
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Auth: &acfg})
	userID, _ := azUserInGroup(t, srv, "guessed")
	good := azToken(t, srv, userID, nil)
	var statuses []int
	for i := range 8 {
		st, _ := meAs(t, srv, fromAddr(fmt.Sprintf("127.0.0.%d", 10+i)), wrongSecret(good, i), "")
		statuses = append(statuses, st)
	}
	if fmt.Sprint(statuses) != "[401 401 401 401 401 429 429 429]" {
		t.Errorf("guesses from 8 addresses: %v, want 5×401 then 429", statuses)
	}
	if st, _ := meAs(t, srv, fromAddr("127.0.0.30"), wrongSecret(good, 99), ""); st != http.StatusTooManyRequests {
		t.Errorf("another guess from a fresh address: %d, want 429", st)
	}
	for _, ip := range []string{"127.0.0.10", "127.0.0.31"} {
		if st, code := meAs(t, srv, fromAddr(ip), "Bearer "+good, ""); st != http.StatusOK {
			t.Errorf("the real token from %s while its id is limited: %d %s, want 200", ip, st, code)
		}
	}
	// Another token is untouched by the guesses.
	if st, _ := meAs(t, srv, fromAddr("127.0.0.10"), "Bearer "+srv.AdminToken, ""); st != http.StatusOK {
		t.Errorf("another token: %d", st)
	}
}

// TestAuthLockoutMalformedPerAddress: malformed credentials are limited per client address.
func TestAuthLockoutMalformedPerAddress(t *testing.T) {
	acfg := auth.DefaultConfig()
	acfg.FailuresPerMinute = 3
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Auth: &acfg})
	a, b := fromAddr("127.0.0.2"), fromAddr("127.0.0.3")
	var statuses []int
	for range 5 {
		st, _ := meAs(t, srv, a, "Bearer nope", "")
		statuses = append(statuses, st)
	}
	if fmt.Sprint(statuses) != "[401 401 401 429 429]" {
		t.Errorf("malformed from one address: %v", statuses)
	}
	if st, _ := meAs(t, srv, b, "Basic dXNlcjpwYXNz", ""); st != http.StatusUnauthorized {
		t.Errorf("malformed from another address: %d, want 401", st)
	}
	if st, _ := meAs(t, srv, a, "Bearer "+srv.AdminToken, ""); st != http.StatusOK {
		t.Errorf("valid token from the limited address: %d, want 200", st)
	}
	// A well-formed token is counted against its id, not the limited address.
	if st, _ := meAs(t, srv, a, unknownToken(), ""); st != http.StatusUnauthorized {
		t.Errorf("unknown token from the limited address: %d, want 401", st)
	}
}

// TestAuthTrustedProxies: behind a trusted proxy the client address is the rightmost address of
// X-Forwarded-For that is not a trusted proxy; from an untrusted peer X-Forwarded-For is ignored.
func TestAuthTrustedProxies(t *testing.T) {
	newSrv := func(t *testing.T, proxies ...string) *veiltest.Server {
		acfg := auth.DefaultConfig()
		acfg.FailuresPerMinute = 2
		scfg := server.DefaultConfig()
		for _, p := range proxies {
			pfx, err := server.ParseTrustedProxy(p)
			if err != nil {
				t.Fatal(err)
			}
			scfg.TrustedProxies = append(scfg.TrustedProxies, pfx)
		}
		return veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Auth: &acfg, Server: &scfg})
	}
	c := fromAddr("127.0.0.1")
	t.Run("trusted", func(t *testing.T) {
		srv := newSrv(t, "127.0.0.1")
		for range 2 {
			meAs(t, srv, c, "Bearer nope", "198.51.100.7")
		}
		if st, _ := meAs(t, srv, c, "Bearer nope", "198.51.100.7"); st != http.StatusTooManyRequests {
			t.Errorf("third failure of 198.51.100.7: %d, want 429", st)
		}
		if st, _ := meAs(t, srv, c, "Bearer nope", "198.51.100.8"); st != http.StatusUnauthorized {
			t.Errorf("another client behind the proxy: %d, want 401", st)
		}
		// A client cannot escape by prepending addresses: the rightmost untrusted one counts.
		if st, _ := meAs(t, srv, c, "Bearer nope", "203.0.113.1, 198.51.100.7"); st != http.StatusTooManyRequests {
			t.Errorf("spoofed XFF prefix: %d, want 429", st)
		}
		if !strings.Contains(srv.Logs.String(), `"addr":"198.51.100.8"`) {
			t.Error("the failure log does not name the forwarded client address")
		}
	})
	t.Run("chain of trusted proxies", func(t *testing.T) {
		srv := newSrv(t, "127.0.0.1/32", "10.0.0.0/8")
		for range 2 {
			meAs(t, srv, c, "Bearer nope", "198.51.100.7, 10.1.2.3")
		}
		if st, _ := meAs(t, srv, c, "Bearer nope", "198.51.100.7,10.9.9.9"); st != http.StatusTooManyRequests {
			t.Errorf("same client through another trusted hop: %d, want 429", st)
		}
		if st, _ := meAs(t, srv, c, "Bearer nope", "198.51.100.9, 10.1.2.3"); st != http.StatusUnauthorized {
			t.Errorf("another client through the same hop: %d, want 401", st)
		}
	})
	t.Run("untrusted", func(t *testing.T) {
		srv := newSrv(t) // no trusted proxies: X-Forwarded-For is the client's word
		for i := range 2 {
			meAs(t, srv, c, "Bearer nope", fmt.Sprintf("198.51.100.%d", i))
		}
		if st, _ := meAs(t, srv, c, "Bearer nope", "198.51.100.99"); st != http.StatusTooManyRequests {
			t.Errorf("a fresh X-Forwarded-For from an untrusted peer escaped the limit: %d", st)
		}
		if strings.Contains(srv.Logs.String(), `"addr":"198.51.100.`) {
			t.Error("an untrusted X-Forwarded-For reached the log as the client address")
		}
	})
}
