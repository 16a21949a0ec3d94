package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// TestOpenUploadLimit: a user's open uploads — presigned and resumable together, neither completed
// nor expired — are bounded in number (VEIL_MAX_OPEN_UPLOADS_PER_USER) and in declared bytes
// (VEIL_MAX_OPEN_UPLOAD_BYTES_PER_USER). Past either, createUpload is OPEN_UPLOAD_LIMIT and a tus
// creation 429, before any URL is signed or row recorded; another user is not affected; completing
// an upload, or its expiry, makes room.
func TestOpenUploadLimit(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		cfg := media.DefaultConfig()
		cfg.MaxOpenUploadsPerUser = 3
		cfg.MaxOpenUploadBytesPerUser = 1 << 20
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{Media: &cfg})
		pdf := readCorpus(t, "documents/shared-mime-info-spec.pdf")
		doc := func(size int) map[string]any {
			return map[string]any{"kind": "DOCUMENT", "filename": "spec.pdf", "size": size, "contentType": "application/pdf"}
		}
		rows := func() (staged, resumable int) {
			ctx := context.Background()
			s, err := db.NewSelect().Model((*models.StagedUpload)(nil)).Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r, err := db.NewSelect().Model((*models.ResumableUpload)(nil)).Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return s, r
		}
		refused := func(r veiltest.Response, scope string) {
			t.Helper()
			if r.Code() != "OPEN_UPLOAD_LIMIT" || len(r.Errors) != 1 || r.Errors[0].Extensions["scope"] != scope {
				t.Fatalf("createUpload past the %s limit: %s", scope, r.Raw)
			}
		}
		tus := newTus(t, srv)

		// Two presigned uploads and one resumable: three open, the limit.
		p1 := mustCreateUpload(t, srv, doc(len(pdf)))
		mustCreateUpload(t, srv, doc(1000))
		resp, body := tus.create(1000, tusMetadata("filename", "a.txt"), nil)
		mustStatus(t, resp, body, http.StatusCreated)

		_, r := createUpload(t, srv, doc(1000))
		refused(r, "count")
		if !strings.Contains(r.Errors[0].Message, "3 open uploads") {
			t.Errorf("message %q does not say how many are open", r.Errors[0].Message)
		}
		resp, body = tus.create(1000, tusMetadata("filename", "b.txt"), nil)
		mustStatus(t, resp, body, http.StatusTooManyRequests)
		if !strings.Contains(body, "OPEN_UPLOAD_LIMIT") || !strings.Contains(body, "open uploads") {
			t.Errorf("tus refusal body %q does not say why", body)
		}
		if s, rs := rows(); s != 2 || rs != 1 {
			t.Fatalf("rows after refusals: %d staged, %d resumable; want 2 and 1", s, rs)
		}

		// Another user has their own allowance.
		ctx := auth.WithViewer(context.Background(), auth.System)
		other, err := srv.Auth.CreateAdmin(ctx, "Other", "other@test.invalid", "other")
		if err != nil {
			t.Fatal(err)
		}
		if _, r := createUpload(t, srv.As(other), doc(1000)); len(r.Errors) > 0 {
			t.Fatalf("another user's createUpload: %s", r.Raw)
		}

		// Completing one makes room for one.
		mustPut(t, srv.URL, p1, pdf)
		if _, r := completeUpload(t, srv, p1.ID, nil); len(r.Errors) > 0 {
			t.Fatalf("completeUpload: %s", r.Raw)
		}
		mustCreateUpload(t, srv, doc(1000))
		_, r = createUpload(t, srv, doc(1000))
		refused(r, "count")

		// Expired uploads do not count.
		if _, err := db.NewUpdate().Model((*models.StagedUpload)(nil)).Set("expires_at = ?", models.Now().Add(-1)).Where("state = ?", models.StagedPending).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.NewUpdate().Model((*models.ResumableUpload)(nil)).Set("expires_at = ?", models.Now().Add(-1)).Where("1 = 1").Exec(context.Background()); err != nil {
			t.Fatal(err)
		}

		// Declared bytes: 1 MiB together. 600 KiB fits, 500 KiB more does not (in either kind).
		mustCreateUpload(t, srv, doc(600<<10))
		_, r = createUpload(t, srv, doc(500<<10))
		refused(r, "bytes")
		resp, body = tus.create(500<<10, tusMetadata("filename", "c.txt"), nil)
		mustStatus(t, resp, body, http.StatusTooManyRequests)
		resp, body = tus.create(400<<10, tusMetadata("filename", "d.txt"), nil)
		mustStatus(t, resp, body, http.StatusCreated)
	})
}
