// Package models holds Veil's bun models, enums and schema migrations, and opens the database
// (SQLite by default, Postgres by URL). It is data only: no business rules live here.
package models
