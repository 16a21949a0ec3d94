package media

import (
	"context"
	"sync"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/models"
)

// enqueueEager asks for the eager renditions of a new image without blocking the upload; when
// the queue is full the image is skipped (its renditions will be made on first request).
func (s *Service) enqueueEager(id string) {
	if len(s.cfg.Renditions.Eager) == 0 {
		return
	}
	select {
	case s.eager <- id:
	default:
		s.log.Warn("eager rendition queue full; renditions will be made on first request", "image_id", id)
	}
}

// RunEager generates the configured eager renditions of uploaded images with workers goroutines
// until ctx is done. The caller owns it: run it in a goroutine and cancel ctx to stop it.
func (s *Service) RunEager(ctx context.Context, workers int) {
	ctx = auth.WithViewer(ctx, auth.System)
	if workers < 1 {
		workers = 1
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case id := <-s.eager:
					s.makeEager(ctx, id)
				}
			}
		}()
	}
	wg.Wait()
}

func (s *Service) makeEager(ctx context.Context, id string) {
	img, err := loadRow[*models.Image](ctx, s, id)
	if err != nil {
		return // deleted meanwhile
	}
	for _, spec := range s.cfg.Renditions.Eager {
		sp, err := s.parseSpec(spec)
		if err != nil {
			continue
		}
		info, err := s.renditionInfo(img, sp, "")
		if err != nil {
			s.log.WarnContext(ctx, "eager rendition not possible", "image_id", id, "spec", spec, "err", err)
			continue
		}
		fk := focalKey(sp, img)
		key := renditionKey(img.ID, info.Spec, fk, info.Format)
		if ok, _ := s.store.Bucket.Exists(ctx, key); ok {
			continue
		}
		if _, err, _ := s.rend.flight.Do(key, func() (any, error) { return nil, s.generate(ctx, img, sp, info, fk, key) }); err != nil {
			s.log.WarnContext(ctx, "eager rendition failed", "image_id", id, "spec", spec, "err", err)
		}
	}
}
