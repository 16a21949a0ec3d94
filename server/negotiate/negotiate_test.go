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

func TestEncoding(t *testing.T) {
	for h, want := range map[string]string{
		"": "", "identity": "", "gzip": "gzip", "br": "br", "gzip, deflate, br": "br", "br;q=0.5, gzip": "gzip",
		"br;q=0, gzip;q=0": "", "*": "br", "*;q=0": "", "gzip, *;q=0": "gzip", "br;q=0, *": "gzip",
		"BR;q=0.9, gzip;q=0.9": "br", "br;q=x, gzip;q=0.1": "gzip", "deflate": "", "br;q=2": "",
	} {
		if got := Encoding(h); got != want {
			t.Errorf("Encoding(%q) = %q, want %q", h, got, want)
		}
	}
}
