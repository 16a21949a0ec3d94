package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/fault"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/renditions"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/upload"
)

// GraphQL error codes (extensions.code): those of fault's kinds, and the transport's own.
const (
	CodeBadUserInput       = string(fault.Invalid)
	CodeNotFound           = string(fault.NotFound)
	CodeUnauthenticated    = string(fault.Unauthenticated)
	CodeForbidden          = string(fault.Forbidden)
	CodeConflict           = string(fault.Conflict)
	CodePayloadTooLarge    = "PAYLOAD_TOO_LARGE"
	CodeDuplicate          = "DUPLICATE"
	CodeStorageUnavailable = "STORAGE_UNAVAILABLE"
	// CodeDatabaseUnavailable: the database is down, refusing, out of resources or too slow
	// (VEIL_DB_STATEMENT_TIMEOUT, VEIL_DB_ACQUIRE_TIMEOUT); retry after extensions.retryAfter
	// seconds.
	CodeDatabaseUnavailable = "DATABASE_UNAVAILABLE"
	CodeInternal            = "INTERNAL"
	CodeCancelled           = "CANCELLED"
	CodeRateLimited         = "RATE_LIMITED"
	// CodeCursorExpired: a subscription's after cursor is older than the retention window.
	CodeCursorExpired = "CURSOR_EXPIRED"
	// CodeUploadSpoolLimit: out-of-order file parts would spool more than
	// VEIL_UPLOAD_SPOOL_REQUEST_MAX (scope "request") or VEIL_UPLOAD_SPOOL_MAX (scope "total").
	CodeUploadSpoolLimit = "UPLOAD_SPOOL_LIMIT"
	// CodeOpenUploadLimit: the viewer has VEIL_MAX_OPEN_UPLOADS_PER_USER open uploads (scope
	// "count"), or this one's size would take their declared bytes past
	// VEIL_MAX_OPEN_UPLOAD_BYTES_PER_USER (scope "bytes"); extensions.limit and extensions.open.
	CodeOpenUploadLimit = "OPEN_UPLOAD_LIMIT"
)

// errorPresenter is the one place domain errors become GraphQL errors. Unknown errors become
// INTERNAL with the request id and exactly one log line; their text never reaches the client.
func errorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			return gqlErr // parse/validation errors made by gqlgen itself, already coded
		}
		out := graphql.DefaultErrorPresenter(ctx, err)
		if out.Extensions == nil {
			out.Extensions = map[string]any{}
		}
		reqID := RequestID(ctx)
		var (
			inputErr *fault.InputError
			tooLarge *media.TooLargeError
			dup      *media.DuplicateError
			conflict *media.ConflictError
			spool    *upload.SpoolLimitError
			open     *media.OpenUploadLimitError
			slow     *events.SlowSubscriberError
			cursor   *events.CursorError
			domain   *fault.Error
		)
		switch {
		case errors.As(err, &inputErr):
			out.Message = inputErr.Error()
			out.Extensions["code"] = CodeBadUserInput
			if inputErr.Field != "" {
				out.Extensions["field"] = inputErr.Field
			}
		case errors.As(err, &tooLarge):
			out.Message = tooLarge.Error()
			out.Extensions["code"] = CodePayloadTooLarge
			out.Extensions["limit"] = tooLarge.Limit
		case errors.As(err, &spool):
			out.Message = spool.Message()
			out.Extensions["code"] = CodeUploadSpoolLimit
			out.Extensions["limit"] = spool.Limit
			out.Extensions["scope"] = spool.Scope
		case errors.As(err, &open):
			out.Message = open.Error()
			out.Extensions["code"] = CodeOpenUploadLimit
			out.Extensions["scope"] = open.Scope
			out.Extensions["limit"] = open.Limit
			out.Extensions["open"] = open.Open
		case errors.As(err, &slow):
			out.Message = slow.Error()
			out.Extensions["code"] = CodeSubscriberTooSlow
			out.Extensions["behind"] = slow.Behind
		case errors.As(err, &cursor):
			out.Message = cursor.Error()
			out.Extensions["code"] = CodeBadUserInput
			if cursor.Expired {
				out.Extensions["code"] = CodeCursorExpired
			}
			out.Extensions["field"] = "after"
		case errors.As(err, &conflict):
			out.Message = conflict.Error()
			out.Extensions["code"] = CodeConflict
		case errors.As(err, &dup):
			out.Message = dup.Error()
			out.Extensions["code"] = CodeDuplicate
			out.Extensions["existingId"] = dup.ExistingID
		case errors.As(err, &domain) && domain.Kind == fault.Forbidden:
			out.Message = domain.Error() // "forbidden: needs PUBLISH"
			out.Extensions["code"] = CodeForbidden
		case errors.As(err, &domain):
			out.Message = fault.Message(err)
			out.Extensions["code"] = string(domain.Kind)
		case errors.Is(err, storage.ErrUnavailable):
			log.ErrorContext(ctx, "storage unavailable", "request_id", reqID, "err", err)
			out.Message = "storage is unavailable; try again later (request id " + reqID + ")"
			out.Extensions["code"] = CodeStorageUnavailable
			out.Extensions["requestId"] = reqID
			out.Extensions["retryAfter"] = retryAfter
		case models.Unavailable(err):
			log.ErrorContext(ctx, "database unavailable", "request_id", reqID, "err", err)
			out.Message = "the database is unavailable; try again later (request id " + reqID + ")"
			out.Extensions["code"] = CodeDatabaseUnavailable
			out.Extensions["requestId"] = reqID
			out.Extensions["retryAfter"] = retryAfter
		case errors.Is(err, errResponseBudget):
			out.Message = "the response is over its size limit"
			out.Extensions["code"] = CodeResponseTooLarge
		case errors.Is(err, context.Canceled):
			out.Message = "request cancelled"
			out.Extensions["code"] = CodeCancelled
		default:
			if gqlErr != nil && gqlErr.Extensions["code"] != nil {
				return out
			}
			if gqlErr != nil && gqlErr.Rule == "" && isArgumentError(gqlErr) {
				out.Extensions["code"] = CodeBadUserInput
				return out
			}
			log.ErrorContext(ctx, "internal error", "request_id", reqID, "err", err)
			out.Message = "internal error (request id " + reqID + ")"
			out.Extensions["code"] = CodeInternal
			out.Extensions["requestId"] = reqID
		}
		return out
	}
}

// isArgumentError reports an error gqlgen raised while coercing an argument (for instance an
// Upload variable without a file part).
func isArgumentError(e *gqlerror.Error) bool {
	var ue interface{ UploadError() }
	return errors.As(e.Err, &ue)
}

// httpStatus is the one place domain errors become HTTP statuses for serve views. A storage
// failure is 503, never 403.
func httpStatus(err error) int {
	var inputErr *fault.InputError
	switch {
	case errors.Is(err, media.ErrHidden), errors.Is(err, media.ErrAnonymousSpec):
		return http.StatusForbidden
	case errors.Is(err, media.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, media.ErrBadSignature):
		return http.StatusBadRequest
	case errors.Is(err, media.ErrUploadURLInvalid):
		return http.StatusForbidden
	case errors.Is(err, media.ErrUploadContentType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, media.ErrUploadLengthRequired):
		return http.StatusLengthRequired
	case errors.Is(err, media.ErrUploadTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, media.ErrUploadLengthMismatch):
		return http.StatusBadRequest
	case errors.Is(err, media.ErrUploadNotPending):
		return http.StatusConflict
	case errors.As(err, &inputErr) && inputErr.Field == "spec":
		return http.StatusBadRequest
	case errors.As(err, &inputErr):
		return http.StatusNotFound // a malformed id names nothing
	case errors.Is(err, media.ErrBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, renditions.ErrCorrupt), errors.Is(err, renditions.ErrUnsupportedFormat):
		// The stored source cannot be decoded (its header passed at upload, its data does not):
		// no rendition of it can be made, and asking again will not help.
		return http.StatusUnprocessableEntity
	case errors.Is(err, storage.ErrNotFound):
		return http.StatusGone
	case errors.Is(err, storage.ErrUnavailable), models.Unavailable(err):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return 499
	default:
		return http.StatusInternalServerError
	}
}
