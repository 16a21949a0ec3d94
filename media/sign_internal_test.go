package media

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

// TestVerifyEveryKey: a signature made with the current key or an older one (VEIL_SIGNING_KEYS
// after a rotation) verifies; another key's, another spec's, a truncated one and a second spelling
// of the same bytes do not.
func TestVerifyEveryKey(t *testing.T) {
	current, older, other := []byte("current-key-0123456789abcdef"), []byte("older-key-0123456789abcdef"), []byte("other-key-0123456789abcdef")
	s := &Service{rend: newRenditionEngine(RenditionConfig{SigningKeys: [][]byte{current, older}})}
	id, spec, fk := "img_01M8TG7XS9Q07AHQZDG6MC74GW", "width-400", "0.5,0.5"
	for _, c := range []struct {
		name, sig string
		ok        bool
	}{
		{"current key", signWith(current, id, spec, fk), true},
		{"pooled signer", s.sign(id, spec, fk), true},
		{"older key", signWith(older, id, spec, fk), true},
		{"unknown key", signWith(other, id, spec, fk), false},
		{"another spec", signWith(current, id, "width-401", fk), false},
		{"truncated", signWith(current, id, spec, fk)[:21], false},
		{"empty", "", false},
		{"second spelling", respell(signWith(current, id, spec, fk)), false},
	} {
		for range 2 { // the second time through a reused HMAC
			if got := s.verify(id, spec, fk, c.sig); got != c.ok {
				t.Errorf("%s (%q): verify = %v, want %v", c.name, c.sig, got, c.ok)
			}
		}
	}
}

// respell sets the unused low bits of the last base64 character of a 16-byte signature: the
// same bytes for a lenient decoder, another string.
func respell(sig string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := sig[len(sig)-1]
	for i := 0; i < len(alphabet); i++ {
		if alphabet[i] == last {
			return sig[:len(sig)-1] + string(alphabet[i|3])
		}
	}
	return sig
}

// TestSignatureStable: a rendition URL's signature is the first 16 bytes of HMAC-SHA256 over
// "veil-rendition-v1", id, spec and focal key separated by NUL, base64url unpadded — the URLs
// pages and CDNs already hold must keep verifying whatever the code that builds it; computed
// here independently, and through the pooled signer with different lengths in turn (its reused
// message buffer must not leak one message into the next).
func TestSignatureStable(t *testing.T) {
	key := []byte("stable-key-0123456789abcdef0123")
	s := &Service{rend: newRenditionEngine(RenditionConfig{SigningKeys: [][]byte{key}})}
	for _, c := range []struct{ id, spec, fk string }{
		{"img_01M8TG7XS9Q07AHQZDG6MC74GW", "fill-300x300|format-webp", "0.25,0.75"},
		{"img_1", "width-4", ""},
		{"img_01M8TG7XS9Q07AHQZDG6MC74GW", "width-400", "0.5,0.5"},
	} {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("veil-rendition-v1\x00" + c.id + "\x00" + c.spec + "\x00" + c.fk))
		want := base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
		if got := signWith(key, c.id, c.spec, c.fk); got != want {
			t.Errorf("signWith(%q, %q, %q) = %s, want %s", c.id, c.spec, c.fk, got, want)
		}
		for range 2 {
			if got := s.sign(c.id, c.spec, c.fk); got != want {
				t.Errorf("sign(%q, %q, %q) = %s, want %s", c.id, c.spec, c.fk, got, want)
			}
		}
	}
}
