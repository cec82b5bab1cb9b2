/*
 * test_address.c — mirrors model/fetch/address.c: which addresses an
 * import may connect to (SPEC §5.2).  Judged on socket addresses built
 * here: nothing connects anywhere.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "fetch.h"

static bool allowed(const struct fetch_rule *rules, size_t n, const char *ip)
{
	struct sockaddr_storage ss = {0};
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
	}
	return fetch_address_allowed(rules, n, (const struct sockaddr *)&ss);
}

static void test_default_policy(void **state)
{
	(void)state;
	static const char *const refused[] = {
		"127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", /* the cloud metadata service */
		"100.64.0.1", "100.127.255.255", "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1",
		"::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", /* IPv4 written as IPv6 */
		"::127.0.0.1", "64:ff9b::a9fe:a9fe",
		"2002:a9fe:a9fe::1", "2002:7f00:1::", "2002:c0a8:101:1::5", /* 6to4 around a refused IPv4 address */
		"64:ff9b:1::a00:1", "64:ff9b:1:ffff::1", /* NAT64 for a site's own IPv4 */
	};
	static const char *const public_[] = {
		"8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.0", "100.63.255.255", "100.128.0.0", "11.0.0.1",
		"2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (allowed(NULL, 0, refused[i]))
			fail_msg("%s is allowed by default", refused[i]);
	for (size_t i = 0; i < sizeof(public_) / sizeof(public_[0]); i++)
		if (!allowed(NULL, 0, public_[i]))
			fail_msg("%s is refused by default", public_[i]);
}

static void test_rules(void **state)
{
	(void)state;
	struct fetch_rule r[4];
	assert_int_equal(fetch_rule_parse("10.0.0.0/8", true, &r[0]), 0);
	assert_int_equal(fetch_rule_parse("10.9.0.0/16", false, &r[1]), 0);
	assert_int_equal(fetch_rule_parse("8.8.8.8", false, &r[2]), 0);
	assert_int_equal(fetch_rule_parse("fd00::/8", true, &r[3]), 0);
	assert_true(allowed(r, 4, "10.1.2.3"));    /* allowed by the /8 */
	assert_false(allowed(r, 4, "10.9.1.1"));   /* the more specific deny wins */
	assert_false(allowed(r, 4, "8.8.8.8"));    /* a public address denied */
	assert_true(allowed(r, 4, "8.8.4.4"));     /* no rule: public */
	assert_true(allowed(r, 4, "fd00::5"));
	assert_false(allowed(r, 4, "fc00::5"));    /* outside the rule: default */
	assert_true(allowed(r, 4, "::ffff:10.1.2.3")); /* judged as its IPv4 address */
	assert_false(allowed(r, 4, "192.168.0.1"));
	/* Equal prefixes: deny wins. */
	struct fetch_rule tie[2];
	assert_int_equal(fetch_rule_parse("127.0.0.1", true, &tie[0]), 0);
	assert_int_equal(fetch_rule_parse("127.0.0.1/32", false, &tie[1]), 0);
	assert_false(allowed(tie, 2, "127.0.0.1"));
}

static void test_parse_and_format(void **state)
{
	(void)state;
	struct fetch_rule r;
	char text[64];
	static const char *const cases[][2] = {
		{"10.1.2.3/8", "10.0.0.0/8"}, {"127.0.0.1", "127.0.0.1/32"}, {"0.0.0.0/0", "0.0.0.0/0"},
		{"fd12::1/8", "fd00::/8"},     {"::1", "::1/128"},           {"172.20.0.0/12", "172.16.0.0/12"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(fetch_rule_parse(cases[i][0], true, &r), 0);
		fetch_rule_format(&r, text, sizeof(text));
		assert_string_equal(text, cases[i][1]);
	}
	static const char *const bad[] = {"", "/8", "localhost", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1",
	                                  "10.0.0.0/+8", "10.0.0.0/8x", "1.2.3", "10.0.0.0/ 8", "1.2.3.4.5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (fetch_rule_parse(bad[i], true, &r) != -EINVAL)
			fail_msg("\"%s\" parsed as a rule", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_policy),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_parse_and_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
