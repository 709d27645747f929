/*
 * test_acl.c -- unit tests of the event socket's CIDR access lists
 * (src/daemon/acl.c, included here: the daemon's files are not in the library).
 *
 * Covers: host and prefix items, IPv4 and IPv6, host bits masked, every
 * prefix length at its boundary, loopback.auto, IPv4-mapped IPv6 clients,
 * comma lists with blanks, an empty list allowing everyone, and rejected
 * input (bad addresses, prefixes, empty items, too many items) that leaves the
 * list unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "../../src/daemon/acl.c"

static struct sockaddr_storage sa4(const char *ip)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	((struct sockaddr_in *)&ss)->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage sa6(const char *ip)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
	return ss;
}

static bool allows4(const evcd_acl_t *acl, const char *ip)
{
	struct sockaddr_storage ss = sa4(ip);
	return evcd_acl_allows(acl, (struct sockaddr *)&ss);
}

static bool allows6(const evcd_acl_t *acl, const char *ip)
{
	struct sockaddr_storage ss = sa6(ip);
	return evcd_acl_allows(acl, (struct sockaddr *)&ss);
}

static void test_parse_items(void **state)
{
	evcd_cidr_t c;
	char buf[64], why[160];
	assert_int_equal(evcd_cidr_parse("10.1.2.3/8", &c, why, sizeof(why)), 0);
	assert_int_equal(c.family, AF_INET);
	assert_string_equal(evcd_cidr_format(&c, buf, sizeof(buf)), "10.0.0.0/8"); /* host bits cleared */
	assert_int_equal(evcd_cidr_parse("192.0.2.7", &c, why, sizeof(why)), 0);
	assert_string_equal(evcd_cidr_format(&c, buf, sizeof(buf)), "192.0.2.7/32");
	assert_int_equal(evcd_cidr_parse("2001:db8:abcd::1/36", &c, why, sizeof(why)), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_string_equal(evcd_cidr_format(&c, buf, sizeof(buf)), "2001:db8:a000::/36");
	assert_int_equal(evcd_cidr_parse("::1", &c, why, sizeof(why)), 0);
	assert_string_equal(evcd_cidr_format(&c, buf, sizeof(buf)), "::1/128");
	assert_int_equal(evcd_cidr_parse("0.0.0.0/0", &c, why, sizeof(why)), 0);
	assert_int_equal(c.prefix, 0);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{"", "empty item"},
		{"10.0.0.0/33", "prefix length 33 is over 32"},
		{"::/129", "prefix length 129 is over 128"},
		{"10.0.0.0/", "prefix length \"\" is not a number"},
		{"10.0.0.0/8x", "prefix length \"8x\" is not a number"},
		{"10.0.0.0/-1", "prefix length \"-1\" is not a number"},
		{"10.0.0.0/0008", "prefix length \"0008\" is not a number"},
		{"10.0.0.256", "\"10.0.0.256\" is not an IPv4 or IPv6 address"},
		{"host.example", "\"host.example\" is not an IPv4 or IPv6 address"},
		{"/8", "\"/8\" is not an IPv4 or IPv6 address"},
		{"1:2:3:4:5:6:7:8:9", "\"1:2:3:4:5:6:7:8:9\" is not an IPv4 or IPv6 address"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		evcd_cidr_t c;
		char why[160] = "";
		assert_int_equal(evcd_cidr_parse(bad[i].text, &c, why, sizeof(why)), EVCAST_EINVAL);
		assert_string_equal(why, bad[i].why);
		assert_int_equal(evcd_cidr_parse(bad[i].text, &c, NULL, 0), EVCAST_EINVAL); /* why may be NULL */
	}
}

static void test_match_ipv4(void **state)
{
	evcd_acl_t acl = {0};
	char why[160];
	assert_true(allows4(&acl, "203.0.113.9")); /* empty list: everyone */
	assert_int_equal(evcd_acl_add(&acl, " 10.0.0.0/8 ,192.168.1.0/25,\t198.51.100.7", why, sizeof(why)), 0);
	assert_int_equal(acl.n, 3);
	assert_true(allows4(&acl, "10.255.255.255"));
	assert_true(allows4(&acl, "10.0.0.0"));
	assert_false(allows4(&acl, "11.0.0.0"));
	assert_false(allows4(&acl, "9.255.255.255"));
	assert_true(allows4(&acl, "192.168.1.127"));
	assert_false(allows4(&acl, "192.168.1.128")); /* /25 boundary */
	assert_true(allows4(&acl, "198.51.100.7"));
	assert_false(allows4(&acl, "198.51.100.8"));
	assert_false(allows6(&acl, "::1")); /* IPv6 client, IPv4-only list */
	/* a dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d */
	assert_true(allows6(&acl, "::ffff:10.1.2.3"));
	assert_false(allows6(&acl, "::ffff:11.1.2.3"));
	evcd_acl_clear(&acl);
	assert_int_equal(acl.n, 0);
}

static void test_match_ipv6_and_loopback(void **state)
{
	evcd_acl_t acl = {0};
	assert_int_equal(evcd_acl_add(&acl, "2001:db8::/32", NULL, 0), 0);
	assert_int_equal(evcd_acl_add(&acl, "loopback.auto", NULL, 0), 0); /* a second param appends */
	assert_int_equal(acl.n, 3);
	assert_true(allows6(&acl, "2001:db8:ffff::1"));
	assert_false(allows6(&acl, "2001:db9::1"));
	assert_true(allows6(&acl, "::1"));
	assert_false(allows6(&acl, "::2"));
	assert_true(allows4(&acl, "127.0.0.1"));
	assert_true(allows4(&acl, "127.200.0.1"));
	assert_false(allows4(&acl, "128.0.0.1"));
	assert_true(allows6(&acl, "::ffff:127.0.0.1"));
	evcd_acl_clear(&acl);
}

/* Every prefix length: the network's first and last address match, the ones
 * just outside do not. */
static void test_every_prefix(void **state)
{
	for (unsigned p = 1; p <= 32; p++) {
		evcd_acl_t acl = {0};
		char item[32], ip[INET_ADDRSTRLEN];
		uint32_t net = 0x0a800000u & (p == 32 ? 0xffffffffu : ~(0xffffffffu >> p));
		uint32_t size = p == 32 ? 1u : (1u << (32 - p)), probe;
		struct in_addr a;
		a.s_addr = htonl(net);
		snprintf(item, sizeof(item), "%s/%u", inet_ntoa(a), p);
		assert_int_equal(evcd_acl_add(&acl, item, NULL, 0), 0);
		uint32_t probes[4] = {net, net + size - 1, net - 1, net + size};
		for (int k = 0; k < 4; k++) {
			probe = probes[k];
			a.s_addr = htonl(probe);
			snprintf(ip, sizeof(ip), "%s", inet_ntoa(a));
			if (k < 2)
				assert_true(allows4(&acl, ip));
			else
				assert_false(allows4(&acl, ip));
		}
		evcd_acl_clear(&acl);
	}
}

static void test_list_errors_leave_list_unchanged(void **state)
{
	evcd_acl_t acl = {0};
	char why[160], big[EVCD_ACL_MAX * 12 + 32];
	size_t n = 0;
	assert_int_equal(evcd_acl_add(&acl, "10.0.0.0/8", why, sizeof(why)), 0);
	assert_int_equal(evcd_acl_add(&acl, "192.0.2.0/24, nonsense", why, sizeof(why)), EVCAST_EINVAL);
	assert_string_equal(why, "\"nonsense\" is not an IPv4 or IPv6 address");
	assert_int_equal(evcd_acl_add(&acl, "192.0.2.0/24,,10.0.0.1", why, sizeof(why)), EVCAST_EINVAL);
	assert_string_equal(why, "empty item in the list");
	assert_int_equal(evcd_acl_add(&acl, "", why, sizeof(why)), EVCAST_EINVAL);
	assert_int_equal(acl.n, 1);
	assert_false(allows4(&acl, "192.0.2.1"));
	for (unsigned i = 0; i <= EVCD_ACL_MAX; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s10.%u.%u.0", i ? "," : "", i / 256, i % 256);
	assert_int_equal(evcd_acl_add(&acl, big, why, sizeof(why)), EVCAST_E2BIG);
	assert_int_equal(acl.n, 1);
	evcd_acl_clear(&acl);
	evcd_acl_clear(&acl); /* idempotent */
}

static void test_other_families(void **state)
{
	evcd_acl_t acl = {0};
	struct sockaddr sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	assert_int_equal(evcd_acl_add(&acl, "0.0.0.0/0,::/0", NULL, 0), 0);
	assert_false(evcd_acl_allows(&acl, &sa));
	assert_false(evcd_cidr_contains(&acl.items[0], NULL));
	assert_true(allows4(&acl, "203.0.113.1"));
	assert_true(allows6(&acl, "2001:db8::1"));
	evcd_acl_clear(&acl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_items),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_match_ipv4),
		cmocka_unit_test(test_match_ipv6_and_loopback),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_list_errors_leave_list_unchanged),
		cmocka_unit_test(test_other_families),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
