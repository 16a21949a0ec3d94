package media

import (
	"slices"

	"github.com/veil-media/veil/config"

	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/renditions"
	"github.com/veil-media/veil/storage"
)

// RenditionConfig governs on-demand renditions.
type RenditionConfig struct {
	// SigningKeys sign and verify rendition URLs: the first signs, every key verifies (rotation:
	// put the new key first and keep the old ones until cached pages have expired).
	SigningKeys [][]byte
	// Presets are named specs whose URLs need no signature, e.g. "thumb" → "fill-200x200|format-webp".
	Presets map[string]string
	// Options carries the limits and default qualities.
	Options renditions.Options
	// MaxMemoryBytes bounds the estimated memory of concurrent generations (default 1 GiB).
	MaxMemoryBytes int64
	// MaxQueue bounds generations waiting for memory; more are refused with ErrBusy (default 64).
	MaxQueue int
	// MaxSlowEncodes bounds AVIF generations running at once (VEIL_RENDITION_MAX_SLOW_ENCODES;
	// default half the CPUs, at least 1). An AVIF encode keeps a core busy for seconds per
	// megapixel, so without this a few concurrent ones would take every core from the API; they
	// wait in the same queue (MaxQueue) and under the same timeout as memory.
	MaxSlowEncodes int
	// Timeout bounds one generation (default 30s).
	Timeout time.Duration
	// Eager lists specs generated in the background after each image upload.
	Eager []string
	// MaxPerImage bounds the renditions stored per image (VEIL_RENDITION_MAX_PER_IMAGE, default
	// 100; 0 means no bound). Past it, the least recently used renditions that are neither a
	// preset's nor an eager spec are deleted, row and file; a later request makes them again.
	MaxPerImage int
	// TouchInterval is how often, at most, one instance records that a stored rendition was
	// served (its last_used_at, which eviction orders by); default 10 minutes. Serving a rendition
	// costs a write only once per interval.
	TouchInterval time.Duration
	// Anonymous is what anonymous viewers may request (VEIL_RENDITION_ANONYMOUS): "any" (default)
	// any signed spec; "presets" only presets, eager specs and AnonymousSpecs — any other signed
	// URL is refused with 403 before any work.
	Anonymous string
	// AnonymousSpecs are the signed specs (brace expansion allowed) anonymous viewers may request
	// besides presets under Anonymous "presets" (VEIL_RENDITION_ANONYMOUS_SPECS), e.g. the srcset
	// specs a site's frontend builds: "width-{320,640,1280}|format-{webp,jpeg}".
	AnonymousSpecs []string
}

// The values of RenditionConfig.Anonymous.
const (
	AnonymousAny     = "any"
	AnonymousPresets = "presets"
)

// DefaultRenditionConfig returns the defaults; SigningKeys must still be set.
func DefaultRenditionConfig() RenditionConfig {
	return RenditionConfig{Options: renditions.DefaultOptions(), MaxMemoryBytes: 1 << 30, MaxQueue: 64, Timeout: 30 * time.Second,
		MaxPerImage: 100, TouchInterval: 10 * time.Minute, Anonymous: AnonymousAny}
}

// Validate names the offending setting.
func (c RenditionConfig) Validate() error {
	var errs []error
	fail := func(field, format string, args ...any) { errs = append(errs, config.Errorf(field, format, args...)) }
	for _, k := range c.SigningKeys {
		if len(k) < 32 {
			fail("SigningKeys", "every key needs at least 32 bytes")
			break
		}
	}
	if c.MaxMemoryBytes < 16<<20 {
		fail("MaxMemoryBytes", "%d is too small (at least 16 MiB)", c.MaxMemoryBytes)
	}
	if c.MaxSlowEncodes < 0 {
		fail("MaxSlowEncodes", "%d is negative", c.MaxSlowEncodes)
	}
	if c.MaxQueue < 0 {
		fail("MaxQueue", "%d is negative", c.MaxQueue)
	}
	if c.Timeout <= 0 {
		fail("Timeout", "%v is not positive", c.Timeout)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Presets)) {
		if !presetName(name) {
			fail("Presets", "%q is not a preset name (letters, digits, - and _)", name)
		} else if _, err := renditions.Parse(c.Presets[name], c.Options.Limits); err != nil {
			fail("Presets", "%s: %v", name, err)
		}
	}
	for _, spec := range c.Eager {
		if _, err := renditions.Parse(spec, c.Options.Limits); err != nil {
			fail("Eager", "%v", err)
		}
	}
	if c.MaxPerImage < 0 {
		fail("MaxPerImage", "%d is negative (0 means no bound)", c.MaxPerImage)
	}
	switch c.Anonymous {
	case "", AnonymousAny, AnonymousPresets:
	default:
		fail("Anonymous", "%q is neither %q nor %q", c.Anonymous, AnonymousAny, AnonymousPresets)
	}
	for _, p := range c.AnonymousSpecs {
		specs, err := renditions.Expand(p)
		if err != nil {
			fail("AnonymousSpecs", "%v", err)
			continue
		}
		for _, spec := range specs {
			if _, err := renditions.Parse(spec, c.Options.Limits); err != nil {
				fail("AnonymousSpecs", "%v", err)
			}
		}
	}
	if err := c.Options.Validate(); err != nil {
		var ce *renditions.ConfigError
		if errors.As(err, &ce) {
			fail("Options."+ce.Field, "%s", ce.Reason)
		} else {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func presetName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// ErrBadSignature is a rendition URL whose signature does not verify.
var ErrBadSignature = errors.New("bad rendition signature")

// ErrAnonymousSpec refuses an anonymous request for a signed rendition whose spec is neither a
// preset's nor allowed by VEIL_RENDITION_ANONYMOUS_SPECS, under VEIL_RENDITION_ANONYMOUS=presets
// (403 on serve views).
var ErrAnonymousSpec = errors.New("anonymous viewers may request only preset renditions (VEIL_RENDITION_ANONYMOUS=presets)")

// ErrBusy means the server is at its limit of concurrent generations; retry later.
var ErrBusy = errors.New("too many renditions being generated; retry shortly")

// ErrOutdatedURL is a rendition URL made for an older focal point; Location is the current URL.
type ErrOutdatedURL struct{ Location string }

func (e *ErrOutdatedURL) Error() string { return "the image's focal point changed; see " + e.Location }

// RenditionInfo describes a rendition without generating it.
type RenditionInfo struct {
	Spec          string // canonical
	URL           string // path, relative to the public base
	Width, Height int
	Format        renditions.Format
}

// renditionEngine holds the machinery shared by all renditions of a Service.
type renditionEngine struct {
	cfg     RenditionConfig
	flight  singleflight.Group
	sem     *semaphore.Weighted
	slow    *semaphore.Weighted // AVIF encodes running at once (MaxSlowEncodes)
	waiting atomic.Int64
	// Generated counts generations (tests use it to prove deduplication).
	generated atomic.Int64
	// kept holds the canonical specs eviction never removes (presets and eager specs).
	kept map[string]bool
	// anonymous holds the canonical specs anonymous viewers may request under "presets"; nil
	// under "any".
	anonymous map[string]bool

	usedMu sync.Mutex
	used   map[string]time.Time // storage key → when this instance last recorded its use

	// specs holds parsed specs by their text (at most maxParsedSpecs; past it specs are parsed
	// each time): a list asks for the same spec once per item.
	specs  sync.Map // spec text → renditions.Spec
	nspecs atomic.Int64
	// signers holds *signer: HMACs keyed with SigningKeys[0], reset and reused for each signature.
	signers sync.Pool
}

// maxParsedSpecs bounds the parsed specs an instance remembers.
const maxParsedSpecs = 1024

// maxTrackedUses bounds the renditions whose last recorded use an instance remembers; past it the
// memory is dropped and the next hit of each records its use again.
const maxTrackedUses = 100_000

func newRenditionEngine(cfg RenditionConfig) *renditionEngine {
	if cfg.MaxMemoryBytes == 0 {
		cfg.MaxMemoryBytes = 1 << 30
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxSlowEncodes == 0 {
		cfg.MaxSlowEncodes = max(1, runtime.GOMAXPROCS(0)/2)
	}
	if cfg.TouchInterval <= 0 {
		cfg.TouchInterval = 10 * time.Minute
	}
	e := &renditionEngine{cfg: cfg, sem: semaphore.NewWeighted(cfg.MaxMemoryBytes), slow: semaphore.NewWeighted(int64(cfg.MaxSlowEncodes)), kept: map[string]bool{}, used: map[string]time.Time{}}
	canon := func(spec string) (string, bool) {
		sp, err := renditions.Parse(spec, cfg.Options.Limits)
		return sp.String(), err == nil
	}
	for _, spec := range cfg.Presets {
		if c, ok := canon(spec); ok {
			e.kept[c] = true
		}
	}
	for _, spec := range cfg.Eager {
		if c, ok := canon(spec); ok {
			e.kept[c] = true
		}
	}
	if cfg.Anonymous == AnonymousPresets {
		e.anonymous = maps.Clone(e.kept)
		for _, p := range cfg.AnonymousSpecs {
			specs, _ := renditions.Expand(p)
			for _, spec := range specs {
				if c, ok := canon(spec); ok {
					e.anonymous[c] = true
				}
			}
		}
	}
	return e
}

// admit takes n of sem, waiting in the generation queue (at most MaxQueue waiters across both
// semaphores, else ErrBusy) until ctx ends.
func (e *renditionEngine) admit(ctx context.Context, sem *semaphore.Weighted, n int64, what string) error {
	if sem.TryAcquire(n) {
		return nil
	}
	if e.waiting.Add(1) > int64(e.cfg.MaxQueue) {
		e.waiting.Add(-1)
		return ErrBusy
	}
	err := sem.Acquire(ctx, n)
	e.waiting.Add(-1)
	if err != nil {
		return fmt.Errorf("media: wait for %s: %w", what, ErrBusy)
	}
	return nil
}

// Generated returns how many renditions this process has generated.
func (s *Service) Generated() int64 { return s.rend.generated.Load() }

// GenerationsWaiting returns how many generations wait for memory or an encoder slot now.
func (s *Service) GenerationsWaiting() int64 { return s.rend.waiting.Load() }

// focalOf returns an image's focal point for the renditions package, or nil.
func focalOf(img *models.Image) *renditions.FocalPoint {
	if img.FocalX == nil || img.FocalY == nil || img.FocalWidth == nil || img.FocalHeight == nil {
		return nil
	}
	return &renditions.FocalPoint{X: *img.FocalX, Y: *img.FocalY, Width: *img.FocalWidth, Height: *img.FocalHeight}
}

// focalKey identifies the focal point a rendition was made with: "" for specs that do not use it,
// "c" (centre) for fill without a focal point, else "x.y.w.h".
func focalKey(spec renditions.Spec, img *models.Image) string {
	if !spec.UsesFocalPoint() {
		return ""
	}
	fp := focalOf(img)
	if fp == nil {
		return "c"
	}
	return fmt.Sprintf("%d.%d.%d.%d", fp.X, fp.Y, fp.Width, fp.Height)
}

func formatOf(contentType string) renditions.Format {
	switch contentType {
	case "image/jpeg":
		return renditions.JPEG
	case "image/png":
		return renditions.PNG
	case "image/gif":
		return renditions.GIF
	case "image/webp":
		return renditions.WebP
	}
	return ""
}

// specInput turns a spec the renditions package refuses into an input error on field, in the
// package's own words for API users; any other error passes unchanged (internal).
func specInput(field string, err error) error {
	if msg, ok := renditions.Message(err); ok {
		return &InputError{Field: field, Reason: msg}
	}
	return err
}

func (s *Service) parseSpec(spec string) (renditions.Spec, error) {
	if sp, ok := s.rend.specs.Load(spec); ok {
		return sp.(renditions.Spec), nil
	}
	sp, err := renditions.Parse(spec, s.rend.cfg.Options.Limits)
	if err != nil {
		return renditions.Spec{}, specInput("spec", err)
	}
	if s.rend.nspecs.Add(1) <= maxParsedSpecs {
		s.rend.specs.Store(spec, sp) // Spec is a value its methods never change: safe to share
	}
	return sp, nil
}

// Rendition returns the URL, size and format of a rendition of img without generating anything:
// the size is computed from the source's size and focal point.
func (s *Service) Rendition(img *models.Image, spec string) (RenditionInfo, error) {
	sp, err := s.parseSpec(spec)
	if err != nil {
		return RenditionInfo{}, err
	}
	return s.renditionInfo(img, sp, "")
}

func (s *Service) renditionInfo(img *models.Image, sp renditions.Spec, preset string) (RenditionInfo, error) {
	plan, err := sp.Plan(img.Width, img.Height, formatOf(img.ContentType), focalOf(img), s.rend.cfg.Options.Limits)
	if err != nil {
		return RenditionInfo{}, specInput("spec", err)
	}
	canon := sp.String()
	fk := focalKey(sp, img)
	segment := url.PathEscape(canon)
	token := s.sign(img.ID, canon, fk)
	if preset != "" {
		segment, token = preset, "preset"
	}
	if fk != "" {
		segment += "@" + fk
	}
	return RenditionInfo{
		Spec: canon, Width: plan.Width, Height: plan.Height, Format: plan.Format,
		URL: "/media/renditions/" + img.ID + "/" + token + "/" + segment + plan.Format.Extension(),
	}, nil
}

// Renditions expands brace patterns ("width-{400,800}|format-{webp,jpeg}") and describes each
// resulting spec, in order, without generating anything.
func (s *Service) Renditions(img *models.Image, patterns []string) ([]RenditionInfo, error) {
	const maxSpecs = 50
	var out []RenditionInfo
	for _, p := range patterns {
		specs, err := renditions.Expand(p)
		if err != nil {
			return nil, specInput("specs", err)
		}
		for _, spec := range specs {
			if len(out) == maxSpecs {
				return nil, inputErr("specs", "at most %d renditions per request", maxSpecs)
			}
			info, err := s.Rendition(img, spec)
			if err != nil {
				return nil, err
			}
			out = append(out, info)
		}
	}
	return out, nil
}

// sign returns the URL signature of a rendition: HMAC-SHA256 with the current key over the image
// id, canonical spec and focal key, truncated to 128 bits, base64url.
// A signer is an HMAC keyed with SigningKeys[0] and the buffer its messages are built in, reused
// through renditionEngine.signers.
type signer struct {
	mac hash.Hash
	msg []byte
}

func (s *Service) sign(id, spec, fk string) string {
	sg, _ := s.rend.signers.Get().(*signer)
	if sg == nil {
		sg = &signer{mac: hmac.New(sha256.New, s.rend.cfg.SigningKeys[0])}
	} else {
		sg.mac.Reset()
	}
	defer s.rend.signers.Put(sg)
	var sig string
	sig, sg.msg = signed(sg.mac, sg.msg[:0], id, spec, fk)
	return sig
}

func signWith(key []byte, id, spec, fk string) string {
	sig, _ := signed(hmac.New(sha256.New, key), nil, id, spec, fk)
	return sig
}

// signed builds the signed message in msg, writes it into m (a fresh or reset HMAC) at once, and
// returns the signature and the message's buffer for reuse. (An HMAC takes bytes only, so writing
// each string by io.WriteString would copy it to the heap first: three allocations a signature,
// and a list answer signs one URL per item.)
func signed(m hash.Hash, msg []byte, id, spec, fk string) (string, []byte) {
	msg = append(msg, "veil-rendition-v1\x00"...)
	msg = append(msg, id...)
	msg = append(msg, 0)
	msg = append(msg, spec...)
	msg = append(msg, 0)
	msg = append(msg, fk...)
	_, _ = m.Write(msg)
	var sum [sha256.Size]byte
	var out [22]byte // base64 of 16 bytes, unpadded
	base64.RawURLEncoding.Encode(out[:], m.Sum(sum[:0])[:16])
	return string(out[:]), msg
}

func (s *Service) verify(id, spec, fk, sig string) bool {
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig) // strict: no second spelling of one signature
	if err != nil || len(got) != 16 {
		return false
	}
	// A strictly decoded signature has one spelling: comparing it with the current key's, made by
	// a pooled HMAC, compares the bytes. Older keys are the rare case.
	if subtle.ConstantTimeCompare([]byte(sig), []byte(s.sign(id, spec, fk))) == 1 {
		return true
	}
	for _, k := range s.rend.cfg.SigningKeys[1:] {
		want, _ := base64.RawURLEncoding.DecodeString(signWith(k, id, spec, fk))
		if hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// RenditionRequest is the parsed path of a rendition URL: /media/renditions/{ID}/{Token}/{Segment}.
type RenditionRequest struct {
	ID      string
	Token   string // the signature, or "preset"
	Segment string // "<spec or preset>[@<focal key>].<ext>", path-unescaped
}

// OpenRendition serves a rendition URL: it verifies the signature (or resolves the preset), loads
// the image, checks access with the same decision as originals, and returns the stored rendition,
// generating and storing it first if it does not exist yet. Concurrent requests for the same
// rendition share one generation.
func (s *Service) OpenRendition(ctx context.Context, req RenditionRequest) (*Object, error) {
	s.hook("rendition.read", req.ID) // before the row is read, from the cache or not
	u := renditionURL{preset: req.Token == "preset", segment: req.Segment}
	if img, _, r := s.cache.getRendition(req.ID, &u); r != nil && subtle.ConstantTimeCompare([]byte(req.Token), []byte(r.token)) == 1 {
		// This URL was verified and resolved for this very row before: only the checks that
		// depend on the request are left.
		return s.openServed(ctx, img, r)
	}
	name, ext, ok := cutLast(req.Segment, ".")
	if !ok {
		return nil, fmt.Errorf("media: rendition path has no extension: %w", ErrNotFound)
	}
	specText, urlFK, _ := strings.Cut(name, "@")
	preset := ""
	if u.preset {
		p, ok := s.rend.cfg.Presets[specText]
		if !ok {
			return nil, fmt.Errorf("media: unknown preset %q: %w", specText, ErrNotFound)
		}
		preset, specText = specText, p
	} else if !s.verify(req.ID, specText, urlFK, req.Token) {
		return nil, ErrBadSignature
	}
	sp, err := s.parseSpec(specText)
	if err != nil {
		return nil, err
	}
	anonymousOK := s.rend.anonymous == nil || preset != "" || s.rend.anonymous[sp.String()]
	if !anonymousOK && auth.ViewerFrom(ctx).IsAnonymous() {
		return nil, fmt.Errorf("media: %s: %w", sp.String(), ErrAnonymousSpec)
	}
	img, entry, _, err := s.servedEntry(ctx, req.ID, nil)
	if err != nil {
		return nil, err
	}
	info, err := s.renditionInfo(img, sp, preset)
	if err != nil {
		return nil, err
	}
	fk := focalKey(sp, img)
	if fk != urlFK {
		return nil, &ErrOutdatedURL{Location: info.URL}
	}
	if "."+ext != info.Format.Extension() {
		return nil, fmt.Errorf("media: rendition extension %q, want %q: %w", ext, info.Format.Extension(), ErrNotFound)
	}
	key := renditionKey(img.ID, info.Spec, fk, info.Format)
	etag := sha256.Sum256([]byte(key))
	r := &servedRendition{
		token: req.Token, sp: sp, info: info, preset: preset, anonymousOK: anonymousOK, fk: fk, key: key,
		etag:     hex.EncodeToString(etag[:16]),
		filename: strings.TrimSuffix(img.Filename, pathExt(img.Filename)) + info.Format.Extension(),
		direct:   s.DirectURL(key),
	}
	s.cache.putRendition(entry, u, r)
	return s.openServed(ctx, img, r)
}

// openServed is OpenRendition once the URL is resolved for img's row: the checks that depend on
// the request (the anonymous specs, authorizeServe), then the stored rendition, generated and
// stored first if it does not exist yet.
func (s *Service) openServed(ctx context.Context, img *models.Image, r *servedRendition) (*Object, error) {
	if !r.anonymousOK && auth.ViewerFrom(ctx).IsAnonymous() {
		return nil, fmt.Errorf("media: %s: %w", r.info.Spec, ErrAnonymousSpec)
	}
	if err := s.authorizeServe(ctx, img.ID, img.CollectionID, img.PrivacyState); err != nil {
		return nil, err
	}
	if obj, err := s.openRenditionObject(ctx, r, img); err == nil || !errors.Is(err, storage.ErrNotFound) {
		if err == nil {
			s.touchRendition(ctx, img.ID, r.info.Spec, r.fk, r.key)
		}
		return obj, err
	}
	if _, err, _ := s.rend.flight.Do(r.key, func() (any, error) {
		return nil, s.generate(ctx, img, r.sp, r.info, r.fk, r.key)
	}); err != nil {
		return nil, err
	}
	return s.openRenditionObject(ctx, r, img)
}

// renditionMemory is the estimated peak memory of generating plan from img: the source's
// header is read first (a range read of at most renditions.InspectReadLimit bytes), so the
// estimate follows the decoded pixel format (bit depth, channels, progressive JPEG planes,
// palette) rather than the size alone. It is at least 1 MiB.
func (s *Service) renditionMemory(ctx context.Context, img *models.Image, plan renditions.Plan) (int64, error) {
	r, err := s.store.Bucket.NewRangeReader(ctx, img.StorageKey, 0, renditions.InspectReadLimit, nil)
	if err != nil {
		return 0, fmt.Errorf("media: open source of %s: %w", img.ID, storage.Classify(err))
	}
	defer r.Close()
	hdr, err := renditions.Inspect(r, s.rend.cfg.Options.Limits)
	if err != nil {
		var lim *renditions.LimitError
		if errors.As(err, &lim) || errors.Is(err, renditions.ErrCorrupt) || errors.Is(err, renditions.ErrUnsupportedFormat) {
			return 0, fmt.Errorf("media: generate %s: %w", img.ID, err)
		}
		return 0, fmt.Errorf("media: read source of %s: %w", img.ID, storage.Classify(err))
	}
	hdr.FileSize = max(hdr.FileSize, img.Size)
	return max(renditions.EstimateDecodeBytes(hdr, plan), 1<<20), nil
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// renditionKey is the deterministic storage key of a rendition, so every instance finds the same
// object for the same (image, spec, focal key).
func renditionKey(id, spec, fk string, f renditions.Format) string {
	sum := sha256.Sum256([]byte(spec + "\x00" + fk))
	return storage.RenditionKey(id, hex.EncodeToString(sum[:12]), f.Extension())
}

func (s *Service) openRenditionObject(ctx context.Context, r *servedRendition, img *models.Image) (*Object, error) {
	if r.direct != "" && img.Privacy == models.Public && !img.PermissionsOutdated() {
		// The same decision as directFor. If it exists, its permission was set with the image's:
		// send the client there.
		ok, err := s.store.Exists(ctx, r.key)
		switch {
		case err != nil:
			return nil, fmt.Errorf("media: %w", err)
		case !ok:
			return nil, fmt.Errorf("media: rendition %s: %w", r.key, storage.ErrNotFound)
		}
		return &Object{Redirect: r.direct, Privacy: img.Privacy, Immutable: true}, nil
	}
	body, size, err := s.store.Open(ctx, r.key)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	return &Object{
		Body: body, ContentType: r.info.Format.MIMEType(), Size: size, SHA256: r.etag,
		ModTime: img.CreatedAt, Filename: r.filename, Privacy: img.Privacy, Immutable: true,
		Derived: &r.derived,
	}, nil
}

func pathExt(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[i:]
	}
	return ""
}

// generate makes one rendition: it waits for memory (or refuses with ErrBusy), decodes the source
// with the pixel cap checked on its header, writes the output to the bucket, records the row and
// gives the file its image's permission as committed (see recordRendition and settleRendition;
// the privacy the request started with is never used for the file).
// It runs detached from the request that triggered it, so other requests sharing it through
// singleflight are not cancelled by the first one going away.
//
// Any failure once VEIL_RENDITION_TIMEOUT has passed — the encoder stopped by the deadline, a
// write or an insert cut short by it — is a timeout wrapping ErrBusy (503 with Retry-After),
// never a 500: the server was too busy to finish this rendition in time.
func (s *Service) generate(ctx context.Context, img *models.Image, sp renditions.Spec, info RenditionInfo, fk, key string) (err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.rend.cfg.Timeout)
	defer cancel()
	defer func() {
		if err != nil && !errors.Is(err, ErrBusy) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("media: rendition %s of %s timed out after %v (VEIL_RENDITION_TIMEOUT): %v: %w", info.Spec, img.ID, s.rend.cfg.Timeout, err, ErrBusy)
		}
	}()
	plan, err := sp.Plan(img.Width, img.Height, formatOf(img.ContentType), focalOf(img), s.rend.cfg.Options.Limits)
	if err != nil {
		return specInput("spec", err)
	}
	need, err := s.renditionMemory(ctx, img, plan)
	if err != nil {
		return err
	}
	if need > s.rend.cfg.MaxMemoryBytes {
		// It could never start: taking the whole budget would still leave it over, and an encoder
		// is capped at its share of the estimate, so it could not run to the end either.
		return fmt.Errorf("media: rendition %s of %s needs an estimated %d MiB, more than VEIL_RENDITION_MAX_MEMORY (%d MiB): %w",
			info.Spec, img.ID, need>>20, s.rend.cfg.MaxMemoryBytes>>20, ErrBusy)
	}
	if plan.Format == renditions.AVIF {
		if err := s.rend.admit(ctx, s.rend.slow, 1, "an AVIF encoder"); err != nil {
			return err
		}
		defer s.rend.slow.Release(1)
	}
	if err := s.rend.admit(ctx, s.rend.sem, need, "rendition memory"); err != nil {
		return err
	}
	defer s.rend.sem.Release(need)

	src, err := s.store.Bucket.NewReader(ctx, img.StorageKey, nil)
	if err != nil {
		return fmt.Errorf("media: open source of %s: %w", img.ID, storage.Classify(err))
	}
	defer src.Close()
	s.hook("rendition.write", img.ID)
	pr, pw := io.Pipe()
	genErr := make(chan error, 1)
	var produced renditions.Plan
	go func() {
		p, err := renditions.Generate(ctx, src, sp, focalOf(img), s.rend.cfg.Options, pw)
		produced = p
		pw.CloseWithError(err)
		genErr <- err
	}()
	size, werr := s.store.Write(ctx, key, info.Format.MIMEType(), pr)
	pr.CloseWithError(werr) // unblocks the generator if the write failed first
	gerr := <-genErr
	if gerr != nil || werr != nil {
		s.deleteQuietly(ctx, key)
	}
	switch { // past the deadline, the deferred check above makes any of these a timeout
	case gerr != nil && werr != nil && errors.Is(gerr, werr):
		return werr // the generator failed because the write did: a storage error
	case gerr != nil:
		return fmt.Errorf("media: generate %s of %s: %w", info.Spec, img.ID, gerr)
	case werr != nil:
		return werr
	}
	s.rend.generated.Add(1)
	row := &models.Rendition{
		ID: NewID(KindRendition), ImageID: img.ID, Spec: info.Spec, FocalKey: fk, StorageKey: key,
		Width: produced.Width, Height: produced.Height, Format: string(produced.Format), Size: size, CreatedAt: models.Now(),
	}
	row.LastUsedAt = &row.CreatedAt
	s.hook("rendition.insert", img.ID)
	st, err := s.recordRendition(ctx, row)
	if err != nil {
		s.deleteQuietly(ctx, key) // no row lists it, so no privacy change would ever reach it
		return err
	}
	s.settleRendition(ctx, img.ID, key, st)
	s.rend.noteUse(key, time.Now())
	s.evictRenditions(ctx, img.ID)
	s.log.InfoContext(ctx, "rendition generated", "image_id", img.ID, "spec", info.Spec, "width", produced.Width, "height", produced.Height, "bytes", size)
	return nil
}

// recordRendition inserts a rendition's row and reads its image's privacy in one transaction that
// holds the image row against privacy changes (FOR SHARE on Postgres, where publishing takes FOR
// UPDATE; the database write lock on SQLite). So the privacy returned is the one in force when the
// row commits, and every privacy change committed later lists the rendition among the files it
// sets. Another instance may have made the same rendition at the same moment: the unique key
// (image, spec, focal key) keeps one row, and both wrote the same deterministic object.
func (s *Service) recordRendition(ctx context.Context, row *models.Rendition) (models.PrivacyState, error) {
	var st models.PrivacyState
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewSelect().Table("images").Column("privacy", "privacy_last_changed").Where("id = ?", row.ImageID)
		if s.db.Dialect == models.Postgres {
			q = q.For("SHARE")
		}
		if err := q.Scan(ctx, &st.Privacy, &st.PrivacyLastChanged); err != nil {
			return notFound(err, "image", row.ImageID)
		}
		if _, err := tx.NewInsert().Model(row).On("CONFLICT (image_id, spec, focal_key) DO NOTHING").Exec(ctx); err != nil {
			return fmt.Errorf("media: record rendition: %w", err)
		}
		return nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "rendition not recorded", "image_id", row.ImageID, "spec", row.Spec, "key", row.StorageKey, "err", err)
	}
	return st, err
}

// maxSettleRounds bounds how often settleRendition follows privacy changes that keep coming
// before it leaves the image to the retry loop.
const maxSettleRounds = 4

// settleRendition gives a recorded rendition file its image's permission as committed, then reads
// the image's privacy again: while a privacy change committed meanwhile (privacy_last_changed
// moved), it sets the file again to the new privacy. A change committed after the last read lists
// this file (its row committed first) and sets it after this call, so the last call to land is
// right whichever order the calls of the two sides take. When a call fails, the image is marked
// outdated so that no concurrent sync can record it as up to date.
func (s *Service) settleRendition(ctx context.Context, imageID, key string, st models.PrivacyState) {
	if s.acl == nil {
		return
	}
	for range maxSettleRounds {
		s.hook("rendition.acl", imageID)
		if !s.setNewFile(ctx, key, st.Privacy) {
			s.markFilesOutdated(ctx, "images", imageID, st.PrivacyLastChanged)
			return
		}
		s.hook("rendition.recheck", imageID)
		var now models.PrivacyState
		err := s.db.NewSelect().Table("images").Column("privacy", "privacy_last_changed").Where("id = ?", imageID).
			Scan(ctx, &now.Privacy, &now.PrivacyLastChanged)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return // deleted meanwhile: the deletion removed the file with its row
		case err != nil:
			s.log.WarnContext(ctx, "rendition permission not re-checked", "image_id", imageID, "key", key, "err", err)
			s.markFilesOutdated(ctx, "images", imageID, st.PrivacyLastChanged)
			return
		case now.Privacy == st.Privacy && now.PrivacyLastChanged.Equal(st.PrivacyLastChanged):
			return
		}
		st = now
	}
	s.log.WarnContext(ctx, "privacy kept changing while a rendition was being recorded; left to the retry loop", "image_id", imageID, "key", key)
	s.markFilesOutdated(ctx, "images", imageID, st.PrivacyLastChanged)
}
