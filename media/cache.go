package media

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/renditions"
)

// imageCache keeps recently served image rows for the serve views, so a hot rendition costs no
// SQL. Entries live at most ttl; every change this process makes to an image drops its entry at
// once, so only changes made by another instance can take up to ttl to be seen here. GraphQL never
// reads through it.
//
// Beside each row it keeps what OpenRendition derived from that row for the rendition URLs served
// from it (servedRendition): they go with the row, so nothing derived from a row outlives it.
type imageCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]*cachedImage
	// drops counts drop calls: a row read before a drop may predate the change the drop is for,
	// so put refuses it (see servedEntry).
	drops uint64
}

// cachedImage is one cached row. img is never changed once the entry is made (a changed row is a
// new entry), and the serve views that get it only read it; renditions is guarded by
// imageCache.mu.
type cachedImage struct {
	img        models.Image
	expires    time.Time
	renditions map[renditionURL]*servedRendition
}

// renditionURL names a rendition URL of an image: its path segment, and whether it is a preset's
// URL (token "preset") or a signed one.
type renditionURL struct {
	preset  bool
	segment string
}

// servedRendition is what a rendition URL resolves to for one image row, as OpenRendition found it
// the first time: everything that depends on the URL, the row and the configuration only (never on
// the viewer). Its values are never changed once stored.
type servedRendition struct {
	token       string // the token the URL was verified with: a signature, or "preset"
	sp          renditions.Spec
	info        RenditionInfo
	preset      string
	anonymousOK bool         // the spec may be served to anonymous viewers (VEIL_RENDITION_ANONYMOUS_SPECS)
	fk          string       // focal key
	key         string       // storage key
	etag        string       // Object.SHA256 of the stored file
	filename    string       // Object.Filename
	direct      string       // DirectURL(key): "" when proxy-only
	derived     atomic.Value // Object.Derived: the server's header values for this URL
}

// maxRenditionsPerImage bounds the rendition URLs remembered per cached row; past it, further
// URLs are resolved on every request (as they would be without the memo).
const maxRenditionsPerImage = 16

func newImageCache(ttl time.Duration, max int) *imageCache {
	return &imageCache{ttl: ttl, max: max, entries: make(map[string]*cachedImage)}
}

// entry returns the live entry of id, or nil; c.mu is held.
func (c *imageCache) entry(id string) *cachedImage {
	e, ok := c.entries[id]
	if !ok || time.Now().After(e.expires) {
		return nil
	}
	return e
}

func (c *imageCache) get(id string) (*models.Image, bool) {
	img, _, _ := c.getRendition(id, nil)
	return img, img != nil
}

// getRendition returns id's cached row, the entry it came from (for putRendition) and, when u is
// not nil, what u resolved to for that row before (nil if unknown). img is nil when the row is not
// cached. img is the entry's own row, shared by every request that finds it: read it, never change
// it (a copy would cost an allocation per request and would still share the focal point).
func (c *imageCache) getRendition(id string, u *renditionURL) (img *models.Image, e *cachedImage, r *servedRendition) {
	if c.ttl <= 0 {
		return nil, nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e = c.entry(id)
	if e == nil {
		return nil, nil, nil
	}
	if u != nil {
		r = e.renditions[*u]
	}
	return &e.img, e, r
}

// dropCount returns how many drops there have been so far; read it before reading a row from the
// database, and give it to put.
func (c *imageCache) dropCount() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.drops
}

// put caches img, read from the database after dropCount returned drops, and returns its entry.
// It caches nothing (and returns nil) when the cache is off or when any row was dropped since: the
// row may have been read before the change that dropped it committed, and caching it would serve
// the old row — an old privacy — for up to ttl after the change.
func (c *imageCache) put(img *models.Image, drops uint64) *cachedImage {
	if c.ttl <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.drops != drops {
		return nil
	}
	if len(c.entries) >= c.max {
		now := time.Now()
		for k, e := range c.entries { // drop expired entries, else an arbitrary half
			if now.After(e.expires) || len(c.entries) > c.max/2 {
				delete(c.entries, k)
			}
		}
	}
	e := &cachedImage{img: *img, expires: time.Now().Add(c.ttl)}
	c.entries[img.ID] = e
	return e
}

// putRendition remembers what u resolved to for e's row, if e is still the row's live entry: one
// dropped or replaced since (the row changed) takes nothing.
func (c *imageCache) putRendition(e *cachedImage, u renditionURL, r *servedRendition) {
	if e == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entry(e.img.ID) != e || len(e.renditions) >= maxRenditionsPerImage {
		return
	}
	if e.renditions == nil {
		e.renditions = make(map[renditionURL]*servedRendition)
	}
	e.renditions[u] = r
}

func (c *imageCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
	c.drops++
}

// servedImage loads an image for a serve view, through the cache. The row may be the cache's:
// read it, never change it.
func (s *Service) servedImage(ctx context.Context, id string) (*models.Image, error) {
	img, _, _, err := s.servedEntry(ctx, id, nil)
	return img, err
}

// servedEntry is servedImage that also returns the row's cache entry and, for u, what u resolved
// to for it before (see imageCache.getRendition).
func (s *Service) servedEntry(ctx context.Context, id string, u *renditionURL) (*models.Image, *cachedImage, *servedRendition, error) {
	if img, e, r := s.cache.getRendition(id, u); img != nil {
		return img, e, r, nil
	}
	drops := s.cache.dropCount()
	img, err := loadRow[*models.Image](ctx, s, id)
	if err != nil {
		return nil, nil, nil, err
	}
	s.hook("serve.loaded", id)
	return img, s.cache.put(img, drops), nil, nil
}
