// Package negotiate reads the content-negotiation headers Veil's handlers share.
package negotiate

import (
	"strconv"
	"strings"
)

// Gzip reports whether an Accept-Encoding header allows gzip: listed by name or as "*", with no
// q-value or a q-value above 0.
func Gzip(acceptEncoding string) bool {
	for _, part := range strings.Split(acceptEncoding, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.TrimSpace(name)
		if !strings.EqualFold(name, "gzip") && name != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		if v, ok := strings.CutPrefix(q, "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			return err == nil && f > 0
		}
		return true
	}
	return false
}
