/*
 * test_alloc.h -- the counting, failing allocator unit tests install with
 * evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free): `live` is
 * the number of blocks not yet freed (0 at the end of every test), and the
 * allocation number `fail_at` (1-based, counted in n_allocs since the test
 * reset it; 0 = never) returns NULL. t_alloc_setup / t_alloc_teardown are
 * the cmocka per-test setup and teardown: the counters reset, and a test that
 * leaves a block unfreed fails. Header-only: include it once per test.
 */
#ifndef EVCAST_TEST_ALLOC_H
#define EVCAST_TEST_ALLOC_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static long live;         /* allocations not yet freed */
static long fail_at;      /* the allocation (1-based) that fails; 0 = none */
static long n_allocs;     /* allocations since the last reset */
static long total_allocs; /* allocations since the start */

static bool fail_now(void)
{
	total_allocs++;
	return fail_at && ++n_allocs == fail_at;
}
static void *t_malloc(size_t n)
{
	void *p = fail_now() ? NULL : malloc(n);
	live += p != NULL;
	return p;
}
static void *t_calloc(size_t c, size_t n)
{
	void *p = fail_now() ? NULL : calloc(c, n);
	live += p != NULL;
	return p;
}
static void *t_realloc(void *o, size_t n)
{
	void *p = fail_now() ? NULL : realloc(o, n);
	live += p && !o;
	return p;
}
static void t_free(void *p)
{
	live -= p != NULL;
	free(p);
}

static int t_alloc_setup(void **state)
{
	(void)state;
	live = 0;
	fail_at = 0;
	n_allocs = 0;
	return 0;
}

static int t_alloc_teardown(void **state)
{
	(void)state;
	fail_at = 0;
	if (live != 0) {
		fprintf(stderr, "leak: %ld allocation(s) not freed\n", live);
		return -1;
	}
	return 0;
}

#endif
