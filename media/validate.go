package media

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	maxFilename = 255
	maxTitle    = 255
	maxAlt      = 1000
	maxTag      = 64
	maxTags     = 50
	maxName     = 255
)

// validateFilename rejects client filenames that could mislead a person or a program: path
// separators and dot segments, NUL and other control characters, bidirectional overrides (which
// can disguise "gpj.exe" as "exe.jpg"), invalid UTF-8 and over-long names. Veil never uses the
// filename as a storage key, but it is shown to editors and sent back in Content-Disposition.
func validateFilename(name string) error {
	switch {
	case name == "":
		return inputErr("file", "the upload has no filename")
	case len(name) > maxFilename:
		return inputErr("file", "filename is longer than %d bytes", maxFilename)
	case !utf8.ValidString(name):
		return inputErr("file", "filename is not valid UTF-8")
	case name == "." || name == "..":
		return inputErr("file", "filename %q is not a file name", name)
	case strings.ContainsAny(name, `/\`):
		return inputErr("file", "filename must not contain path separators (got %q)", name)
	}
	for _, r := range name {
		switch {
		case r == 0:
			return inputErr("file", "filename contains a NUL character")
		case unicode.IsControl(r):
			return inputErr("file", "filename contains control character %U", r)
		case isBidiControl(r):
			return inputErr("file", "filename contains bidirectional control character %U, which can disguise its extension", r)
		}
	}
	return nil
}

func isBidiControl(r rune) bool {
	return r == '\u200e' || r == '\u200f' || r == '\u061c' ||
		(r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// extension returns the lower-case extension of name without the dot, or "".
func extension(name string) string {
	ext := path.Ext(name)
	if ext == "" || ext == name {
		return ""
	}
	return strings.ToLower(ext[1:])
}

// defaultTitle derives a title from a filename: no extension, separators turned into spaces.
func defaultTitle(filename string) string {
	t := strings.TrimSuffix(filename, path.Ext(filename))
	t = strings.NewReplacer("_", " ", "-", " ").Replace(t)
	t = strings.Join(strings.Fields(t), " ")
	if t == "" {
		return filename
	}
	return t
}

func cleanText(field, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", inputErr(field, "is not valid UTF-8")
	}
	if len(s) > max {
		return "", inputErr(field, "is longer than %d bytes", max)
	}
	for _, r := range s {
		if r == 0 || (unicode.IsControl(r) && r != '\n' && r != '\t') {
			return "", inputErr(field, "contains control character %U", r)
		}
	}
	return s, nil
}

// cleanTags trims, lower-cases and de-duplicates tags, rejecting empty or over-long ones.
func cleanTags(tags []string) ([]string, error) {
	if len(tags) > maxTags {
		return nil, inputErr("tags", "at most %d tags", maxTags)
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		t, err := cleanText("tags", strings.ToLower(t), maxTag)
		if err != nil {
			return nil, err
		}
		if t == "" {
			return nil, inputErr("tags", "a tag must not be empty")
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}
