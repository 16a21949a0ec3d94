package server_test

import (
	"strings"
	"testing"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

type auditNode struct {
	Cursor, Type                                string
	Actor, TokenID, MediaID, ContentID, Subject *string
	Privacy, PrivacyBefore, Cause, Detail       *string
}

type auditPage struct {
	AuditLog struct {
		Edges []struct {
			Cursor string
			Node   auditNode
		}
		PageInfo struct {
			HasNextPage bool
			EndCursor   *string
		}
	}
}

const auditQuery = `query($f: Int, $a: String, $filter: AuditFilter) { auditLog(first: $f, after: $a, filter: $filter) {
	edges { cursor node { cursor type actor tokenId mediaId contentId subject privacy privacyBefore cause detail } }
	pageInfo { hasNextPage endCursor } } }`

// TestAuditLogAnswersWhoMadeItPublic: the audit log tells which user, with which token, made an
// item public and what it was before; managers of users read only identity events; others are
// refused; pages follow the cursor; bad arguments are input errors.
func TestAuditLogAnswersWhoMadeItPublic(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		e := newPrivEnv(t, db, privOpts{})
		col := e.collection()
		img := e.image(col)
		publisher := e.user("publisher", grantOf{"PUBLISH", ""}, grantOf{"VIEW", col})
		manager := e.user("manager", grantOf{"MANAGE_USERS", ""})
		plain := e.user("plain", grantOf{"VIEW", col})
		cid := e.upsert("home", img.ID)
		e.srv.As(publisher).GraphQL(`mutation($id: ID!) { publishContent(id: $id) { madePublic } }`, map[string]any{"id": cid}).Decode(t, &struct{}{})
		var me struct{ Me struct{ ID string } }
		e.srv.As(publisher).GraphQL(`{ me { id } }`, nil).Decode(t, &me)

		var p auditPage
		e.srv.GraphQL(auditQuery, map[string]any{"filter": map[string]any{"mediaId": img.ID, "type": []string{"PRIVACY_CHANGED"}}}).Decode(t, &p)
		if len(p.AuditLog.Edges) != 1 {
			t.Fatalf("privacy changes of %s: %+v", img.ID, p)
		}
		n := p.AuditLog.Edges[0].Node
		if n.Actor == nil || *n.Actor != me.Me.ID || n.TokenID == nil || !strings.HasPrefix(publisher, "veil_"+*n.TokenID+"_") ||
			n.Privacy == nil || *n.Privacy != "PUBLIC" || n.PrivacyBefore == nil || *n.PrivacyBefore != "PRIVATE" ||
			n.ContentID == nil || *n.ContentID != cid || n.Cause == nil || *n.Cause != "publish" {
			t.Fatalf("who made it public: %+v (publisher %s)", n, me.Me.ID)
		}

		// Everything about the item, newest first: its privacy change, then its upload.
		e.srv.GraphQL(auditQuery, map[string]any{"filter": map[string]any{"mediaId": img.ID, "type": []string{"PRIVACY_CHANGED", "MEDIA_UPLOADED"}}}).Decode(t, &p)
		if len(p.AuditLog.Edges) != 2 || p.AuditLog.Edges[0].Node.Type != "PRIVACY_CHANGED" || p.AuditLog.Edges[1].Node.Type != "MEDIA_UPLOADED" {
			t.Fatalf("item history: %+v", p.AuditLog.Edges)
		}

		// Paging through everything, two at a time, visits every event once, cursors decreasing.
		var all auditPage
		e.srv.GraphQL(auditQuery, map[string]any{"f": 200}).Decode(t, &all)
		var paged []string
		var after any
		for {
			e.srv.GraphQL(auditQuery, map[string]any{"f": 2, "a": after}).Decode(t, &p)
			for _, ed := range p.AuditLog.Edges {
				paged = append(paged, ed.Cursor)
			}
			if !p.AuditLog.PageInfo.HasNextPage {
				break
			}
			after = *p.AuditLog.PageInfo.EndCursor
		}
		if len(paged) != len(all.AuditLog.Edges) || len(paged) < 10 {
			t.Fatalf("paged %d events, one page of %d", len(paged), len(all.AuditLog.Edges))
		}
		for i, ed := range all.AuditLog.Edges {
			if paged[i] != ed.Cursor {
				t.Fatalf("page order differs at %d", i)
			}
		}

		// A manager of users sees the grants and tokens, nothing about media.
		e.srv.As(manager).GraphQL(auditQuery, map[string]any{"f": 200}).Decode(t, &p)
		kinds := map[string]bool{}
		for _, ed := range p.AuditLog.Edges {
			kinds[ed.Node.Type] = true
		}
		if !kinds["GRANT_CHANGED"] || !kinds["TOKEN_CREATED"] || !kinds["USER_CREATED"] || kinds["PRIVACY_CHANGED"] || kinds["MEDIA_UPLOADED"] {
			t.Fatalf("a manager of users sees %v", kinds)
		}
		for _, tc := range []struct {
			token, code string
			vars        map[string]any
		}{
			{plain, "FORBIDDEN", nil},
			{publisher, "FORBIDDEN", nil},
			{"", "UNAUTHENTICATED", nil},
			{e.srv.AdminToken, "BAD_USER_INPUT", map[string]any{"f": 0}},
			{e.srv.AdminToken, "COMPLEXITY_LIMIT_EXCEEDED", map[string]any{"f": 100000}},
			{e.srv.AdminToken, "BAD_USER_INPUT", map[string]any{"a": "'; DROP TABLE events; --"}},
			{e.srv.AdminToken, "BAD_USER_INPUT", map[string]any{"filter": map[string]any{"type": []string{"NOT_A_TYPE"}}}},
		} {
			if code := e.srv.As(tc.token).GraphQL(auditQuery, tc.vars).Code(); code != tc.code {
				t.Errorf("auditLog as %.12q with %v: %s, want %s", tc.token, tc.vars, code, tc.code)
			}
		}
	})
}
