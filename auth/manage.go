package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/fault"
	"github.com/veil-media/veil/models"
)

// requireManager allows admins and holders of MANAGE_USERS; anonymous viewers are
// unauthenticated, others forbidden.
func requireManager(v *Viewer) error {
	switch {
	case v.IsAnonymous():
		return fault.Unauthenticatedf("sign in with an API token")
	case !v.HasGlobal(models.PermManageUsers):
		return fault.Forbiddenf("needs MANAGE_USERS")
	}
	return nil
}

// Me returns the viewer's user, or nil for the anonymous viewer.
func (s *Service) Me(ctx context.Context) (*models.User, error) {
	v := ViewerFrom(ctx)
	if v.IsAnonymous() {
		return nil, nil
	}
	return s.User(ctx, v.UserID)
}

// User returns a user; only managers and the user themself may look.
func (s *Service) User(ctx context.Context, id string) (*models.User, error) {
	v := ViewerFrom(ctx)
	if v.UserID != id {
		if err := requireManager(v); err != nil {
			return nil, err
		}
	}
	if err := checkID("id", id, "usr"); err != nil {
		return nil, err
	}
	u := new(models.User)
	if err := s.db.NewSelect().Model(u).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, notFound(err, "user "+id)
	}
	return u, nil
}

// Users lists every user by name (managers only).
func (s *Service) Users(ctx context.Context) ([]*models.User, error) {
	if err := requireManager(ViewerFrom(ctx)); err != nil {
		return nil, err
	}
	var us []*models.User
	if err := s.db.NewSelect().Model(&us).OrderExpr("name, id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	return us, nil
}

// CreateUser adds a user. Making an admin needs an admin.
func (s *Service) CreateUser(ctx context.Context, name, email string, admin bool) (*models.User, error) {
	v := ViewerFrom(ctx)
	if err := requireManager(v); err != nil {
		return nil, err
	}
	if admin && !v.Admin {
		return nil, fault.Forbiddenf("only admins create admins")
	}
	return s.createUser(ctx, name, email, admin)
}

func (s *Service) createUser(ctx context.Context, name, email string, admin bool) (*models.User, error) {
	name, err := cleanName("name", name)
	if err != nil {
		return nil, err
	}
	if email, err = cleanEmail(email); err != nil {
		return nil, err
	}
	u := &models.User{ID: newID("usr"), Name: name, Email: email, Admin: admin, Active: true, CreatedAt: models.Now()}
	ev := events.Event{Kind: events.UserCreated, Subject: u.ID, Detail: fmt.Sprintf("admin: %v", admin)}
	if err := s.change(ctx, ev, func(ctx context.Context, tx bun.IDB) error {
		_, err := tx.NewInsert().Model(u).Exec(ctx)
		return err
	}); err != nil {
		if isUniqueViolation(err) {
			return nil, inputErr("email", "a user with email %q exists", email)
		}
		return nil, fmt.Errorf("auth: create user: %w", err)
	}
	return u, nil
}

// UserUpdate changes a user; nil fields are left alone.
type UserUpdate struct {
	Name, Email   *string
	Admin, Active *bool
}

// UpdateUser changes a user (managers; admin flag: admins only; nobody deactivates or demotes
// themself, so an install cannot lock itself out).
func (s *Service) UpdateUser(ctx context.Context, id string, up UserUpdate) (*models.User, error) {
	v := ViewerFrom(ctx)
	if err := requireManager(v); err != nil {
		return nil, err
	}
	if up.Admin != nil && !v.Admin {
		return nil, fault.Forbiddenf("only admins change the admin flag")
	}
	if id == v.UserID && (up.Admin != nil && !*up.Admin || up.Active != nil && !*up.Active) {
		return nil, inputErr("id", "you cannot deactivate or demote yourself")
	}
	u, err := s.User(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Admin && !v.Admin {
		return nil, fault.Forbiddenf("only admins change admins")
	}
	if up.Name != nil {
		if u.Name, err = cleanName("name", *up.Name); err != nil {
			return nil, err
		}
	}
	if up.Email != nil {
		if u.Email, err = cleanEmail(*up.Email); err != nil {
			return nil, err
		}
	}
	if up.Admin != nil {
		u.Admin = *up.Admin
	}
	if up.Active != nil {
		u.Active = *up.Active
	}
	var what []string
	for name, set := range map[string]bool{"name": up.Name != nil, "email": up.Email != nil} {
		if set {
			what = append(what, name)
		}
	}
	if up.Admin != nil {
		what = append(what, fmt.Sprintf("admin: %v", *up.Admin))
	}
	if up.Active != nil {
		what = append(what, fmt.Sprintf("active: %v", *up.Active))
	}
	sort.Strings(what)
	ev := events.Event{Kind: events.UserUpdated, Subject: u.ID, Detail: strings.Join(what, ", ")}
	if err := s.change(ctx, ev, func(ctx context.Context, tx bun.IDB) error {
		_, err := tx.NewUpdate().Model(u).WherePK().Exec(ctx)
		return err
	}); err != nil {
		if isUniqueViolation(err) {
			return nil, inputErr("email", "a user with email %q exists", u.Email)
		}
		return nil, fmt.Errorf("auth: update user: %w", err)
	}
	s.invalidate()
	return u, nil
}

// Groups lists every group (managers only).
func (s *Service) Groups(ctx context.Context) ([]*models.Group, error) {
	if err := requireManager(ViewerFrom(ctx)); err != nil {
		return nil, err
	}
	var gs []*models.Group
	if err := s.db.NewSelect().Model(&gs).OrderExpr("name").Scan(ctx); err != nil {
		return nil, fmt.Errorf("auth: list groups: %w", err)
	}
	return gs, nil
}

// CreateGroup adds a group (managers only).
func (s *Service) CreateGroup(ctx context.Context, name string) (*models.Group, error) {
	if err := requireManager(ViewerFrom(ctx)); err != nil {
		return nil, err
	}
	name, err := cleanName("name", name)
	if err != nil {
		return nil, err
	}
	g := &models.Group{ID: newID("grp"), Name: name, CreatedAt: models.Now()}
	if err := s.change(ctx, events.Event{Kind: events.GroupCreated, Subject: g.ID, Detail: name}, func(ctx context.Context, tx bun.IDB) error {
		_, err := tx.NewInsert().Model(g).Exec(ctx)
		return err
	}); err != nil {
		if isUniqueViolation(err) {
			return nil, inputErr("name", "a group named %q exists", name)
		}
		return nil, fmt.Errorf("auth: create group: %w", err)
	}
	return g, nil
}

func (s *Service) group(ctx context.Context, id string) (*models.Group, error) {
	if err := checkID("groupId", id, "grp"); err != nil {
		return nil, err
	}
	g := new(models.Group)
	if err := s.db.NewSelect().Model(g).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, notFound(err, "group "+id)
	}
	return g, nil
}

// SetMembership adds (member=true) or removes a user from a group (managers only). Idempotent.
func (s *Service) SetMembership(ctx context.Context, groupID, userID string, member bool) (*models.Group, error) {
	if err := requireManager(ViewerFrom(ctx)); err != nil {
		return nil, err
	}
	g, err := s.group(ctx, groupID)
	if err != nil {
		return nil, err
	}
	if _, err := s.User(ctx, userID); err != nil {
		return nil, err
	}
	if !ViewerFrom(ctx).Admin {
		// Membership of a group holding MANAGE_USERS is that permission; only admins hand it out.
		n, err := s.db.NewSelect().Model((*models.Grant)(nil)).Where("group_id = ? AND permission = ?", groupID, models.PermManageUsers).Count(ctx)
		if err != nil {
			return nil, fmt.Errorf("auth: check group grants: %w", err)
		}
		if n > 0 {
			return nil, fault.Forbiddenf("only admins change the members of a group holding MANAGE_USERS")
		}
	}
	m := &models.GroupMember{GroupID: groupID, UserID: userID}
	ev := events.Event{Kind: events.MembershipChanged, Subject: groupID, Detail: fmt.Sprintf("%s added", userID)}
	if !member {
		ev.Detail = fmt.Sprintf("%s removed", userID)
	}
	err = s.change(ctx, ev, func(ctx context.Context, tx bun.IDB) error {
		var err error
		if member {
			_, err = tx.NewInsert().Model(m).On("CONFLICT DO NOTHING").Exec(ctx)
		} else {
			_, err = tx.NewDelete().Model(m).WherePK().Exec(ctx)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("auth: change membership: %w", err)
	}
	s.invalidate()
	return g, nil
}

// SetGrant grants (on=true) or revokes a permission of a group, on a collection (collection
// permissions) or globally (collectionID "" for PUBLISH and MANAGE_USERS). Managers only;
// granting MANAGE_USERS needs an admin. Idempotent.
func (s *Service) SetGrant(ctx context.Context, groupID string, p models.Permission, collectionID string, on bool) (*models.Group, error) {
	v := ViewerFrom(ctx)
	if err := requireManager(v); err != nil {
		return nil, err
	}
	switch {
	case !p.Valid():
		return nil, inputErr("permission", "%q is not a permission", p)
	case p.Global() && collectionID != "":
		return nil, inputErr("collectionId", "%s is global: grant it without a collection", p)
	case !p.Global() && collectionID == "":
		return nil, inputErr("collectionId", "%s is granted on a collection", p)
	case p == models.PermManageUsers && !v.Admin:
		return nil, fault.Forbiddenf("only admins grant MANAGE_USERS")
	}
	g, err := s.group(ctx, groupID)
	if err != nil {
		return nil, err
	}
	if collectionID != "" {
		if err := checkID("collectionId", collectionID, "col"); err != nil {
			return nil, err
		}
		n, err := s.db.NewSelect().Model((*models.Collection)(nil)).Where("id = ?", collectionID).Count(ctx)
		if err != nil {
			return nil, fmt.Errorf("auth: find collection: %w", err)
		}
		if n == 0 {
			return nil, fmt.Errorf("auth: collection %s: %w", collectionID, ErrNotFound)
		}
	}
	gr := &models.Grant{GroupID: groupID, CollectionID: collectionID, Permission: p, CreatedAt: models.Now()}
	scope, verb := "globally", "granted"
	if collectionID != "" {
		scope = "on " + collectionID
	}
	if !on {
		verb = "revoked"
	}
	ev := events.Event{Kind: events.GrantChanged, Subject: groupID, CollectionID: collectionID, Detail: fmt.Sprintf("%s %s: %s", p, scope, verb)}
	err = s.change(ctx, ev, func(ctx context.Context, tx bun.IDB) error {
		var err error
		if on {
			_, err = tx.NewInsert().Model(gr).On("CONFLICT DO NOTHING").Exec(ctx)
		} else {
			_, err = tx.NewDelete().Model(gr).WherePK().Exec(ctx)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("auth: change grant: %w", err)
	}
	s.invalidate()
	return g, nil
}

// MembersOf returns the users of groups, in the order of groupIDs (one query).
func (s *Service) MembersOf(ctx context.Context, groupIDs []string) ([][]*models.User, error) {
	var rows []struct {
		models.User `bun:",extend"`
		GroupID     string `bun:"group_id"`
	}
	err := s.db.NewSelect().TableExpr("users AS u").ColumnExpr("u.*, m.group_id").
		Join("JOIN group_members AS m ON m.user_id = u.id").Where("m.group_id IN (?)", bun.In(groupIDs)).
		OrderExpr("u.name").Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("auth: load members: %w", err)
	}
	by := map[string][]*models.User{}
	for i := range rows {
		u := rows[i].User
		by[rows[i].GroupID] = append(by[rows[i].GroupID], &u)
	}
	out := make([][]*models.User, len(groupIDs))
	for i, id := range groupIDs {
		out[i] = by[id]
	}
	return out, nil
}

// GroupsOf returns the groups of users, in the order of userIDs (one query).
func (s *Service) GroupsOf(ctx context.Context, userIDs []string) ([][]*models.Group, error) {
	var rows []struct {
		models.Group `bun:",extend"`
		UserID       string `bun:"user_id"`
	}
	err := s.db.NewSelect().TableExpr("groups AS gr").ColumnExpr("gr.*, m.user_id").
		Join("JOIN group_members AS m ON m.group_id = gr.id").Where("m.user_id IN (?)", bun.In(userIDs)).
		OrderExpr("gr.name").Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("auth: load groups: %w", err)
	}
	by := map[string][]*models.Group{}
	for i := range rows {
		g := rows[i].Group
		by[rows[i].UserID] = append(by[rows[i].UserID], &g)
	}
	out := make([][]*models.Group, len(userIDs))
	for i, id := range userIDs {
		out[i] = by[id]
	}
	return out, nil
}

// GrantsOf returns the grants of groups, in the order of groupIDs (one query).
func (s *Service) GrantsOf(ctx context.Context, groupIDs []string) ([][]models.Grant, error) {
	var rows []models.Grant
	if err := s.db.NewSelect().Model(&rows).Where("group_id IN (?)", bun.In(groupIDs)).OrderExpr("permission, collection_id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("auth: load grants: %w", err)
	}
	by := map[string][]models.Grant{}
	for _, g := range rows {
		by[g.GroupID] = append(by[g.GroupID], g)
	}
	out := make([][]models.Grant, len(groupIDs))
	for i, id := range groupIDs {
		out[i] = by[id]
	}
	return out, nil
}

// CreatedToken is a new API token: Secret is the full token, shown once and never stored.
type CreatedToken struct {
	Token  *models.Token
	Secret string
}

// CreateToken makes an API token for userID ("" = the viewer). Anyone signed in may make tokens
// for themself; managers for others.
func (s *Service) CreateToken(ctx context.Context, userID, name string, ttl time.Duration) (*CreatedToken, error) {
	v := ViewerFrom(ctx)
	if v.IsAnonymous() {
		return nil, fault.Unauthenticatedf("sign in with an API token")
	}
	if userID == "" {
		userID = v.UserID
	}
	u, err := s.User(ctx, userID) // checks the viewer may see that user
	if err != nil {
		return nil, err
	}
	if u.Admin && !v.Admin {
		// A token acts as its owner: minting one for an admin would make a manager an admin.
		return nil, fault.Forbiddenf("only admins create tokens for admins")
	}
	return s.createToken(ctx, userID, name, ttl)
}

func (s *Service) createToken(ctx context.Context, userID, name string, ttl time.Duration) (*CreatedToken, error) {
	name, err := cleanName("name", name)
	if err != nil {
		return nil, err
	}
	if ttl < 0 || ttl > 10*365*24*time.Hour {
		return nil, inputErr("expiresInSeconds", "must be between 1 second and 10 years (or absent: no expiry)")
	}
	secret := newSecret()
	t := &models.Token{ID: newTokenID(), UserID: userID, Name: name, SecretHash: hashSecret(secret), CreatedAt: models.Now()}
	if ttl > 0 {
		exp := s.now().UTC().Add(ttl).Truncate(time.Microsecond)
		t.ExpiresAt = &exp
	}
	ev := events.Event{Kind: events.TokenCreated, Subject: t.ID, Detail: "for " + userID}
	if err := s.change(ctx, ev, func(ctx context.Context, tx bun.IDB) error {
		_, err := tx.NewInsert().Model(t).Exec(ctx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("auth: create token: %w", err)
	}
	return &CreatedToken{Token: t, Secret: tokenPrefix + t.ID + "_" + secret}, nil
}

// Tokens lists a user's tokens ("" = the viewer's), newest first; never their secrets.
func (s *Service) Tokens(ctx context.Context, userID string) ([]*models.Token, error) {
	v := ViewerFrom(ctx)
	if v.IsAnonymous() {
		return nil, fault.Unauthenticatedf("sign in with an API token")
	}
	if userID == "" {
		userID = v.UserID
	}
	if _, err := s.User(ctx, userID); err != nil {
		return nil, err
	}
	var ts []*models.Token
	if err := s.db.NewSelect().Model(&ts).Where("user_id = ?", userID).OrderExpr("id DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("auth: list tokens: %w", err)
	}
	return ts, nil
}

// RevokeToken revokes a token: its owner or a manager may. Revoking twice is harmless.
func (s *Service) RevokeToken(ctx context.Context, id string) (*models.Token, error) {
	v := ViewerFrom(ctx)
	if v.IsAnonymous() {
		return nil, fault.Unauthenticatedf("sign in with an API token")
	}
	if err := checkID("id", id, "tok"); err != nil {
		return nil, err
	}
	t := new(models.Token)
	if err := s.db.NewSelect().Model(t).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, notFound(err, "token "+id)
	}
	if t.UserID != v.UserID && !v.HasGlobal(models.PermManageUsers) {
		return nil, fmt.Errorf("auth: token %s: %w", id, ErrNotFound) // other people's tokens are not listed to you
	}
	if t.UserID != v.UserID && !v.Admin {
		// As with updateUser: an admin's tokens are managed only by admins.
		var owner models.User
		if err := s.db.NewSelect().Model(&owner).Column("is_admin").Where("id = ?", t.UserID).Scan(ctx); err != nil {
			return nil, notFound(err, "user "+t.UserID)
		}
		if owner.Admin {
			return nil, fault.Forbiddenf("only admins revoke an admin's tokens")
		}
	}
	if t.RevokedAt == nil {
		now := models.Now()
		t.RevokedAt = &now
		ev := events.Event{Kind: events.TokenRevoked, Subject: t.ID, Detail: "of " + t.UserID}
		if err := s.change(ctx, ev, func(ctx context.Context, tx bun.IDB) error {
			_, err := tx.NewUpdate().Model(t).Column("revoked_at").WherePK().Exec(ctx)
			return err
		}); err != nil {
			return nil, fmt.Errorf("auth: revoke token: %w", err)
		}
	}
	s.invalidate()
	return t, nil
}

// Bootstrap makes the first admin and a token for it when the install has no user yet, and
// returns the token (shown once); with users present it does nothing and returns "". Two
// processes starting together cannot both create one: the email is unique.
func (s *Service) Bootstrap(ctx context.Context) (string, error) {
	if s.cfg.BootstrapToken != "" {
		return "", s.bootstrapWith(ctx, s.cfg.BootstrapToken)
	}
	n, err := s.db.NewSelect().Model((*models.User)(nil)).Count(ctx)
	if err != nil {
		return "", fmt.Errorf("auth: count users: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	u, err := s.createUser(ctx, "Admin", "admin@localhost", true)
	if err != nil {
		var ie *InputError
		if asInput(err, &ie) && ie.Field == "email" {
			return "", nil // another process bootstrapped at the same moment; it prints the token
		}
		return "", err
	}
	t, err := s.createToken(ctx, u.ID, "bootstrap", 0)
	if err != nil {
		return "", err
	}
	return t.Secret, nil
}

// bootstrapWith makes the operator-chosen token an admin's: on an instance without users it
// creates the admin (admin@localhost) with it; on one whose token row exists already it does
// nothing; on one with other users it refuses to add an admin behind their back.
func (s *Service) bootstrapWith(ctx context.Context, tok string) error {
	id := bootstrapTokenID(tok)
	exists, err := s.db.NewSelect().Model((*models.Token)(nil)).Where("id = ?", id).Exists(ctx)
	if err != nil {
		return fmt.Errorf("auth: find the bootstrap token: %w", err)
	}
	if exists {
		return nil
	}
	n, err := s.db.NewSelect().Model((*models.User)(nil)).Count(ctx)
	if err != nil {
		return fmt.Errorf("auth: count users: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("VEIL_BOOTSTRAP_TOKEN: this instance already has users; it only makes the first admin of a new instance (use veil token create --admin)")
	}
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		now := models.Now()
		u := &models.User{ID: newID("usr"), Name: "Admin", Email: "admin@localhost", Admin: true, Active: true, CreatedAt: now}
		if _, err := tx.NewInsert().Model(u).Exec(ctx); err != nil {
			return fmt.Errorf("auth: create the first admin: %w", err)
		}
		t := &models.Token{ID: id, UserID: u.ID, Name: "bootstrap", SecretHash: hashSecret(tok), CreatedAt: now}
		if _, err := tx.NewInsert().Model(t).Exec(ctx); err != nil {
			return fmt.Errorf("auth: store the bootstrap token: %w", err)
		}
		return nil
	})
}

// CreateAdmin creates an admin user (or reuses the one with that email) and returns a new token
// for it. It checks no permission: it is for the command line (veil token create --admin).
func (s *Service) CreateAdmin(ctx context.Context, name, email, tokenName string) (string, error) {
	u, err := s.createUser(ctx, name, email, true)
	if err != nil {
		var ie *InputError
		if !asInput(err, &ie) || ie.Field != "email" {
			return "", err
		}
		u = new(models.User)
		clean, _ := cleanEmail(email) // valid: createUser got as far as the unique check with it
		if err := s.db.NewSelect().Model(u).Where("email = ?", clean).Scan(ctx); err != nil {
			return "", fmt.Errorf("auth: find user %s: %w", email, err)
		}
		if !u.Admin || !u.Active {
			return "", fmt.Errorf("auth: %s exists but is not an active admin", email)
		}
	}
	t, err := s.createToken(ctx, u.ID, tokenName, 0)
	if err != nil {
		return "", err
	}
	return t.Secret, nil
}

// CreatePreviewToken signs a token that opens, until it expires, the private media referenced by
// the draft of content item contentID that the token's creator (the viewer in ctx) may read.
// Creating one needs PUBLISH.
func (s *Service) CreatePreviewToken(ctx context.Context, contentID string, ttl time.Duration) (string, time.Time, error) {
	v := ViewerFrom(ctx)
	switch {
	case v.IsAnonymous():
		return "", time.Time{}, fault.Unauthenticatedf("sign in with an API token")
	case !v.HasGlobal(models.PermPublish):
		return "", time.Time{}, fault.Forbiddenf("needs PUBLISH")
	case ttl <= 0 || ttl > s.cfg.MaxPreviewTTL:
		return "", time.Time{}, inputErr("ttlSeconds", "must be between 1 and %d", int(s.cfg.MaxPreviewTTL.Seconds()))
	}
	if contentID == "" || len(contentID) > 100 {
		return "", time.Time{}, inputErr("contentId", "must be a content id")
	}
	exp := s.now().Add(ttl).Truncate(time.Second)
	return signPreview(s.cfg.PreviewKeys[0], contentID, v.UserID, exp), exp, nil
}

// VerifyPreviewToken returns the content id a preview token opens, or ErrBadPreviewToken when it
// is malformed, tampered with or expired.
func (s *Service) VerifyPreviewToken(tok string) (string, time.Time, error) {
	c, err := verifyPreview(s.cfg.PreviewKeys, tok, s.now())
	if err != nil {
		return "", time.Time{}, err
	}
	return c.ContentID, time.Unix(c.Expires, 0), nil
}

// OpenPreview verifies a preview token and returns the content id it opens and the viewer of its
// creator, with the creator's permissions now (read again at most every VEIL_AUTH_CACHE_TTL): the
// token opens only what that viewer may read. A creator who was deleted or deactivated yields
// ErrBadPreviewToken.
func (s *Service) OpenPreview(ctx context.Context, tok string) (string, *Viewer, error) {
	c, err := verifyPreview(s.cfg.PreviewKeys, tok, s.now())
	if err != nil {
		return "", nil, err
	}
	v, err := s.viewerOfUser(ctx, c.Creator)
	if err != nil {
		return "", nil, err
	}
	return c.ContentID, v, nil
}

// viewerOfUser returns the viewer of an active user (ErrBadPreviewToken for a missing or
// deactivated one), cached like the viewers of API tokens.
func (s *Service) viewerOfUser(ctx context.Context, userID string) (*Viewer, error) {
	now := s.now()
	s.mu.Lock()
	c, hit := s.users[userID]
	s.mu.Unlock()
	if hit && now.Before(c.until) {
		if c.viewer == nil {
			return nil, fmt.Errorf("%w: its creator is no longer active", ErrBadPreviewToken)
		}
		return c.viewer, nil
	}
	u := new(models.User)
	err := s.db.NewSelect().Model(u).Where("id = ?", userID).Scan(ctx)
	var v *Viewer
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("auth: load preview creator: %w", err)
	case u.Active:
		if v, err = s.loadViewer(ctx, u.ID, u.Name, u.Admin); err != nil {
			return nil, err
		}
	}
	if s.cfg.CacheTTL > 0 {
		s.mu.Lock()
		if len(s.users) > 10000 {
			s.users = map[string]cachedUser{}
		}
		s.users[userID] = cachedUser{viewer: v, until: now.Add(s.cfg.CacheTTL)}
		s.mu.Unlock()
	}
	if v == nil {
		return nil, fmt.Errorf("%w: its creator is no longer active", ErrBadPreviewToken)
	}
	return v, nil
}

func asInput(err error, target **InputError) bool {
	ie, ok := err.(*InputError)
	if ok {
		*target = ie
	}
	return ok
}
