package media

import (
	"context"
	"sync"
	"time"

	"github.com/veil-media/veil/models"
)

// imageCache keeps recently served image rows for the serve views, so a hot rendition costs no
// SQL. Entries live at most ttl; every change this process makes to an image drops its entry at
// once, so only changes made by another instance can take up to ttl to be seen here. GraphQL never
// reads through it.
type imageCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]cachedImage
}

type cachedImage struct {
	img     models.Image
	expires time.Time
}

func newImageCache(ttl time.Duration, max int) *imageCache {
	return &imageCache{ttl: ttl, max: max, entries: make(map[string]cachedImage)}
}

func (c *imageCache) get(id string) (*models.Image, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || time.Now().After(e.expires) {
		return nil, false
	}
	img := e.img
	return &img, true
}

func (c *imageCache) put(img *models.Image) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		now := time.Now()
		for k, e := range c.entries { // drop expired entries, else an arbitrary half
			if now.After(e.expires) || len(c.entries) > c.max/2 {
				delete(c.entries, k)
			}
		}
	}
	c.entries[img.ID] = cachedImage{img: *img, expires: time.Now().Add(c.ttl)}
}

func (c *imageCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
}

// servedImage loads an image for a serve view, through the cache.
func (s *Service) servedImage(ctx context.Context, id string) (*models.Image, error) {
	if img, ok := s.cache.get(id); ok {
		return img, nil
	}
	img, err := loadRow[*models.Image](ctx, s, id)
	if err != nil {
		return nil, err
	}
	s.cache.put(img)
	return img, nil
}
