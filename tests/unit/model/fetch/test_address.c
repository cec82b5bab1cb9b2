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

/* The table of address.c's header, one row each: refused by default, and
 * why. */
static void test_table(void **state)
{
	(void)state;
	static const struct {
		const char *ip;
		bool allowed;
	} rows[] = {
		/* IPv6 forms of IPv4 addresses: judged as the IPv4 address. */
		{"::ffff:127.0.0.1", false},      {"::ffff:8.8.8.8", true},          /* IPv4-mapped */
		{"::ffff:0:7f00:1", false},       {"::ffff:0:127.0.0.1", false},     /* SIIT, ::ffff:0:0/96 */
		{"::ffff:0:a9fe:a9fe", false},    {"::ffff:0:808:808", true},
		{"::127.0.0.1", false},           {"::8.8.8.8", true},               /* IPv4-compatible */
		{"::2", false},                   {"::0.0.1.0", false},              /* 0.0.0.2, 0.0.1.0: 0/8 */
		{"64:ff9b::7f00:1", false},       {"64:ff9b::808:808", true},        /* NAT64 */
		{"2002:7f00:1::", false},         {"2002:808:808::1", true},         /* 6to4 */
		{"2002:c000:201::", false},                                         /* 6to4 of 192.0.2.1 */
		/* Refused outright. */
		{"64:ff9b:1::808:808", false},                                      /* NAT64 local use */
		{"2001::1", false},               {"2001:0:4136:e378:8000:63bf:3fff:fdd2", false}, /* Teredo */
		{"2001:2::1", false},             {"2001:2:0:ffff::1", false},       /* benchmarking */
		{"2001:3::1", true},
		{"100::1", false},                {"100::ffff:ffff:ffff:ffff", false}, /* discard-only */
		{"100:0:0:1::1", true},                                             /* beyond its /64 */
		{"2001:db8::1", false},           {"2001:db8:ffff::1", false},       /* documentation */
		{"3fff::1", false},               {"3fff:fff::1", false},
		{"192.0.2.1", false},             {"198.51.100.7", false},           {"203.0.113.255", false},
		{"::", false},                    {"::1", false},
		/* Public neighbours stay public. */
		{"2001:1::1", true},              {"2001:db9::1", true},             {"3fff:1000::1", true},
		{"192.0.3.1", true},              {"198.51.101.1", true},            {"203.0.114.1", true},
		{"2a00:1450:4001::1", true},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (allowed(NULL, 0, rows[i].ip) != rows[i].allowed)
			fail_msg("%s is %s by default", rows[i].ip, rows[i].allowed ? "refused" : "allowed");
}

/* Rules on IPv6 forms of IPv4 addresses are the IPv4 rules they mean. */
static void test_rules_on_v4_forms(void **state)
{
	(void)state;
	static const char *const rewritten[][2] = {
		{"::ffff:127.0.0.1", "127.0.0.1/32"},      {"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:0:7f00:1", "127.0.0.1/32"},       {"::127.0.0.2/127", "127.0.0.2/31"},
		{"64:ff9b::a00:0/104", "10.0.0.0/8"},      {"2002:a00::/24", "10.0.0.0/8"},
		{"2002:7f00:1::/48", "127.0.0.1/32"},      {"::ffff:128.0.0.0/97", "128.0.0.0/1"},
	};
	static const char *const kept[][2] = {
		{"::1", "::1/128"}, {"::/128", "::/128"}, {"::/0", "::/0"}, {"2002::/15", "2002::/15"},
		{"::ffff:0:0/95", "::fffe:0:0/95"}, {"2001:db8::/32", "2001:db8::/32"},
	};
	static const char *const refused[] = {"2002:7f00:1::/64", "2002::/16", "::ffff:0.0.0.0/96", "64:ff9b::/96",
	                                      "::/96"};
	struct fetch_rule r;
	char text[64], note[256];
	for (size_t i = 0; i < sizeof(rewritten) / sizeof(rewritten[0]); i++) {
		if (fetch_rule_parse_note(rewritten[i][0], true, &r, note, sizeof(note)) != 1)
			fail_msg("%s was not rewritten", rewritten[i][0]);
		fetch_rule_format(&r, text, sizeof(text));
		assert_string_equal(text, rewritten[i][1]);
		assert_int_equal(r.family, AF_INET);
		assert_non_null(strstr(note, rewritten[i][1]));
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		if (fetch_rule_parse_note(kept[i][0], true, &r, note, sizeof(note)) != 0)
			fail_msg("%s was rewritten or refused", kept[i][0]);
		fetch_rule_format(&r, text, sizeof(text));
		assert_string_equal(text, kept[i][1]);
		assert_string_equal(note, "");
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (fetch_rule_parse_note(refused[i], true, &r, note, sizeof(note)) != -EINVAL)
			fail_msg("%s was taken", refused[i]);
		assert_non_null(strstr(note, "write "));
	}
	/* The rewritten rule decides for the IPv4 address and its IPv6 forms. */
	assert_int_equal(fetch_rule_parse("::ffff:127.0.0.1", true, &r), 1);
	assert_true(allowed(&r, 1, "127.0.0.1"));
	assert_true(allowed(&r, 1, "::ffff:127.0.0.1"));
	assert_true(allowed(&r, 1, "::ffff:0:7f00:1"));
	assert_false(allowed(&r, 1, "127.0.0.2"));
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
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_rules_on_v4_forms),
		cmocka_unit_test(test_default_policy),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_parse_and_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
