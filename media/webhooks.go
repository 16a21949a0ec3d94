package media

import (
	"context"
	"errors"
	"fmt"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/models"
)

// requireWebhooks refuses anyone but an admin, and a server without webhooks.
func (s *Service) requireWebhooks(ctx context.Context) error {
	v := auth.ViewerFrom(ctx)
	switch {
	case v.IsAnonymous():
		return fmt.Errorf("%w: sign in with an API token", auth.ErrUnauthenticated)
	case !v.Admin:
		return fmt.Errorf("%w: webhooks are for admins", auth.ErrForbidden)
	case s.webhooks == nil:
		return errors.New("media: webhooks are not enabled on this server")
	}
	return nil
}

func webhookErr(err error) error {
	var qe *events.QueryError
	if errors.As(err, &qe) {
		return &InputError{Field: qe.Field, Reason: qe.Reason}
	}
	return err
}

// CreateWebhook registers a webhook for kinds (none: all) signed with secret (admins).
func (s *Service) CreateWebhook(ctx context.Context, url string, kinds []events.Kind, secret string) (*models.Webhook, error) {
	if err := s.requireWebhooks(ctx); err != nil {
		return nil, err
	}
	h, err := s.webhooks.Create(ctx, url, kinds, secret, auth.ViewerFrom(ctx).UserID)
	return h, webhookErr(err)
}

// Webhooks lists the webhooks (admins).
func (s *Service) Webhooks(ctx context.Context) ([]*models.Webhook, error) {
	if err := s.requireWebhooks(ctx); err != nil {
		return nil, err
	}
	return s.webhooks.List(ctx)
}

// DeleteWebhook removes a webhook (admins); false when there was none.
func (s *Service) DeleteWebhook(ctx context.Context, id string) (bool, error) {
	if err := s.requireWebhooks(ctx); err != nil {
		return false, err
	}
	return s.webhooks.Delete(ctx, id)
}

// WebhookDeliveries returns a webhook's last first attempts, newest first (admins).
func (s *Service) WebhookDeliveries(ctx context.Context, id string, first int) ([]*models.WebhookDelivery, error) {
	if err := s.requireWebhooks(ctx); err != nil {
		return nil, err
	}
	ds, err := s.webhooks.Deliveries(ctx, id, first)
	return ds, webhookErr(err)
}
