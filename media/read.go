package media

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/models"
)

// Filter narrows a list of images or documents.
type Filter struct {
	// CollectionID keeps items of this collection (and of its descendants when
	// IncludeSubcollections is true).
	CollectionID          string
	IncludeSubcollections bool
	// Search keeps items whose title contains it, case-insensitively.
	Search string
	// Tag keeps items carrying this tag.
	Tag string
}

// PageRequest asks for First items after the cursor After ("" = from the start). Lists are ordered
// newest first.
type PageRequest struct {
	First int
	After string
}

// Default and maximum page sizes.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Page is one page of a list.
type Page[T any] struct {
	Items       []T
	HasNextPage bool
	HasPrevious bool
}

// Cursor returns the opaque cursor of an item id.
func Cursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte("c:" + id)) }

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 3 || string(b[:2]) != "c:" {
		return "", inputErr("after", "is not a cursor returned by this API")
	}
	id := string(b[2:])
	if _, err := ParseID(id); err != nil {
		return "", inputErr("after", "is not a cursor returned by this API")
	}
	return id, nil
}

func (p PageRequest) validate() (int, string, error) {
	n := p.First
	if n == 0 {
		n = DefaultPageSize
	}
	if n < 0 || n > MaxPageSize {
		return 0, "", inputErr("first", "must be between 1 and %d, got %d", MaxPageSize, p.First)
	}
	after := ""
	if p.After != "" {
		id, err := decodeCursor(p.After)
		if err != nil {
			return 0, "", err
		}
		after = id
	}
	return n, after, nil
}

// applyFilter adds the WHERE clauses of f to a select on images or documents.
func (s *Service) applyFilter(q *bun.SelectQuery, f Filter) (*bun.SelectQuery, error) {
	if f.CollectionID != "" {
		if err := parseIDOf("filter.collectionId", f.CollectionID, KindCollection); err != nil {
			return nil, err
		}
		if f.IncludeSubcollections {
			sub := s.db.NewSelect().Model((*models.Collection)(nil)).Column("id").
				Where("path LIKE ? ESCAPE '\\'", "%/"+models.EscapeLike(f.CollectionID)+"/%")
			q = q.Where("collection_id IN (?)", sub)
		} else {
			q = q.Where("collection_id = ?", f.CollectionID)
		}
	}
	if f.Search != "" {
		search, err := cleanText("filter.search", f.Search, maxTitle)
		if err != nil {
			return nil, err
		}
		q = q.Where("lower(title) LIKE ? ESCAPE '\\'", likePattern(search))
	}
	if f.Tag != "" {
		q = q.Where("id IN (?)", s.db.NewSelect().Model((*models.MediaTag)(nil)).Column("media_id").Where("tag = ?", f.Tag))
	}
	return q, nil
}

// ListImages returns one page of images matching f, newest first, in one query.
func (s *Service) ListImages(ctx context.Context, f Filter, p PageRequest) (Page[*models.Image], error) {
	var rows []*models.Image
	return listPage(ctx, s, (*models.Image)(nil), &rows, f, p)
}

// ListDocuments returns one page of documents matching f, newest first, in one query.
func (s *Service) ListDocuments(ctx context.Context, f Filter, p PageRequest) (Page[*models.Document], error) {
	var rows []*models.Document
	return listPage(ctx, s, (*models.Document)(nil), &rows, f, p)
}

func listPage[T any](ctx context.Context, s *Service, model any, rows *[]T, f Filter, p PageRequest) (Page[T], error) {
	n, after, err := p.validate()
	if err != nil {
		return Page[T]{}, err
	}
	q := s.db.NewSelect().Model(rows).OrderExpr("id DESC").Limit(n + 1)
	q = auth.ViewerFrom(ctx).ReadFilter(q)
	if q, err = s.applyFilter(q, f); err != nil {
		return Page[T]{}, err
	}
	if after != "" {
		q = q.Where("id < ?", after)
	}
	if err := s.db.Select(ctx, q); err != nil {
		return Page[T]{}, fmt.Errorf("media: list %T: %w", model, err)
	}
	page := Page[T]{Items: *rows, HasPrevious: after != ""}
	if len(page.Items) > n {
		page.Items, page.HasNextPage = page.Items[:n], true
	}
	return page, nil
}

// CountImages counts the images matching f.
func (s *Service) CountImages(ctx context.Context, f Filter) (int, error) {
	return s.count(ctx, (*models.Image)(nil), f)
}

// CountDocuments counts the documents matching f.
func (s *Service) CountDocuments(ctx context.Context, f Filter) (int, error) {
	return s.count(ctx, (*models.Document)(nil), f)
}

func (s *Service) count(ctx context.Context, model any, f Filter) (int, error) {
	q, err := s.applyFilter(auth.ViewerFrom(ctx).ReadFilter(s.db.NewSelect().Model(model)), f)
	if err != nil {
		return 0, err
	}
	var n int
	if err := s.db.Select(ctx, q.ColumnExpr("count(*)"), &n); err != nil {
		return 0, fmt.Errorf("media: count: %w", err)
	}
	return n, nil
}

// Image returns the image with id if the viewer may see it, else ErrNotFound.
func (s *Service) Image(ctx context.Context, id string) (*models.Image, error) {
	return readRow[*models.Image](ctx, s, id)
}

// Document returns the document with id if the viewer may see it, else ErrNotFound.
func (s *Service) Document(ctx context.Context, id string) (*models.Document, error) {
	return readRow[*models.Document](ctx, s, id)
}

// readRow is Image and Document: the row if the viewer may read it (a preview token: if its draft
// references it), else ErrNotFound.
func readRow[T models.MediaRow](ctx context.Context, s *Service, id string) (T, error) {
	row, err := loadRow[T](ctx, s, id)
	if err != nil {
		return row, err
	}
	m := row.Media()
	if PreviewOnly(ctx) {
		err = s.authorizeDraftRead(ctx, m.ID, m.CollectionID, m.PrivacyState)
	} else {
		err = s.Authorize(ctx, ActionRead, m.CollectionID, m.PrivacyState)
	}
	if err != nil {
		var none T
		return none, err
	}
	return row, nil
}

// loadRow loads the image or document with id without an access check.
func loadRow[T models.MediaRow](ctx context.Context, s *Service, id string) (T, error) {
	var none T
	kind := rowKind[T]()
	if err := parseIDOf("id", id, kind); err != nil {
		return none, err
	}
	row := newRow[T]()
	if err := s.db.Select(ctx, s.db.NewSelect().Model(row).Where("id = ?", id)); err != nil {
		return none, notFound(err, kindName(kind), id)
	}
	return row, nil
}

// newRow returns a new, empty *models.Image or *models.Document.
func newRow[T models.MediaRow]() T {
	var row T
	switch p := any(&row).(type) {
	case **models.Image:
		*p = new(models.Image)
	case **models.Document:
		*p = new(models.Document)
	}
	return row
}

// rowKind is the id kind of T's rows.
func rowKind[T models.MediaRow]() Kind {
	var row T
	if _, ok := any(row).(*models.Image); ok {
		return KindImage
	}
	return KindDocument
}

func notFound(err error, kind, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("media: %s %s: %w", kind, id, ErrNotFound)
	}
	return fmt.Errorf("media: load %s %s: %w", kind, id, err)
}

// ImagesByID loads images for a batch of ids in one query, in the order of ids; a missing id
// yields a nil entry. It is the batch function behind the per-request image loader.
func (s *Service) ImagesByID(ctx context.Context, ids []string) ([]*models.Image, error) {
	return rowsByID[*models.Image](ctx, s, ids)
}

// CollectionsByID loads collections for a batch of ids in one query, in the order of ids; an id
// the viewer may not see (auth.Viewer.CollectionFilter) yields a nil entry, as a missing one does.
func (s *Service) CollectionsByID(ctx context.Context, ids []string) ([]*models.Collection, error) {
	var rows []*models.Collection
	q := auth.ViewerFrom(ctx).CollectionFilter(s.db.NewSelect().Model(&rows).Where("id IN (?)", bun.In(ids)))
	if err := s.db.Select(ctx, q); err != nil {
		return nil, fmt.Errorf("media: load collections: %w", err)
	}
	return inOrder(ids, rows, func(c *models.Collection) string { return c.ID }), nil
}

// CollectionsOfItems loads, like CollectionsByID, the collections of media items the viewer has
// already been allowed to read (by Authorize or ReadFilter), without applying
// auth.Viewer.CollectionFilter again: by that rule the collection of an item the viewer may read
// is always visible (a PUBLIC item makes its collection visible; a private one is readable only
// through a grant on its collection). It saves the filter's subquery on every page of media.
// Never call it with ids that did not come from such items.
func (s *Service) CollectionsOfItems(ctx context.Context, ids []string) ([]*models.Collection, error) {
	var rows []*models.Collection
	if err := s.db.Select(ctx, s.db.NewSelect().Model(&rows).Where("id IN (?)", bun.In(ids))); err != nil {
		return nil, fmt.Errorf("media: load collections: %w", err)
	}
	return inOrder(ids, rows, func(c *models.Collection) string { return c.ID }), nil
}

// TagsByMediaID loads the tags of a batch of images or documents in one query, in the order of
// ids, each sorted alphabetically.
func (s *Service) TagsByMediaID(ctx context.Context, ids []string) ([][]string, error) {
	var rows []models.MediaTag
	if err := s.db.Select(ctx, s.db.NewSelect().Model(&rows).Where("media_id IN (?)", bun.In(ids)).OrderExpr("media_id, tag")); err != nil {
		return nil, fmt.Errorf("media: load tags: %w", err)
	}
	out := groupInOrder(ids, rows, func(r models.MediaTag) (string, string) { return r.MediaID, r.Tag })
	for i := range out {
		if out[i] == nil {
			out[i] = []string{}
		}
	}
	return out, nil
}

// groupInOrder groups rows by key, one group per id in the order of ids (nil for an id with no
// row), each group in the order of rows: what a batch loader returns.
func groupInOrder[T, V any](ids []string, rows []T, kv func(T) (string, V)) [][]V {
	by := make(map[string][]V, len(ids))
	for _, r := range rows {
		k, v := kv(r)
		by[k] = append(by[k], v)
	}
	out := make([][]V, len(ids))
	for i, id := range ids {
		out[i] = by[id]
	}
	return out
}

func inOrder[T any](ids []string, rows []T, key func(T) string) []T {
	byID := make(map[string]T, len(rows))
	for _, r := range rows {
		byID[key(r)] = r
	}
	out := make([]T, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out
}

// DocumentsByID loads documents for a batch of ids in one query, in the order of ids.
func (s *Service) DocumentsByID(ctx context.Context, ids []string) ([]*models.Document, error) {
	return rowsByID[*models.Document](ctx, s, ids)
}

// rowsByID is ImagesByID and DocumentsByID.
func rowsByID[T models.MediaRow](ctx context.Context, s *Service, ids []string) ([]T, error) {
	var rows []T
	if err := s.db.Select(ctx, s.db.NewSelect().Model(&rows).Where("id IN (?)", bun.In(ids))); err != nil {
		return nil, fmt.Errorf("media: load %ss: %w", kindName(rowKind[T]()), err)
	}
	return inOrder(ids, rows, func(row T) string { return row.Media().ID }), nil
}

// Visible returns item when the viewer may see it, else nil (for lists of references).
func (s *Service) Visible(ctx context.Context, item models.MediaItem) models.MediaItem {
	switch x := item.(type) {
	case *models.Image:
		if x != nil && s.Authorize(ctx, ActionRead, x.CollectionID, x.PrivacyState) == nil {
			return x
		}
	case *models.Document:
		if x != nil && s.Authorize(ctx, ActionRead, x.CollectionID, x.PrivacyState) == nil {
			return x
		}
	}
	return nil
}
