package server

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
	expslog "golang.org/x/exp/slog"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/fault"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
)

// TusPath is where resumable uploads (tus 1.0) are served: POST creates an upload, HEAD, PATCH
// and DELETE act on TusPath+<id>.
const TusPath = "/uploads/"

// Response headers of the tus endpoint beyond the protocol's: the id of the image or document a
// completed upload became (on the PATCH that completed it, and on HEAD afterwards).
const (
	HeaderUploadResult = "Upload-Result"
	HeaderItemID       = "Veil-Item-Id"
)

// tusExposeHeaders are the response headers a browser page may read from the tus endpoint.
const tusExposeHeaders = "Upload-Offset, Location, Upload-Length, Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, Tus-Checksum-Algorithm, Upload-Metadata, Upload-Expires, Upload-Result, Veil-Item-Id, X-Request-ID, Retry-After"

// tusAllowHeaders are the request headers tus-js-client and Uppy send.
const tusAllowHeaders = "Authorization, Content-Type, Upload-Length, Upload-Offset, Tus-Resumable, Upload-Metadata, Upload-Defer-Length, Upload-Concat, Upload-Checksum, X-HTTP-Method-Override, X-Requested-With, X-Request-ID"

// tusRequest is what one request to the tus endpoint carries between the wrapper that answers it
// and the store and locker tusd calls.
type tusRequest struct {
	mu       sync.Mutex
	holder   string          // the lock holder token of this request
	checksum *media.Checksum // Upload-Checksum of the request's body
	expires  time.Time       // Upload-Expires of the upload, when known and unfinished
	itemID   string          // what the upload became, once completed
	method   string          // the request's method, after X-HTTP-Method-Override
}

type tusRequestKey struct{}

func tusRequestFrom(ctx context.Context) *tusRequest {
	r, _ := ctx.Value(tusRequestKey{}).(*tusRequest)
	if r == nil {
		return &tusRequest{}
	}
	return r
}

func (t *tusRequest) set(f func(*tusRequest)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(t)
}

// tusHandler serves the tus protocol with tusd's handler over a store that keeps upload state in
// the database and received bytes in the bucket (media.Service's resumable uploads), and a
// database lease as tusd's locker: an upload resumes after a restart and on another instance.
// tusd has no checksum or expiration extension; both are added here (the checksum is verified
// by the store before a part is recorded, Upload-Expires is set by the response wrapper).
func (s *Server) tusHandler() http.Handler {
	store := &tusStore{media: s.deps.Media, log: s.log}
	composer := tusd.NewStoreComposer()
	composer.UseCore(store)
	composer.UseTerminater(store)
	composer.UseLocker(tusLocker{media: s.deps.Media, log: s.log})
	mcfg := s.deps.Media.Config()
	base := TusPath
	if s.cfg.PublicURL != "" {
		base = strings.TrimRight(s.cfg.PublicURL, "/") + TusPath
	}
	h, err := tusd.NewUnroutedHandler(tusd.Config{
		StoreComposer:        composer,
		BasePath:             base,
		MaxSize:              max(mcfg.MaxImageBytes, mcfg.MaxDocumentBytes),
		DisableDownload:      true,
		DisableConcatenation: true,
		Cors:                 &tusd.CorsConfig{Disable: true}, // withCORS answers, for the configured origins only
		Logger:               expslog.New(expslog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic("server: tus handler: " + err.Error()) // only a programming error gets here
	}
	extensions := h.SupportedExtensions() + ",checksum,expiration"
	routes := h.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			h.PostFile(w, r)
		case http.MethodHead:
			h.HeadFile(w, r)
		case http.MethodPatch:
			h.PatchFile(w, r)
		case http.MethodDelete:
			h.DelFile(w, r)
		default:
			w.Header().Set("Allow", "OPTIONS, POST, HEAD, PATCH, DELETE")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.Method
		if o := r.Header.Get("X-HTTP-Method-Override"); method == http.MethodPost && o != "" {
			method = o
		}
		id := strings.TrimPrefix(r.URL.Path, TusPath)
		isCreate := id == ""
		if strings.Contains(id, "/") || isCreate != (method == http.MethodPost) && method != http.MethodOptions {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodOptions {
			// Refused before a byte of the body is read, and the connection closed rather than
			// drained: a refused upload costs its sender, not the server.
			v := auth.ViewerFrom(r.Context())
			switch {
			case v.IsAnonymous():
				w.Header().Set("Connection", "close")
				w.Header().Set("WWW-Authenticate", `Bearer realm="veil"`)
				tusError(w, r, http.StatusUnauthorized, CodeUnauthenticated, "uploads need an API token (Authorization: Bearer <token>)")
				return
			case isCreate && !v.MayUpload():
				w.Header().Set("Connection", "close")
				tusError(w, r, http.StatusForbidden, CodeForbidden, "forbidden: you may not upload to any collection (ADD permission)")
				return
			}
		}
		req := &tusRequest{method: method}
		if c := r.Header.Get("Upload-Checksum"); c != "" {
			alg, sum, ok := strings.Cut(strings.TrimSpace(c), " ")
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sum))
			if !ok || err != nil || !slices.Contains(strings.Split(media.ChecksumAlgorithms, ","), strings.ToLower(alg)) {
				w.Header().Set("Tus-Checksum-Algorithm", media.ChecksumAlgorithms)
				tusError(w, r, http.StatusBadRequest, CodeBadUserInput, "Upload-Checksum must be \"<algorithm> <base64 digest>\" with an algorithm of "+media.ChecksumAlgorithms)
				return
			}
			req.checksum = &media.Checksum{Algorithm: strings.ToLower(alg), Sum: raw}
		}
		tw := &tusResponse{ResponseWriter: w, req: req, extensions: extensions}
		// tusd reads the upload id from the path below its base, as its own router leaves it.
		http.StripPrefix(strings.TrimSuffix(TusPath, "/"), routes).ServeHTTP(tw, r.WithContext(context.WithValue(r.Context(), tusRequestKey{}, req)))
	})
}

// tusError answers a request the tus handler never saw, in its plain-text style.
func tusError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	h := w.Header()
	h.Set("Tus-Resumable", "1.0.0")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, code+": "+msg+"\n")
	}
}

// tusResponse adds the headers of the extensions tusd lacks (checksum, expiration) and Veil's
// own (the completed upload's item id) as the response starts.
type tusResponse struct {
	http.ResponseWriter
	req         *tusRequest
	extensions  string
	wroteHeader bool
}

func (t *tusResponse) WriteHeader(status int) {
	if !t.wroteHeader {
		t.wroteHeader = true
		h := t.Header()
		if h.Get("Tus-Version") != "" { // OPTIONS: protocol discovery
			h.Set("Tus-Extension", t.extensions)
			h.Set("Tus-Checksum-Algorithm", media.ChecksumAlgorithms)
		}
		t.req.mu.Lock()
		expires, itemID := t.req.expires, t.req.itemID
		t.req.mu.Unlock()
		if itemID != "" {
			h.Set(HeaderUploadResult, itemID)
			h.Set(HeaderItemID, itemID)
		} else if !expires.IsZero() && status < 300 {
			h.Set("Upload-Expires", expires.UTC().Format(http.TimeFormat))
		}
		h.Set("Cache-Control", "no-store")
	}
	t.ResponseWriter.WriteHeader(status)
}

func (t *tusResponse) Write(p []byte) (int, error) {
	if !t.wroteHeader {
		t.WriteHeader(http.StatusOK)
	}
	return t.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController (tusd's read deadlines) reach the underlying writer.
func (t *tusResponse) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// tusStore is tusd's data store over media.Service's resumable uploads.
type tusStore struct {
	media *media.Service
	log   *slog.Logger
}

// tusMeta reads a metadata key, accepting the names tus-js-client examples and Uppy use.
func tusMeta(m tusd.MetaData, keys ...string) string {
	for _, k := range keys {
		if v, ok := m[k]; ok && v != "" {
			return v
		}
	}
	return ""
}

func (s *tusStore) NewUpload(ctx context.Context, info tusd.FileInfo) (tusd.Upload, error) {
	if info.SizeIsDeferred {
		return nil, tusd.NewError("ERR_UPLOAD_LENGTH_REQUIRED", "Upload-Length is required", http.StatusBadRequest)
	}
	m := info.MetaData
	up, err := s.media.CreateResumable(ctx, media.ResumableInput{
		Kind:         tusMeta(m, "kind"),
		Filename:     tusMeta(m, "filename", "name"),
		FileType:     tusMeta(m, "filetype", "type"),
		Title:        tusMeta(m, "title"),
		CollectionID: tusMeta(m, "collectionId", "collection_id", "collectionID"),
		Size:         info.Size,
		Metadata:     tusd.SerializeMetadataHeader(m),
	})
	if err != nil {
		return nil, tusErr(ctx, s.log, err)
	}
	tusRequestFrom(ctx).set(func(r *tusRequest) { r.expires = up.ExpiresAt })
	return &tusUpload{store: s, id: up.ID}, nil
}

func (s *tusStore) GetUpload(ctx context.Context, id string) (tusd.Upload, error) {
	up, err := s.media.Resumable(ctx, id)
	if err != nil {
		return nil, tusErr(ctx, s.log, err)
	}
	if up.State == models.ResumableFailed {
		return nil, tusd.NewError("ERR_UPLOAD_REFUSED", up.ErrorCode+": "+up.ErrorMessage, http.StatusGone)
	}
	return &tusUpload{store: s, id: id}, nil
}

func (s *tusStore) AsTerminatableUpload(u tusd.Upload) tusd.TerminatableUpload {
	return u.(*tusUpload)
}

type tusUpload struct {
	store *tusStore
	id    string
}

func (u *tusUpload) GetInfo(ctx context.Context) (tusd.FileInfo, error) {
	up, err := u.store.media.Resumable(ctx, u.id)
	if err != nil {
		return tusd.FileInfo{}, tusErr(ctx, u.store.log, err)
	}
	req := tusRequestFrom(ctx)
	if up.State == models.ResumableReceiving && up.Offset == up.Size && (req.method == http.MethodHead || req.method == http.MethodPatch) {
		// Every byte is in but the completion failed (the storage or the database was down):
		// tusd calls the store no more for such an upload, so the client's next HEAD or PATCH
		// (tusd holds the upload's lock for both) completes it.
		if up, err = u.store.media.CompleteResumable(ctx, u.id); err != nil {
			return tusd.FileInfo{}, tusErr(ctx, u.store.log, err)
		}
	}
	req.set(func(r *tusRequest) {
		if up.State == models.ResumableCompleted {
			r.itemID = up.ItemID
		} else {
			r.expires = up.ExpiresAt
		}
	})
	return tusd.FileInfo{ID: up.ID, Size: up.Size, Offset: up.Offset, MetaData: tusd.ParseMetadataHeader(up.Metadata)}, nil
}

func (u *tusUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	req := tusRequestFrom(ctx)
	req.mu.Lock()
	holder, sum := req.holder, req.checksum
	req.mu.Unlock()
	n, err := u.store.media.AppendResumable(ctx, u.id, holder, offset, src, sum)
	if err != nil {
		return n, tusErr(ctx, u.store.log, err)
	}
	return n, nil
}

func (u *tusUpload) GetReader(context.Context) (io.ReadCloser, error) {
	return nil, tusd.ErrNotImplemented
}

func (u *tusUpload) FinishUpload(ctx context.Context) error {
	up, err := u.store.media.CompleteResumable(ctx, u.id)
	if err != nil {
		return tusErr(ctx, u.store.log, err)
	}
	tusRequestFrom(ctx).set(func(r *tusRequest) { r.itemID = up.ItemID })
	return nil
}

func (u *tusUpload) Terminate(ctx context.Context) error {
	if err := u.store.media.TerminateResumable(ctx, u.id); err != nil {
		return tusErr(ctx, u.store.log, err)
	}
	return nil
}

// tusErr is the one place domain errors become tus responses (a tusd.Error carries the status).
// Refusals a client must not retry are 4xx other than 409 and 423, which tus-js-client retries.
func tusErr(ctx context.Context, log *slog.Logger, err error) error {
	var (
		inputErr *fault.InputError
		tooLarge *media.TooLargeError
		open     *media.OpenUploadLimitError
		dup      *media.DuplicateError
		domain   *fault.Error
		tusE     tusd.Error
	)
	switch {
	case errors.As(err, &tusE):
		return err
	case errors.Is(err, media.ErrNotFound):
		return tusd.ErrNotFound
	case errors.Is(err, media.ErrChecksumMismatch):
		return tusd.NewError("ERR_CHECKSUM_MISMATCH", "the chunk does not match its Upload-Checksum; nothing of it was kept", 460)
	case errors.Is(err, media.ErrOffsetMismatch):
		return tusd.ErrMismatchOffset
	case errors.Is(err, media.ErrLockLost):
		return tusd.NewError("ERR_UPLOAD_TAKEN_OVER", "another request took over this upload; its bytes were discarded", http.StatusConflict)
	case errors.Is(err, media.ErrUploadFinished):
		return tusd.NewError("ERR_UPLOAD_FINISHED", "the upload is already finished", http.StatusGone)
	case errors.As(err, &tooLarge):
		return tusd.NewError(CodePayloadTooLarge, tooLarge.Error(), http.StatusRequestEntityTooLarge)
	case errors.As(err, &open):
		// 429: too many uploads open, not a fault of this one's metadata. tus-js-client does not
		// retry it (it retries no 4xx but 409 and 423); the message says what makes room.
		return tusd.NewError(CodeOpenUploadLimit, open.Error(), http.StatusTooManyRequests)
	case errors.As(err, &inputErr):
		return tusd.NewError(CodeBadUserInput, inputErr.Error(), http.StatusUnprocessableEntity)
	case errors.As(err, &dup):
		return tusd.NewError(CodeDuplicate, dup.Error(), http.StatusUnprocessableEntity)
	case errors.As(err, &domain) && domain.Kind == fault.Forbidden:
		return tusd.NewError(CodeForbidden, domain.Error(), http.StatusForbidden)
	case errors.As(err, &domain) && domain.Kind == fault.Unauthenticated:
		return tusd.NewError(CodeUnauthenticated, fault.Message(err), http.StatusUnauthorized)
	case errors.As(err, &domain):
		return tusd.NewError(string(domain.Kind), fault.Message(err), http.StatusUnprocessableEntity)
	case errors.Is(err, storage.ErrUnavailable):
		log.ErrorContext(ctx, "tus: storage unavailable", "request_id", RequestID(ctx), "err", err)
		e := tusd.NewError(CodeStorageUnavailable, "storage is unavailable; try again later (request id "+RequestID(ctx)+")", http.StatusServiceUnavailable)
		e.HTTPResponse.Header["Retry-After"] = strconv.Itoa(retryAfter)
		return e
	case models.Unavailable(err):
		log.ErrorContext(ctx, "tus: database unavailable", "request_id", RequestID(ctx), "err", err)
		e := tusd.NewError(CodeDatabaseUnavailable, "the database is unavailable; try again later (request id "+RequestID(ctx)+")", http.StatusServiceUnavailable)
		e.HTTPResponse.Header["Retry-After"] = strconv.Itoa(retryAfter)
		return e
	default:
		log.ErrorContext(ctx, "tus: internal error", "request_id", RequestID(ctx), "err", err)
		return tusd.NewError(CodeInternal, "internal error (request id "+RequestID(ctx)+")", http.StatusInternalServerError)
	}
}

// tusLocker is tusd's locker over the upload's lease in the database: one request at a time, on
// any instance, holds an upload.
type tusLocker struct {
	media *media.Service
	log   *slog.Logger
}

func (l tusLocker) NewLock(id string) (tusd.Lock, error) {
	return &tusLock{media: l.media, log: l.log, id: id}, nil
}

type tusLock struct {
	media  *media.Service
	log    *slog.Logger
	id     string
	holder string
	stop   chan struct{}
	done   chan struct{}
}

// Lock takes the upload's lease, asking its current holder (on this or another instance) to let
// go, and waiting until it does or its lease runs out, or ctx ends (tusd.ErrLockTimeout). While
// held, the lease is renewed; when another request asks for it, requestUnlock is called, which
// ends this request's body so it records what it received and returns.
func (l *tusLock) Lock(ctx context.Context, requestUnlock func()) error {
	l.holder = l.media.NewLockHolder()
	asked := false
	wait := 20 * time.Millisecond
	for {
		ok, err := l.media.LockResumable(ctx, l.id, l.holder)
		switch {
		case err != nil && ctx.Err() != nil:
			return tusd.ErrLockTimeout
		case err != nil:
			return tusErr(ctx, l.log, err)
		}
		if ok {
			break
		}
		if !asked {
			if err := l.media.RequestResumableUnlock(ctx, l.id); err != nil {
				return tusErr(ctx, l.log, err)
			}
			asked = true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return tusd.ErrLockTimeout
		case <-t.C:
		}
		wait = min(wait*2, 250*time.Millisecond)
	}
	tusRequestFrom(ctx).set(func(r *tusRequest) { r.holder = l.holder })
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.renew(requestUnlock)
	return nil
}

// renew keeps the lease while the request runs and passes on a request to let go.
func (l *tusLock) renew(requestUnlock func()) {
	defer close(l.done)
	every := min(l.media.Config().Resumable.LockLease/3, time.Second)
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	asked := false
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		held, requested, err := l.media.RenewResumableLock(context.Background(), l.id, l.holder)
		if err != nil {
			continue // the database is failing; the lease may run out, and the record will refuse
		}
		if (!held || requested) && !asked {
			asked = true
			requestUnlock()
		}
	}
}

func (l *tusLock) Unlock() error {
	if l.stop != nil {
		close(l.stop)
		<-l.done
	}
	return l.media.UnlockResumable(context.Background(), l.id, l.holder)
}
