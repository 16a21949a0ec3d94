package media

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/uptrace/bun"
	"gocloud.dev/blob"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/fault"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
)

// ResumableConfig governs resumable (tus) uploads.
type ResumableConfig struct {
	// Expiry is how long an upload may take from its creation before it is refused and its
	// bytes removed by the reconciler (VEIL_RESUMABLE_UPLOAD_EXPIRY, default 24h).
	Expiry time.Duration
	// LockLease is how long a request's hold on an upload lasts without renewal: the time a
	// resumed upload waits for the lock of an instance that died while receiving it (default
	// 10s; renewed every third of it while held).
	LockLease time.Duration
}

// DefaultResumableConfig returns the defaults documented on ResumableConfig.
func DefaultResumableConfig() ResumableConfig {
	return ResumableConfig{Expiry: 24 * time.Hour, LockLease: 10 * time.Second}
}

func (c ResumableConfig) withDefaults() ResumableConfig {
	def := DefaultResumableConfig()
	if c.Expiry <= 0 {
		c.Expiry = def.Expiry
	}
	if c.LockLease <= 0 {
		c.LockLease = def.LockLease
	}
	return c
}

// ResumablePrefix is the folder of the bucket that holds the received parts of resumable
// uploads. It is not one of storage.Prefixes: the reconciler's orphan scan leaves it alone, and
// removes parts only with their expired upload (reapResumable).
const ResumablePrefix = "resumable/"

// resumableIDPrefix starts every resumable upload id.
const resumableIDPrefix = "tus_"

// ErrChecksumMismatch is a PATCH whose bytes do not match the checksum the client sent: nothing
// of it was kept.
var ErrChecksumMismatch = errors.New("media: the chunk does not match its Upload-Checksum")

// ErrOffsetMismatch is a PATCH at an offset other than the upload's (another request appended
// meanwhile, or the client is confused).
var ErrOffsetMismatch = errors.New("media: the upload offset is not where the request says")

// ErrLockLost is a PATCH whose lease on the upload ended before its bytes were recorded (another
// request took the upload over): its bytes were discarded.
var ErrLockLost = errors.New("media: the upload was taken over by another request")

// ErrUploadFinished is a PATCH to an upload that has already completed or failed.
var ErrUploadFinished = errors.New("media: the upload is already finished")

// Checksum is the checksum a client sent with a chunk (tus checksum extension).
type Checksum struct {
	Algorithm string // "sha1", "md5" or "sha256"
	Sum       []byte
}

// ChecksumAlgorithms lists the algorithms Checksum accepts, for Tus-Checksum-Algorithm.
const ChecksumAlgorithms = "sha1,md5,sha256"

func (c *Checksum) hasher() (hash.Hash, error) {
	switch strings.ToLower(c.Algorithm) {
	case "sha1":
		return sha1.New(), nil
	case "md5":
		return md5.New(), nil
	case "sha256":
		return sha256.New(), nil
	}
	return nil, inputErr("Upload-Checksum", "unsupported checksum algorithm %q (use %s)", c.Algorithm, ChecksumAlgorithms)
}

// ResumableInput declares a resumable upload, from the tus metadata.
type ResumableInput struct {
	// Kind is "image" or "document"; empty picks image for an image/* FileType, else document.
	Kind         string
	Filename     string
	FileType     string
	Title        string
	CollectionID string
	// Size is the declared Upload-Length.
	Size int64
	// Metadata is the Upload-Metadata header, echoed by HEAD.
	Metadata string
}

// CreateResumable records a new resumable upload for the viewer, after the checks a multipart
// upload makes before its first byte: a usable filename and title, ADD on the collection, and a
// declared size within the limit of its kind (*TooLargeError), so that nothing is received
// for an upload that could never complete; and room among the viewer's open uploads
// (*OpenUploadLimitError).
func (s *Service) CreateResumable(ctx context.Context, in ResumableInput) (*models.ResumableUpload, error) {
	v := auth.ViewerFrom(ctx)
	if v.IsAnonymous() {
		return nil, fault.ErrUnauthenticated
	}
	kind := strings.ToLower(in.Kind)
	if kind == "" {
		kind = "document"
		if strings.HasPrefix(strings.ToLower(in.FileType), "image/") {
			kind = "image"
		}
	}
	limit := s.cfg.MaxDocumentBytes
	switch kind {
	case "image":
		limit = s.cfg.MaxImageBytes
	case "document":
	default:
		return nil, inputErr("kind", "must be image or document, not %q", truncate(in.Kind, 32))
	}
	if err := validateFilename(in.Filename); err != nil {
		return nil, err
	}
	if _, _, _, err := cleanMeta(in.Title, "", in.Filename, nil); err != nil {
		return nil, err
	}
	collectionID, err := s.resolveCollection(ctx, in.CollectionID, models.PermAdd)
	if err != nil {
		return nil, err
	}
	switch {
	case in.Size < 0:
		return nil, inputErr("Upload-Length", "must not be negative")
	case in.Size > limit:
		return nil, &TooLargeError{Kind: kind, Limit: limit}
	}
	now := models.Now()
	up := &models.ResumableUpload{
		ID: resumableIDPrefix + ulid.Make().String(), OwnerID: v.UserID, Kind: kind,
		Filename: in.Filename, FileType: in.FileType, Title: in.Title, CollectionID: collectionID,
		Metadata: in.Metadata, Size: in.Size, State: models.ResumableReceiving,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(s.cfg.Resumable.withDefaults().Expiry),
	}
	err = s.recordOpenUpload(ctx, v.UserID, in.Size, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(up).Exec(ctx); err != nil {
			return fmt.Errorf("media: record resumable upload: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "resumable upload created", "upload_id", up.ID, "kind", kind, "size", in.Size)
	return up, nil
}

// Resumable returns the viewer's resumable upload id. Another user's upload, an unknown id and
// an upload past its expiry that never completed are ErrNotFound.
func (s *Service) Resumable(ctx context.Context, id string) (*models.ResumableUpload, error) {
	v := auth.ViewerFrom(ctx)
	if v.IsAnonymous() || !strings.HasPrefix(id, resumableIDPrefix) {
		return nil, ErrNotFound
	}
	up := new(models.ResumableUpload)
	err := s.db.NewSelect().Model(up).Where("id = ? AND owner_id = ?", id, v.UserID).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("media: read resumable upload: %w", err)
	case up.State == models.ResumableReceiving && !models.Now().Before(up.ExpiresAt):
		return nil, ErrNotFound
	}
	return up, nil
}

// NewLockHolder returns a token naming one hold of a resumable upload's lock by this process.
func (s *Service) NewLockHolder() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return s.instance + "/" + hex.EncodeToString(b[:])
}

// LockResumable tries to take the lease on the viewer's upload id for holder: true when taken
// (free, expired, or already holder's). A false answer leaves the lease with its holder; call
// RequestResumableUnlock to ask it to let go. Another user's upload is ErrNotFound.
func (s *Service) LockResumable(ctx context.Context, id, holder string) (bool, error) {
	if _, err := s.Resumable(ctx, id); err != nil {
		return false, err
	}
	now := models.Now()
	until := now.Add(s.cfg.Resumable.withDefaults().LockLease)
	res, err := s.db.NewUpdate().Model((*models.ResumableUpload)(nil)).
		Set("lock_holder = ?", holder).Set("lock_expires = ?", until).Set("unlock_requested = ?", false).
		Where("id = ?", id).
		Where("(lock_holder = '' OR lock_holder = ? OR lock_expires IS NULL OR lock_expires < ?)", holder, now).
		Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("media: lock resumable upload: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("media: lock resumable upload: %w", err)
	}
	return n == 1, nil
}

// RequestResumableUnlock asks the current holder of id's lease to let go: its renewal
// (RenewResumableLock) learns it within a third of the lease.
func (s *Service) RequestResumableUnlock(ctx context.Context, id string) error {
	_, err := s.db.NewUpdate().Model((*models.ResumableUpload)(nil)).Set("unlock_requested = ?", true).
		Where("id = ? AND lock_holder <> ''", id).Exec(ctx)
	if err != nil {
		return fmt.Errorf("media: request unlock: %w", err)
	}
	return nil
}

// RenewResumableLock extends holder's lease on id. held is false when the lease was lost (it
// expired and another request took it); unlockRequested is true when another request asked for
// it. It needs no viewer: the holder proved ownership when it took the lock.
func (s *Service) RenewResumableLock(ctx context.Context, id, holder string) (held, unlockRequested bool, err error) {
	until := models.Now().Add(s.cfg.Resumable.withDefaults().LockLease)
	res, err := s.db.NewUpdate().Model((*models.ResumableUpload)(nil)).Set("lock_expires = ?", until).
		Where("id = ? AND lock_holder = ?", id, holder).Exec(ctx)
	if err != nil {
		return true, false, fmt.Errorf("media: renew lock: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, false, nil
	}
	var requested bool
	if err := s.db.NewSelect().Model((*models.ResumableUpload)(nil)).Column("unlock_requested").
		Where("id = ?", id).Scan(ctx, &requested); err != nil {
		return true, false, fmt.Errorf("media: renew lock: %w", err)
	}
	return true, requested, nil
}

// UnlockResumable ends holder's lease on id, if it still holds it.
func (s *Service) UnlockResumable(ctx context.Context, id, holder string) error {
	_, err := s.db.NewUpdate().Model((*models.ResumableUpload)(nil)).
		Set("lock_holder = ''").Set("lock_expires = NULL").Set("unlock_requested = ?", false).
		Where("id = ? AND lock_holder = ?", id, holder).Exec(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("media: unlock resumable upload: %w", err)
	}
	return nil
}

// AppendResumable streams body to a new part of the viewer's upload id, which must be at offset
// and whose lease holder must hold, and returns the bytes kept. A body that ends early (the
// client went away) keeps what arrived, so the upload resumes from there — unless sum is set:
// then the whole chunk must arrive and match it, or nothing is kept (ErrChecksumMismatch). The
// part is recorded in a transaction that checks the offset and the lease again (ErrOffsetMismatch,
// ErrLockLost): two requests never append at once, on any instance. At most the bytes up to the
// declared size are read. Memory stays flat: the body is streamed to the bucket.
func (s *Service) AppendResumable(ctx context.Context, id, holder string, offset int64, body io.Reader, sum *Checksum) (int64, error) {
	up, err := s.Resumable(ctx, id)
	if err != nil {
		return 0, err
	}
	switch {
	case up.State != models.ResumableReceiving:
		return 0, ErrUploadFinished
	case up.Offset != offset:
		return 0, ErrOffsetMismatch
	}
	var h hash.Hash
	if sum != nil {
		if h, err = sum.hasher(); err != nil {
			return 0, err
		}
	}
	key := fmt.Sprintf("%s%s/%08d-%d", ResumablePrefix, id, up.Parts, offset)
	src := &partReader{r: io.LimitReader(body, up.Size-offset)}
	var r io.Reader = src
	if h != nil {
		r = io.TeeReader(src, h)
	}
	// Progress for uploadProgress: the bytes of this PATCH as they arrive.
	stop := s.trackReceived(ctx, id, holder, offset, &src.n)
	wctx := context.WithoutCancel(ctx) // a client going away keeps what arrived
	s.hook("resumable.write", id)
	n, err := s.store.Write(wctx, key, "application/octet-stream", r)
	stop()
	if err != nil {
		return 0, fmt.Errorf("media: store part of %s: %w", id, err)
	}
	discard := func(cause error) (int64, error) {
		s.deleteQuietly(wctx, key)
		s.resetReceived(wctx, id, holder, offset)
		return 0, cause
	}
	if h != nil {
		switch {
		case src.err != nil:
			return discard(fmt.Errorf("media: read chunk: %w", src.err))
		case !bytes.Equal(h.Sum(nil), sum.Sum):
			return discard(ErrChecksumMismatch)
		}
	}
	if n == 0 {
		s.deleteQuietly(wctx, key)
		return 0, nil
	}
	s.hook("resumable.record", id)
	err = s.db.RunInTx(wctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*models.ResumableUpload)(nil)).
			Set("upload_offset = upload_offset + ?", n).Set("received = upload_offset + ?", n).
			Set("parts = parts + 1").Set("updated_at = ?", models.Now()).
			Where("id = ? AND upload_offset = ? AND parts = ? AND lock_holder = ? AND state = ?", id, offset, up.Parts, holder, models.ResumableReceiving).
			Exec(ctx)
		if err != nil {
			return err
		}
		if k, err := res.RowsAffected(); err != nil {
			return err
		} else if k != 1 {
			return ErrLockLost
		}
		_, err = tx.NewInsert().Model(&models.ResumablePart{UploadID: id, Seq: up.Parts, Offset: offset, Size: n, Key: key}).Exec(ctx)
		return err
	})
	if err != nil {
		s.deleteQuietly(wctx, key)
		if errors.Is(err, ErrLockLost) {
			return 0, err
		}
		return 0, fmt.Errorf("media: record part of %s: %w", id, err)
	}
	return n, nil
}

// partReader turns a read error of the client's body into the end of the part, remembering it:
// what arrived before a dropped connection is kept.
type partReader struct {
	r   io.Reader
	n   atomic.Int64
	err error
}

func (p *partReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, io.EOF
	}
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	if err != nil && err != io.EOF {
		p.err = err
		return n, io.EOF
	}
	return n, err
}

// trackReceived records the bytes of a PATCH in progress every half second, until stop.
func (s *Service) trackReceived(ctx context.Context, id, holder string, offset int64, n *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		last := int64(-1)
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if cur := n.Load(); cur != last {
				last = cur
				_, _ = s.db.NewUpdate().Model((*models.ResumableUpload)(nil)).Set("received = ?", offset+cur).
					Where("id = ? AND lock_holder = ? AND upload_offset = ?", id, holder, offset).Exec(context.WithoutCancel(ctx))
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (s *Service) resetReceived(ctx context.Context, id, holder string, offset int64) {
	_, _ = s.db.NewUpdate().Model((*models.ResumableUpload)(nil)).Set("received = ?", offset).
		Where("id = ? AND lock_holder = ? AND upload_offset = ?", id, holder, offset).Exec(ctx)
}

// CompleteResumable turns the viewer's fully received upload id into an image or document: the
// parts, read back in order as one stream, go through UploadImage or UploadDocument, so every
// check of a multipart upload applies (type sniffed from the bytes and checked against the
// filename and declared type, pixel caps, size limits, duplicates, ADD on the collection). On
// success the upload is COMPLETED with ItemID; when the bytes are refused it is FAILED with the
// refusal's code and message, and the refusal is returned. Either way its parts are removed. A
// failure of the storage or database leaves the upload and its parts as they were.
func (s *Service) CompleteResumable(ctx context.Context, id string) (*models.ResumableUpload, error) {
	up, err := s.Resumable(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case up.State == models.ResumableCompleted:
		return up, nil
	case up.State == models.ResumableFailed:
		return up, ErrUploadFinished
	case up.Offset != up.Size:
		return nil, inputErr("Upload-Offset", "the upload has %d of %d bytes", up.Offset, up.Size)
	}
	var parts []models.ResumablePart
	if err := s.db.NewSelect().Model(&parts).Where("upload_id = ?", id).Order("seq").Scan(ctx); err != nil {
		return nil, fmt.Errorf("media: read parts of %s: %w", id, err)
	}
	body := &partsReader{ctx: ctx, store: s.store, parts: parts}
	defer body.Close()
	file := File{Filename: up.Filename, ContentType: up.FileType, Body: body}
	var itemID string
	s.hook("resumable.complete", id)
	if up.Kind == "image" {
		img, err := s.UploadImage(ctx, UploadImageInput{File: file, Title: up.Title, CollectionID: up.CollectionID})
		if img != nil {
			itemID = img.ID
		}
		err = body.check(err, up.Size)
		if err != nil {
			return s.failResumable(ctx, up, parts, err)
		}
	} else {
		doc, err := s.UploadDocument(ctx, UploadDocumentInput{File: file, Title: up.Title, CollectionID: up.CollectionID})
		if doc != nil {
			itemID = doc.ID
		}
		err = body.check(err, up.Size)
		if err != nil {
			return s.failResumable(ctx, up, parts, err)
		}
	}
	up.State, up.ItemID, up.UpdatedAt = models.ResumableCompleted, itemID, models.Now()
	if err := s.finishResumable(ctx, up, parts); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "resumable upload completed", "upload_id", id, "item_id", itemID)
	return up, nil
}

// failResumable records a refusal of up's bytes (an input error, a size over the limit, a
// duplicate) and removes its parts; other errors pass through, leaving everything for a retry.
func (s *Service) failResumable(ctx context.Context, up *models.ResumableUpload, parts []models.ResumablePart, err error) (*models.ResumableUpload, error) {
	var (
		ie  *InputError
		tl  *TooLargeError
		dup *DuplicateError
		fe  *fault.Error
	)
	code := ""
	switch {
	case errors.As(err, &ie):
		code = string(fault.Invalid)
	case errors.As(err, &tl):
		code = "PAYLOAD_TOO_LARGE"
	case errors.As(err, &dup):
		code = "DUPLICATE"
	case errors.As(err, &fe) && (fe.Kind == fault.Forbidden || fe.Kind == fault.NotFound):
		code = string(fe.Kind)
	default:
		return nil, err
	}
	up.State, up.ErrorCode, up.ErrorMessage, up.UpdatedAt = models.ResumableFailed, code, truncate(err.Error(), 500), models.Now()
	if ferr := s.finishResumable(ctx, up, parts); ferr != nil {
		return nil, errors.Join(err, ferr)
	}
	s.log.InfoContext(ctx, "resumable upload refused", "upload_id", up.ID, "code", code)
	return up, err
}

// finishResumable records up's final state and removes its parts (objects first, then rows).
func (s *Service) finishResumable(ctx context.Context, up *models.ResumableUpload, parts []models.ResumablePart) error {
	ctx = context.WithoutCancel(ctx)
	if _, err := s.db.NewUpdate().Model(up).Column("state", "item_id", "error_code", "error_message", "updated_at").WherePK().Exec(ctx); err != nil {
		return fmt.Errorf("media: record resumable upload %s: %w", up.ID, err)
	}
	if s.removeParts(ctx, up.ID, parts) {
		if err := s.removeDebris(ctx, up.ID); err != nil {
			s.log.WarnContext(ctx, "debris of a resumable upload left", "upload_id", up.ID, "err", err)
		}
	}
	return nil
}

// removeParts deletes the objects of parts, then their rows; a part whose object could not be
// deleted keeps its row for the reconciler.
func (s *Service) removeParts(ctx context.Context, id string, parts []models.ResumablePart) bool {
	ok := true
	for _, p := range parts {
		if err := s.store.Delete(ctx, p.Key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.log.WarnContext(ctx, "resumable part left for the reconciler", "key", p.Key, "err", err)
			ok = false
			continue
		}
		if _, err := s.db.NewDelete().Model((*models.ResumablePart)(nil)).Where("upload_id = ? AND seq = ?", id, p.Seq).Exec(ctx); err != nil {
			ok = false
		}
	}
	return ok
}

// removeDebris deletes what else lies in upload id's folder of the bucket: the partial file of a
// part whose instance died while writing it (a folder bucket's .tmp), never recorded.
func (s *Service) removeDebris(ctx context.Context, id string) error {
	it := s.store.Bucket.List(&blob.ListOptions{Prefix: ResumablePrefix + id + "/"})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("media: list parts of %s: %w", id, storage.Classify(err))
		}
		if err := s.store.Delete(ctx, o.Key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("media: remove %s: %w", o.Key, err)
		}
	}
}

// TerminateResumable removes the viewer's upload id and its parts (tus termination).
func (s *Service) TerminateResumable(ctx context.Context, id string) error {
	up, err := s.Resumable(ctx, id)
	if err != nil {
		return err
	}
	return s.dropResumable(ctx, up.ID)
}

func (s *Service) dropResumable(ctx context.Context, id string) error {
	ctx = context.WithoutCancel(ctx)
	var parts []models.ResumablePart
	if err := s.db.NewSelect().Model(&parts).Where("upload_id = ?", id).Scan(ctx); err != nil {
		return fmt.Errorf("media: read parts of %s: %w", id, err)
	}
	if !s.removeParts(ctx, id, parts) {
		return fmt.Errorf("media: remove parts of %s: %w", id, storage.ErrUnavailable)
	}
	if err := s.removeDebris(ctx, id); err != nil {
		return err
	}
	if _, err := s.db.NewDelete().Model((*models.ResumableUpload)(nil)).Where("id = ?", id).Exec(ctx); err != nil {
		return fmt.Errorf("media: remove resumable upload %s: %w", id, err)
	}
	return nil
}

// reapResumable removes every resumable upload whose expiry has passed, with its parts: the
// unfinished ones can no longer complete, and the finished ones have been reported for long
// enough. It returns how many it removed.
func (s *Service) reapResumable(ctx context.Context, now time.Time, dryRun bool) (int, error) {
	var ids []string
	if err := s.db.NewSelect().Model((*models.ResumableUpload)(nil)).Column("id").
		Where("expires_at <= ?", now).Scan(ctx, &ids); err != nil {
		return 0, fmt.Errorf("media: reconcile: list expired uploads: %w", err)
	}
	if dryRun {
		return len(ids), nil
	}
	n := 0
	for _, id := range ids {
		if err := s.dropResumable(ctx, id); err != nil {
			s.log.WarnContext(ctx, "expired resumable upload left for the next reconciliation", "upload_id", id, "err", err)
			continue
		}
		s.log.InfoContext(ctx, "expired resumable upload removed", "upload_id", id)
		n++
	}
	return n, nil
}

// partsReader reads the objects of parts one after the other, as one stream.
type partsReader struct {
	ctx   context.Context
	store *storage.Store
	parts []models.ResumablePart
	cur   io.ReadCloser
	n     int64
	err   error // a failure to read a part: the storage's, not the client's
}

func (p *partsReader) Read(b []byte) (int, error) {
	for {
		if p.cur == nil {
			if len(p.parts) == 0 {
				return 0, io.EOF
			}
			r, err := p.store.Bucket.NewReader(p.ctx, p.parts[0].Key, nil)
			if err != nil {
				p.err = fmt.Errorf("media: read part %s: %w", p.parts[0].Key, storage.Classify(err))
				return 0, p.err
			}
			p.cur, p.parts = r, p.parts[1:]
		}
		n, err := p.cur.Read(b)
		p.n += int64(n)
		if err == io.EOF {
			_ = p.cur.Close()
			p.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			p.err = fmt.Errorf("media: read part: %w", storage.Classify(err))
		}
		return n, err
	}
}

func (p *partsReader) Close() error {
	if p.cur != nil {
		return p.cur.Close()
	}
	return nil
}

// check turns an upload error caused by a failing part read into that storage error (never a
// refusal of the client's bytes).
func (p *partsReader) check(err error, size int64) error {
	if err != nil && p.err != nil {
		return p.err
	}
	return err
}

// WatchResumable sends the viewer's upload id each time its received bytes or state change,
// until it is finished (the last value sent is COMPLETED or FAILED) or ctx ends; the channel is
// then closed. It reads the database, so it follows an upload received by any instance.
func (s *Service) WatchResumable(ctx context.Context, id string, every time.Duration) (<-chan *models.ResumableUpload, error) {
	up, err := s.Resumable(ctx, id)
	if err != nil {
		return nil, err
	}
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	ch := make(chan *models.ResumableUpload, 1)
	ch <- up
	go func() {
		defer close(ch)
		last := up
		t := time.NewTicker(every)
		defer t.Stop()
		for last.State == models.ResumableReceiving {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			cur, err := s.Resumable(ctx, id)
			if err != nil {
				return // removed, expired, or the database failed: the stream ends
			}
			if cur.Received == last.Received && cur.Offset == last.Offset && cur.State == last.State {
				continue
			}
			select {
			case ch <- cur:
				last = cur
			default: // the reader is behind: it gets a later value
			}
		}
	}()
	return ch, nil
}
