/*
 * test_uuid.c -- unit tests of evc__uuid4 (src/lib/uuid.c).
 *
 * Covers: the text form (36 characters, dashes at 8/13/18/23, lowercase
 * hex, version 4, RFC 4122 variant); 200 000 in a row all distinct; another
 * thread's stream differs; a forked child's first UUIDs differ from what the
 * parent draws next (the child draws its own key).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

static void check_form(const char *u)
{
	assert_int_equal(strlen(u), 36);
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(u[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", u[i]));
	}
	assert_int_equal(u[14], '4');
	assert_non_null(strchr("89ab", u[19]));
}

static int cmp(const void *a, const void *b)
{
	return memcmp(a, b, 37);
}

static void test_form_and_uniqueness(void **state)
{
	enum { N = 200000 };
	char(*all)[37] = malloc(N * sizeof(*all));
	(void)state;
	assert_non_null(all);
	for (size_t i = 0; i < N; i++) {
		evc__uuid4(all[i]);
		if (i < 1000)
			check_form(all[i]);
	}
	qsort(all, N, sizeof(*all), cmp);
	for (size_t i = 1; i < N; i++)
		assert_int_not_equal(memcmp(all[i - 1], all[i], 37), 0);
	free(all);
}

static void *other_thread(void *arg)
{
	evc__uuid4(arg);
	return NULL;
}

static void test_threads_and_fork(void **state)
{
	char mine[37], theirs[37], child[37], next[37];
	int fds[2], st;
	pthread_t t;
	(void)state;
	evc__uuid4(mine);
	assert_int_equal(pthread_create(&t, NULL, other_thread, theirs), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	check_form(theirs);
	assert_int_not_equal(strcmp(mine, theirs), 0);
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char u[37];
		evc__uuid4(u);
		_exit(write(fds[1], u, sizeof(u)) == (ssize_t)sizeof(u) ? 0 : 1);
	}
	assert_int_equal(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	evc__uuid4(next); /* what the parent's stream gives next: the child must not have had it */
	check_form(child);
	assert_int_not_equal(strcmp(child, next), 0);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form_and_uniqueness),
		cmocka_unit_test(test_threads_and_fork),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
