package server

import (
	"net/http"

	"github.com/veil-media/veil/media"
)

// putStaged receives the bytes of a presigned upload on a folder or in-memory bucket:
// PUT /staged-uploads/{id}?expires=…&signature=…, the URL createUpload handed out. The signature
// is the credential (no Authorization needed, as with an S3 presigned URL); media.PutStaged checks
// it, the expiry, the Content-Type and the Content-Length, and streams at most the declared size
// to the staging key. A refused request is answered before its body is read, and its connection is
// closed rather than drained.
func (s *Server) putStaged() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		err := s.deps.Media.PutStaged(r.Context(), media.StagedPut{
			ID: r.PathValue("id"), Expires: q.Get("expires"), Signature: q.Get("signature"),
			ContentType: r.Header.Get("Content-Type"), ContentLength: r.ContentLength, Body: r.Body,
		})
		if err == nil {
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			return
		}
		status := httpStatus(err)
		if status >= 400 && status < 500 {
			w.Header().Set("Connection", "close")
			s.log.InfoContext(r.Context(), "staged upload refused", "request_id", RequestID(r.Context()), "err", err)
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			http.Error(w, err.Error(), status)
			return
		}
		s.serveError(w, r, err)
	}
}
