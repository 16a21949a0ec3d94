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
	if err := parseIDOf("id", in.ID, KindImage); err != nil {
		return nil, err
	}
	tags, err := s.prepareCommon(ctx, in.Title, in.Tags, in.CollectionID)
	if err != nil {
		return nil, err
	}
	alt := in.Alt
	if alt.Set {
		if alt.Value, err = cleanText("alt", alt.Value, maxAlt); err != nil {
			return nil, err
		}
	}
	img := new(models.Image)
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.forUpdate(tx.NewSelect().Model(img).Where("id = ?", in.ID)).Scan(ctx); err != nil {
			return notFound(err, "image", in.ID)
		}
		if err := s.Authorize(ctx, ActionChange, img.CollectionID, img.PrivacyState); err != nil {
			return err
		}
		if in.Title.Set {
			img.Title = in.Title.Value
		}
		if alt.Set {
			img.Alt = alt.Value
		}
		if in.CollectionID.Set {
			img.CollectionID = in.CollectionID.Value
		}
		oldFocal := focalOf(img)
		if in.FocalPoint.Set {
			if fp := in.FocalPoint.Value; fp != nil {
				if err := validateFocal(*fp); err != nil {
					return err
				}
				img.FocalX, img.FocalY, img.FocalWidth, img.FocalHeight = &fp.X, &fp.Y, &fp.Width, &fp.Height
			} else {
				img.FocalX, img.FocalY, img.FocalWidth, img.FocalHeight = nil, nil, nil, nil
			}
		}
		img.UpdatedAt = models.Now()
		if _, err := tx.NewUpdate().Model(img).WherePK().Exec(ctx); err != nil {
			return s.updateErr(err, "image")
		}
		if newFocal := focalOf(img); !sameFocal(oldFocal, newFocal) {
			if err := s.dropFocalRenditions(ctx, tx, img.ID); err != nil {
				return err
			}
		}
		if err := replaceTags(ctx, tx, img.ID, in.Tags.Set, tags); err != nil {
			return err
		}
		return s.recordMedia(ctx, tx, events.MediaUpdated, img.ID, img.CollectionID, img.Privacy)
	})
	s.cache.drop(in.ID)
	if err != nil {
		return nil, err
	}
	return img, nil
}

// UpdateDocument applies in to the document and returns it as stored.
func (s *Service) UpdateDocument(ctx context.Context, in UpdateDocumentInput) (*models.Document, error) {
	if err := parseIDOf("id", in.ID, KindDocument); err != nil {
		return nil, err
	}
	tags, err := s.prepareCommon(ctx, in.Title, in.Tags, in.CollectionID)
	if err != nil {
		return nil, err
	}
	doc := new(models.Document)
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.forUpdate(tx.NewSelect().Model(doc).Where("id = ?", in.ID)).Scan(ctx); err != nil {
			return notFound(err, "document", in.ID)
		}
		if err := s.Authorize(ctx, ActionChange, doc.CollectionID, doc.PrivacyState); err != nil {
			return err
		}
		if in.Title.Set {
			doc.Title = in.Title.Value
		}
		if in.CollectionID.Set {
			doc.CollectionID = in.CollectionID.Value
		}
		doc.UpdatedAt = models.Now()
		if _, err := tx.NewUpdate().Model(doc).WherePK().Exec(ctx); err != nil {
			return s.updateErr(err, "document")
		}
		if err := replaceTags(ctx, tx, doc.ID, in.Tags.Set, tags); err != nil {
			return err
		}
		return s.recordMedia(ctx, tx, events.MediaUpdated, doc.ID, doc.CollectionID, doc.Privacy)
	})
	if err != nil {
		return nil, err
	}
	return doc, nil
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
	if err := parseIDOf("id", id, KindImage); err != nil {
		return err
	}
	defer s.cache.drop(id)
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		img := new(models.Image)
		if err := s.forUpdate(tx.NewSelect().Model(img).Where("id = ?", id)).Scan(ctx); err != nil {
			return notFound(err, "image", id)
		}
		if err := s.Authorize(ctx, ActionDelete, img.CollectionID, img.PrivacyState); err != nil && !takingBack(ctx) {
			return err
		}
		if err := s.refuseIfLive(ctx, id, force); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*models.Reference)(nil)).Where("media_id = ?", id).Exec(ctx); err != nil {
			return fmt.Errorf("media: delete references: %w", err)
		}
		var rendKeys []string
		if err := tx.NewSelect().Model((*models.Rendition)(nil)).Column("storage_key").Where("image_id = ?", id).Scan(ctx, &rendKeys); err != nil {
			return fmt.Errorf("media: delete image: %w", err)
		}
		for _, m := range []any{(*models.Rendition)(nil), (*models.MediaTag)(nil), (*models.PermissionSync)(nil)} {
			col := "media_id"
			if _, ok := m.(*models.Rendition); ok {
				col = "image_id"
			}
			if _, err := tx.NewDelete().Model(m).Where("? = ?", bun.Ident(col), id).Exec(ctx); err != nil {
				return fmt.Errorf("media: delete image: %w", err)
			}
		}
		if _, err := tx.NewDelete().Model(img).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("media: delete image: %w", err)
		}
		if err := s.recordMedia(ctx, tx, events.MediaDeleted, img.ID, img.CollectionID, img.Privacy); err != nil {
			return err
		}
		for _, k := range rendKeys {
			if err := s.store.Delete(ctx, k); err != nil {
				return err
			}
		}
		return s.store.Delete(ctx, img.StorageKey)
	})
}

// DeleteDocument removes a document, its tags and its file (see DeleteImage for the ordering).
func (s *Service) DeleteDocument(ctx context.Context, id string, force bool) error {
	if err := parseIDOf("id", id, KindDocument); err != nil {
		return err
	}
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		doc := new(models.Document)
		if err := s.forUpdate(tx.NewSelect().Model(doc).Where("id = ?", id)).Scan(ctx); err != nil {
			return notFound(err, "document", id)
		}
		if err := s.Authorize(ctx, ActionDelete, doc.CollectionID, doc.PrivacyState); err != nil && !takingBack(ctx) {
			return err
		}
		if err := s.refuseIfLive(ctx, id, force); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*models.Reference)(nil)).Where("media_id = ?", id).Exec(ctx); err != nil {
			return fmt.Errorf("media: delete references: %w", err)
		}
		if _, err := tx.NewDelete().Model((*models.MediaTag)(nil)).Where("media_id = ?", id).Exec(ctx); err != nil {
			return fmt.Errorf("media: delete document: %w", err)
		}
		if _, err := tx.NewDelete().Model((*models.PermissionSync)(nil)).Where("media_id = ?", id).Exec(ctx); err != nil {
			return fmt.Errorf("media: delete document: %w", err)
		}
		if _, err := tx.NewDelete().Model(doc).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("media: delete document: %w", err)
		}
		if err := s.recordMedia(ctx, tx, events.MediaDeleted, doc.ID, doc.CollectionID, doc.Privacy); err != nil {
			return err
		}
		return s.store.Delete(ctx, doc.StorageKey)
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
