package auth_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/uptrace/bun"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

func TestParseToken(t *testing.T) {
	u := ulid.Make().String()
	id := "tok_" + u
	cases := []struct {
		name, tok  string
		id, secret string // "" when the token must be refused
	}{
		{"plain secret", "veil_" + id + "_abc", id, "abc"},
		{"secret with underscores and dashes", "veil_" + id + "_a_b-c_-d", id, "a_b-c_-d"},
		{"secret starting with an underscore", "veil_" + id + "__x", id, "_x"},
		{"secret starting with a dash", "veil_" + id + "_-x", id, "-x"},
		{"secret of one underscore", "veil_" + id + "__", id, "_"},
		{"secret of one dash", "veil_" + id + "_-", id, "-"},
		{"secret of 43 base64url characters", "veil_" + id + "_Ab_-" + strings.Repeat("z", 39), id, "Ab_-" + strings.Repeat("z", 39)},
		{"empty", "", "", ""},
		{"prefix only", "veil_", "", ""},
		{"no prefix", id + "_abc", "", ""},
		{"another prefix", "veal_" + id + "_abc", "", ""},
		{"no secret", "veil_" + id, "", ""},
		{"empty secret", "veil_" + id + "_", "", ""},
		{"no separator", "veil_" + id + "abc", "", ""},
		{"id of another kind", "veil_usr_" + u + "_abc", "", ""},
		{"id too short", "veil_tok_" + u[:25] + "_abc", "", ""},
		{"id not base32", "veil_tok_" + strings.Repeat("U", 26) + "_abc", "", ""},
		{"id overflowing", "veil_tok_8" + strings.Repeat("Z", 25) + "_abc", "", ""},
		{"over 200 bytes", "veil_" + id + "_" + strings.Repeat("a", 200), "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gotID, gotSecret, ok := auth.ParseToken(c.tok)
			if ok != (c.id != "") || gotID != c.id || gotSecret != c.secret {
				t.Errorf("ParseToken(%.60q) = %q, %q, %v; want %q, %q", c.tok, gotID, gotSecret, ok, c.id, c.secret)
			}
		})
	}
}

func TestLimiterWindows(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	l := auth.NewLimiter(3, time.Minute)
	l.SetNow(func() time.Time { return now })
	at := func(d time.Duration) { now = t0.Add(d) }
	blocked := func(addr string, want bool, wantWait time.Duration) {
		t.Helper()
		b, wait := l.Blocked(addr)
		if b != want || wait != wantWait {
			t.Errorf("at +%v: Blocked(%s) = %v, %v; want %v, %v", now.Sub(t0), addr, b, wait, want, wantWait)
		}
	}

	blocked("a", false, 0) // never failed
	l.Fail("a")
	at(30 * time.Second)
	l.Fail("a")
	blocked("a", false, 0) // 2 of 3
	at(59 * time.Second)
	l.Fail("a")
	blocked("a", true, time.Second) // the window started at the first failure: 1 s left
	blocked("b", false, 0)          // addresses are counted apart
	at(59*time.Second + 500*time.Millisecond)
	l.Fail("a") // failing while blocked does not extend a fixed window
	blocked("a", true, 500*time.Millisecond)
	at(time.Minute)
	blocked("a", false, 0) // the window ended
	l.Fail("a")            // and this failure opens a new one
	blocked("a", false, 0)
	at(time.Minute + 10*time.Second)
	l.Fail("a")
	l.Fail("a")
	blocked("a", true, 50*time.Second)
	at(2 * time.Minute)
	blocked("a", false, 0)

	// Exactly max failures block, from any number of goroutines.
	for _, max := range []int{500, 501} {
		l := auth.NewLimiter(max, time.Hour)
		var wg sync.WaitGroup
		for g := 0; g < 50; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 10; i++ {
					l.Fail("c")
					l.Blocked("c")
				}
			}()
		}
		wg.Wait()
		if b, _ := l.Blocked("c"); b != (max == 500) {
			t.Errorf("500 concurrent failures with max %d: blocked = %v", max, b)
		}
	}
}

// The collections of the policy tests. The ids are chosen to trip substring and LIKE mistakes:
// col_AB starts with col_A, and colxA matches the LIKE pattern "col_A" ('_' is a wildcard).
var (
	root  = "/" + models.RootCollectionID + "/"
	pA    = root + "col_A/"
	pSub  = pA + "col_Sub/"
	pDeep = pSub + "col_Deep/"
	pAB   = root + "col_AB/"
	pxA   = root + "colxA/"
	pB    = root + "col_B/"
	paths = map[string]string{models.RootCollectionID: root, "col_A": pA, "col_Sub": pSub, "col_Deep": pDeep, "col_AB": pAB, "colxA": pxA, "col_B": pB}
)

// policyWorld is a database with those collections, a private and a public image and document in
// each, and a viewer per kind of grant, resolved through Authenticate.
type policyWorld struct {
	db      *models.DB
	svc     *auth.Service
	admin   context.Context
	viewers map[string]*auth.Viewer
	items   []policyItem
}

type policyItem struct {
	id, collection string
	privacy        models.Privacy
	document       bool
}

type grantSpec struct {
	perm models.Permission
	col  string
}

var policyGrants = map[string][]grantSpec{
	"nogrants":  nil,
	"viewA":     {{models.PermView, "col_A"}},
	"addA":      {{models.PermAdd, "col_A"}},
	"changeA":   {{models.PermChange, "col_A"}},
	"deleteA":   {{models.PermDelete, "col_A"}},
	"viewSub":   {{models.PermView, "col_Sub"}},
	"viewAB":    {{models.PermView, "col_AB"}},
	"publisher": {{models.PermPublish, ""}},
	"manager":   {{models.PermManageUsers, ""}},
	"mixed":     {{models.PermDelete, "col_A"}, {models.PermView, "col_B"}, {models.PermChange, "col_Deep"}},
}

func newPolicyWorld(t *testing.T, db *models.DB) *policyWorld {
	t.Helper()
	ctx := context.Background()
	svc := auth.New(db, auth.DefaultConfig(), nil)
	w := &policyWorld{db: db, svc: svc, viewers: map[string]*auth.Viewer{"anonymous": auth.Anonymous, "nil": nil}}
	tok, err := svc.CreateAdmin(ctx, "Admin", "admin@example.com", "test")
	if err != nil {
		t.Fatal(err)
	}
	w.viewers["admin"] = mustAuth(t, svc, tok)
	w.admin = auth.WithViewer(ctx, w.viewers["admin"])

	for _, id := range []string{"col_A", "col_Sub", "col_Deep", "col_AB", "colxA", "col_B"} {
		p := paths[id]
		parts := strings.Split(strings.Trim(p, "/"), "/")
		parent := parts[len(parts)-2]
		c := &models.Collection{ID: id, ParentID: &parent, Name: id, Path: p, CreatedAt: models.Now()}
		if _, err := db.NewInsert().Model(c).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for col := range paths {
		for _, pr := range []models.Privacy{models.Private, models.Public} {
			n++
			now := models.Now()
			st := models.PrivacyState{Privacy: pr, PrivacyLastChanged: now}
			sum := fmt.Sprintf("%064x", n)
			img := &models.Image{MediaFields: models.MediaFields{ID: "img_" + ulid.Make().String(), CollectionID: col, Title: "t", Filename: "f.png",
				StorageKey: "k" + sum, ContentType: "image/png", Size: 1, SHA256: sum, CreatedAt: now, UpdatedAt: now, PrivacyState: st}, Width: 1, Height: 1}
			doc := &models.Document{MediaFields: models.MediaFields{ID: "doc_" + ulid.Make().String(), CollectionID: col, Title: "t", Filename: "f.txt",
				StorageKey: "d" + sum, ContentType: "text/plain", Size: 1, SHA256: sum, CreatedAt: now, UpdatedAt: now, PrivacyState: st}}
			if _, err := db.NewInsert().Model(img).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := db.NewInsert().Model(doc).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			w.items = append(w.items, policyItem{img.ID, col, pr, false}, policyItem{doc.ID, col, pr, true})
		}
	}

	for name, grants := range policyGrants {
		u, err := svc.CreateUser(w.admin, name, name+"@example.com", false)
		if err != nil {
			t.Fatal(err)
		}
		g, err := svc.CreateGroup(w.admin, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetMembership(w.admin, g.ID, u.ID, true); err != nil {
			t.Fatal(err)
		}
		for _, gr := range grants {
			// Inserted directly: SetGrant rightly insists on real collection ids.
			if _, err := db.NewInsert().Model(&models.Grant{GroupID: g.ID, CollectionID: gr.col, Permission: gr.perm, CreatedAt: models.Now()}).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		ct, err := svc.CreateToken(w.admin, u.ID, "test", 0)
		if err != nil {
			t.Fatal(err)
		}
		w.viewers[name] = mustAuth(t, svc, ct.Secret)
	}
	return w
}

func mustAuth(t *testing.T, svc *auth.Service, token string) *auth.Viewer {
	t.Helper()
	v, err := svc.Authenticate(context.Background(), "Bearer "+token)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return v
}

// TestViewerCan: collection grants cover the collection and its whole subtree, never its parent
// or a sibling whose id merely starts the same; admins may everything, anonymous nothing.
func TestViewerCan(t *testing.T) {
	w := newPolicyWorld(t, veiltest.SQLite(t))
	const (
		view   = models.PermView
		add    = models.PermAdd
		change = models.PermChange
		del    = models.PermDelete
	)
	cases := []struct {
		viewer string
		perm   models.Permission
		path   string
		want   bool
	}{
		{"viewA", view, "/root/col_A/col_Sub/", true}, // the example of the brief, literally
		{"viewA", view, "/root/col_AB/", false},
		{"viewA", view, pA, true},
		{"viewA", view, pSub, true},
		{"viewA", view, pDeep, true},
		{"viewA", view, pAB, false},
		{"viewA", view, pxA, false},
		{"viewA", view, pB, false},
		{"viewA", view, root, false},
		{"viewA", view, "", false},
		{"viewA", view, "col_A", false}, // not a path
		{"viewA", add, pA, false},
		{"viewA", change, pSub, false},
		{"viewA", del, pSub, false},
		{"viewSub", view, pA, false}, // grants go down the tree, never up
		{"viewSub", view, pSub, true},
		{"viewSub", view, pDeep, true},
		{"viewAB", view, pA, false},
		{"viewAB", view, pAB, true},
		{"addA", add, pDeep, true},
		{"changeA", change, pSub, true},
		{"deleteA", del, pSub, true},
		{"deleteA", view, pSub, false},
		{"mixed", del, pDeep, true},
		{"mixed", change, pDeep, true},
		{"mixed", change, pSub, false},
		{"mixed", view, pB, true},
		{"mixed", view, pA, false},
		{"publisher", view, pA, false},
		{"manager", del, pA, false},
		{"nogrants", view, pA, false},
		{"admin", del, pB, true},
		{"admin", view, root, true},
		{"anonymous", view, pA, false},
		{"nil", view, pA, false},
	}
	for _, c := range cases {
		if got := w.viewers[c.viewer].Can(c.perm, c.path); got != c.want {
			t.Errorf("%s.Can(%s, %s) = %v, want %v", c.viewer, c.perm, c.path, got, c.want)
		}
	}

	globals := []struct {
		viewer          string
		publish, manage bool
	}{
		{"admin", true, true}, {"publisher", true, false}, {"manager", false, true},
		{"viewA", false, false}, {"nogrants", false, false}, {"anonymous", false, false}, {"nil", false, false},
	}
	for _, g := range globals {
		v := w.viewers[g.viewer]
		if v.HasGlobal(models.PermPublish) != g.publish || v.HasGlobal(models.PermManageUsers) != g.manage {
			t.Errorf("%s: HasGlobal(PUBLISH, MANAGE_USERS) = %v, %v; want %v, %v", g.viewer,
				v.HasGlobal(models.PermPublish), v.HasGlobal(models.PermManageUsers), g.publish, g.manage)
		}
	}
	if !w.viewers["anonymous"].IsAnonymous() || !w.viewers["nil"].IsAnonymous() || w.viewers["nogrants"].IsAnonymous() {
		t.Error("IsAnonymous")
	}
}

// TestViewerCanRead: everyone reads public items; private ones need VIEW, ADD or CHANGE on the
// collection or an ancestor (DELETE, PUBLISH and MANAGE_USERS do not), or admin.
func TestViewerCanRead(t *testing.T) {
	w := newPolicyWorld(t, veiltest.SQLite(t))
	// Which private items each viewer reads, by collection.
	want := map[string][]string{
		"admin":     {models.RootCollectionID, "col_A", "col_Sub", "col_Deep", "col_AB", "colxA", "col_B"},
		"viewA":     {"col_A", "col_Sub", "col_Deep"},
		"addA":      {"col_A", "col_Sub", "col_Deep"},
		"changeA":   {"col_A", "col_Sub", "col_Deep"},
		"viewSub":   {"col_Sub", "col_Deep"},
		"viewAB":    {"col_AB"},
		"mixed":     {"col_B", "col_Deep"},
		"deleteA":   nil,
		"publisher": nil,
		"manager":   nil,
		"nogrants":  nil,
		"anonymous": nil,
		"nil":       nil,
	}
	for name, cols := range want {
		v := w.viewers[name]
		for col, p := range paths {
			if !v.CanRead(p, models.Public) {
				t.Errorf("%s cannot read a public item of %s", name, col)
			}
			if got := v.CanRead(p, models.Private); got != slices.Contains(cols, col) {
				t.Errorf("%s.CanRead(%s, PRIVATE) = %v", name, col, got)
			}
		}
	}
}

// TestReadFilter: on both databases, the SQL filter keeps exactly the rows CanRead allows (so lists
// and single reads agree), for images and documents, and stays correct when combined with other
// conditions before or after it.
func TestReadFilter(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		w := newPolicyWorld(t, db)
		ctx := context.Background()
		for name, v := range w.viewers {
			for _, document := range []bool{false, true} {
				var want, wantPrivateB, wantPrivate []string
				for _, it := range w.items {
					if it.document != document || !v.CanRead(paths[it.collection], it.privacy) {
						continue
					}
					want = append(want, it.id)
					if it.collection == "col_B" {
						wantPrivateB = append(wantPrivateB, it.id)
					}
					if it.privacy == models.Private {
						wantPrivate = append(wantPrivate, it.id)
					}
				}
				var model any = (*models.Image)(nil)
				if document {
					model = (*models.Document)(nil)
				}
				sel := func() *bun.SelectQuery { return w.db.NewSelect().Model(model).Column("id").OrderExpr("id") }
				run := func(what string, q *bun.SelectQuery, want []string) {
					t.Helper()
					var got []string
					if err := q.Scan(ctx, &got); err != nil {
						t.Fatalf("%s %s: %v\n%s", name, what, err, q.String())
					}
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Errorf("%s (documents %v) %s: got %d rows, want %d\nSQL: %s", name, document, what, len(got), len(want), q.String())
					}
				}
				run("alone", v.ReadFilter(sel()), want)
				// A condition added before: the filter's OR must be grouped, not widen it.
				run("after collection_id = col_B", v.ReadFilter(sel().Where("collection_id = ?", "col_B")), wantPrivateB)
				// And after.
				run("then privacy = PRIVATE", v.ReadFilter(sel()).Where("privacy = ?", models.Private), wantPrivate)
				n, err := v.ReadFilter(w.db.NewSelect().Model(model)).Count(ctx)
				if err != nil || n != len(want) {
					t.Errorf("%s: Count = %d, %v; want %d", name, n, err, len(want))
				}
			}
		}
		// And the literal numbers, so the comparison above cannot agree on a shared mistake:
		// 7 collections, a public and a private item of each kind in every one.
		for name, wantN := range map[string]int{"anonymous": 7, "nogrants": 7, "deleteA": 7, "viewA": 10, "viewSub": 9, "viewAB": 8, "mixed": 9, "admin": 14} {
			n, err := w.viewers[name].ReadFilter(db.NewSelect().Model((*models.Image)(nil))).Count(ctx)
			if err != nil || n != wantN {
				t.Errorf("%s sees %d images (%v), want %d", name, n, err, wantN)
			}
		}
	})
}

// TestPreviewTokenSignVerify: creating needs PUBLISH and a TTL within bounds; a token verifies
// until it expires, on any service sharing a verification key; tampered tokens are refused.
func TestPreviewTokenSignVerify(t *testing.T) {
	db := veiltest.SQLite(t)
	w := newPolicyWorld(t, db)
	k1, k2 := []byte(strings.Repeat("1", 32)), []byte(strings.Repeat("2", 32))
	cfg := auth.DefaultConfig()
	cfg.PreviewKeys, cfg.MaxPreviewTTL = [][]byte{k1}, time.Hour
	clock := newTestClock()
	cfg.Clock = clock.Now
	svc := auth.New(db, cfg, nil)
	as := func(v string) context.Context { return auth.WithViewer(context.Background(), w.viewers[v]) }
	const content = "cnt_01M818HZN4S9NGPTE8NJGQZFVH"

	for _, c := range []struct {
		viewer string
		ttl    time.Duration
		want   error
	}{
		{"anonymous", time.Minute, auth.ErrUnauthenticated},
		{"viewA", time.Minute, auth.ErrForbidden},
		{"manager", time.Minute, auth.ErrForbidden},
		{"publisher", 0, &auth.InputError{}},
		{"publisher", -time.Second, &auth.InputError{}},
		{"publisher", time.Hour + time.Second, &auth.InputError{}},
		{"publisher", time.Hour, nil},
		{"admin", time.Minute, nil},
	} {
		_, _, err := svc.CreatePreviewToken(as(c.viewer), content, c.ttl)
		var ie *auth.InputError
		switch {
		case c.want == nil && err != nil,
			c.want != nil && !errors.Is(err, c.want) && !(errors.As(c.want, &ie) && errors.As(err, &ie)):
			t.Errorf("%s, ttl %v: %v, want %v", c.viewer, c.ttl, err, c.want)
		}
	}

	tok, exp, err := svc.CreatePreviewToken(as("publisher"), content, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d > 10*time.Minute || d < 9*time.Minute {
		t.Errorf("expires in %v", d)
	}
	rotated := auth.New(db, auth.Config{PreviewKeys: [][]byte{k2, k1}}, nil) // new key first, old still verifies
	other := auth.New(db, auth.Config{PreviewKeys: [][]byte{k2}}, nil)
	for name, c := range map[string]struct {
		svc *auth.Service
		ok  bool
	}{"same key": {svc, true}, "rotated keys": {rotated, true}, "another key": {other, false}} {
		got, gotExp, err := c.svc.VerifyPreviewToken(tok)
		if c.ok != (err == nil) || c.ok && (got != content || !gotExp.Equal(exp)) {
			t.Errorf("%s: %q %v %v", name, got, gotExp, err)
		}
		if err != nil && !errors.Is(err, auth.ErrBadPreviewToken) {
			t.Errorf("%s: error %v is not ErrBadPreviewToken", name, err)
		}
	}
	payload, sig, _ := strings.Cut(tok, ".")
	for i := range len(tok) {
		if tok[i] == '.' {
			continue
		}
		b := []byte(tok)
		b[i] ^= 0x01
		if c, _, err := svc.VerifyPreviewToken(string(b)); err == nil {
			t.Errorf("a token with byte %d changed verifies (content %q)", i, c)
		}
	}
	// The same signature bytes spelt differently (the unused low bits of the last base64
	// character set) are a changed token too: one token, one spelling.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	if last < 0 || last&3 != 0 {
		t.Fatalf("signature %q does not end in a base64url character with two unused bits", sig)
	}
	respelt := payload + "." + sig[:len(sig)-1] + string(alphabet[last|1])
	for name, bad := range map[string]string{
		"signature respelt": respelt,
		"empty":             "",
		"no dot":            payload + sig,
		"payload only":      payload + ".",
		"signature only":    "." + sig,
		"two dots":          tok + ".x",
		"oversized":         tok + strings.Repeat("A", 4096),
	} {
		if _, _, err := svc.VerifyPreviewToken(bad); !errors.Is(err, auth.ErrBadPreviewToken) {
			t.Errorf("%s: %v", name, err)
		}
	}

	// Expiry: a one-second token stops verifying within about a second.
	short, _, err := svc.CreatePreviewToken(as("publisher"), content, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.VerifyPreviewToken(short); err != nil {
		t.Fatalf("a fresh one-second token: %v", err)
	}
	clock.Advance(2 * time.Second)
	if _, _, err := svc.VerifyPreviewToken(short); !errors.Is(err, auth.ErrBadPreviewToken) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("a one-second preview token 2 s later: %v", err)
	}
}

// testClock is a clock tests move instead of sleeping.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestAuthenticateCache: changes made through the service apply at once despite the cache; the
// cache never accepts a wrong secret or an expired token; changes made elsewhere (another
// instance, straight in the database) are seen within CacheTTL.
func TestAuthenticateCache(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		cfg := auth.DefaultConfig()
		cfg.CacheTTL = 300 * time.Millisecond
		clock := newTestClock()
		cfg.Clock = clock.Now
		svc := auth.New(db, cfg, nil)
		adminTok, err := svc.CreateAdmin(ctx, "Admin", "admin@example.com", "t")
		if err != nil {
			t.Fatal(err)
		}
		admin := auth.WithViewer(ctx, mustAuth(t, svc, adminTok))
		u, err := svc.CreateUser(admin, "u", "u@example.com", false)
		if err != nil {
			t.Fatal(err)
		}
		newTok := func(ttl time.Duration) *auth.CreatedToken {
			ct, err := svc.CreateToken(admin, u.ID, "t", ttl)
			if err != nil {
				t.Fatal(err)
			}
			return ct
		}
		refused := func(what, tok string) {
			t.Helper()
			if v, err := svc.Authenticate(ctx, "Bearer "+tok); !errors.Is(err, auth.ErrUnauthenticated) || v != nil {
				t.Errorf("%s: %v, %v; want ErrUnauthenticated", what, v, err)
			}
		}

		a := newTok(0)
		if v := mustAuth(t, svc, a.Secret); v.UserID != u.ID || v.TokenID != a.Token.ID || v.Admin {
			t.Errorf("viewer %+v", v)
		}
		refused("wrong secret for a cached id", a.Secret[:len(a.Secret)-2]+"xx")
		if _, err := svc.RevokeToken(admin, a.Token.ID); err != nil {
			t.Fatal(err)
		}
		refused("revoked through the service", a.Secret)

		b := newTok(0)
		mustAuth(t, svc, b.Secret)
		if _, err := svc.UpdateUser(admin, u.ID, auth.UserUpdate{Active: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		refused("user deactivated through the service", b.Secret)
		if _, err := svc.UpdateUser(admin, u.ID, auth.UserUpdate{Active: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		mustAuth(t, svc, b.Secret)

		c := newTok(400 * time.Millisecond)
		mustAuth(t, svc, c.Secret)
		cfg.CacheTTL = time.Hour
		long := auth.New(db, cfg, nil) // a cache that outlives the token
		mustAuth(t, long, c.Secret)
		clock.Advance(500 * time.Millisecond)
		refused("expired while its viewer is cached", c.Secret)

		// Revoked by another instance: this cache may answer from memory, but only for CacheTTL.
		d := newTok(0)
		mustAuth(t, svc, d.Secret)
		if _, err := db.NewUpdate().Model((*models.Token)(nil)).Set("revoked_at = ?", models.Now()).Where("id = ?", d.Token.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(301 * time.Millisecond)
		refused("revoked elsewhere, once CacheTTL has passed", d.Secret)

		// Only the hash is stored.
		var row models.Token
		if err := db.NewSelect().Model(&row).Where("id = ?", d.Token.ID).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		secret := d.Secret[len("veil_")+len(d.Token.ID)+1:]
		if sum := sha256.Sum256([]byte(secret)); string(row.SecretHash) != string(sum[:]) {
			t.Errorf("stored hash %x is not the SHA-256 of the secret", row.SecretHash)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// userCountBarrier holds every "count the users" statement until n of them ran (or a second
// passed): the worst interleaving of concurrent Bootstraps, made deterministic.
type userCountBarrier struct {
	n    int32
	seen atomic.Int32
	all  chan struct{}
}

func (b *userCountBarrier) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (b *userCountBarrier) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if !strings.Contains(e.Query, `"users"`) || !strings.Contains(strings.ToLower(e.Query), "count(") {
		return
	}
	if b.seen.Add(1) == b.n {
		close(b.all)
	}
	select {
	case <-b.all:
	case <-time.After(time.Second):
	}
}

// TestBootstrapConcurrent: five processes starting together on a fresh install make exactly one
// admin and print exactly one token; later starts print nothing.
func TestBootstrapConcurrent(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		const n = 5
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			tokens  = make([]string, n)
			errs    = make([]error, n)
			barrier = &userCountBarrier{n: n, all: make(chan struct{})}
			racing  = &models.DB{DB: db.DB.WithQueryHook(barrier), Dialect: db.Dialect}
		)
		for i := range n {
			svc := auth.New(racing, auth.DefaultConfig(), nil) // one service per "process"
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				tokens[i], errs[i] = svc.Bootstrap(ctx)
			}()
		}
		close(start)
		wg.Wait()
		var issued []string
		for i := range n {
			if errs[i] != nil {
				t.Errorf("Bootstrap %d: %v", i, errs[i])
			}
			if tokens[i] != "" {
				issued = append(issued, tokens[i])
			}
		}
		if len(issued) != 1 {
			t.Errorf("%d of %d concurrent Bootstraps returned an admin token, want exactly 1", len(issued), n)
		}
		var users []models.User
		if err := db.NewSelect().Model(&users).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if len(users) != 1 || !users[0].Admin || !users[0].Active {
			t.Fatalf("users after bootstrap: %+v", users)
		}
		svc := auth.New(db, auth.DefaultConfig(), nil)
		for _, tok := range issued {
			if v := mustAuth(t, svc, tok); !v.Admin || v.UserID != users[0].ID {
				t.Errorf("bootstrap token authenticates as %+v", v)
			}
		}
		if tok, err := svc.Bootstrap(ctx); tok != "" || err != nil {
			t.Errorf("Bootstrap with a user present: %q, %v", tok, err)
		}
		if tn, _ := db.NewSelect().Model((*models.Token)(nil)).Count(ctx); tn != len(issued) {
			t.Errorf("%d token rows for %d tokens returned", tn, len(issued))
		}
	})
}

// TestCreateAdmin: veil token create --admin makes an admin, or reuses the admin with that email
// (case-insensitively, as emails are stored), giving a new token each time; it refuses to turn an
// existing non-admin or inactive user into an admin.
func TestCreateAdmin(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		svc := auth.New(db, auth.DefaultConfig(), nil)
		t1, err := svc.CreateAdmin(ctx, "Ops", "ops@example.com", "cli")
		if err != nil {
			t.Fatal(err)
		}
		t2, err := svc.CreateAdmin(ctx, "Ops again", "ops@example.com", "cli")
		if err != nil {
			t.Fatal(err)
		}
		v1, v2 := mustAuth(t, svc, t1), mustAuth(t, svc, t2)
		if t1 == t2 || v1.UserID != v2.UserID || !v1.Admin || !v2.Admin || v1.TokenID == v2.TokenID {
			t.Errorf("reuse: %+v %+v", v1, v2)
		}
		t.Run("email in another case", func(t *testing.T) {
			t3, err := svc.CreateAdmin(ctx, "Ops", "Ops@Example.COM", "cli")
			if err != nil {
				t.Fatalf("CreateAdmin with the existing admin's email in capitals: %v", err)
			}
			if v := mustAuth(t, svc, t3); v.UserID != v1.UserID {
				t.Errorf("another user: %+v", v)
			}
		})
		if n, _ := db.NewSelect().Model((*models.User)(nil)).Count(ctx); n != 1 {
			t.Errorf("%d users, want 1", n)
		}

		admin := auth.WithViewer(ctx, v1)
		plain, err := svc.CreateUser(admin, "Plain", "plain@example.com", false)
		if err != nil {
			t.Fatal(err)
		}
		off, err := svc.CreateUser(admin, "Off", "off@example.com", true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.UpdateUser(admin, off.ID, auth.UserUpdate{Active: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		before, _ := db.NewSelect().Model((*models.Token)(nil)).Count(ctx)
		for _, email := range []string{plain.Email, off.Email} {
			if tok, err := svc.CreateAdmin(ctx, "x", email, "cli"); err == nil || tok != "" {
				t.Errorf("CreateAdmin for %s: %q, %v; want a refusal", email, tok, err)
			}
		}
		if after, _ := db.NewSelect().Model((*models.Token)(nil)).Count(ctx); after != before {
			t.Errorf("refused CreateAdmin calls made %d tokens", after-before)
		}
		var u models.User
		if err := db.NewSelect().Model(&u).Where("id = ?", plain.ID).Scan(ctx); err != nil || u.Admin {
			t.Errorf("plain user after CreateAdmin: %+v %v", u, err)
		}
	})
}

// TestAuthenticateFromValidTokenSkipsLimiter: a well-formed token's failures are counted against
// its id, and a valid one is never refused, so its authentication does not touch the limiter
// (one lock shared by every request); a failing one does.
func TestAuthenticateFromValidTokenSkipsLimiter(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		svc := auth.New(db, auth.DefaultConfig(), nil)
		tok, err := svc.CreateAdmin(ctx, "Admin", "admin@example.com", "t")
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		svc.Limiter.SetNow(func() time.Time { calls++; return time.Now() })
		for i := range 3 {
			if _, err := svc.AuthenticateFrom(ctx, "Bearer "+tok, "192.0.2.1"); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		if calls != 0 {
			t.Errorf("valid token: the limiter was consulted %d times, want 0", calls)
		}
		if _, err := svc.AuthenticateFrom(ctx, "Bearer "+tok[:len(tok)-2]+"xx", "192.0.2.1"); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("wrong secret: %v, want ErrUnauthenticated", err)
		}
		if calls == 0 {
			t.Error("wrong secret: the failure was not counted")
		}
	})
}
