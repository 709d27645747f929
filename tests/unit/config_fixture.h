/*
 * config_fixture.h -- what test_config.c and test_config_files.c share: the
 * counting allocator (test_alloc.h), log capture, and the parse helpers
 * (parse as "t.xml"). Included once per test program, before its tests.
 */
#ifndef EVCAST_TEST_CONFIG_FIXTURE_H
#define EVCAST_TEST_CONFIG_FIXTURE_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "internal.h"
#include <arpa/inet.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------ allocator and log capture */

#include "test_alloc.h"

typedef struct logcap {
	int n;
	int level[16];
	char msg[16][512];
} logcap_t;

static void capture(void *ud, int level, const char *msg)
{
	logcap_t *lc = ud;
	if (lc->n < 16) {
		lc->level[lc->n] = level;
		snprintf(lc->msg[lc->n], sizeof(lc->msg[0]), "%s", msg);
		lc->n++;
	}
}

/* ------------------------------------------------------------------ helpers */

static char err[1024];

/* Parses text as file "t.xml"; returns the code, config in *out. */
static int parse(const char *xml, logcap_t *lc, evcast_config_t **out)
{
	return evcast_config_parse(xml, strlen(xml), "t.xml", lc ? capture : NULL, lc, out, err, sizeof(err));
}

#endif
