package media

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/uptrace/bun"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/fault"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
)

// Presigned direct uploads. createUpload checks everything it can know before a byte is sent
// (ADD on the collection, the filename, the declared type and size against the same limits as a
// multipart upload) and hands out a signed PUT URL for a staging key. On S3 the URL is the
// bucket's own presigned URL; on a folder or in-memory bucket it points at Veil (PutStaged), which
// verifies the signature and streams the bytes to the bucket. completeUpload then reads the staged
// object through UploadImage's or UploadDocument's own checks, so every refusal a multipart upload
// gives, this gives with the same code, plus the declared size and SHA-256.

// StagedPrefix is the folder of the bucket staged uploads are written to.
const StagedPrefix = storage.StagingPrefix

// kindStaged is the id prefix of a staged upload. Staged uploads are not nodes: the prefix is only
// read by ParseStagedID.
const kindStaged = "stg"

// DefaultStagedUploadTTL is Config.StagedUploadTTL by default.
const DefaultStagedUploadTTL = time.Hour

// CreateUploadInput describes a presigned upload about to be made. Kind is KindImage or
// KindDocument; CollectionID "" means the root collection; SHA256 (hex) is optional.
type CreateUploadInput struct {
	Kind         Kind
	Filename     string
	Size         int64
	ContentType  string
	CollectionID string
	SHA256       string
}

// PresignedUpload is where and how the client sends the bytes of a staged upload: a PUT of
// exactly Size bytes to URL, with Headers (Content-Type), before ExpiresAt. URL is absolute for a
// cloud bucket and a server path ("/staged-uploads/…") for a folder or in-memory bucket, which the
// transport makes absolute.
type PresignedUpload struct {
	ID        string
	URL       string
	Method    string
	Headers   []Header
	ExpiresAt time.Time
}

// Header is one HTTP header a client must send.
type Header struct{ Name, Value string }

// CompleteUploadInput is the metadata of a completed upload; Alt and FocalPoint apply to images.
type CompleteUploadInput struct {
	Title      string
	Alt        string
	Tags       []string
	FocalPoint *FocalPoint
}

// Errors of a PUT to a staged-upload URL of Veil's own (PutStaged). The server maps each to its
// HTTP status; each carries a message safe to show.
var (
	// ErrUploadURLInvalid: the signature does not verify, the URL expired, or the upload is gone.
	ErrUploadURLInvalid = errors.New("the upload URL is invalid or expired")
	// ErrUploadContentType: the Content-Type is not the one the URL was signed for.
	ErrUploadContentType = errors.New("the Content-Type is not the one the upload declared")
	// ErrUploadLengthRequired: the request has no Content-Length (chunked bodies are refused).
	ErrUploadLengthRequired = errors.New("the upload needs a Content-Length")
	// ErrUploadLengthMismatch: Content-Length, or the bytes sent, are fewer than the declared size.
	ErrUploadLengthMismatch = errors.New("the body is not the size the upload declared")
	// ErrUploadTooLarge: Content-Length, or the bytes sent, exceed the declared size.
	ErrUploadTooLarge = errors.New("the body is larger than the upload declared")
	// ErrUploadNotPending: the upload is being completed or is complete; its object is final.
	ErrUploadNotPending = errors.New("the upload is already being completed")
)

var contentTypeChars = func(ct string) bool {
	for _, r := range ct {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}

// CreateUpload checks a presigned upload before any byte is sent and returns the signed URL its
// bytes go to. It needs ADD on the collection (checked first); it refuses a hostile filename, a
// declared type that is not allowed for kind or disagrees with the filename, and a size over the
// limit of kind (*TooLargeError, as for multipart uploads), and, before any URL is signed, an upload
// that the viewer's open uploads leave no room for (*OpenUploadLimitError).
func (s *Service) CreateUpload(ctx context.Context, in CreateUploadInput) (*PresignedUpload, error) {
	collectionID, err := s.resolveCollection(ctx, in.CollectionID, models.PermAdd)
	if err != nil {
		return nil, err
	}
	v := auth.ViewerFrom(ctx)
	if v.UserID == "" {
		return nil, fault.ErrUnauthenticated
	}
	if err := validateFilename(in.Filename); err != nil {
		return nil, err
	}
	ct := strings.TrimSpace(in.ContentType)
	switch {
	case ct == "":
		return nil, inputErr("contentType", "is required: the client sends it as the PUT's Content-Type")
	case len(ct) > 255 || !contentTypeChars(ct):
		return nil, inputErr("contentType", "is not a valid media type")
	}
	var limit int64
	var kind string
	switch in.Kind {
	case KindImage:
		limit, kind = s.cfg.MaxImageBytes, "image"
		if err := checkDeclaredImage(in.Filename, ct); err != nil {
			return nil, err
		}
	case KindDocument:
		limit, kind = s.cfg.MaxDocumentBytes, "document"
		if err := checkDeclaredDocument(in.Filename, ct); err != nil {
			return nil, err
		}
	default:
		return nil, inputErr("kind", "must be IMAGE or DOCUMENT")
	}
	switch {
	case in.Size <= 0:
		return nil, inputErr("size", "the file is empty")
	case in.Size > limit:
		return nil, &TooLargeError{Kind: kind, Limit: limit}
	}
	sum := strings.ToLower(strings.TrimSpace(in.SHA256))
	if sum != "" && !isHexSHA256(sum) {
		return nil, inputErr("sha256", "must be 64 hexadecimal digits")
	}

	now := models.Now()
	id := kindStaged + "_" + ulid.Make().String()
	row := &models.StagedUpload{
		ID: id, UserID: v.UserID, Kind: kind, Filename: in.Filename, ContentType: ct, Size: in.Size,
		SHA256: sum, CollectionID: collectionID, StagingKey: storage.StagingKey(id), State: models.StagedPending,
		ExpiresAt: now.Add(s.stagedTTL()).Truncate(time.Second), CreatedAt: now, UpdatedAt: now,
	}
	var target *PresignedUpload
	err = s.recordOpenUpload(ctx, v.UserID, in.Size, func(ctx context.Context, tx bun.Tx) error {
		if target, err = s.presign(ctx, row); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return fmt.Errorf("media: record staged upload: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "staged upload created", "upload_id", id, "kind", kind, "size", in.Size, "expires", row.ExpiresAt)
	return target, nil
}

func (s *Service) stagedTTL() time.Duration {
	if s.cfg.StagedUploadTTL > 0 {
		return s.cfg.StagedUploadTTL
	}
	return DefaultStagedUploadTTL
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// checkDeclaredImage refuses, before a URL is issued, an image whose declared type or filename
// extension is not one Veil accepts, or whose two claims disagree.
func checkDeclaredImage(filename, ct string) error {
	claimed := claimedType(ct)
	var byType, byExt = "", ""
	for f, exts := range imageExtensions {
		if claimed == f.MIMEType() || claimed == "image/jpg" && f.MIMEType() == "image/jpeg" {
			byType = string(f)
		}
		for _, e := range exts {
			if e == extension(filename) {
				byExt = string(f)
			}
		}
	}
	switch {
	case claimed != "" && byType == "":
		return inputErr("contentType", "images of type %s are not accepted (JPEG, PNG, GIF or WebP)", claimed)
	case extension(filename) != "" && byExt == "":
		return inputErr("file", "the filename says .%s, which is not a JPEG, PNG, GIF or WebP image", extension(filename))
	case byType != "" && byExt != "" && byType != byExt:
		return inputErr("file", "the filename says .%s but the upload claims %s", extension(filename), claimed)
	}
	return nil
}

// checkDeclaredDocument refuses, before a URL is issued, a document whose declared type or
// extension is not on the allowlist.
func checkDeclaredDocument(filename, ct string) error {
	if claimed := claimedType(ct); claimed != "" {
		ok := false
		for _, d := range documentTypes {
			ok = ok || d.mime == claimed
		}
		ok = ok || claimed == "application/x-zip-compressed" || claimed == "application/rtf" ||
			strings.HasPrefix(claimed, "text/") && claimed != "text/html"
		if !ok {
			return inputErr("contentType", "documents of type %s are not accepted", claimed)
		}
	}
	if ext := extension(filename); ext != "" {
		ok := false
		for _, d := range documentTypes {
			for _, e := range d.exts {
				ok = ok || e == ext
			}
		}
		if !ok {
			return inputErr("file", "documents named .%s are not accepted", ext)
		}
	}
	return nil
}

// presign returns the URL the client PUTs the bytes of row to. A folder or in-memory bucket gets
// a URL of Veil's own (signed with the rendition URL key, under its own purpose string); any
// other bucket its driver's presigned PUT (storage.Store.SignedPut: on S3 the content type and
// length are signed headers).
func (s *Service) presign(ctx context.Context, row *models.StagedUpload) (*PresignedUpload, error) {
	out := &PresignedUpload{ID: row.ID, Method: http.MethodPut, ExpiresAt: row.ExpiresAt,
		Headers: []Header{{Name: "Content-Type", Value: row.ContentType}}}
	if s.servesStaged() {
		exp := strconv.FormatInt(row.ExpiresAt.Unix(), 10)
		q := url.Values{"expires": {exp}, "signature": {signStaged(s.rend.cfg.SigningKeys[0], row, exp)}}
		out.URL = "/staged-uploads/" + row.ID + "?" + q.Encode()
		return out, nil
	}
	u, err := s.store.SignedPut(ctx, row.StagingKey, row.ContentType, row.Size, time.Until(row.ExpiresAt))
	if err != nil {
		return nil, fmt.Errorf("media: sign upload URL: %w", err)
	}
	out.URL = u
	return out, nil
}

// servesStaged reports whether Veil itself receives staged uploads (a folder or in-memory bucket,
// which have no presigned URLs of their own that reach the client).
func (s *Service) servesStaged() bool {
	return s.store.Scheme == "file" || s.store.Scheme == "mem"
}

// signStaged is the signature of a staged-upload URL of Veil's own: HMAC-SHA256 over the upload's
// id, staging key, size, content type and expiry, truncated to 128 bits, base64url.
func signStaged(key []byte, row *models.StagedUpload, expires string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("veil-staged-upload-v1\x00" + row.ID + "\x00" + row.StagingKey + "\x00" +
		strconv.FormatInt(row.Size, 10) + "\x00" + row.ContentType + "\x00" + expires))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func (s *Service) verifyStaged(row *models.StagedUpload, expires, sig string) bool {
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(got) != 16 {
		return false
	}
	for _, k := range s.rend.cfg.SigningKeys {
		want, _ := base64.RawURLEncoding.DecodeString(signStaged(k, row, expires))
		if hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// StagedPut is a PUT to a staged-upload URL of Veil's own.
type StagedPut struct {
	ID, Expires, Signature string
	ContentType            string
	// ContentLength is the request's Content-Length, -1 when unknown.
	ContentLength int64
	Body          io.Reader
}

// PutStaged verifies a PUT to a staged-upload URL of Veil's own and streams its body to the
// staging key: the signature (over the upload's id, key, size, type and expiry), the expiry, the
// Content-Type (exactly the declared one) and the Content-Length (exactly the declared size); at
// most that many bytes are read, and a body that ends early or runs over leaves no object. A PUT
// may be repeated until the upload is completed; the last one wins.
func (s *Service) PutStaged(ctx context.Context, p StagedPut) error {
	if !strings.HasPrefix(p.ID, kindStaged+"_") || len(p.ID) > 64 {
		return ErrUploadURLInvalid
	}
	row := new(models.StagedUpload)
	if err := s.db.NewSelect().Model(row).Where("id = ?", p.ID).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ErrUploadURLInvalid
		}
		return fmt.Errorf("media: load staged upload: %w", err)
	}
	exp, err := strconv.ParseInt(p.Expires, 10, 64)
	switch {
	case err != nil || !s.verifyStaged(row, p.Expires, p.Signature):
		return ErrUploadURLInvalid
	case time.Now().Unix() >= exp || !row.ExpiresAt.After(time.Now()):
		return fmt.Errorf("%w: it expired at %s", ErrUploadURLInvalid, row.ExpiresAt.UTC().Format(time.RFC3339))
	case row.State != models.StagedPending:
		return ErrUploadNotPending
	case p.ContentType != row.ContentType:
		return fmt.Errorf("%w: send Content-Type: %s", ErrUploadContentType, row.ContentType)
	case p.ContentLength < 0:
		return ErrUploadLengthRequired
	case p.ContentLength > row.Size:
		return fmt.Errorf("%w: Content-Length is %d, the upload declared %d bytes", ErrUploadTooLarge, p.ContentLength, row.Size)
	case p.ContentLength != row.Size:
		return fmt.Errorf("%w: Content-Length is %d, the upload declared %d bytes", ErrUploadLengthMismatch, p.ContentLength, row.Size)
	}
	body := &exactReader{r: p.Body, left: row.Size}
	n, err := s.store.Write(ctx, row.StagingKey, row.ContentType, body)
	switch {
	case body.over:
		return fmt.Errorf("%w: more than %d bytes were sent", ErrUploadTooLarge, row.Size)
	case err != nil && body.readErr != nil:
		return fmt.Errorf("%w: the body was cut off after %d bytes (%v)", ErrUploadLengthMismatch, row.Size-body.left, body.readErr)
	case err != nil:
		return fmt.Errorf("media: store staged upload: %w", err)
	case n != row.Size:
		s.deleteQuietly(ctx, row.StagingKey)
		return fmt.Errorf("%w: %d bytes were sent, the upload declared %d", ErrUploadLengthMismatch, n, row.Size)
	}
	s.log.InfoContext(ctx, "staged upload received", "upload_id", row.ID, "size", n)
	return nil
}

// exactReader reads at most left bytes and fails (aborting the write) when the source has more.
type exactReader struct {
	r       io.Reader
	left    int64
	over    bool
	readErr error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		var one [1]byte
		n, err := e.r.Read(one[:])
		if n > 0 {
			e.over = true
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err != nil && err != io.EOF {
		e.readErr = err
	}
	if err == io.EOF && e.left > 0 {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// ParseStagedID checks that id is well formed as a staged-upload id.
func ParseStagedID(id string) error {
	rest, ok := strings.CutPrefix(id, kindStaged+"_")
	if !ok || len(rest) != ulid.EncodedSize {
		return inputErr("id", "%q is not an upload id", truncate(id, 64))
	}
	if _, err := ulid.ParseStrict(rest); err != nil {
		return inputErr("id", "%q is not an upload id", truncate(id, 64))
	}
	return nil
}

// CompleteUpload verifies the staged object of upload id and turns it into an image or a
// document: the object must exist and have the declared size; then it is read once through the
// checks of a multipart upload (filename, type sniffed from the first bytes, pixel caps from the
// header, claims against the bytes, SHA-256 while streaming to the final key, compared with the
// declared one), and the media row is inserted in the transaction that marks the upload completed.
// The staging object is removed on success and on any refusal (after a refusal the client may PUT
// again until the upload expires).
//
// Only the viewer who created the upload may complete it (anyone else gets ErrNotFound). Completing
// a completed upload returns the same item; one being completed is a *ConflictError, as is an
// expired one.
func (s *Service) CompleteUpload(ctx context.Context, id string, in CompleteUploadInput) (models.MediaItem, error) {
	if err := ParseStagedID(id); err != nil {
		return nil, err
	}
	v := auth.ViewerFrom(ctx)
	if v.UserID == "" {
		return nil, fault.ErrUnauthenticated
	}
	now := models.Now()
	res, err := s.db.NewUpdate().Model((*models.StagedUpload)(nil)).
		Set("state = ?", models.StagedCompleting).Set("updated_at = ?", now).
		Where("id = ? AND user_id = ? AND state = ? AND expires_at > ?", id, v.UserID, models.StagedPending, now).Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("media: claim staged upload: %w", err)
	}
	row := new(models.StagedUpload)
	if err := s.db.NewSelect().Model(row).Where("id = ? AND user_id = ?", id, v.UserID).Scan(ctx); err != nil {
		return nil, notFound(err, "upload", id)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		switch {
		case row.State == models.StagedCompleted && row.MediaID != nil:
			return s.stagedResult(ctx, row)
		case row.State == models.StagedCompleting:
			return nil, &ConflictError{Reason: "the upload is being completed by another request"}
		case !row.ExpiresAt.After(now):
			return nil, &ConflictError{Reason: fmt.Sprintf("the upload expired at %s; create a new one", row.ExpiresAt.UTC().Format(time.RFC3339))}
		default:
			return nil, &ConflictError{Reason: "the upload cannot be completed now; try again"}
		}
	}
	item, err := s.completeClaimed(ctx, row, in)
	if err != nil {
		s.releaseStaged(ctx, row, err)
		return nil, err
	}
	s.deleteQuietly(ctx, row.StagingKey)
	return item, nil
}

// completeClaimed runs the checks and the copy of a claimed upload.
func (s *Service) completeClaimed(ctx context.Context, row *models.StagedUpload, in CompleteUploadInput) (models.MediaItem, error) {
	attrs, err := s.store.Bucket.Attributes(ctx, row.StagingKey)
	if err != nil {
		if errors.Is(storage.Classify(err), storage.ErrNotFound) {
			return nil, inputErr("file", "nothing has been uploaded to the upload URL yet")
		}
		return nil, fmt.Errorf("media: staged upload: %w", storage.Classify(err))
	}
	if attrs.Size != row.Size {
		return nil, inputErr("size", "the uploaded file has %d bytes, but the upload declared %d", attrs.Size, row.Size)
	}
	r, promote, err := s.openStaged(ctx, row)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	chk := &stagedCheck{size: row.Size, sha256: row.SHA256, promote: promote, commit: func(ctx context.Context, tx bun.Tx, mediaID string) error {
		res, err := tx.NewUpdate().Model((*models.StagedUpload)(nil)).
			Set("state = ?", models.StagedCompleted).Set("media_id = ?", mediaID).Set("updated_at = ?", models.Now()).
			Where("id = ? AND state = ?", row.ID, models.StagedCompleting).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errReclaimed // the reconciler took the upload meanwhile
		}
		return nil
	}}
	file := File{Filename: row.Filename, ContentType: row.ContentType, Body: &stagedBody{r: r}}
	if row.Kind == "image" {
		img, err := s.uploadImage(ctx, UploadImageInput{File: file, Title: in.Title, Alt: in.Alt, CollectionID: row.CollectionID,
			Tags: in.Tags, FocalPoint: in.FocalPoint}, chk)
		if err != nil {
			return nil, err
		}
		return img, nil
	}
	doc, err := s.uploadDocument(ctx, UploadDocumentInput{File: file, Title: in.Title, CollectionID: row.CollectionID, Tags: in.Tags}, chk)
	if err != nil {
		return nil, err
	}
	return doc, nil
}

// openStaged opens the staging object of row for the checks, and returns how to give that very
// object its final key once they have read it (nil: the bytes are written again as they are read).
// On a folder bucket the file read is hard-linked to the final key (storage.LinkFile); on S3 a
// server-side copy of the staged object is read, then copied to the final key. Either way a PUT to
// the staging URL in the meantime cannot slip unchecked bytes in. Other buckets write the bytes
// again.
func (s *Service) openStaged(ctx context.Context, row *models.StagedUpload) (io.ReadCloser, func(ctx context.Context, key, contentType string, size int64) error, error) {
	if s.store.Dir != "" {
		rc, size, err := s.store.Open(ctx, row.StagingKey)
		if err != nil {
			return nil, nil, fmt.Errorf("media: open staged upload: %w", err)
		}
		f, ok := rc.(*os.File)
		if !ok {
			return rc, nil, nil
		}
		if size != row.Size {
			f.Close()
			return nil, nil, inputErr("size", "the uploaded file has %d bytes, but the upload declared %d", size, row.Size)
		}
		return f, func(ctx context.Context, key, contentType string, size int64) error {
			err := s.store.LinkFile(key, f)
			if !errors.Is(err, storage.ErrCannotPromote) {
				return err
			}
			// Another file system, or no /proc: copy the same file.
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("media: staged upload: %w", storage.Classify(err))
			}
			n, err := s.store.Write(ctx, key, contentType, io.LimitReader(f, size))
			if err == nil && n != size {
				err = fmt.Errorf("media: staged upload: copied %d of %d bytes", n, size)
			}
			return err
		}, nil
	}
	if s.store.Scheme != "s3" || row.Size > storage.MaxServerSideCopy {
		r, err := s.store.Bucket.NewReader(ctx, row.StagingKey, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("media: open staged upload: %w", storage.Classify(err))
		}
		return r, nil, nil
	}
	// S3: the client may PUT to the staging key until the URL expires, so the object checked is a
	// server-side copy of it that no URL can write (stagedCheckingKey), and that copy is what
	// becomes the final object. Its size is checked again by the read (stagedCheck.verify).
	checking := stagedCheckingKey(row.ID)
	if err := s.store.Copy(ctx, checking, row.StagingKey, row.ContentType, row.Size); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil, inputErr("file", "nothing has been uploaded to the upload URL yet")
		}
		return nil, nil, fmt.Errorf("media: staged upload: %w", err)
	}
	r, err := s.store.Bucket.NewReader(ctx, checking, nil)
	if err != nil {
		s.deleteQuietly(ctx, checking)
		return nil, nil, fmt.Errorf("media: open staged upload: %w", storage.Classify(err))
	}
	return &closeThen{ReadCloser: r, then: func() { s.deleteQuietly(ctx, checking) }}, func(ctx context.Context, key, contentType string, size int64) error {
		return s.store.Copy(ctx, key, checking, contentType, size)
	}, nil
}

// stagedCheckingSuffix ends the key of the server-side copy of a staged object that completion
// checks (on S3); the reconciler counts it with its upload.
const stagedCheckingSuffix = ".checking"

func stagedCheckingKey(id string) string { return storage.StagingKey(id) + stagedCheckingSuffix }

// closeThen runs then after closing its reader.
type closeThen struct {
	io.ReadCloser
	then func()
}

func (c *closeThen) Close() error {
	err := c.ReadCloser.Close()
	c.then()
	return err
}

// write stores the checked body at key. A multipart upload (c nil), or a staged upload on a bucket
// that cannot promote, streams it to the bucket; otherwise body is read to its end (the checks
// hash and inspect it as it goes) and then the staged object itself gets the key, so its bytes are
// not written a second time.
func (c *stagedCheck) write(ctx context.Context, s *Service, key, contentType string, body io.Reader) (int64, error) {
	if c == nil || c.promote == nil {
		return s.store.Write(ctx, key, contentType, body)
	}
	n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, body, make([]byte, 1<<20))
	if err != nil {
		return n, err
	}
	return n, c.promote(ctx, key, contentType, n)
}

// stagedBody marks errors of reading the staging object as storage failures, so that a bucket
// failing mid-read is STORAGE_UNAVAILABLE and not the client's fault.
type stagedBody struct{ r io.Reader }

func (b *stagedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = storage.Classify(err)
	}
	return n, err
}

// releaseStaged puts a claimed upload whose completion failed back to pending. A refusal of the
// bytes (anything the client is told about) also removes the staging object: the client may PUT
// again; a failure of the storage or the database keeps it for a retry of completeUpload.
func (s *Service) releaseStaged(ctx context.Context, row *models.StagedUpload, cause error) {
	ctx = context.WithoutCancel(ctx)
	var tooLarge *TooLargeError
	var dup *DuplicateError
	if fault.KindOf(cause) != "" || errors.As(cause, &tooLarge) || errors.As(cause, &dup) {
		s.deleteQuietly(ctx, row.StagingKey)
	}
	if _, err := s.db.NewUpdate().Model((*models.StagedUpload)(nil)).
		Set("state = ?", models.StagedPending).Set("updated_at = ?", models.Now()).
		Where("id = ? AND state = ?", row.ID, models.StagedCompleting).Exec(ctx); err != nil {
		s.log.WarnContext(ctx, "staged upload left completing for the reconciler", "upload_id", row.ID, "err", err)
	}
	s.log.InfoContext(ctx, "staged upload refused", "upload_id", row.ID, "err", cause)
}

// stagedResult returns the item a completed upload became.
func (s *Service) stagedResult(ctx context.Context, row *models.StagedUpload) (models.MediaItem, error) {
	if row.Kind == "image" {
		img, err := s.Image(ctx, *row.MediaID)
		if err != nil {
			return nil, err
		}
		return img, nil
	}
	doc, err := s.Document(ctx, *row.MediaID)
	if err != nil {
		return nil, err
	}
	return doc, nil
}

// reconcileStaged removes staged uploads past their expiry: the row first (so a completion can no
// longer claim it), then its staging object. Uploads being completed are left alone until they
// have been completing longer than the grace (their process died).
func (s *Service) reconcileStaged(ctx context.Context, now, cutoff time.Time, rep *ReconcileReport) error {
	var rows []models.StagedUpload
	if err := s.db.NewSelect().Model(&rows).
		Where(expiredStaged, models.StagedCompleting, now, models.StagedCompleting, cutoff, now).
		OrderExpr("expires_at").Limit(10_000).Scan(ctx); err != nil {
		return fmt.Errorf("media: reconcile: read expired staged uploads: %w", err)
	}
	for _, r := range rows {
		rep.StagedExpired++
		if rep.DryRun {
			continue
		}
		res, err := s.db.NewDelete().Model((*models.StagedUpload)(nil)).Where("id = ?", r.ID).
			Where(expiredStaged, models.StagedCompleting, now, models.StagedCompleting, cutoff, now).Exec(ctx)
		if err != nil {
			return fmt.Errorf("media: reconcile: remove staged upload %s: %w", r.ID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			rep.StagedExpired--
			continue // claimed or changed meanwhile
		}
		if err := s.store.Delete(ctx, r.StagingKey); err != nil {
			s.log.ErrorContext(ctx, "reconcile: staging object of an expired upload not removed", "key", r.StagingKey, "err", err)
			continue
		}
		if r.State != models.StagedCompleted {
			s.log.InfoContext(ctx, "reconcile: removed an expired staged upload", "upload_id", r.ID, "key", r.StagingKey, "expired", r.ExpiresAt)
		}
	}
	return nil
}

// expiredStaged selects the staged uploads the reconciler removes (arguments: completing, now,
// completing, cutoff, now).
const expiredStaged = "((state <> ? AND expires_at <= ?) OR (state = ? AND updated_at <= ? AND expires_at <= ?))"

// liveStaged returns which of the staged-upload ids have a row.
func (s *Service) liveStaged(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, batch := range batches(ids, 500) {
		var found []string
		if err := s.db.NewSelect().Model((*models.StagedUpload)(nil)).Column("id").Where("id IN (?)", bun.In(batch)).Scan(ctx, &found); err != nil {
			return nil, fmt.Errorf("media: reconcile: look up staged uploads: %w", err)
		}
		for _, id := range found {
			out[id] = true
		}
	}
	return out, nil
}
