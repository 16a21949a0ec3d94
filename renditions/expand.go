package renditions

import (
	"fmt"
	"strings"
)

// MaxExpansions caps the number of specs one Expand pattern may produce.
const MaxExpansions = 100

// Expand performs Wagtail-style brace expansion on a spec pattern: every {a,b,…} group is
// replaced by each of its alternatives in turn, groups varying from right to left, so
// "width-{400,800}|format-{webp,jpeg}" gives width-400|format-webp, width-400|format-jpeg,
// width-800|format-webp and width-800|format-jpeg. A pattern without braces gives itself.
// Exact duplicates are dropped, first occurrence kept.
//
// The results are not parsed; pass each to Parse. A malformed pattern — an unclosed or
// unopened brace, a nested brace, an empty group or alternative, or more than MaxExpansions
// results — returns a *SpecError whose Op is the pattern.
func Expand(pattern string) ([]string, error) {
	if pattern == "" {
		return nil, &SpecError{Reason: "empty pattern"}
	}
	if len(pattern) > MaxSpecLength {
		return nil, &SpecError{Op: pattern, Reason: fmt.Sprintf("pattern is %d bytes long, the maximum is %d", len(pattern), MaxSpecLength)}
	}
	bad := func(format string, a ...any) error {
		return &SpecError{Op: pattern, Reason: fmt.Sprintf(format, a...)}
	}
	// Split into literal text and groups.
	type piece struct {
		lit  string
		alts []string // nil for a literal
	}
	var pieces []piece
	total := 1
	rest := pattern
	offset := 0
	for rest != "" {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			pieces = append(pieces, piece{lit: rest})
			break
		}
		if rest[open] == '}' {
			return nil, bad("'}' at byte %d has no matching '{'", offset+open)
		}
		if open > 0 {
			pieces = append(pieces, piece{lit: rest[:open]})
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 {
			return nil, bad("'{' at byte %d is not closed", offset+open)
		}
		end += open + 1
		if rest[end] == '{' {
			return nil, bad("nested '{' at byte %d: groups cannot be nested", offset+end)
		}
		body := rest[open+1 : end]
		if body == "" {
			return nil, bad("empty group '{}' at byte %d", offset+open)
		}
		alts := strings.Split(body, ",")
		for _, a := range alts {
			if a == "" {
				return nil, bad("group {%s} at byte %d has an empty alternative", body, offset+open)
			}
		}
		total *= len(alts)
		if total > MaxExpansions {
			return nil, bad("expands to more than %d specs", MaxExpansions)
		}
		pieces = append(pieces, piece{alts: alts})
		offset += end + 1
		rest = rest[end+1:]
	}

	out := []string{""}
	for _, p := range pieces {
		if p.alts == nil {
			for i := range out {
				out[i] += p.lit
			}
			continue
		}
		next := make([]string, 0, len(out)*len(p.alts))
		for _, prefix := range out {
			for _, a := range p.alts {
				next = append(next, prefix+a)
			}
		}
		out = next
	}
	seen := make(map[string]bool, len(out))
	uniq := out[:0]
	for _, s := range out {
		if !seen[s] {
			seen[s] = true
			uniq = append(uniq, s)
		}
	}
	return uniq, nil
}
