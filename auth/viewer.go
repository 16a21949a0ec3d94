package auth

import (
	"context"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/models"
)

// Viewer is who a request acts as: anonymous, or a user with the permissions of their groups,
// resolved when the request authenticated.
type Viewer struct {
	// UserID is "" for the anonymous viewer.
	UserID string
	Name   string
	Admin  bool
	// TokenID is the API token the request used.
	TokenID string

	expiresAt   *time.Time // the token's expiry, nil when it has none
	resolved    time.Time  // when the token and grants were read from the database
	global      map[models.Permission]bool
	collections map[models.Permission][]string // collection ids whose subtrees are granted
}

// Anonymous is the viewer of a request without credentials.
var Anonymous = &Viewer{}

// System is the viewer of Veil's own background work (eager renditions, permission retries): it
// may do everything. Never attach it to a request.
var System = &Viewer{UserID: "system", Name: "system", Admin: true}

// IsAnonymous reports whether v has no identity.
func (v *Viewer) IsAnonymous() bool { return v == nil || v.UserID == "" }

type viewerKey struct{}

// WithViewer stores v in ctx.
func WithViewer(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// ViewerFrom returns the viewer in ctx, or Anonymous.
func ViewerFrom(ctx context.Context) *Viewer {
	if v, ok := ctx.Value(viewerKey{}).(*Viewer); ok && v != nil {
		return v
	}
	return Anonymous
}

// HasGlobal reports whether v holds a global permission (PUBLISH, MANAGE_USERS).
func (v *Viewer) HasGlobal(p models.Permission) bool {
	return v != nil && (v.Admin || v.global[p])
}

// Can reports whether v holds permission p on a collection, given the collection's path
// ("/root/…/id/"): grants on any ancestor (or the collection itself) apply.
func (v *Viewer) Can(p models.Permission, collectionPath string) bool {
	if v.IsAnonymous() {
		return false
	}
	if v.Admin {
		return true
	}
	for _, id := range v.collections[p] {
		if strings.Contains(collectionPath, "/"+id+"/") {
			return true
		}
	}
	return false
}

// MayUpload reports whether v may upload anything at all: uploading needs ADD on the target
// collection, so a viewer without ADD on any collection (and the anonymous viewer) cannot. It is
// checked before a byte of an upload is read; the target collection is checked again, exactly, by
// the upload itself.
func (v *Viewer) MayUpload() bool {
	return !v.IsAnonymous() && (v.Admin || len(v.collections[models.PermAdd]) > 0)
}

// readPerms are the permissions that let a viewer see private items of a collection.
var readPerms = []models.Permission{models.PermView, models.PermAdd, models.PermChange}

// CanRead reports whether v may see an item of the collection at collectionPath with privacy p:
// everyone sees public items; private ones need VIEW, ADD or CHANGE on the collection (or admin).
func (v *Viewer) CanRead(collectionPath string, p models.Privacy) bool {
	if p == models.Public {
		return true
	}
	for _, perm := range readPerms {
		if v.Can(perm, collectionPath) {
			return true
		}
	}
	return false
}

// ReadFilter adds to a select on images or documents the condition that keeps only the rows v
// may see, so pagination counts and limits apply to visible rows only.
func (v *Viewer) ReadFilter(q *bun.SelectQuery) *bun.SelectQuery {
	if v != nil && v.Admin {
		return q
	}
	var ids []string
	if !v.IsAnonymous() {
		seen := map[string]bool{}
		for _, p := range readPerms {
			for _, id := range v.collections[p] {
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
	}
	if len(ids) == 0 {
		return q.Where("privacy = ?", models.Public)
	}
	return q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		q = q.Where("privacy = ?", models.Public)
		sub := q.NewSelect().Model((*models.Collection)(nil)).Column("id")
		sub = sub.WhereGroup(" AND ", func(s *bun.SelectQuery) *bun.SelectQuery {
			for _, id := range ids {
				s = s.WhereOr("path LIKE ? ESCAPE '\\'", "%/"+models.EscapeLike(id)+"/%")
			}
			return s
		})
		return q.WhereOr("collection_id IN (?)", sub)
	})
}

// collectionPerms are the permissions granted on collections: holding any of them on a collection
// or an ancestor makes the collection visible.
var collectionPerms = []models.Permission{models.PermView, models.PermAdd, models.PermChange, models.PermDelete}

// CollectionFilter adds to a select on collections the condition that keeps only the collections
// v may see. It is the one rule for every place that hands out a collection (lists, by id, node,
// parent, a media item's collection, grants):
//
//   - admins and MANAGE_USERS holders (who grant permissions on collections) see every one;
//   - everyone else, anonymous viewers included, sees a collection when they hold a grant
//     (VIEW, ADD, CHANGE or DELETE) on it or on an ancestor, or when it or a descendant holds a
//     PUBLIC image or document.
//
// So a collection of an item v may read is always visible, and the ancestors of a collection
// that is visible only through a grant are not (their parent field is null).
func (v *Viewer) CollectionFilter(q *bun.SelectQuery) *bun.SelectQuery {
	if v.HasGlobal(models.PermManageUsers) {
		return q
	}
	var ids []string
	if !v.IsAnonymous() {
		seen := map[string]bool{}
		for _, p := range collectionPerms {
			for _, id := range v.collections[p] {
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
	}
	// A public item in the subtree: the collections holding public items, and every ancestor of
	// one (a prefix of its path). Not correlated, so the database computes the set once per query.
	const public = `?TableAlias.id IN (SELECT anc.id FROM collections AS anc JOIN collections AS pc
		ON substr(pc.path, 1, length(anc.path)) = anc.path
		WHERE pc.id IN (SELECT collection_id FROM images WHERE privacy = 'PUBLIC'
			UNION SELECT collection_id FROM documents WHERE privacy = 'PUBLIC'))`
	return q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		for _, id := range ids {
			q = q.WhereOr("?TableAlias.path LIKE ? ESCAPE '\\'", "%/"+models.EscapeLike(id)+"/%")
		}
		return q.WhereOr(public)
	})
}
