package renditions

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/png"
	"io"
	"io/fs"
	"sync"

	"github.com/disintegration/imaging"
	"github.com/gen2brain/jpegn"
	"golang.org/x/image/webp"
)

// Generate makes the rendition spec of the image read from src and writes it to w.
//
// It first reads the header exactly as Inspect does and applies opts.Limits to it and to the
// plan, so an over-limit, unsupported or corrupt source is rejected before any pixel is decoded.
// It then decodes (JPEG at a reduced DCT scale when the output is much smaller than the
// source; a baseline JPEG at 1/8 or 1/4 and a shrunk 8-bit RGB/RGBA PNG as they are read,
// without holding the file or the full image), applies the EXIF orientation, crops and resizes once as Spec.Plan says, flattens
// transparency when the output cannot carry it (JPEG, GIF: onto white) or the spec has a
// bgcolor (onto it), and encodes. No metadata (EXIF, GPS, XMP, ICC) reaches the output.
//
// ctx is checked between stages; a cancelled ctx returns ctx.Err(). A truncated JPEG (no
// end-of-image marker after its frame header) returns ErrCorrupt, as do decode failures. On any
// error w may have received part of an output, so callers should write to a temporary object.
// It returns the plan actually produced, with Quality taken from opts when the spec sets none.
// JPEG data past InspectReadLimit + 12 bytes per header pixel is not read (appended videos of
// "motion photos" sit there).
func Generate(ctx context.Context, src io.Reader, spec Spec, focal *FocalPoint, opts Options, w io.Writer) (Plan, error) {
	opts = opts.withDefaults()
	lim := opts.Limits
	if err := ctx.Err(); err != nil {
		return Plan{}, err
	}

	data := getSourceBuffer()
	defer putSourceBuffer(data)
	hr := &headReader{r: src, n: InspectReadLimit, rec: data}
	hdr, err := inspect(hr, lim)
	if err != nil {
		return Plan{}, err
	}
	info := hdr.Info
	plan, err := spec.Plan(info.Width, info.Height, info.Format, focal, lim)
	if err != nil {
		return Plan{}, err
	}
	if !plan.qualitySet {
		switch plan.Format {
		case JPEG:
			plan.Quality = opts.JPEGQuality
		case WebP:
			plan.Quality = opts.WebPQuality
		case AVIF:
			plan.Quality = opts.AVIFQuality
		}
	}
	if plan.Format == AVIF {
		plan.AVIFSpeed = opts.AVIFSpeed
	}
	if err := ctx.Err(); err != nil {
		return Plan{}, err
	}

	colour := newSourceColour(info.Format, data.Bytes())
	rest := &readErrRecorder{r: colour.watch(src)}
	var img image.Image
	streamed := streamsPNG(info, plan) // decoded, cropped and resized in one pass
	if streamed {
		crop := rawCrop(info, plan)
		win := box{float64(crop.Min.X), float64(crop.Min.Y), float64(crop.Max.X), float64(crop.Max.Y)}
		img, err = resamplePNGStream(io.MultiReader(bytes.NewReader(data.Bytes()), rest), win, plan.Width, plan.Height)
		if err != nil {
			err = fmt.Errorf("%w: decode %s: %w", ErrCorrupt, info.Format, err)
		}
	} else {
		img, err = decode(hdr, plan, data, rest)
	}
	if rest.err != nil { // the stream failed, not the image
		return Plan{}, fmt.Errorf("renditions: read source: %w", rest.err)
	}
	if err != nil {
		return Plan{}, err
	}
	if err := ctx.Err(); err != nil {
		return Plan{}, err
	}

	img = colour.enter(img, data.Bytes()) // CMYK becomes sRGB here, RGB and grey after resizing
	if !streamed {
		img = transform(img, info, plan)
	}
	img = colour.leave(img)
	if err := ctx.Err(); err != nil {
		return Plan{}, err
	}

	switch {
	case plan.Background != nil:
		img = flatten(img, *plan.Background)
	case !plan.Format.hasAlpha():
		img = flatten(img, color.NRGBA{255, 255, 255, 255})
	}

	bw := bufio.NewWriterSize(w, 64<<10)
	if err := encoders[plan.Format](ctx, bw, img, plan); err != nil {
		return Plan{}, fmt.Errorf("renditions: encode %s: %w", plan.Format, err)
	}
	if err := bw.Flush(); err != nil {
		return Plan{}, fmt.Errorf("renditions: write %s: %w", plan.Format, err)
	}
	return plan, nil
}

// sourceSize is the whole size of source r, when r tells it (*bytes.Reader, gocloud's
// *blob.Reader, *os.File), else 0.
func sourceSize(r io.Reader) int64 {
	switch s := r.(type) {
	case interface{ Size() int64 }:
		return s.Size()
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := s.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return 0
}

// recordingReader copies what it reads from r to rec while rec is not nil.
type recordingReader struct {
	r   io.Reader
	rec *bytes.Buffer
}

func (c *recordingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.rec != nil {
		c.rec.Write(p[:n])
	}
	return n, err
}

// readErrRecorder keeps the first error other than io.EOF that reading r returned, so a failing
// stream is not reported as a corrupt image.
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (e *readErrRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

func (e *readErrRecorder) src() io.Reader {
	if w, ok := e.r.(*watchingReader); ok { // a PNG or WebP source, its colour chunks watched
		return w.r
	}
	return e.r
}

// sourceBuffers recycles the buffers that hold source bytes: a large JPEG is read whole, and a
// fresh zeroed buffer of its size for every rendition costs time and GC work.
var sourceBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledSource is the largest source buffer kept for reuse.
const maxPooledSource = 64 << 20

func getSourceBuffer() *bytes.Buffer { return sourceBuffers.Get().(*bytes.Buffer) }

func putSourceBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledSource {
		return
	}
	b.Reset()
	sourceBuffers.Put(b)
}

// decode decodes the whole source: head holds the bytes Inspect read, rest the remainder of
// the stream. JPEG is decoded at the DCT scale jpegScale picks, so its bounds may be smaller
// than the raw size.
func decode(hdr header, plan Plan, head *bytes.Buffer, rest *readErrRecorder) (image.Image, error) {
	info := hdr.Info
	rawW, rawH := info.rawSize()
	var (
		img          image.Image
		err          error
		wantW, wantH = rawW, rawH // the decoded size, but for a DCT-scaled JPEG
	)
	switch info.Format {
	case JPEG:
		budget := max(int64(InspectReadLimit)+12*int64(rawW)*int64(rawH)-int64(head.Len()), 0)
		if denom := decodeDenom(info, plan); !hdr.progressive && (denom == 4 || denom == 8) && baselineStreamable(head.Bytes(), sourceSize(rest.src())) {
			// Decoded as it is read: the file is not held. head keeps what it has plus the
			// header up to the first scan, where the colour profile is.
			more := &recordingReader{r: io.LimitReader(rest, budget), rec: head}
			img, err = decodeBaselineStream(io.MultiReader(bytes.NewReader(head.Bytes()), more), denom, func() { more.rec = nil })
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: JPEG has no end-of-image marker (truncated)", ErrCorrupt)
			}
			break
		}
		if err := readWhole(head, rest, budget); err != nil {
			return nil, err
		}
		data := head.Bytes()
		// FF D9 cannot occur inside entropy-coded data (FF is stuffed), so a file without it
		// after the frame header was cut short.
		if bytes.LastIndex(data, []byte{0xFF, 0xD9}) < int(hdr.consumed) {
			return nil, fmt.Errorf("%w: JPEG has no end-of-image marker (truncated)", ErrCorrupt)
		}
		denom := decodeDenom(info, plan)
		reduced := false
		if maxK, ok := scaleCoefficients[denom]; ok && hdr.progressive {
			if pruned, ok := pruneScans(data, maxK); ok {
				data = pruned
				// Only the coefficients this scale reads are kept (see decodeReduced);
				// jpegn would hold all 64 of every block.
				img, err = decodeReduced(data, denom)
				reduced = err == nil
			}
		}
		if !reduced {
			// Inspect has already refused the JPEG variants the decoder cannot read, so any
			// decode error here (including the decoder's own "far more pixels than the data
			// could hold" refusal) means a broken file.
			img, err = jpegn.Decode(bytes.NewReader(data), &jpegn.Options{ScaleDenom: denom})
		}
	case PNG:
		img, err = png.Decode(io.MultiReader(head, rest))
	case GIF:
		img, err = gif.Decode(io.MultiReader(head, rest))
		if err == nil {
			img = gifCanvas(img, rawW, rawH)
		}
	case WebP:
		if !webpLibrary {
			img, err = webp.Decode(io.MultiReader(head, rest))
			break
		}
		// libwebp decodes from the whole file (so does golang.org/x/image/webp), at most as
		// large as the largest lossless encoding of its pixels could be.
		if err := readWhole(head, rest, max(int64(InspectReadLimit)+5*int64(rawW)*int64(rawH)-int64(head.Len()), 0)); err != nil {
			return nil, err
		}
		k := webpShrink(info, plan)
		wantW, wantH = ceilDiv(rawW, k), ceilDiv(rawH, k)
		img, err = decodeWebPScaled(head.Bytes(), rawW, rawH, wantW, wantH)
		if errors.Is(err, errNotLossyOpaque) {
			wantW, wantH = rawW, rawH
			img, err = webp.Decode(bytes.NewReader(head.Bytes()))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: decode %s: %w", ErrCorrupt, info.Format, err)
	}
	b := img.Bounds()
	if info.Format != JPEG && (b.Dx() != wantW || b.Dy() != wantH) {
		return nil, fmt.Errorf("%w: %s decodes to %dx%d, its header says %dx%d", ErrCorrupt, info.Format, b.Dx(), b.Dy(), rawW, rawH)
	}
	if b.Dx() < 1 || b.Dy() < 1 || b.Dx() > rawW || b.Dy() > rawH {
		return nil, fmt.Errorf("%w: %s decodes to %dx%d, its header says %dx%d", ErrCorrupt, info.Format, b.Dx(), b.Dy(), rawW, rawH)
	}
	return img, nil
}

// readWhole appends the rest of the source, at most budget bytes, to head. When the source
// tells its size the buffer is replaced once by one of exactly that size, with room for
// bytes.Buffer.ReadFrom's last read (which finds EOF, but only after asking for MinRead free
// bytes); bytes.Buffer's own growth would allocate twice the old capacity plus the file, and the
// last read would double that.
func readWhole(head *bytes.Buffer, rest *readErrRecorder, budget int64) error {
	if s := sourceSize(rest.src()); s > 0 { // *bytes.Reader, gocloud's *blob.Reader, *os.File
		need := head.Len() + int(min(max(s-int64(head.Len()), 0), budget, 1<<30)) + bytes.MinRead
		if head.Cap() < need {
			buf := make([]byte, head.Len(), need)
			copy(buf, head.Bytes())
			*head = *bytes.NewBuffer(buf)
		}
	}
	if _, err := head.ReadFrom(io.LimitReader(rest, budget)); err != nil {
		return fmt.Errorf("renditions: read source: %w", err)
	}
	return nil
}

// scaleCoefficients is, for a DCT scale that reads only some coefficients of a block, the
// highest zigzag index it reads: the DC alone at 1/8, the 2×2 lowest frequencies at 1/4.
var scaleCoefficients = map[int]int{8: 0, 4: 4}

// gifCanvas places a first GIF frame that does not cover the logical screen on a transparent
// canvas of the screen's size, so sizes match the header.
func gifCanvas(frame image.Image, w, h int) image.Image {
	if frame.Bounds() == image.Rect(0, 0, w, h) {
		return frame
	}
	canvas := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.Draw(canvas, frame.Bounds(), frame, frame.Bounds().Min, draw.Src)
	return canvas
}

// jpegScale picks the JPEG DCT scale denominator (8, 4, 2, else 1) as libvips's thumbnail
// does: the largest that still leaves the final resize a reduction of at least 2× on both axes.
// A DCT-scaled decode is a box filter (each pixel the mean of a d×d block), much softer than
// Lanczos; the Lanczos3 reduce that follows does the real filtering and needs room to do it.
func jpegScale(crop image.Rectangle, outW, outH int) int {
	for _, d := range []int{8, 4, 2} {
		if crop.Dx() >= outW*2*d && crop.Dy() >= outH*2*d {
			return d
		}
	}
	return 1
}

// rawCrop maps the plan's crop from upright to stored (pre-orientation) coordinates.
func rawCrop(info Info, plan Plan) image.Rectangle {
	rw, rh := info.rawSize()
	return uprightToRaw(plan.Crop, info.Orientation, rw, rh)
}

// rawOutSize is the output size before orientation is applied.
func rawOutSize(info Info, plan Plan) (int, int) {
	if info.Orientation >= 5 {
		return plan.Height, plan.Width
	}
	return plan.Width, plan.Height
}

// uprightToRaw maps rectangle r of the upright image to the stored image of rw×rh that EXIF
// orientation o turns upright.
func uprightToRaw(r image.Rectangle, o, rw, rh int) image.Rectangle {
	x0, y0, x1, y1 := r.Min.X, r.Min.Y, r.Max.X, r.Max.Y
	switch o {
	case 2: // mirrored horizontally
		return image.Rect(rw-x1, y0, rw-x0, y1)
	case 3: // rotated 180°
		return image.Rect(rw-x1, rh-y1, rw-x0, rh-y0)
	case 4: // mirrored vertically
		return image.Rect(x0, rh-y1, x1, rh-y0)
	case 5: // transposed
		return image.Rect(y0, x0, y1, x1)
	case 6: // stored rotated 90° counter-clockwise
		return image.Rect(y0, rh-x1, y1, rh-x0)
	case 7: // transversed
		return image.Rect(rw-y1, rh-x1, rw-y0, rh-x0)
	case 8: // stored rotated 90° clockwise
		return image.Rect(rw-y1, x0, rw-y0, x1)
	}
	return r
}

// orient applies EXIF orientation o to a stored image.
func orient(img image.Image, o int) image.Image {
	switch o {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img)
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}

// transform crops and resizes the decoded image in stored orientation, then turns the (small)
// result upright. The crop is mapped exactly into a DCT-scaled decode, whose pixel i covers
// source pixels d·i … d·i+d−1, and resampled from there with sub-pixel precision; a crop that
// needs no resize is cut out as it is.
func transform(img image.Image, info Info, plan Plan) image.Image {
	rw, rh := info.rawSize()
	b := img.Bounds()
	crop := rawCrop(info, plan)
	tw, th := rawOutSize(info, plan)
	if b.Dx() == rw && b.Dy() == rh && crop.Dx() == tw && crop.Dy() == th {
		if crop != image.Rect(0, 0, rw, rh) {
			img = subImage(img, crop.Add(b.Min))
		}
		return orient(img, info.Orientation)
	}
	// The crop box in decoded pixels. A JPEG decoded at DCT scale 1/d has pixel i cover stored
	// pixels [i·d, (i+1)·d); libwebp's rescaler spreads the whole stored width over the decoded
	// width, so there the factor is the ratio of the two.
	sx, sy := float64(b.Dx())/float64(rw), float64(b.Dy())/float64(rh)
	if info.Format == JPEG {
		d := float64(decodeDenom(info, plan))
		sx, sy = 1/d, 1/d
	}
	win := box{float64(crop.Min.X) * sx, float64(crop.Min.Y) * sy, float64(crop.Max.X) * sx, float64(crop.Max.Y) * sy}
	return orient(resample(img, win, tw, th), info.Orientation)
}

// webpShrink is the whole factor libwebp shrinks an opaque lossy WebP by while decoding it for
// plan: the largest that still leaves the final Lanczos3 reduce at least 2× on both axes —
// boxFactor's rule, as jpegScale's for JPEG (libwebp's rescaler averages areas, softer than
// Lanczos). 1 without libwebp.
func webpShrink(info Info, plan Plan) int {
	if !webpLibrary || info.Format != WebP {
		return 1
	}
	crop := rawCrop(info, plan)
	ow, oh := rawOutSize(info, plan)
	return boxFactor(min(float64(crop.Dx())/float64(max(ow, 1)), float64(crop.Dy())/float64(max(oh, 1))))
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// decodeDenom is the JPEG DCT scale denominator Generate decodes a JPEG at for plan.
func decodeDenom(info Info, plan Plan) int {
	ow, oh := rawOutSize(info, plan)
	return jpegScale(rawCrop(info, plan), ow, oh)
}

func subImage(img image.Image, r image.Rectangle) image.Image {
	if s, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return s.SubImage(r)
	}
	return imaging.Crop(img, r)
}

// flatten composites img over an opaque background when img has any transparency.
func flatten(img image.Image, bg color.NRGBA) image.Image {
	bg.A = 255
	if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
		return img
	}
	b := img.Bounds()
	dst := image.NewRGBA(b)
	draw.Draw(dst, b, image.NewUniform(bg), image.Point{}, draw.Src)
	draw.Draw(dst, b, img, b.Min, draw.Over)
	return dst
}
