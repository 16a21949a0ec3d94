package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/gabriel-vasile/mimetype"
	"github.com/uptrace/bun"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/renditions"
	"github.com/veil-media/veil/storage"
)

// File is one uploaded file as the client sent it. Filename and ContentType are claims that Veil
// checks against the bytes; Body is read once, to the end or to the first error.
type File struct {
	Filename    string
	ContentType string
	Body        io.Reader
}

// FocalPoint is the centre and size of the important part of an image, in upright pixels.
type FocalPoint struct{ X, Y, Width, Height int }

// UploadImageInput describes an image upload. Empty Title defaults to one made from the filename;
// empty CollectionID means the root collection.
type UploadImageInput struct {
	File         File
	Title        string
	Alt          string
	CollectionID string
	Tags         []string
	FocalPoint   *FocalPoint
}

// UploadDocumentInput describes a document upload.
type UploadDocumentInput struct {
	File         File
	Title        string
	CollectionID string
	Tags         []string
}

// maxImageHeader bounds the bytes kept in memory while the image header is inspected.
const maxImageHeader = 2 << 20

// documentSniffBytes is how much of a document is kept in memory to sniff its type (OOXML and ODF
// are zip files whose telling entries may sit a few KiB in).
const documentSniffBytes = 64 << 10

// AuthorizeUpload checks that the viewer may upload into collectionID ("" = the root): ADD on
// it. Transports call it before they read or spool a byte of the file; UploadImage and
// UploadDocument check the same again.
func (s *Service) AuthorizeUpload(ctx context.Context, collectionID string) error {
	_, err := s.resolveCollection(ctx, collectionID, models.PermAdd)
	return err
}

// UploadImage checks and stores an image. The type comes from the bytes (JPEG, PNG, GIF or WebP;
// the header is checked against the pixel cap before anything is stored), the claimed type and
// filename extension must agree with it, the sha256 is computed while streaming to the bucket, and
// a truncated file is refused. On any failure nothing remains: no row, no object.
func (s *Service) UploadImage(ctx context.Context, in UploadImageInput) (*models.Image, error) {
	return s.uploadImage(ctx, in, nil)
}

// stagedCheck is what completing a presigned upload checks beyond a multipart upload's checks:
// the exact size and the client's sha256, and the upload's own row, ended in the transaction that
// inserts the media row.
type stagedCheck struct {
	size   int64
	sha256 string // lower-case hex; "" when the client declared none
	commit func(ctx context.Context, tx bun.Tx, mediaID string) error
	// promote, when set, gives the staged object the final key in the bucket once its bytes have
	// been read through the checks (see stagedCheck.write), instead of writing them again.
	promote func(ctx context.Context, key, contentType string, size int64) error
}

// verify refuses bytes that are not what the client declared.
func (c *stagedCheck) verify(size int64, sum string) error {
	if c == nil {
		return nil
	}
	if size != c.size {
		return inputErr("size", "the uploaded file has %d bytes, but the upload declared %d", size, c.size)
	}
	if c.sha256 != "" && sum != c.sha256 {
		return inputErr("sha256", "the uploaded file's SHA-256 is %s, but the upload declared %s", sum, c.sha256)
	}
	return nil
}

func (c *stagedCheck) inTx() func(ctx context.Context, tx bun.Tx, mediaID string) error {
	if c == nil {
		return nil
	}
	return c.commit
}

func (s *Service) uploadImage(ctx context.Context, in UploadImageInput, chk *stagedCheck) (*models.Image, error) {
	if err := validateFilename(in.File.Filename); err != nil {
		return nil, err
	}
	title, alt, tags, err := cleanMeta(in.Title, in.Alt, in.File.Filename, in.Tags)
	if err != nil {
		return nil, err
	}
	collectionID, err := s.resolveCollection(ctx, in.CollectionID, models.PermAdd)
	if err != nil {
		return nil, err
	}

	limited := &limitedReader{r: in.File.Body, left: s.cfg.MaxImageBytes}
	head := &cappedBuffer{max: maxImageHeader}
	info, err := renditions.Inspect(io.TeeReader(limited, head), s.cfg.Images)
	if err != nil {
		switch {
		case limited.exceeded:
			return nil, &TooLargeError{Kind: "image", Limit: s.cfg.MaxImageBytes}
		case limited.readErr != nil:
			return nil, fmt.Errorf("media: read upload: %w", limited.readErr)
		case head.Len() == 0:
			return nil, inputErr("file", "the file is empty")
		case head.overflow:
			return nil, inputErr("file", "the image header is larger than %d bytes", maxImageHeader)
		}
		return nil, imageInputError(err)
	}
	if err := checkImageClaims(in.File, info.Format); err != nil {
		return nil, err
	}
	if in.FocalPoint != nil {
		if err := validateFocal(*in.FocalPoint); err != nil {
			return nil, err
		}
	}

	id := NewID(KindImage)
	key := storage.OriginalKey(id, storage.SafeName(in.File.Filename, info.Format.Extension()))
	trailer := newTrailerCheck(info.Format)
	hash := sha256.New()
	body := io.TeeReader(io.MultiReader(bytes.NewReader(head.Bytes()), limited), io.MultiWriter(hash, trailer))
	if err := s.notePending(ctx, key); err != nil {
		return nil, err
	}
	s.hook("upload.write", id)
	size, err := chk.write(ctx, s, key, info.Format.MIMEType(), body)
	if err != nil {
		return nil, s.uploadWriteError(ctx, key, "image", s.cfg.MaxImageBytes, limited, err)
	}
	if reason := trailer.problem(size); reason != "" {
		s.abandonUpload(ctx, key)
		return nil, inputErr("file", "%s", reason)
	}
	sum := hex.EncodeToString(hash.Sum(nil))
	if err := chk.verify(size, sum); err != nil {
		s.abandonUpload(ctx, key)
		return nil, err
	}
	s.hook("upload.insert", id)

	permsSet := s.setNewFile(ctx, key, models.Private)
	now := models.Now()
	img := &models.Image{
		MediaFields: models.MediaFields{
			ID: id, CollectionID: collectionID, Title: title,
			Filename: in.File.Filename, StorageKey: key, ContentType: info.Format.MIMEType(),
			Size: size, SHA256: sum,
			CreatedAt: now, UpdatedAt: now,
			PrivacyState: privateState(now, permsSet),
		},
		Alt: alt, Width: info.Width, Height: info.Height,
	}
	if fp := in.FocalPoint; fp != nil {
		img.FocalX, img.FocalY, img.FocalWidth, img.FocalHeight = &fp.X, &fp.Y, &fp.Width, &fp.Height
	}
	if err := insertMedia(ctx, s, img, tags, chk.inTx()); err != nil {
		s.abandonUpload(ctx, key)
		return nil, err
	}
	logUpload(ctx, KindImage, img.ID)
	s.enqueueEager(img.ID)
	s.log.InfoContext(ctx, "image uploaded", "image_id", id, "size", size, "format", string(info.Format), "width", info.Width, "height", info.Height)
	return img, nil
}

// UploadDocument checks and stores a document. Its type is sniffed from the bytes and must be on
// the allowlist; the filename extension and claimed type must agree with it.
func (s *Service) UploadDocument(ctx context.Context, in UploadDocumentInput) (*models.Document, error) {
	return s.uploadDocument(ctx, in, nil)
}

func (s *Service) uploadDocument(ctx context.Context, in UploadDocumentInput, chk *stagedCheck) (*models.Document, error) {
	if err := validateFilename(in.File.Filename); err != nil {
		return nil, err
	}
	title, _, tags, err := cleanMeta(in.Title, "", in.File.Filename, in.Tags)
	if err != nil {
		return nil, err
	}
	collectionID, err := s.resolveCollection(ctx, in.CollectionID, models.PermAdd)
	if err != nil {
		return nil, err
	}

	limited := &limitedReader{r: in.File.Body, left: s.cfg.MaxDocumentBytes}
	head := make([]byte, documentSniffBytes)
	n, err := io.ReadFull(limited, head)
	head = head[:n]
	switch {
	case limited.exceeded:
		return nil, &TooLargeError{Kind: "document", Limit: s.cfg.MaxDocumentBytes}
	case limited.readErr != nil:
		// The source's own io.ErrUnexpectedEOF (a part cut before its boundary) included, which
		// io.ReadFull would pass on as a short file.
		return nil, fmt.Errorf("media: upload interrupted: %w", limited.readErr)
	case err != nil && err != io.EOF && err != io.ErrUnexpectedEOF:
		return nil, fmt.Errorf("media: read upload: %w", err)
	case n == 0:
		return nil, inputErr("file", "the file is empty")
	}
	dt, err := sniffDocument(head, in.File)
	if err != nil {
		return nil, err
	}

	id := NewID(KindDocument)
	key := storage.DocumentKey(id, storage.SafeName(in.File.Filename, dt.ext(in.File.Filename)))
	hash := sha256.New()
	body := io.TeeReader(io.MultiReader(bytes.NewReader(head), limited), hash)
	if err := s.notePending(ctx, key); err != nil {
		return nil, err
	}
	s.hook("upload.write", id)
	size, err := chk.write(ctx, s, key, dt.mime, body)
	if err != nil {
		return nil, s.uploadWriteError(ctx, key, "document", s.cfg.MaxDocumentBytes, limited, err)
	}
	sum := hex.EncodeToString(hash.Sum(nil))
	if err := chk.verify(size, sum); err != nil {
		s.abandonUpload(ctx, key)
		return nil, err
	}
	s.hook("upload.insert", id)
	permsSet := s.setNewFile(ctx, key, models.Private)
	now := models.Now()
	doc := &models.Document{MediaFields: models.MediaFields{
		ID: id, CollectionID: collectionID, Title: title,
		Filename: in.File.Filename, StorageKey: key, ContentType: dt.mime,
		Size: size, SHA256: sum,
		CreatedAt: now, UpdatedAt: now,
		PrivacyState: privateState(now, permsSet),
	}}
	if err := insertMedia(ctx, s, doc, tags, chk.inTx()); err != nil {
		s.abandonUpload(ctx, key)
		return nil, err
	}
	logUpload(ctx, KindDocument, doc.ID)
	s.log.InfoContext(ctx, "document uploaded", "document_id", id, "size", size, "content_type", dt.mime)
	return doc, nil
}

func cleanMeta(title, alt, filename string, rawTags []string) (string, string, []string, error) {
	title, err := cleanText("title", title, maxTitle)
	if err != nil {
		return "", "", nil, err
	}
	if title == "" {
		title = truncateRunes(defaultTitle(filename), maxTitle)
	}
	alt, err = cleanText("alt", alt, maxAlt)
	if err != nil {
		return "", "", nil, err
	}
	tags, err := cleanTags(rawTags)
	if err != nil {
		return "", "", nil, err
	}
	return title, alt, tags, nil
}

func truncateRunes(s string, max int) string {
	for len(s) > max {
		r := []rune(s)
		s = string(r[:len(r)-1])
	}
	return s
}

// uploadWriteError turns a failed Store.Write into the error the client should see, making sure
// no object is left behind.
func (s *Service) uploadWriteError(ctx context.Context, key, kind string, limit int64, lr *limitedReader, err error) error {
	s.abandonUpload(ctx, key)
	switch {
	case lr.exceeded:
		return &TooLargeError{Kind: kind, Limit: limit}
	case lr.readErr != nil:
		return fmt.Errorf("media: upload interrupted: %w", lr.readErr)
	}
	return fmt.Errorf("media: store %s: %w", kind, err)
}

// deleteQuietly removes an object written by a failed operation; a failure is logged, since the
// caller is already returning the first error.
func (s *Service) deleteQuietly(ctx context.Context, key string) {
	// A cancelled request must still clean up.
	ctx = context.WithoutCancel(ctx)
	if err := s.store.Delete(ctx, key); err != nil {
		s.log.ErrorContext(ctx, "orphan object left after failed upload", "key", key, "err", err)
	}
}

// notePending records key as an upload in flight before its first byte is written (see
// models.PendingObject), so that a crash at any later point leaves debris the reconciler can
// prove unreferenced.
func (s *Service) notePending(ctx context.Context, key string) error {
	row := &models.PendingObject{StorageKey: key, Instance: s.instance, CreatedAt: models.Now()}
	if _, err := s.db.NewInsert().Model(row).Exec(ctx); err != nil {
		return fmt.Errorf("media: record pending upload %s: %w", key, err)
	}
	return nil
}

// abandonUpload removes what a failed upload wrote: the object, then its pending row. When the
// object cannot be deleted (the storage is failing), the pending row stays for the reconciler.
func (s *Service) abandonUpload(ctx context.Context, key string) {
	ctx = context.WithoutCancel(ctx)
	if err := s.store.Delete(ctx, key); err != nil {
		s.log.ErrorContext(ctx, "object of a failed upload left for the reconciler", "key", key, "err", err)
		return
	}
	if _, err := s.db.NewDelete().Model((*models.PendingObject)(nil)).Where("storage_key = ?", key).Exec(ctx); err != nil {
		s.log.WarnContext(ctx, "pending row of a failed upload left for the reconciler", "key", key, "err", err)
	}
}

// errReclaimed is an upload whose pending row the reconciler took: it outlived
// VEIL_RECONCILE_GRACE, and its object was (or is being) removed as debris.
var errReclaimed = errors.New("the upload took longer than VEIL_RECONCILE_GRACE and its object was reclaimed; upload it again")

// insertMedia inserts an image or document row with its tags in one transaction that also ends
// the upload's pending record, translating a duplicate (same sha256 in the same collection) into
// a *DuplicateError. extra, when set, runs last in the same transaction.
func insertMedia[T models.MediaRow](ctx context.Context, s *Service, row T, tags []string, extra func(ctx context.Context, tx bun.Tx, mediaID string) error) error {
	m, kind := row.Media(), kindName(rowKind[T]())
	id, collectionID, key := m.ID, m.CollectionID, m.StorageKey
	dup := func() error {
		var existing string
		q := s.db.NewSelect().Model((T)(nil)).Column("id").Where("collection_id = ? AND sha256 = ?", collectionID, m.SHA256).Limit(1)
		if err := q.Scan(context.WithoutCancel(ctx), &existing); err != nil {
			return fmt.Errorf("media: look up duplicate: %w", err)
		}
		return &DuplicateError{Kind: kind, ExistingID: existing}
	}
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewDelete().Model((*models.PendingObject)(nil)).Where("storage_key = ?", key).Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return errReclaimed
		}
		if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return err
		}
		if err := insertTags(ctx, tx, id, tags); err != nil {
			return err
		}
		if err := s.recordMedia(ctx, tx, events.MediaUploaded, id, collectionID, models.Private); err != nil {
			return err
		}
		if extra != nil {
			return extra(ctx, tx, id)
		}
		return nil
	})
	switch {
	case err == nil:
		return nil
	case isUniqueViolation(err):
		return dup()
	default:
		return fmt.Errorf("media: save %s: %w", kind, err)
	}
}

func insertTags(ctx context.Context, tx bun.IDB, id string, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	rows := make([]models.MediaTag, len(tags))
	for i, t := range tags {
		rows[i] = models.MediaTag{MediaID: id, Tag: t}
	}
	_, err := tx.NewInsert().Model(&rows).Exec(ctx)
	return err
}

func imageInputError(err error) error {
	var le *renditions.LimitError
	switch {
	case errors.As(err, &le):
		return inputErr("file", "%v", err)
	case errors.Is(err, renditions.ErrAnimatedWebP):
		return inputErr("file", "animated WebP is not supported; upload a still image or a document")
	case errors.Is(err, renditions.ErrUnsupportedFormat):
		return inputErr("file", "not a JPEG, PNG, GIF or WebP image")
	case errors.Is(err, renditions.ErrCorrupt):
		return inputErr("file", "the image is corrupt or truncated: %v", err)
	default:
		return inputErr("file", "not a usable image: %v", err)
	}
}

var imageExtensions = map[renditions.Format][]string{
	renditions.JPEG: {"jpg", "jpeg", "jpe", "jfif"},
	renditions.PNG:  {"png"},
	renditions.GIF:  {"gif"},
	renditions.WebP: {"webp"},
}

// checkImageClaims refuses an upload whose filename extension or claimed content type names a
// different type than its bytes. A missing extension or a generic claimed type is accepted.
func checkImageClaims(f File, format renditions.Format) error {
	if ext := extension(f.Filename); ext != "" {
		ok := false
		for _, e := range imageExtensions[format] {
			ok = ok || e == ext
		}
		if !ok {
			return inputErr("file", "the filename says .%s but the bytes are %s", ext, strings.ToUpper(string(format)))
		}
	}
	claimed := claimedType(f.ContentType)
	if claimed != "" && claimed != format.MIMEType() && !(format == renditions.JPEG && claimed == "image/jpg") {
		return inputErr("file", "the upload claims %s but the bytes are %s", claimed, format.MIMEType())
	}
	return nil
}

// claimedType returns the media type a client claimed, or "" when the claim carries no
// information (absent or application/octet-stream).
func claimedType(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(ct))
	}
	if mt == "application/octet-stream" {
		return ""
	}
	return mt
}

// validateFocal accepts what Wagtail stores: four non-negative integers, wherever they lie. A focal
// point wholly or partly outside the image is kept as given; fill then covers as much of it as the
// image allows and stays inside the image (renditions.Spec.Plan), as Wagtail's crop does.
func validateFocal(fp FocalPoint) error {
	switch {
	case fp.Width < 0 || fp.Height < 0:
		return inputErr("focalPoint", "width and height must not be negative")
	case fp.X < 0 || fp.Y < 0:
		return inputErr("focalPoint", "x and y must not be negative")
	}
	return nil
}

// documentType is an allowed document type: its canonical MIME type and accepted extensions (the
// first is used when the filename has none).
type documentType struct {
	mime string
	exts []string
}

func (d documentType) ext(filename string) string {
	if e := extension(filename); e != "" {
		return e
	}
	return d.exts[0]
}

// documentTypes is the allowlist, keyed by the sniffed MIME type. HTML, SVG, scripts and
// executables are deliberately absent: served from Veil's origin they could run code.
var documentTypes = []documentType{
	{"application/pdf", []string{"pdf"}},
	{"application/vnd.oasis.opendocument.text", []string{"odt"}},
	{"application/vnd.oasis.opendocument.spreadsheet", []string{"ods"}},
	{"application/vnd.oasis.opendocument.presentation", []string{"odp"}},
	{"application/vnd.oasis.opendocument.graphics", []string{"odg"}},
	{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", []string{"docx"}},
	{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", []string{"xlsx"}},
	{"application/vnd.openxmlformats-officedocument.presentationml.presentation", []string{"pptx"}},
	{"application/msword", []string{"doc"}},
	{"application/vnd.ms-excel", []string{"xls"}},
	{"application/vnd.ms-powerpoint", []string{"ppt"}},
	{"text/rtf", []string{"rtf"}},
	{"application/epub+zip", []string{"epub"}},
	{"application/zip", []string{"zip"}},
	{"text/csv", []string{"csv", "txt"}},
	{"text/plain", []string{"txt", "text", "md", "markdown", "csv", "log"}},
}

// sniffDocument detects the type of a document from its first bytes and checks it against the
// allowlist, the filename extension and the claimed type.
func sniffDocument(head []byte, f File) (documentType, error) {
	// Only the detected type itself counts, never its parents: HTML's parent is text/plain and a
	// JAR's is ZIP, and neither should pass as its parent.
	mt := mimetype.Detect(head)
	var dt *documentType
	base, _, _ := mime.ParseMediaType(mt.String())
	for i := range documentTypes {
		if documentTypes[i].mime == base || mt.Is(documentTypes[i].mime) {
			dt = &documentTypes[i]
			break
		}
	}
	if dt == nil {
		return documentType{}, inputErr("file", "documents of type %s are not accepted", base)
	}
	if ext := extension(f.Filename); ext != "" {
		ok := false
		for _, e := range dt.exts {
			ok = ok || e == ext
		}
		if !ok {
			return documentType{}, inputErr("file", "the filename says .%s but the bytes are %s", ext, dt.mime)
		}
	}
	if claimed := claimedType(f.ContentType); claimed != "" && claimed != dt.mime {
		compatible := strings.HasPrefix(dt.mime, "text/") && strings.HasPrefix(claimed, "text/") && claimed != "text/html" ||
			dt.mime == "application/zip" && claimed == "application/x-zip-compressed" ||
			dt.mime == "text/rtf" && claimed == "application/rtf"
		if !compatible {
			return documentType{}, inputErr("file", "the upload claims %s but the bytes are %s", claimed, dt.mime)
		}
	}
	return *dt, nil
}

// limitedReader reads at most left bytes and records whether the source had more, and any error
// of the source (as opposed to errors of the writer it is copied to).
type limitedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
	readErr  error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.exceeded {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		l.exceeded = true
		return int(l.left), errTooLarge
	}
	l.left -= int64(n)
	if err != nil && err != io.EOF {
		l.readErr = err
	}
	return n, err
}

var errTooLarge = errors.New("upload exceeds size limit")

// cappedBuffer records up to max bytes and notes overflow instead of growing.
type cappedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.Buffer.Len()+len(p) > c.max {
		c.overflow = true
		return 0, errors.New("image header too large")
	}
	return c.Buffer.Write(p)
}

// trailerCheck watches a streamed image for the marker that ends a complete file, so a truncated
// upload is refused without decoding its pixels.
type trailerCheck struct {
	format   renditions.Format
	offset   int64
	tail     []byte // last bytes seen, to find markers split across writes
	jpeg     jpegScanner
	sawIEND  bool  // PNG
	lastByte byte  // GIF
	riffSize int64 // WebP: declared RIFF size, -1 until read
}

func newTrailerCheck(f renditions.Format) *trailerCheck {
	return &trailerCheck{format: f, riffSize: -1}
}

var pngIEND = []byte{'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82}

func (t *trailerCheck) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	buf := append(t.tail, p...)
	base := t.offset - int64(len(t.tail))
	switch t.format {
	case renditions.JPEG:
		t.jpeg.write(p)
	case renditions.PNG:
		t.sawIEND = t.sawIEND || bytes.Contains(buf, pngIEND)
	case renditions.WebP:
		if t.riffSize < 0 && base == 0 && len(buf) >= 8 {
			t.riffSize = int64(binary.LittleEndian.Uint32(buf[4:8]))
		}
	}
	t.lastByte = p[len(p)-1]
	t.offset += int64(len(p))
	keep := 8
	if len(buf) < keep {
		keep = len(buf)
	}
	t.tail = append(t.tail[:0], buf[len(buf)-keep:]...)
	return len(p), nil
}

// problem returns why a file of total size looks incomplete, or "".
func (t *trailerCheck) problem(size int64) string {
	const truncated = "the image is truncated (its end marker is missing)"
	switch t.format {
	case renditions.JPEG:
		if t.jpeg.state != jpegDone {
			return truncated
		}
	case renditions.PNG:
		if !t.sawIEND {
			return truncated
		}
	case renditions.GIF:
		if t.lastByte != 0x3B {
			return truncated
		}
	case renditions.WebP:
		if t.riffSize < 4 || size < t.riffSize+8 {
			return truncated
		}
	}
	return ""
}

// jpegScanner follows a JPEG's marker structure as it streams past: it skips every segment by its
// length (so an EXIF thumbnail's own end marker is not mistaken for the file's), scans entropy-coded
// data for the next marker, and reaches jpegDone at the EOI that ends the image.
type jpegScanner struct {
	state int
	skip  int // bytes left in the current segment
	lenHi byte
	sos   bool // the segment being skipped is a start-of-scan header
}

const (
	jpegSOI0 = iota
	jpegSOI1
	jpegMarkerFF
	jpegMarker
	jpegLenHi
	jpegLenLo
	jpegSkip
	jpegEntropy
	jpegEntropyFF
	jpegDone
)

func (j *jpegScanner) write(p []byte) {
	for i := 0; i < len(p); i++ {
		b := p[i]
		switch j.state {
		case jpegDone:
			return
		case jpegSOI0:
			j.expect(b == 0xFF, jpegSOI1)
		case jpegSOI1:
			j.expect(b == 0xD8, jpegMarkerFF)
		case jpegMarkerFF:
			j.expect(b == 0xFF, jpegMarker)
		case jpegMarker:
			switch {
			case b == 0xFF: // fill byte
			case b == 0xD9:
				j.state = jpegDone
			case b >= 0xD0 && b <= 0xD7, b == 0x01, b == 0xD8:
				j.state = jpegMarkerFF
			default:
				j.sos = b == 0xDA
				j.state = jpegLenHi
			}
		case jpegLenHi:
			j.lenHi, j.state = b, jpegLenLo
		case jpegLenLo:
			n := int(j.lenHi)<<8 | int(b)
			if n < 2 {
				j.state = -1 // malformed length: never completes
				return
			}
			j.skip, j.state = n-2, jpegSkip
			if j.skip == 0 {
				j.afterSegment()
			}
		case jpegSkip:
			take := min(j.skip, len(p)-i)
			j.skip -= take
			i += take - 1
			if j.skip == 0 {
				j.afterSegment()
			}
		case jpegEntropy:
			k := bytes.IndexByte(p[i:], 0xFF)
			if k < 0 {
				return
			}
			i += k
			j.state = jpegEntropyFF
		case jpegEntropyFF:
			switch {
			case b == 0x00, b >= 0xD0 && b <= 0xD7: // stuffed byte or restart marker
				j.state = jpegEntropy
			case b == 0xFF:
			case b == 0xD9:
				j.state = jpegDone
			default: // a new segment between scans (progressive JPEG)
				j.sos = b == 0xDA
				j.state = jpegLenHi
			}
		default:
			return // malformed: stays incomplete
		}
	}
}

func (j *jpegScanner) expect(ok bool, next int) {
	if ok {
		j.state = next
	} else {
		j.state = -1
	}
}

func (j *jpegScanner) afterSegment() {
	if j.sos {
		j.state = jpegEntropy
	} else {
		j.state = jpegMarkerFF
	}
}

// privateState is the privacy of a new upload: PRIVATE, with its file permission recorded as set
// when the storage accepted it (else outdated, for the retry loop).
func privateState(now time.Time, permsSet bool) models.PrivacyState {
	st := models.PrivacyState{Privacy: models.Private, PrivacyLastChanged: now}
	if permsSet {
		st.FilePermissionsLastSet = &now
	}
	return st
}
