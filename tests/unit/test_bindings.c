/*
 * test_bindings.c -- unit tests of bindings.c: which events are selected.
 *
 * Covers event names (any case), ALL, CUSTOM with subclasses (exact match),
 * CUSTOM alone, the legacy "CUSTOM a CUSTOM b" form, words after CUSTOM,
 * add/remove for subscribers (nixevent semantics), limits, invalid input,
 * out-of-memory and that matching never allocates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_alloc.h"

static evcast_bindings_t *make(const char *text)
{
	evcast_bindings_t *b = NULL;
	int rc = evcast_bindings_new(text, &b);
	if (rc)
		fail_msg("\"%s\": %s", text ? text : "(null)", evcast_strerror(rc));
	return b;
}

/* Does b select an event named name (subclass may be NULL)? */
static bool sel(const evcast_bindings_t *b, const char *name, const char *subclass)
{
	evcast_event_t *ev = name ? evcast_event_new_named(name, subclass) : evcast_event_new();
	assert_non_null(ev);
	bool r = evcast_bindings_match(b, ev);
	evcast_event_free(ev);
	/* the same verdict without an event (a gateway's Orig- headers) */
	assert_int_equal(evcast_bindings_match_name(b, name, subclass), r);
	return r;
}

static void test_names(void **state)
{
	evcast_bindings_t *b = make("HEARTBEAT  presence_in\tRE_SCHEDULE");
	(void)state;
	assert_false(evcast_bindings_empty(b));
	assert_true(sel(b, "HEARTBEAT", NULL));
	assert_true(sel(b, "heartbeat", NULL)); /* any case */
	assert_true(sel(b, "PRESENCE_IN", NULL));
	assert_true(sel(b, "Re_Schedule", NULL));
	assert_false(sel(b, "PRESENCE_OUT", NULL));
	assert_false(sel(b, "HEARTBEATS", NULL));
	assert_false(sel(b, "HEART", NULL));
	assert_false(sel(b, "CUSTOM", "sofia::register"));
	assert_false(sel(b, NULL, NULL)); /* no Event-Name */
	/* unknown names are allowed: FreeSWITCH has many */
	evcast_bindings_free(b);
	b = make("MY_OWN_EVENT");
	assert_true(sel(b, "my_own_event", NULL));
	evcast_bindings_free(b);
}

static void test_all(void **state)
{
	evcast_bindings_t *b = make("all");
	(void)state;
	assert_true(sel(b, "HEARTBEAT", NULL));
	assert_true(sel(b, "CUSTOM", "anything::at_all"));
	assert_true(sel(b, "CUSTOM", NULL));
	assert_true(sel(b, NULL, NULL));
	evcast_bindings_free(b);
	b = make("HEARTBEAT CUSTOM a::b ALL"); /* ALL after the subclasses still means everything */
	assert_true(sel(b, "CHANNEL_CREATE", NULL));
	assert_true(sel(b, "CUSTOM", "x::y"));
	evcast_bindings_free(b);
}

static void test_custom_subclasses(void **state)
{
	evcast_bindings_t *b = make("PRESENCE_IN CUSTOM sofia::register sofia::expire");
	(void)state;
	assert_true(sel(b, "PRESENCE_IN", NULL));
	assert_true(sel(b, "CUSTOM", "sofia::register"));
	assert_true(sel(b, "custom", "sofia::expire"));
	assert_false(sel(b, "CUSTOM", "sofia::unregister"));
	assert_false(sel(b, "CUSTOM", "SOFIA::REGISTER")); /* subclasses are exact */
	assert_false(sel(b, "CUSTOM", "sofia::register2"));
	assert_false(sel(b, "CUSTOM", "sofia::"));
	assert_true(sel(b, "CUSTOM", NULL)); /* as FreeSWITCH: no subclass, CUSTOM bound */
	assert_false(sel(b, "HEARTBEAT", NULL));
	/* a subclass binding does not select a non-CUSTOM event with that subclass */
	assert_false(sel(b, "PRESENCE_OUT", "sofia::register"));
	evcast_bindings_free(b);

	/* the legacy wiki's form: CUSTOM repeated */
	b = make("PRESENCE_IN CUSTOM sofia::register CUSTOM multicast::event");
	assert_true(sel(b, "CUSTOM", "sofia::register"));
	assert_true(sel(b, "CUSTOM", "multicast::event"));
	assert_false(sel(b, "CUSTOM", "CUSTOM"));
	evcast_bindings_free(b);

	/* after CUSTOM every word is a subclass, even one that looks like a name */
	b = make("CUSTOM sofia::register HEARTBEAT custom all");
	assert_false(sel(b, "HEARTBEAT", NULL));
	assert_true(sel(b, "CUSTOM", "HEARTBEAT"));
	assert_true(sel(b, "CUSTOM", "custom"));
	assert_true(sel(b, "CUSTOM", "all"));
	assert_false(sel(b, "CHANNEL_CREATE", NULL)); /* lowercase "all" is a subclass here */
	evcast_bindings_free(b);
}

static void test_custom_alone(void **state)
{
	evcast_bindings_t *b = make("HEARTBEAT CUSTOM");
	(void)state;
	assert_true(sel(b, "CUSTOM", "sofia::register"));
	assert_true(sel(b, "CUSTOM", "whatever"));
	assert_true(sel(b, "CUSTOM", NULL));
	assert_true(sel(b, "HEARTBEAT", NULL));
	assert_false(sel(b, "PRESENCE_IN", NULL));
	evcast_bindings_free(b);
}

static void test_empty_and_invalid(void **state)
{
	evcast_bindings_t *b = NULL;
	char word[300];
	(void)state;
	b = make("");
	assert_true(evcast_bindings_empty(b));
	assert_false(sel(b, "HEARTBEAT", NULL));
	evcast_bindings_free(b);
	b = make(NULL);
	assert_true(evcast_bindings_empty(b));
	evcast_bindings_free(b);
	b = make("  \t\n ");
	assert_true(evcast_bindings_empty(b));
	evcast_bindings_free(b);
	assert_true(evcast_bindings_empty(NULL));
	assert_false(evcast_bindings_match(NULL, NULL));
	evcast_bindings_free(NULL);

	assert_int_equal(evcast_bindings_new("HEART\001BEAT", &b), EVCAST_EINVAL);
	assert_null(b);
	assert_int_equal(evcast_bindings_new("CUSTOM a\177b", &b), EVCAST_EINVAL);
	assert_int_equal(evcast_bindings_new("x", NULL), EVCAST_EINVAL);
	memset(word, 'A', 256);
	word[256] = '\0';
	assert_int_equal(evcast_bindings_new(word, &b), EVCAST_EINVAL); /* 256 bytes: too long */
	word[255] = '\0';
	b = make(word); /* 255: fine */
	evcast_bindings_free(b);
	/* more than 1024 names */
	char *many = malloc(1100 * 8);
	size_t o = 0;
	for (int i = 0; i < 1025; i++)
		o += (size_t)sprintf(many + o, "E%d ", i);
	assert_int_equal(evcast_bindings_new(many, &b), EVCAST_EINVAL);
	free(many);
	/* repeated names count once */
	b = make("HEARTBEAT HEARTBEAT heartbeat");
	assert_int_equal(evcast_bindings_remove(b, "HEARTBEAT", NULL), 0);
	assert_true(evcast_bindings_empty(b));
	evcast_bindings_free(b);
}

static void test_add_remove(void **state)
{
	evcast_bindings_t *b = make("");
	(void)state;
	assert_int_equal(evcast_bindings_add(b, "heartbeat", NULL), 0);
	assert_int_equal(evcast_bindings_add(b, "HEARTBEAT", NULL), 0); /* again: fine */
	assert_true(sel(b, "HEARTBEAT", NULL));
	assert_int_equal(evcast_bindings_add(b, "CUSTOM", "sofia::register"), 0);
	assert_true(sel(b, "CUSTOM", "sofia::register"));
	assert_false(sel(b, "CUSTOM", "sofia::expire"));
	assert_int_equal(evcast_bindings_remove(b, "HeartBeat", NULL), 0);
	assert_false(sel(b, "HEARTBEAT", NULL));
	assert_int_equal(evcast_bindings_remove(b, "HEARTBEAT", NULL), EVCAST_ENOENT);
	assert_int_equal(evcast_bindings_remove(b, "CUSTOM", "sofia::expire"), EVCAST_ENOENT);
	assert_int_equal(evcast_bindings_remove(b, "CUSTOM", "sofia::register"), 0);
	assert_false(sel(b, "CUSTOM", "sofia::register"));
	assert_true(evcast_bindings_empty(b));

	/* CUSTOM alone: every CUSTOM event; removing CUSTOM stops them all */
	assert_int_equal(evcast_bindings_add(b, "CUSTOM", NULL), 0);
	assert_int_equal(evcast_bindings_add(b, "CUSTOM", "a::b"), 0);
	assert_true(sel(b, "CUSTOM", "x::y"));
	assert_int_equal(evcast_bindings_remove(b, "CUSTOM", NULL), 0);
	assert_false(sel(b, "CUSTOM", "a::b"));
	assert_int_equal(evcast_bindings_remove(b, "CUSTOM", ""), EVCAST_ENOENT);
	assert_true(evcast_bindings_empty(b));

	/* ALL, then nixevent of one name: everything but that name */
	assert_int_equal(evcast_bindings_add(b, "ALL", NULL), 0);
	assert_int_equal(evcast_bindings_remove(b, "HEARTBEAT", NULL), 0);
	assert_false(sel(b, "HEARTBEAT", NULL));
	assert_true(sel(b, "PRESENCE_IN", NULL));
	assert_true(sel(b, "CUSTOM", "a::b"));
	assert_int_equal(evcast_bindings_remove(b, "heartbeat", NULL), EVCAST_ENOENT); /* already excepted */
	assert_int_equal(evcast_bindings_add(b, "HEARTBEAT", NULL), 0);
	assert_true(sel(b, "HEARTBEAT", NULL));
	/* ALL minus CUSTOM, then one subclass back */
	assert_int_equal(evcast_bindings_remove(b, "CUSTOM", NULL), 0);
	assert_false(sel(b, "CUSTOM", "a::b"));
	assert_true(sel(b, "HEARTBEAT", NULL));
	assert_int_equal(evcast_bindings_add(b, "CUSTOM", "a::b"), 0);
	assert_true(sel(b, "CUSTOM", "a::b"));
	assert_false(sel(b, "CUSTOM", "c::d"));
	/* nixevent ALL clears everything */
	assert_int_equal(evcast_bindings_remove(b, "ALL", NULL), 0);
	assert_true(evcast_bindings_empty(b));
	assert_false(sel(b, "CUSTOM", "a::b"));
	assert_false(sel(b, "HEARTBEAT", NULL));
	assert_int_equal(evcast_bindings_remove(b, "ALL", NULL), EVCAST_ENOENT);
	/* add ALL again clears the exceptions */
	assert_int_equal(evcast_bindings_add(b, "ALL", NULL), 0);
	assert_int_equal(evcast_bindings_remove(b, "HEARTBEAT", NULL), 0);
	assert_int_equal(evcast_bindings_add(b, "all", NULL), 0);
	assert_true(sel(b, "HEARTBEAT", NULL));

	/* bad arguments */
	assert_int_equal(evcast_bindings_add(b, NULL, NULL), EVCAST_EINVAL);
	assert_int_equal(evcast_bindings_add(b, "", NULL), EVCAST_EINVAL);
	assert_int_equal(evcast_bindings_add(b, "TWO WORDS", NULL), EVCAST_EINVAL);
	assert_int_equal(evcast_bindings_add(b, "CUSTOM", "sub class"), EVCAST_EINVAL);
	assert_int_equal(evcast_bindings_add(NULL, "HEARTBEAT", NULL), EVCAST_EINVAL);
	assert_int_equal(evcast_bindings_remove(b, "", NULL), EVCAST_EINVAL);
	assert_int_equal(evcast_bindings_remove(NULL, "ALL", NULL), EVCAST_EINVAL);
	evcast_bindings_free(b);
}

static void test_limit(void **state)
{
	evcast_bindings_t *b = make("");
	char name[32];
	(void)state;
	for (int i = 0; i < 1024; i++) {
		snprintf(name, sizeof(name), "E%d", i);
		assert_int_equal(evcast_bindings_add(b, name, NULL), 0);
	}
	assert_int_equal(evcast_bindings_add(b, "ONE_MORE", NULL), EVCAST_E2BIG);
	assert_int_equal(evcast_bindings_add(b, "E5", NULL), 0); /* present: no growth needed */
	assert_true(sel(b, "E1023", NULL));
	assert_false(sel(b, "ONE_MORE", NULL));
	evcast_bindings_free(b);
}

/* Matching never allocates; parsing fails cleanly at every allocation. */
static void test_allocation(void **state)
{
	const char *text = "HEARTBEAT PRESENCE_IN CUSTOM sofia::register sofia::expire multicast::event";
	evcast_bindings_t *b = make(text);
	evcast_event_t *ev = evcast_event_new_named("CUSTOM", "multicast::event");
	(void)state;
	long before = total_allocs;
	for (int i = 0; i < 1000; i++)
		assert_true(evcast_bindings_match(b, ev));
	assert_int_equal(total_allocs, before);
	evcast_event_free(ev);
	evcast_bindings_free(b);
	long n;
	for (n = 1;; n++) {
		n_allocs = 0;
		fail_at = n;
		b = NULL;
		int rc = evcast_bindings_new(text, &b);
		fail_at = 0;
		if (rc == 0)
			break;
		assert_int_equal(rc, EVCAST_ENOMEM);
		assert_null(b);
		assert_int_equal(live, 0);
	}
	assert_true(n > 5);
	evcast_bindings_free(b);
}

int main(void)
{
	evcast_replace_allocator(t_malloc, t_realloc, t_calloc, t_free);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_names, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_all, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_custom_subclasses, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_custom_alone, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_invalid, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_add_remove, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_limit, t_alloc_setup, t_alloc_teardown),
		cmocka_unit_test_setup_teardown(test_allocation, t_alloc_setup, t_alloc_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
