package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// API tokens look like "veil_<token id>_<secret>": the id finds the row, the secret is checked
// against its stored SHA-256 in constant time. The secret is 32 random bytes; it is shown once.
const tokenPrefix = "veil_"

func newTokenID() string { return "tok_" + ulid.Make().String() }

func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// parseToken splits a presented token into its id and secret.
func parseToken(tok string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(tok, tokenPrefix)
	if !found || len(tok) > 200 {
		return "", "", false
	}
	// The id has a fixed length ("tok_" + 26); the secret (base64url, which may itself contain
	// '_') follows after one more underscore.
	const idLen = 4 + ulid.EncodedSize
	if len(rest) < idLen+2 || rest[idLen] != '_' {
		return "", "", false
	}
	id, secret = rest[:idLen], rest[idLen+1:]
	if !strings.HasPrefix(id, "tok_") {
		return "", "", false
	}
	if _, err := ulid.ParseStrict(id[4:]); err != nil {
		return "", "", false
	}
	return id, secret, true
}

// bootstrapTokenID is the row id of an operator-chosen bootstrap token (VEIL_BOOTSTRAP_TOKEN):
// derived from the token, so the same token finds the same row after a restart.
func bootstrapTokenID(tok string) string {
	h := sha256.Sum256([]byte("veil bootstrap token id v1\x00" + tok))
	var u ulid.ULID
	copy(u[:], h[:16])
	return "tok_" + u.String()
}

// validBootstrapToken: 32 to 200 printable ASCII characters, no spaces (it travels in a header).
func validBootstrapToken(tok string) bool {
	if len(tok) < 32 || len(tok) > 200 {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] > '~' {
			return false
		}
	}
	return true
}

func secretMatches(secret string, hash []byte) bool {
	h := sha256.Sum256([]byte(secret)) // hashSecret's, on the stack (its slice escapes)
	return subtle.ConstantTimeCompare(h[:], hash) == 1
}

// Preview tokens let a preview frontend read the private media a draft references. They are
// self-contained: base64url(JSON claims) "." base64url(HMAC-SHA256), signed with the preview key.
// They name their creator: a token opens only what its creator may read (see OpenPreview), so
// a token without one (made before creators were recorded) is refused.
type previewClaims struct {
	ContentID string `json:"c"`
	Creator   string `json:"u"` // user id of the creator
	Expires   int64  `json:"e"` // unix seconds
}

// ErrBadPreviewToken is a preview token that is malformed, tampered with or expired.
var ErrBadPreviewToken = errors.New("invalid or expired preview token")

func signPreview(key []byte, contentID, creator string, expires time.Time) string {
	payload, _ := json.Marshal(previewClaims{ContentID: contentID, Creator: creator, Expires: expires.Unix()})
	p := base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("veil-preview-v1." + p))
	return p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func verifyPreview(keys [][]byte, tok string, now time.Time) (previewClaims, error) {
	var c previewClaims
	if len(tok) > 2048 {
		return c, ErrBadPreviewToken
	}
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return previewClaims{}, ErrBadPreviewToken
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig) // strict: no second spelling of one signature
	if err != nil {
		return previewClaims{}, ErrBadPreviewToken
	}
	valid := false
	for _, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte("veil-preview-v1." + p))
		valid = valid || hmac.Equal(got, m.Sum(nil))
	}
	if !valid {
		return previewClaims{}, ErrBadPreviewToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return previewClaims{}, ErrBadPreviewToken
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.ContentID == "" || c.Creator == "" {
		return previewClaims{}, ErrBadPreviewToken
	}
	exp := time.Unix(c.Expires, 0)
	if !now.Before(exp) {
		return previewClaims{}, fmt.Errorf("%w: expired at %s", ErrBadPreviewToken, exp.UTC().Format(time.RFC3339))
	}
	return c, nil
}
