package renditions

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// wasmMeasure starts measuring the WebAssembly memory of encodes: the returned function gives
// the high-water mark of the memory encoders held since, over what they held at the start.
func wasmMeasure() func() int64 {
	base := wasmLive.Load()
	wasmHigh.Store(base)
	return func() int64 { return wasmHigh.Load() - base }
}

// TestAVIFEncodeStopsOnCancel (issue 14, item 5): an AVIF encode stops when its context is
// cancelled — here from inside the encoder, the first time it grows its memory, so encoding has
// certainly started — returns context.Canceled without writing an output, and gives all its
// WebAssembly memory back. Before, the encoder ran under context.Background() to the end.
func TestAVIFEncodeStopsOnCancel(t *testing.T) {
	testEncodeStopsOnCancel(t, "AVIF", "format-avif|avifquality-100")
}

// TestWebPEncodeStopsOnCancel: the same for the WebP encoder.
func TestWebPEncodeStopsOnCancel(t *testing.T) {
	testEncodeStopsOnCancel(t, "WebP", "format-webp-lossless")
}

func testEncodeStopsOnCancel(t *testing.T, codec, spec string) {
	src := encodePNGBytes(t, gradient(512, 512))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hooked := make(chan struct{})
	wasmEncodeHook = func(c string) {
		if c == codec {
			close(hooked)
			cancel()
		}
	}
	defer func() { wasmEncodeHook = nil }()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := Generate(ctx, bytes.NewReader(src), MustParse(spec), nil, DefaultOptions(), &out)
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute): // a hang guard, not a timing target
		t.Fatal("Generate did not return after its context was cancelled")
	}
	select {
	case <-hooked:
	default:
		t.Fatal("the encoder never grew its memory: the hook did not run")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate = %v, want context.Canceled", err)
	}
	if out.Len() != 0 {
		t.Errorf("a cancelled encode wrote %d bytes", out.Len())
	}
	if n := EncoderMemoryInUse(); n != 0 {
		t.Errorf("%d bytes of encoder memory still held after the encode returned", n)
	}
}

// TestAVIFMemoryReleased: a finished AVIF encode has used WebAssembly memory and holds none of
// it afterwards (each encode's instance is closed and its mapping unmapped, not pooled).
func TestAVIFMemoryReleased(t *testing.T) {
	src := encodePNGBytes(t, gradient(256, 256))
	peak := wasmMeasure()
	_, out := generate(t, src, "format-avif", nil)
	if len(out) < 12 || string(out[4:12]) != "ftypavif" {
		t.Fatalf("not an AVIF: %q", out[:min(len(out), 12)])
	}
	if peak() <= 0 {
		t.Error("no encoder memory was measured")
	}
	if n := EncoderMemoryInUse(); n != 0 {
		t.Errorf("%d bytes of encoder memory still held after the encode", n)
	}
}

// TestAVIFMemoryCap: an encode given less memory than it needs fails with ErrEncoderMemory
// instead of growing past its share of the estimate, and releases what it had.
func TestAVIFMemoryCap(t *testing.T) {
	img := gradient(512, 512)
	p := Plan{Format: AVIF, Quality: 61, AVIFSpeed: DefaultAVIFSpeed}
	err := encodeAVIFLimited(context.Background(), io.Discard, img, p, 4<<20)
	if !errors.Is(err, ErrEncoderMemory) {
		t.Fatalf("encode with 4 MiB = %v, want ErrEncoderMemory", err)
	}
	if n := EncoderMemoryInUse(); n != 0 {
		t.Errorf("%d bytes of encoder memory still held", n)
	}
	// The estimate's own allowance is enough.
	if err := encodeAVIF(context.Background(), io.Discard, img, p); err != nil {
		t.Fatalf("encode within the estimate: %v", err)
	}
}
