package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/fault"
	"github.com/veil-media/veil/models"
)

// Action is something a viewer wants to do with a media item.
type Action string

// Actions the access decision knows.
const (
	ActionRead   Action = "read"
	ActionChange Action = "change"
	ActionDelete Action = "delete"
)

// ErrHidden is returned for an item that exists but that the viewer may not see. It is an
// ErrNotFound (GraphQL does not leak existence); serve views answer it with 403.
var ErrHidden error = &fault.Error{Kind: fault.NotFound, Message: "not found"}

// Authorize is the one access decision for media items: GraphQL resolvers and every serve view
// call it (serve views through authorizeServe, which adds preview tokens), and it asks package
// auth's policy. It returns nil when the viewer in ctx may perform a
// on an item of collectionID in privacy state st; ErrHidden when they may not even see it;
// auth.ErrUnauthenticated for an anonymous viewer who could sign in; auth.ErrForbidden for a
// known viewer who sees the item but lacks the permission.
func (s *Service) Authorize(ctx context.Context, a Action, collectionID string, st models.PrivacyState) error {
	v := auth.ViewerFrom(ctx)
	path, err := s.collectionPath(ctx, collectionID)
	if err != nil {
		return err
	}
	if !v.CanRead(path, st.Privacy) {
		return ErrHidden
	}
	var perm models.Permission
	switch a {
	case ActionRead:
		return nil
	case ActionChange:
		perm = models.PermChange
	case ActionDelete:
		perm = models.PermDelete
	}
	return requirePerm(v, perm, path)
}

func requirePerm(v *auth.Viewer, perm models.Permission, path string) error {
	switch {
	case v.IsAnonymous():
		return fault.Unauthenticatedf("sign in with an API token")
	case !v.Can(perm, path):
		return fault.Forbiddenf("needs %s on this collection", perm)
	}
	return nil
}

// authorizeCollection checks a permission on a collection itself (upload into it, create a
// child collection).
func (s *Service) authorizeCollection(ctx context.Context, perm models.Permission, collectionID string) error {
	path, err := s.collectionPath(ctx, collectionID)
	if err != nil {
		return err
	}
	return requirePerm(auth.ViewerFrom(ctx), perm, path)
}

// collectionPath returns a collection's materialised path. Paths never change (collections are
// not moved), so they are cached for the life of the process.
func (s *Service) collectionPath(ctx context.Context, id string) (string, error) {
	if p, ok := s.paths.Load(id); ok {
		return p.(string), nil
	}
	var path string
	if err := s.db.NewSelect().Model((*models.Collection)(nil)).Column("path").Where("id = ?", id).Scan(ctx, &path); err != nil {
		return "", notFound(err, "collection", id)
	}
	s.paths.Store(id, path)
	return path, nil
}

// Object is an open stored file with what a serve view needs to answer conditional and range
// requests. The caller closes Body.
type Object struct {
	// Body is the object's bytes: on a folder bucket the file itself, which a response hands to
	// the kernel (sendfile). The caller closes it.
	Body        io.ReadSeekCloser
	ContentType string
	// Size is Body's size as found when it was opened (not the size recorded in the database).
	Size     int64
	SHA256   string
	ModTime  time.Time
	Filename string
	Privacy  models.Privacy
	// Immutable is set for renditions: their URL changes whenever their bytes would.
	Immutable bool
	// Redirect, when set, is the direct URL of a public file whose storage permission is known to
	// be set: answer 302 to it instead of streaming (Body is nil then).
	Redirect string
	// Derived, when not nil, lives exactly as long as what this object was resolved from (a
	// rendition URL's memo inside its row's serve-cache entry): the server keeps there what it
	// derives for a response from ContentType, SHA256, ModTime and Filename, which do not change
	// while it lives.
	Derived *atomic.Value
}

// DirectURL returns the direct storage/CDN URL of an object, or "" when proxy-only.
func (s *Service) DirectURL(key string) string {
	if s.cfg.DirectBaseURL == "" {
		return ""
	}
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.TrimRight(s.cfg.DirectBaseURL, "/") + "/" + strings.Join(parts, "/")
}

// directFor returns the direct URL to redirect to for an item's file, or "": only for public items
// whose file permissions are up to date (never redirect to a URL that would fail).
func (s *Service) directFor(st models.PrivacyState, key string) string {
	if st.Privacy != models.Public || st.PermissionsOutdated() {
		return ""
	}
	return s.DirectURL(key)
}

// OriginalURL is the URL GraphQL hands out for an image: direct when public and up to date, else
// the permission-checked serve view (path relative to the public base).
func (s *Service) OriginalURL(img *models.Image) string {
	return s.fileURL("/media/originals/", &img.MediaFields)
}

// DocumentURL is OriginalURL for documents.
func (s *Service) DocumentURL(doc *models.Document) string {
	return s.fileURL("/media/documents/", &doc.MediaFields)
}

func (s *Service) fileURL(view string, m *models.MediaFields) string {
	if u := s.directFor(m.PrivacyState, m.StorageKey); u != "" {
		return u
	}
	return view + m.ID + "/" + url.PathEscape(m.Filename)
}

// unreadable returns, in id order, the ids among ids (images and documents) that name no item or
// an item the viewer in ctx may not read (Authorize with ActionRead: PUBLIC, or VIEW, ADD or
// CHANGE on its collection). It is the one check behind "what you may not read, you cannot
// reference or publish": UpsertContent and PublishContent call it, and both answer the two kinds
// alike (unknownMedia), so a reference never tells which ids exist. db is where to read the items:
// the publish transaction reads them under its locks, so the privacy it sees is the one it
// changes.
func (s *Service) unreadable(ctx context.Context, db bun.IDB, ids []string) ([]string, error) {
	imgs, docs := splitIDs(ids)
	var out []string
	for _, set := range []struct {
		model any
		ids   []string
	}{{(*models.Image)(nil), imgs}, {(*models.Document)(nil), docs}} {
		if len(set.ids) == 0 {
			continue
		}
		var rows []struct {
			ID           string         `bun:"id"`
			CollectionID string         `bun:"collection_id"`
			Privacy      models.Privacy `bun:"privacy"`
		}
		if err := db.NewSelect().Model(set.model).Column("id", "collection_id", "privacy").
			Where("id IN (?)", bun.In(set.ids)).Scan(ctx, &rows); err != nil {
			return nil, fmt.Errorf("media: check references: %w", err)
		}
		readable := make(map[string]bool, len(rows))
		for _, r := range rows {
			err := s.Authorize(ctx, ActionRead, r.CollectionID, models.PrivacyState{Privacy: r.Privacy})
			switch {
			case err == nil:
				readable[r.ID] = true
			case !errors.Is(err, ErrHidden):
				return nil, err
			}
		}
		for _, id := range set.ids {
			if !readable[id] {
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// unknownMedia is the answer for references to ids that name nothing the viewer may read.
func unknownMedia(ids []string) error {
	return inputErr("references", "unknown media: %s", strings.Join(first(ids, 5), ", "))
}

type previewKey struct{}

type preview struct {
	contentID string
	creator   *auth.Viewer
}

// WithPreview marks ctx as carrying a valid preview token for content item contentID, made by
// creator (with the creator's current permissions, see auth.Service.OpenPreview).
func WithPreview(ctx context.Context, contentID string, creator *auth.Viewer) context.Context {
	return context.WithValue(ctx, previewKey{}, preview{contentID, creator})
}

// authorizeServe is Authorize for serve views, where a preview token may also open a private item:
// one that the draft of its content references and that the token's creator may read now. So a
// token never opens more than its creator could open with their own API token, and revoking the
// creator's grant (or deactivating them) closes their preview tokens too.
func (s *Service) authorizeServe(ctx context.Context, id, collectionID string, st models.PrivacyState) error {
	err := s.Authorize(ctx, ActionRead, collectionID, st)
	if !errors.Is(err, ErrHidden) {
		return err
	}
	p, ok := ctx.Value(previewKey{}).(preview)
	if !ok || p.creator == nil {
		return err
	}
	if s.Authorize(auth.WithViewer(ctx, p.creator), ActionRead, collectionID, st) != nil {
		return err
	}
	n, qerr := s.db.NewSelect().Model((*models.Reference)(nil)).
		Where("content_id = ? AND state = ? AND media_id = ?", p.contentID, models.Draft, id).Count(ctx)
	if qerr != nil {
		return fmt.Errorf("media: check preview: %w", qerr)
	}
	if n == 0 {
		return err
	}
	return nil
}

// OpenOriginal checks access to an image and opens its original file; filename must be the
// image's own (the serve URL carries it), else ErrNotFound. A missing file is storage.ErrNotFound
// (the serve view answers 410); a failing bucket is storage.ErrUnavailable.
func (s *Service) OpenOriginal(ctx context.Context, id, filename string) (*Object, error) {
	img, err := s.servedImage(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.openFile(ctx, &img.MediaFields, "image", filename)
}

// OpenDocument checks access to a document and opens its file; filename must be the document's
// own (the serve URL carries it), else ErrNotFound.
func (s *Service) OpenDocument(ctx context.Context, id, filename string) (*Object, error) {
	doc, err := loadRow[*models.Document](ctx, s, id)
	if err != nil {
		return nil, err
	}
	return s.openFile(ctx, &doc.MediaFields, "document", filename)
}

// openFile is OpenOriginal and OpenDocument once the row is loaded: the serve check, the filename
// check, then a redirect to the direct URL or the opened file.
func (s *Service) openFile(ctx context.Context, m *models.MediaFields, kind, filename string) (*Object, error) {
	if err := s.authorizeServe(ctx, m.ID, m.CollectionID, m.PrivacyState); err != nil {
		return nil, err
	}
	if filename != m.Filename {
		return nil, fmt.Errorf("media: %s %s has another filename: %w", kind, m.ID, ErrNotFound)
	}
	if u := s.directFor(m.PrivacyState, m.StorageKey); u != "" {
		return &Object{Redirect: u, Privacy: m.Privacy}, nil
	}
	r, size, err := s.store.Open(ctx, m.StorageKey)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	return &Object{Body: r, ContentType: m.ContentType, Size: size, SHA256: m.SHA256, ModTime: m.UpdatedAt, Filename: m.Filename, Privacy: m.Privacy}, nil
}
