/*
 * alloc.c -- the one replaceable allocator every module allocates through.
 *
 * Owns the four function pointers (set once, before any other call, like
 * uv_replace_allocator) and the string helpers built on them. Nothing else.
 */
#include "internal.h"
#include <stdlib.h>
#include <string.h>

static struct {
	void *(*malloc_fn)(size_t);
	void *(*realloc_fn)(void *, size_t);
	void *(*calloc_fn)(size_t, size_t);
	void (*free_fn)(void *);
} allocator = {malloc, realloc, calloc, free};

int evcast_replace_allocator(void *(*malloc_fn)(size_t), void *(*realloc_fn)(void *, size_t),
			     void *(*calloc_fn)(size_t, size_t), void (*free_fn)(void *))
{
	if (!malloc_fn || !realloc_fn || !calloc_fn || !free_fn)
		return EVCAST_EINVAL;
	allocator.malloc_fn = malloc_fn;
	allocator.realloc_fn = realloc_fn;
	allocator.calloc_fn = calloc_fn;
	allocator.free_fn = free_fn;
	return 0;
}

void *evc__malloc(size_t n) { return allocator.malloc_fn(n ? n : 1); }
void *evc__calloc(size_t count, size_t n) { return allocator.calloc_fn(count ? count : 1, n ? n : 1); }
void *evc__realloc(void *p, size_t n) { return allocator.realloc_fn(p, n ? n : 1); }

void evc__free(void *p)
{
	if (p)
		allocator.free_fn(p);
}

void evcast_free(void *p) { evc__free(p); }

char *evc__strndup(const char *s, size_t n)
{
	char *d = evc__malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *evc__strdup(const char *s) { return s ? evc__strndup(s, strlen(s)) : NULL; }
