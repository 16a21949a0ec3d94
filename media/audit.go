package media

import (
	"context"
	"errors"
	"fmt"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/models"
)

// AuditLog returns a page of the audit log: every recorded event for admins; only identity
// events (users, groups, grants, tokens) for those who hold MANAGE_USERS; nothing for anyone
// else (forbidden).
func (s *Service) AuditLog(ctx context.Context, q events.AuditQuery) (events.AuditPage, error) {
	v := auth.ViewerFrom(ctx)
	switch {
	case v.IsAnonymous():
		return events.AuditPage{}, fmt.Errorf("%w: sign in with an API token", auth.ErrUnauthenticated)
	case v.Admin:
	case v.HasGlobal(models.PermManageUsers):
		q.IdentityOnly = true
	default:
		return events.AuditPage{}, fmt.Errorf("%w: the audit log is for admins (and MANAGE_USERS for identity events)", auth.ErrForbidden)
	}
	if s.events == nil {
		return events.AuditPage{}, errors.New("media: events are not enabled on this server")
	}
	page, err := s.events.Audit(ctx, q)
	var qe *events.QueryError
	if errors.As(err, &qe) {
		return page, &InputError{Field: qe.Field, Reason: qe.Reason}
	}
	return page, err
}
