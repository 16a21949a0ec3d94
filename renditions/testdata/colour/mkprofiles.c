/* mkprofiles makes two of the ICC profiles the colour tests embed, with lcms2:
 *   displayp3-v4.icc  Display P3 (DCI-P3 primaries, D65 white, the sRGB curve as a 'para'
 *                     curve): a v4 matrix/TRC profile, as phones embed.
 *   cmyk-v4.icc       the CMYK LUT profile cmyk-v2.icc rewritten as ICC v4, so that its
 *                     tables are 'mAB '/'mBA ' instead of 'mft2'.
 *   gamma18.icc       sRGB primaries with a pure 1.8 power curve: what a PNG with gAMA 55556
 *                     and no cHRM means; only used to make that PNG's lcms2 reference.
 * Build: cc -O2 -o /tmp/mkprofiles mkprofiles.c -llcms2 ; run in this folder. */
#include <lcms2.h>
#include <stdio.h>

static void describe(cmsHPROFILE h, const char *desc) {
	cmsMLU *mlu = cmsMLUalloc(NULL, 1);
	cmsMLUsetASCII(mlu, "en", "US", desc);
	cmsWriteTag(h, cmsSigProfileDescriptionTag, mlu);
	cmsMLUsetASCII(mlu, "en", "US", "No copyright, use freely (CC0)");
	cmsWriteTag(h, cmsSigCopyrightTag, mlu);
	cmsMLUfree(mlu);
}

int main(void) {
	cmsCIExyY d65 = {0.3127, 0.3290, 1.0};
	cmsCIExyYTRIPLE p3 = {{0.680, 0.320, 1.0}, {0.265, 0.690, 1.0}, {0.150, 0.060, 1.0}};
	cmsFloat64Number srgb[5] = {2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045};
	cmsToneCurve *c = cmsBuildParametricToneCurve(NULL, 4, srgb);
	cmsToneCurve *curves[3] = {c, c, c};
	cmsHPROFILE h = cmsCreateRGBProfile(&d65, &p3, curves);
	cmsSetProfileVersion(h, 4.3);
	describe(h, "Veil test Display P3");
	if (!cmsSaveProfileToFile(h, "displayp3-v4.icc")) return 1;
	cmsCloseProfile(h);

	cmsCIExyYTRIPLE srgbPrimaries = {{0.640, 0.330, 1.0}, {0.300, 0.600, 1.0}, {0.150, 0.060, 1.0}};
	cmsToneCurve *g = cmsBuildGamma(NULL, 1 / 0.55556);
	cmsToneCurve *gc[3] = {g, g, g};
	h = cmsCreateRGBProfile(&d65, &srgbPrimaries, gc);
	cmsSetProfileVersion(h, 2.1);
	describe(h, "Veil test gamma 1.8, sRGB primaries");
	if (!cmsSaveProfileToFile(h, "gamma18.icc")) return 1;
	cmsCloseProfile(h);

	cmsHPROFILE in = cmsOpenProfileFromFile("cmyk-v2.icc", "r");
	if (!in) return 1;
	cmsHPROFILE out = cmsCreateProfilePlaceholder(NULL);
	cmsSetProfileVersion(out, 4.3);
	cmsSetDeviceClass(out, cmsGetDeviceClass(in));
	cmsSetColorSpace(out, cmsGetColorSpace(in));
	cmsSetPCS(out, cmsGetPCS(in));
	cmsSetHeaderRenderingIntent(out, cmsGetHeaderRenderingIntent(in));
	describe(out, "Veil test CMYK v4 (from FOGRA39L data)");
	cmsTagSignature copy[] = {cmsSigMediaWhitePointTag, cmsSigAToB0Tag, cmsSigAToB1Tag, cmsSigAToB2Tag,
		cmsSigBToA0Tag, cmsSigBToA1Tag, cmsSigBToA2Tag};
	for (unsigned i = 0; i < sizeof copy / sizeof copy[0]; i++) {
		void *t = cmsReadTag(in, copy[i]);
		if (t && !cmsWriteTag(out, copy[i], t)) return 2;
	}
	if (!cmsSaveProfileToFile(out, "cmyk-v4.icc")) return 3;
	return 0;
}
