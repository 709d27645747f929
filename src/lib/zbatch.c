/*
 * zbatch.c -- zstd compression of v2 DATA batches (docs/PROTOCOL.md 6.1).
 *
 * Owns one zstd context pair and a scratch buffer per endpoint. Deflate: a
 * batch is sent compressed (flag ZSTD) only when the zstd frame is at most
 * 7/8 of its size. Inflate: the receive step between "open" and "payload
 * check": only for unfragmented DATA, exactly one frame whose declared
 * content size is at most EVC_V2_ZMAX bytes; anything else is rejected
 * (`flags` or `batch`), never decompressed past that bound. Allocation goes
 * through evc__malloc (zstd's custom allocator). Must not: do I/O.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem */
#include "v2.h"
#include <zstd.h>

struct evc__zbatch {
	ZSTD_CCtx *c; /* created on the first deflate */
	ZSTD_DCtx *d; /* created on the first inflate */
	int level;
	uint8_t *buf; /* EVC_V2_ZMAX bytes: compressed (send) or decompressed (receive) */
};

static void *z_alloc(void *opaque, size_t size)
{
	(void)opaque;
	return evc__malloc(size);
}

static void z_free(void *opaque, void *p)
{
	(void)opaque;
	evc__free(p);
}

static const ZSTD_customMem z_mem = {z_alloc, z_free, NULL};

int evc__zbatch_new(int level, evc__zbatch_t **out)
{
	if (level < EVC_V2_ZLEVEL_MIN || level > EVC_V2_ZLEVEL_MAX)
		return EVCAST_EINVAL;
	evc__zbatch_t *z = evc__calloc(1, sizeof(*z));
	if (!z)
		return EVCAST_ENOMEM;
	z->level = level;
	if (!(z->buf = evc__malloc(EVC_V2_ZMAX))) {
		evc__free(z);
		return EVCAST_ENOMEM;
	}
	*out = z;
	return 0;
}

void evc__zbatch_free(evc__zbatch_t *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->c);
	ZSTD_freeDCtx(z->d);
	evc__free(z->buf);
	evc__free(z);
}

size_t evc__zbatch_deflate(evc__zbatch_t *z, const uint8_t *in, size_t len, const uint8_t **out)
{
	if (len < EVC_V2_ZMIN || len > EVC_V2_ZMAX)
		return 0;
	if (!z->c) {
		if (!(z->c = ZSTD_createCCtx_advanced(z_mem)))
			return 0;
		/* the receiver needs the content size to bound its output */
		ZSTD_CCtx_setParameter(z->c, ZSTD_c_compressionLevel, z->level);
		ZSTD_CCtx_setParameter(z->c, ZSTD_c_contentSizeFlag, 1);
		ZSTD_CCtx_setParameter(z->c, ZSTD_c_checksumFlag, 0);
	}
	size_t want = len - len / 8; /* must save at least 1/8 to be worth the receivers' work */
	size_t r = ZSTD_compress2(z->c, z->buf, want, in, len);
	if (ZSTD_isError(r) || r == 0 || r > want)
		return 0; /* includes "did not fit in want": not worth it */
	*out = z->buf;
	return r;
}

int evc__zbatch_inflate(evc__zbatch_t *z, const evc__v2_hdr_t *h, const uint8_t *in, size_t len,
			const uint8_t **out, size_t *outlen)
{
	if (h->type != EVC_V2_DATA || h->frag_count != 1)
		return -EVC_V2_R_FLAGS;
	if (ZSTD_findFrameCompressedSize(in, len) != len)
		return -EVC_V2_R_BATCH; /* not exactly one frame (or not zstd at all) */
	unsigned long long want = ZSTD_getFrameContentSize(in, len);
	if (want == ZSTD_CONTENTSIZE_UNKNOWN || want == ZSTD_CONTENTSIZE_ERROR || want == 0 || want > EVC_V2_ZMAX)
		return -EVC_V2_R_BATCH;
	if (!z->d && !(z->d = ZSTD_createDCtx_advanced(z_mem)))
		return EVCAST_ENOMEM;
	size_t r = ZSTD_decompressDCtx(z->d, z->buf, EVC_V2_ZMAX, in, len);
	if (ZSTD_isError(r) || r != want)
		return -EVC_V2_R_BATCH;
	*out = z->buf;
	*outlen = r;
	return 0;
}
