package models

import (
	"time"

	"github.com/uptrace/bun"
)

// Permission is something a group may be granted, on a collection (VIEW, ADD, CHANGE, DELETE; the
// grant covers the collection's whole subtree) or globally (PUBLISH, MANAGE_USERS).
type Permission string

// The permissions.
const (
	PermView        Permission = "VIEW"
	PermAdd         Permission = "ADD"
	PermChange      Permission = "CHANGE"
	PermDelete      Permission = "DELETE"
	PermPublish     Permission = "PUBLISH"
	PermManageUsers Permission = "MANAGE_USERS"
)

// Global reports whether p is granted globally rather than on a collection.
func (p Permission) Global() bool { return p == PermPublish || p == PermManageUsers }

// Valid reports whether p is a known permission.
func (p Permission) Valid() bool {
	switch p {
	case PermView, PermAdd, PermChange, PermDelete, PermPublish, PermManageUsers:
		return true
	}
	return false
}

// User is a person or a service that authenticates with API tokens.
type User struct {
	bun.BaseModel `bun:"table:users"`

	ID        string    `bun:"id,pk"`
	Name      string    `bun:"name,notnull"`
	Email     string    `bun:"email,notnull,unique"`
	Admin     bool      `bun:"is_admin,notnull"`
	Active    bool      `bun:"active,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// Group collects users so permissions can be granted once.
type Group struct {
	bun.BaseModel `bun:"table:groups"`

	ID        string    `bun:"id,pk"`
	Name      string    `bun:"name,notnull,unique"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// GroupMember puts a user in a group.
type GroupMember struct {
	bun.BaseModel `bun:"table:group_members"`

	GroupID string `bun:"group_id,pk"`
	UserID  string `bun:"user_id,pk"`
}

// Grant gives a group a permission, on a collection subtree or (CollectionID = "") globally.
type Grant struct {
	bun.BaseModel `bun:"table:grants,alias:g"`

	GroupID      string     `bun:"group_id,pk"`
	CollectionID string     `bun:"collection_id,pk"` // "" for global permissions
	Permission   Permission `bun:"permission,pk"`
	CreatedAt    time.Time  `bun:"created_at,notnull"`
}

// Token is an API token. Only the SHA-256 of its secret is stored.
type Token struct {
	bun.BaseModel `bun:"table:tokens,alias:t"`

	ID         string     `bun:"id,pk"`
	UserID     string     `bun:"user_id,notnull"`
	Name       string     `bun:"name,notnull"`
	SecretHash []byte     `bun:"secret_hash,notnull"`
	ExpiresAt  *time.Time `bun:"expires_at"`
	LastUsedAt *time.Time `bun:"last_used_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
	CreatedAt  time.Time  `bun:"created_at,notnull"`
}

// GlobalID returns the user's id.
func (u *User) GlobalID() string { return u.ID }

// GlobalID returns the group's id.
func (g *Group) GlobalID() string { return g.ID }
