package renditions

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"io"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// The AVIF and WebP encoders are C libraries compiled to WebAssembly (see wasm/README.md), run
// here in wazero rather than through their Go packages' Encode functions, which can be neither
// stopped nor bounded. Every encode:
//
//   - runs under the caller's ctx in a runtime built WithCloseOnContextDone, so a cancelled or
//     timed-out ctx stops the encoder at its next loop back-edge or call, and the encode returns
//     ctx.Err() within milliseconds;
//   - gets its own module instance whose linear memory comes from wasmMemory: a mapping outside
//     the Go heap, capped at the bytes the memory estimate granted the encode (past it the
//     encoder's malloc fails and the encode returns ErrEncoderMemory) and unmapped when the
//     instance closes, so the memory goes back to the system at once, not at the Go
//     scavenger's pace, and no instance keeps a grown memory for the next encode;
//   - gets its pixels written straight into the instance's memory (no Go-side RGBA copy).
//
// A module is compiled once per process, on first use (AVIF about 1.5 s; its compiled code,
// some tens of MB, stays for the life of the process).

// ErrEncoderMemory reports an AVIF or WebP encode that needed more WebAssembly memory than its
// share of the memory estimate (see EstimateDecodeBytes). The encode is abandoned rather than
// allowed to grow past what the memory semaphore granted.
var ErrEncoderMemory = errors.New("renditions: encoder exceeded its memory allowance")

// wasmEncodeHook, when set (tests only), is called from inside a running encoder, the first
// time it grows its memory, with the codec's name: encoding has certainly started.
var wasmEncodeHook func(codec string)

var wasmRuntime = sync.OnceValue(func() wazero.Runtime {
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfig().
		WithCoreFeatures(api.CoreFeaturesV2 | experimental.CoreFeaturesThreads).
		WithCloseOnContextDone(true)
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	return rt
})

// wasmCodec is one compiled WebAssembly library.
type wasmCodec struct {
	name string
	gz   []byte // the gzipped module
	once sync.Once
	cm   wazero.CompiledModule
	err  error
}

func (c *wasmCodec) compiled() (wazero.CompiledModule, error) {
	c.once.Do(func() {
		zr, err := gzip.NewReader(bytes.NewReader(c.gz))
		if err != nil {
			c.err = fmt.Errorf("renditions: %s module: %w", c.name, err)
			return
		}
		bin, err := io.ReadAll(zr)
		if err != nil {
			c.err = fmt.Errorf("renditions: %s module: %w", c.name, err)
			return
		}
		c.cm, c.err = wasmRuntime().CompileModule(context.Background(), bin)
		if c.err != nil {
			c.err = fmt.Errorf("renditions: compile %s module: %w", c.name, c.err)
		}
	})
	return c.cm, c.err
}

// wasmCall is one module instance, alive for one encode.
type wasmCall struct {
	ctx   context.Context
	codec *wasmCodec
	mod   api.Module
	mem   *wasmMemory
}

// run instantiates the codec with at most limit bytes of linear memory, calls fn with it, and
// closes the instance (unmapping its memory) before returning.
func (c *wasmCodec) run(ctx context.Context, limit int64, fn func(*wasmCall) error) error {
	cm, err := c.compiled()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	mem := &wasmMemory{limit: uint64(max(limit, 0)), codec: c.name}
	// Anonymous instances (no name), so any number can run at once; the libraries write
	// nothing useful to stdout or stderr.
	mc := wazero.NewModuleConfig().WithName("").WithStdout(io.Discard).WithStderr(io.Discard)
	mod, err := wasmRuntime().InstantiateModule(experimental.WithMemoryAllocator(ctx, mem), cm, mc)
	call := &wasmCall{ctx: ctx, codec: c, mem: mem}
	if err != nil {
		return call.fail("instantiate", err)
	}
	defer mod.Close(context.Background())
	call.mod = mod
	return fn(call)
}

// fail turns a failed call into ctx.Err() when ctx stopped it, into ErrEncoderMemory when the
// instance ran out of its allowance, and wraps anything else.
func (c *wasmCall) fail(what string, err error) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) && c.ctx.Err() != nil {
		return c.ctx.Err()
	}
	if c.mem.refused.Load() {
		return fmt.Errorf("%w (%s: %d bytes)", ErrEncoderMemory, c.codec.name, c.mem.limit)
	}
	return fmt.Errorf("renditions: %s %s: %w", c.codec.name, what, err)
}

// call calls an exported function that returns one value.
func (c *wasmCall) call(name string, args ...uint64) (uint64, error) {
	res, err := c.mod.ExportedFunction(name).Call(c.ctx, args...)
	if err != nil {
		return 0, c.fail(name, err)
	}
	return res[0], nil
}

// alloc returns n bytes of the instance's memory, from its malloc, and their address.
func (c *wasmCall) alloc(n int) (uint32, []byte, error) {
	p, err := c.call("malloc", uint64(n))
	if err != nil {
		return 0, nil, err
	}
	if p == 0 {
		return 0, nil, c.fail("malloc", fmt.Errorf("malloc(%d) failed", n))
	}
	b, ok := c.mod.Memory().Read(uint32(p), uint32(n))
	if !ok {
		return 0, nil, fmt.Errorf("renditions: %s: malloc returned %d bytes out of range", c.codec.name, n)
	}
	return uint32(p), b, nil
}

// putImage copies img into a new buffer of the module's memory as 8-bit RGBA, premultiplied by
// alpha or not as the encoder expects, and returns the buffer's pointer.
func (c *wasmCall) putImage(img image.Image, premultiplied bool) (uint32, error) {
	b := img.Bounds()
	wd, ht := b.Dx(), b.Dy()
	ptr, pix, err := c.alloc(4 * wd * ht)
	if err != nil {
		return 0, err
	}
	r := image.Rect(0, 0, wd, ht)
	var dst draw.Image = &image.NRGBA{Pix: pix, Stride: 4 * wd, Rect: r}
	if premultiplied {
		dst = &image.RGBA{Pix: pix, Stride: 4 * wd, Rect: r}
	}
	draw.Draw(dst, r, img, b.Min, draw.Src)
	return ptr, nil
}

// encoded reads the output of an encode function: its pointer, and its size stored at sizePtr.
func (c *wasmCall) encoded(ptr uint64, sizePtr uint32) ([]byte, error) {
	size, ok := c.mod.Memory().ReadUint64Le(sizePtr)
	if !ok {
		return nil, fmt.Errorf("renditions: %s: output size out of range", c.codec.name)
	}
	if ptr == 0 || size == 0 {
		return nil, c.fail("encode", errors.New("encoder failed"))
	}
	out, ok := c.mod.Memory().Read(uint32(ptr), uint32(size))
	if !ok {
		return nil, fmt.Errorf("renditions: %s: output out of range", c.codec.name)
	}
	return out, nil
}

// encoding marks the start of the encode call proper, for wasmEncodeHook.
func (c *wasmCall) encoding() { c.mem.encoding = true }

// wasmLive counts the bytes of WebAssembly linear memory mapped right now, across all encodes;
// wasmHigh is the high-water mark of wasmLive (tests reset it to measure).
var wasmLive, wasmHigh atomic.Int64

// EncoderMemoryInUse returns the bytes of WebAssembly memory that running AVIF and WebP encodes
// hold. It is zero when none runs: an encode's memory is unmapped when the encode returns,
// whether it finished, failed or was cancelled.
func EncoderMemoryInUse() int64 { return wasmLive.Load() }

// wasmMemory is an experimental.MemoryAllocator for one module instance: it reserves
// min(max, limit) bytes of address space outside the Go heap (mapMemory), hands out growing
// prefixes of it, refuses to grow past the reservation, and unmaps it all on Free.
type wasmMemory struct {
	codec string
	limit uint64
	// encoding and hooked drive wasmEncodeHook; only the goroutine running the instance
	// touches them.
	encoding, hooked bool
	buf              []byte // the whole reservation
	size             uint64 // bytes handed out
	peak             uint64
	refused          atomic.Bool
	unmap            func()
}

func (m *wasmMemory) Allocate(capacity, max uint64) experimental.LinearMemory {
	reserve := max
	if m.limit > 0 {
		reserve = min(reserve, m.limit)
	}
	reserve = (reserve + 65535) &^ 65535
	if reserve < capacity {
		reserve = capacity // the module's minimum: an instance cannot start with less
	}
	m.buf, m.unmap = mapMemory(reserve)
	return m
}

func (m *wasmMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		m.refused.Store(true)
		return nil
	}
	if size > m.size {
		live := wasmLive.Add(int64(size - m.size))
		for h := wasmHigh.Load(); live > h && !wasmHigh.CompareAndSwap(h, live); h = wasmHigh.Load() {
		}
		m.size = size
		m.peak = max(m.peak, size)
		if m.encoding && !m.hooked && wasmEncodeHook != nil {
			m.hooked = true
			wasmEncodeHook(m.codec)
		}
	}
	return m.buf[:size:size]
}

func (m *wasmMemory) Free() {
	if m.unmap != nil {
		m.unmap()
		m.unmap = nil
	}
	wasmLive.Add(-int64(m.size))
	m.size, m.buf = 0, nil
}
