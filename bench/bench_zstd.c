/*
 * bench_zstd.c -- does compressing event text pay on the wire? (issue 4: zstd
 * "only if the benchmark shows it pays").
 *
 *   bench_zstd FILE.json... [-n N]
 * For each vector file (its "serialized" event text), compresses the text N
 * times with zstd levels 1 and 3 and prints the size ratio and ns per
 * compress and per decompress. One RESULT line per (file, level). (A
 * dictionary trained on these same few texts would only measure overfitting,
 * so there is none.) The break-even is set against
 * the AEAD seal of the same bytes (the cost we pay per byte anyway) and the
 * raw-UDP floor of ~8-13 us per 1 KiB datagram on this machine.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	fclose(f);
	if (b) {
		b[n] = '\0';
		*len = (size_t)n;
	}
	return b;
}

int main(int argc, char **argv)
{
	int n = 20000, nfiles = 0;
	char *texts[64];
	size_t lens[64];
	const char *names[64];
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			n = atoi(argv[++i]);
			continue;
		}
		size_t len;
		char *raw = slurp(argv[i], &len);
		cJSON *j = raw ? cJSON_Parse(raw) : NULL;
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "serialized");
		if (cJSON_IsString(s) && nfiles < 64) {
			texts[nfiles] = strdup(s->valuestring);
			lens[nfiles] = strlen(s->valuestring);
			names[nfiles++] = argv[i];
		}
		cJSON_Delete(j);
		free(raw);
	}
	if (nfiles == 0) {
		fprintf(stderr, "usage: bench_zstd VECTOR.json... [-n N]\n");
		return 2;
	}
	char out[8192], back[8192];
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	for (int i = 0; i < nfiles; i++) {
		for (int level = 1; level <= 3; level += 2) {
			size_t c = 0;
			double t0 = now_ns();
			for (int k = 0; k < n; k++)
				c = ZSTD_compressCCtx(cc, out, sizeof(out), texts[i], lens[i], level);
			double t1 = now_ns();
			size_t d = 0;
			for (int k = 0; k < n; k++)
				d = ZSTD_decompressDCtx(dc, back, sizeof(back), out, c);
			double t2 = now_ns();
			if (ZSTD_isError(c) || ZSTD_isError(d) || d != lens[i] || memcmp(back, texts[i], d)) {
				fprintf(stderr, "bench_zstd: round trip failed for %s\n", names[i]);
				return 1;
			}
			printf("RESULT file=%s level=%d bytes=%zu compressed=%zu ratio=%.2f compress_ns=%.0f "
			       "decompress_ns=%.0f\n",
			       strrchr(names[i], '/') ? strrchr(names[i], '/') + 1 : names[i], level, lens[i], c, (double)c / (double)lens[i], (t1 - t0) / n,
			       (t2 - t1) / n);
		}
	}
	ZSTD_freeCCtx(cc);
	ZSTD_freeDCtx(dc);
	return 0;
}
