package models

import "github.com/uptrace/bun"

// PreparedTexts returns the texts of db's prepared statements (Select's cache).
func PreparedTexts(db *DB) []string {
	db.stmts.mu.Lock()
	defer db.stmts.mu.Unlock()
	out := make([]string, 0, len(db.stmts.m))
	for k := range db.stmts.m {
		out = append(out, k)
	}
	return out
}

// HandScanned reports whether Select scans the rows of q by hand (handScan) instead of through
// bun's reflection.
func HandScanned(q *bun.SelectQuery) bool { return handScan(q.GetModel()) != nil }
