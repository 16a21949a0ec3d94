// Package negotiate reads the content-negotiation headers Veil's handlers share.
package negotiate

import (
	"strconv"
	"strings"
)

// Gzip reports whether an Accept-Encoding header allows gzip: listed by name or as "*", with no
// q-value or a q-value above 0.
func Gzip(acceptEncoding string) bool { return quality(acceptEncoding, "gzip") > 0 }

// Encoding picks the content coding of an answer from an Accept-Encoding header: "br" or "gzip",
// whichever has the higher q-value (named, or through "*"), br on a tie (it is the smaller);
// "" (identity) when the header allows neither.
func Encoding(acceptEncoding string) string {
	br, gz := quality(acceptEncoding, "br"), quality(acceptEncoding, "gzip")
	switch {
	case br > 0 && br >= gz:
		return "br"
	case gz > 0:
		return "gzip"
	}
	return ""
}

// quality is the q-value the header gives coding: its own entry's, else the "*" entry's, else 0.
// An entry without q is 1; a malformed q is 0.
func quality(acceptEncoding, coding string) float64 {
	star, starSeen := 0.0, false
	for _, part := range strings.Split(acceptEncoding, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.TrimSpace(name)
		if !strings.EqualFold(name, coding) && name != "*" {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.ReplaceAll(strings.TrimSpace(params), " ", ""), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				f = 0
			}
			q = f
		}
		if name != "*" {
			return q
		}
		if !starSeen {
			star, starSeen = q, true
		}
	}
	return star
}
