package media

import (
	"context"
	"fmt"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/models"
)

type previewOnlyKey struct{}

// WithPreviewOnly marks ctx as a request authenticated by a preview token alone (no API token):
// besides opening the draft's private files in the serve views (WithPreview), it lets Image and
// Document return exactly the items the draft of contentID references that creator may read, and
// nothing else, public items included.
func WithPreviewOnly(ctx context.Context, contentID string, creator *auth.Viewer) context.Context {
	return context.WithValue(WithPreview(ctx, contentID, creator), previewOnlyKey{}, true)
}

// PreviewOnly reports a context made by WithPreviewOnly.
func PreviewOnly(ctx context.Context) bool {
	b, _ := ctx.Value(previewOnlyKey{}).(bool)
	return b
}

// authorizeDraftRead is Authorize for a preview-only request: the item must be referenced by the
// draft of the token's content and readable by the token's creator now; anything else is
// ErrNotFound, so a preview token tells nothing about items outside its draft.
func (s *Service) authorizeDraftRead(ctx context.Context, id, collectionID string, st models.PrivacyState) error {
	p, ok := ctx.Value(previewKey{}).(preview)
	if !ok || p.creator == nil {
		return ErrNotFound
	}
	if err := s.Authorize(auth.WithViewer(ctx, p.creator), ActionRead, collectionID, st); err != nil {
		return ErrNotFound
	}
	n, err := s.db.NewSelect().Model((*models.Reference)(nil)).
		Where("content_id = ? AND state = ? AND media_id = ?", p.contentID, models.Draft, id).Count(ctx)
	if err != nil {
		return fmt.Errorf("media: check preview: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
