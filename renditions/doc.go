// Package renditions owns everything Veil knows about turning one stored image into another:
// the filter-spec language (parsing, validation, canonical form, brace expansion), the
// dimension maths that predicts a rendition's size and crop without touching pixels, the
// header inspection that guards every decode, and the decode → orient → crop → resize →
// flatten → encode pipeline itself, with its limits and memory estimate.
//
// The package is pure: it works on io.Reader, io.Writer, specs and sizes. It knows nothing
// of databases, blob storage, GraphQL or HTTP; callers map its errors to their own codes:
//
//   - *SpecError: the spec text is invalid (a 400 / BAD_USER_INPUT).
//   - *LimitError: a spec or a source image exceeds a configured cap (also a 400).
//   - ErrUnsupportedFormat: the source is not JPEG, PNG, GIF or WebP; ErrAnimatedWebP, which
//     wraps it, when the source is an animated WebP.
//   - ErrFormatNotSupported: the requested output format has no encoder in this build.
//   - ErrCorrupt: the source could not be parsed or is truncated.
//
// Geometry follows Wagtail's public behaviour (see docs/renditions.md): size
// operations run left to right on the size the previous one produced, and the source is then
// cropped once and resized once. All sizes and crops are of the upright image: EXIF
// orientation is applied before anything else.
//
// Speed and sharpness: a JPEG is decoded at the DCT scale (1/2, 1/4, 1/8) that still leaves
// the final resize a reduction of at least 2× on both axes, as libvips's thumbnail does; at
// 1/8 a progressive JPEG's AC scans, and at 1/4 those of its high frequencies and
// refinements, are dropped before decoding (pruneScans). The crop box is mapped exactly into
// the reduced image and resampled with Lanczos3 (resample: sub-pixel exact, filter widened by
// the reduction, taps past the crop reading the pixels around it), a JPEG's planes each on
// their own grid. No sharpening is applied. TestSharpness checks every corpus photo against a
// Lanczos3 reduction of its full decode (SSIM ≥ 0.99, no shift). The crop and resize happen in
// stored orientation and only the small result is rotated. EstimateDecodeBytes sizes a
// memory-weighted semaphore.
//
// Memory: at the 1/8 and 1/4 scales a progressive JPEG keeps only the coefficients the scale
// reads (decodeReduced, jpegreduced.go) and a baseline JPEG is decoded as it is read, the file
// never held (decodeBaselineStream, jpegstream.go); a shrunk 8-bit RGB or RGBA PNG is
// inflated and reduced row by row (resamplePNGStream, pngstream.go). All three give exactly the
// pixels of the whole-image path they replace. Other sources are decoded whole (jpegn,
// image/png, image/gif, x/image/webp).
//
// Sources are JPEG (baseline, extended or progressive, 8-bit, Huffman-coded), PNG, GIF (first
// frame) and WebP (still). Outputs are JPEG (progressive, optimised Huffman tables), PNG (alpha
// kept), GIF (first frame, Plan 9 palette with Floyd–Steinberg dithering, transparency
// flattened) and, once an encoder is registered in encoders, WebP and AVIF. Metadata (EXIF,
// GPS, XMP, ICC) is never copied to an output.
//
// Every output is sRGB: a source with an embedded ICC profile (JPEG APP2, PNG iCCP, WebP
// ICCP; RGB, grey or CMYK, matrix/TRC or LUT-based) or PNG gAMA/cHRM is converted from it
// (colour.go, icc_transform.go); an untagged or sRGB-tagged source is left as it is. A lossy
// WebP's limited-range YCbCr is decoded as such (webp_range.go).
package renditions
