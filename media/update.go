package media

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/renditions"
)

// Optional is a field an update may set. Set false leaves the stored value alone; Set true with a
// nil Value (for pointer types) clears it.
type Optional[T any] struct {
	Set   bool
	Value T
}

// Some returns a set Optional.
func Some[T any](v T) Optional[T] { return Optional[T]{Set: true, Value: v} }

// UpdateImageInput changes an image's metadata. Unset fields are left alone.
type UpdateImageInput struct {
	ID           string
	Title        Optional[string]
	Alt          Optional[string]
	Tags         Optional[[]string]
	CollectionID Optional[string]
	FocalPoint   Optional[*FocalPoint]
}

// UpdateDocumentInput changes a document's metadata. Unset fields are left alone.
type UpdateDocumentInput struct {
	ID           string
	Title        Optional[string]
	Tags         Optional[[]string]
	CollectionID Optional[string]
}

// UpdateImage applies in to the image and returns it as stored.
func (s *Service) UpdateImage(ctx context.Context, in UpdateImageInput) (*models.Image, error) {
	alt := in.Alt
	shared := sharedUpdate{ID: in.ID, Title: in.Title, Tags: in.Tags, CollectionID: in.CollectionID}
	check := func() (err error) {
		if alt.Set {
			alt.Value, err = cleanText("alt", alt.Value, maxAlt)
		}
		return err
	}
	return updateRow(ctx, s, shared, check, func(img *models.Image) (afterWrite, error) {
		if alt.Set {
			img.Alt = alt.Value
		}
		oldFocal := focalOf(img)
		if in.FocalPoint.Set {
			if fp := in.FocalPoint.Value; fp != nil {
				if err := validateFocal(*fp); err != nil {
					return nil, err
				}
				img.FocalX, img.FocalY, img.FocalWidth, img.FocalHeight = &fp.X, &fp.Y, &fp.Width, &fp.Height
			} else {
				img.FocalX, img.FocalY, img.FocalWidth, img.FocalHeight = nil, nil, nil, nil
			}
		}
		if sameFocal(oldFocal, focalOf(img)) {
			return nil, nil
		}
		return func(ctx context.Context, tx bun.Tx) error { return s.dropFocalRenditions(ctx, tx, img.ID) }, nil
	})
}

// UpdateDocument applies in to the document and returns it as stored.
func (s *Service) UpdateDocument(ctx context.Context, in UpdateDocumentInput) (*models.Document, error) {
	shared := sharedUpdate{ID: in.ID, Title: in.Title, Tags: in.Tags, CollectionID: in.CollectionID}
	return updateRow(ctx, s, shared, nil, func(*models.Document) (afterWrite, error) { return nil, nil })
}

// sharedUpdate is the part of an update that images and documents share.
type sharedUpdate struct {
	ID           string
	Title        Optional[string]
	Tags         Optional[[]string]
	CollectionID Optional[string]
}

// afterWrite is a step of an update that runs in its transaction once the row is written (nil for
// none): file deletions go there, so a refused write deletes nothing.
type afterWrite func(ctx context.Context, tx bun.Tx) error

// updateRow is the update of an image or a document. The shared fields are validated, then check
// (the kind's own validation before any row is read; may be nil); under the row's lock the viewer's
// CHANGE is checked, the shared fields are set and apply sets the kind's own; the row and its tags
// are written, apply's afterWrite runs, and the change is recorded — all in one transaction.
func updateRow[T models.MediaRow](ctx context.Context, s *Service, in sharedUpdate, check func() error, apply func(T) (afterWrite, error)) (T, error) {
	var none T
	kind := rowKind[T]()
	if err := parseIDOf("id", in.ID, kind); err != nil {
		return none, err
	}
	tags, err := s.prepareCommon(ctx, in.Title, in.Tags, in.CollectionID)
	if err != nil {
		return none, err
	}
	if check != nil {
		if err := check(); err != nil {
			return none, err
		}
	}
	row := newRow[T]()
	m := row.Media()
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.forUpdate(tx.NewSelect().Model(row).Where("id = ?", in.ID)).Scan(ctx); err != nil {
			return notFound(err, kindName(kind), in.ID)
		}
		if err := s.Authorize(ctx, ActionChange, m.CollectionID, m.PrivacyState); err != nil {
			return err
		}
		if in.Title.Set {
			m.Title = in.Title.Value
		}
		if in.CollectionID.Set {
			m.CollectionID = in.CollectionID.Value
		}
		after, err := apply(row)
		if err != nil {
			return err
		}
		m.UpdatedAt = models.Now()
		if _, err := tx.NewUpdate().Model(row).WherePK().Exec(ctx); err != nil {
			return s.updateErr(err, kindName(kind))
		}
		if after != nil {
			if err := after(ctx, tx); err != nil {
				return err
			}
		}
		if err := replaceTags(ctx, tx, m.ID, in.Tags.Set, tags); err != nil {
			return err
		}
		return s.recordMedia(ctx, tx, events.MediaUpdated, m.ID, m.CollectionID, m.Privacy)
	})
	s.cache.drop(in.ID)
	if err != nil {
		return none, err
	}
	return row, nil
}

// prepareCommon validates the fields images and documents share, normalising title and collection
// in place, and returns the cleaned tags.
func (s *Service) prepareCommon(ctx context.Context, title Optional[string], tags Optional[[]string], coll Optional[string]) ([]string, error) {
	if title.Set {
		t, err := cleanText("title", title.Value, maxTitle)
		if err != nil {
			return nil, err
		}
		if t == "" {
			return nil, inputErr("title", "must not be empty")
		}
	}
	if coll.Set {
		if _, err := s.resolveCollection(ctx, coll.Value, models.PermAdd); err != nil {
			return nil, err
		}
	}
	if !tags.Set {
		return nil, nil
	}
	return cleanTags(tags.Value)
}

func (s *Service) updateErr(err error, kind string) error {
	if isUniqueViolation(err) {
		return inputErr("collectionId", "an identical %s already exists in the target collection", kind)
	}
	return fmt.Errorf("media: update %s: %w", kind, err)
}

func replaceTags(ctx context.Context, tx bun.Tx, id string, set bool, tags []string) error {
	if !set {
		return nil
	}
	if _, err := tx.NewDelete().Model((*models.MediaTag)(nil)).Where("media_id = ?", id).Exec(ctx); err != nil {
		return fmt.Errorf("media: replace tags: %w", err)
	}
	if err := insertTags(ctx, tx, id, tags); err != nil {
		return fmt.Errorf("media: replace tags: %w", err)
	}
	return nil
}

// DeleteImage removes an image, its tags, its renditions and all their files. The rows are removed
// in a transaction that commits only after the files are gone, so a storage failure leaves the
// image intact (and reports STORAGE_UNAVAILABLE) rather than leaving files without rows.
func (s *Service) DeleteImage(ctx context.Context, id string, force bool) error {
	return deleteRow[*models.Image](ctx, s, id, force)
}

// DeleteDocument removes a document, its tags and its file (see DeleteImage for the ordering).
func (s *Service) DeleteDocument(ctx context.Context, id string, force bool) error {
	return deleteRow[*models.Document](ctx, s, id, force)
}

// deleteRow is DeleteImage and DeleteDocument: under the row's lock, DELETE is checked (unless an
// upload is being taken back) and live use refused unless forced; references, renditions (images),
// tags, permission-sync state and the row go, the deletion is recorded, and the files are deleted
// last, inside the transaction.
func deleteRow[T models.MediaRow](ctx context.Context, s *Service, id string, force bool) error {
	kind := rowKind[T]()
	if err := parseIDOf("id", id, kind); err != nil {
		return err
	}
	defer s.cache.drop(id)
	fail := func(err error) error { return fmt.Errorf("media: delete %s: %w", kindName(kind), err) }
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		row := newRow[T]()
		m := row.Media()
		if err := s.forUpdate(tx.NewSelect().Model(row).Where("id = ?", id)).Scan(ctx); err != nil {
			return notFound(err, kindName(kind), id)
		}
		if err := s.Authorize(ctx, ActionDelete, m.CollectionID, m.PrivacyState); err != nil && !takingBack(ctx) {
			return err
		}
		if err := s.refuseIfLive(ctx, id, force); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*models.Reference)(nil)).Where("media_id = ?", id).Exec(ctx); err != nil {
			return fmt.Errorf("media: delete references: %w", err)
		}
		var keys []string
		if kind == KindImage {
			if err := tx.NewSelect().Model((*models.Rendition)(nil)).Column("storage_key").Where("image_id = ?", id).Scan(ctx, &keys); err != nil {
				return fail(err)
			}
			if _, err := tx.NewDelete().Model((*models.Rendition)(nil)).Where("image_id = ?", id).Exec(ctx); err != nil {
				return fail(err)
			}
		}
		for _, dependent := range []any{(*models.MediaTag)(nil), (*models.PermissionSync)(nil)} {
			if _, err := tx.NewDelete().Model(dependent).Where("media_id = ?", id).Exec(ctx); err != nil {
				return fail(err)
			}
		}
		if _, err := tx.NewDelete().Model(row).WherePK().Exec(ctx); err != nil {
			return fail(err)
		}
		if err := s.recordMedia(ctx, tx, events.MediaDeleted, m.ID, m.CollectionID, m.Privacy); err != nil {
			return err
		}
		for _, k := range append(keys, m.StorageKey) {
			if err := s.store.Delete(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
}

func sameFocal(a, b *renditions.FocalPoint) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// dropFocalRenditions removes the renditions of an image that depend on its focal point (fill),
// rows and files; the others stay valid. Files go before the transaction commits, so a storage
// failure keeps everything as it was.
func (s *Service) dropFocalRenditions(ctx context.Context, tx bun.Tx, imageID string) error {
	var keys []string
	q := tx.NewSelect().Model((*models.Rendition)(nil)).Column("storage_key").Where("image_id = ? AND focal_key <> ''", imageID)
	if err := q.Scan(ctx, &keys); err != nil {
		return fmt.Errorf("media: find fill renditions: %w", err)
	}
	if _, err := tx.NewDelete().Model((*models.Rendition)(nil)).Where("image_id = ? AND focal_key <> ''", imageID).Exec(ctx); err != nil {
		return fmt.Errorf("media: drop fill renditions: %w", err)
	}
	for _, k := range keys {
		if err := s.store.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}
