package negotiate

import "testing"

func TestGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "br, gzip;q=0.8": true, "gzip;q=0": false,
		"gzip; q=0.000": false, "*": true, "*;q=0": false, "deflate, br": false, "gzip;q=x": false,
	} {
		if got := Gzip(h); got != want {
			t.Errorf("Gzip(%q) = %v, want %v", h, got, want)
		}
	}
}
