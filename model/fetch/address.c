/*
 * address.c — where an import may connect (SPEC §5.2).
 *
 * The daemon fetches on an account's behalf, from inside the service's
 * network: without a check any account could make it read a cloud
 * metadata service (169.254.169.254), a database on loopback or a host on
 * the private network, and tell open ports from closed ones by the
 * reasons it gets back.  So every address an import connects to — each
 * one a name resolves to, at every redirect hop, FTP's data connections
 * too — is judged here, from fetch.c's socket-open callback, before any
 * packet leaves:
 *
 *   1. the admin's rules (`imgfs admin import allow|deny CIDR`): the most
 *      specific rule that contains the address decides; on a tie, deny;
 *   2. with no rule containing it, public unicast addresses are allowed and
 *      these are not: unspecified, loopback, private (RFC 1918, fc00::/7),
 *      link-local (169.254/16, fe80::/10), CGNAT (100.64/10), multicast,
 *      the reserved 240/4 and broadcast, NAT64's local-use 64:ff9b:1::/48
 *      (whose IPv4 address may sit anywhere in it), and an IPv4 address
 *      written as IPv6 (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::a.b.c.d, and
 *      6to4's 2002:AABB:CCDD::, which a site's relay would unwrap to
 *      a.b.c.d) is judged as the IPv4 address it is.
 *
 * Pure functions of their arguments: the unit tests call them directly,
 * never by connecting anywhere.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"

static void clear_host_bits(uint8_t *a, int bytes, int prefix)
{
	for (int i = 0; i < bytes; i++) {
		int keep = prefix - 8 * i;
		if (keep >= 8)
			continue;
		a[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
	}
}

int fetch_rule_parse(const char *cidr, bool allow, struct fetch_rule *r)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(cidr, '/');
	size_t n = slash ? (size_t)(slash - cidr) : strlen(cidr);
	memset(r, 0, sizeof(*r));
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, cidr, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, r->addr) == 1)
		r->family = AF_INET;
	else if (inet_pton(AF_INET6, host, r->addr) == 1)
		r->family = AF_INET6;
	else
		return -EINVAL;
	int max = r->family == AF_INET ? 32 : 128;
	r->prefix = max;
	if (slash) {
		char *end;
		long p;
		if (!slash[1] || slash[1] == '-' || slash[1] == '+' || slash[1] == ' ')
			return -EINVAL;
		p = strtol(slash + 1, &end, 10);
		if (*end || p < 0 || p > max)
			return -EINVAL;
		r->prefix = (int)p;
	}
	clear_host_bits(r->addr, max / 8, r->prefix);
	r->allow = allow;
	return 0;
}

void fetch_rule_format(const struct fetch_rule *r, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	if (!inet_ntop(r->family, r->addr, host, sizeof(host)))
		snprintf(host, sizeof(host), "?");
	snprintf(out, cap, "%s/%d", host, r->prefix);
}

static bool in_prefix(const uint8_t *a, const uint8_t *net, int prefix)
{
	int whole = prefix / 8, rest = prefix % 8;
	if (memcmp(a, net, (size_t)whole) != 0)
		return false;
	return rest == 0 || ((a[whole] ^ net[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* The address of sa as (family, 4 or 16 bytes); an IPv4 address in one of
 * IPv6's IPv4 forms becomes that IPv4 address.  false for other families. */
static bool address_of(const struct sockaddr *sa, int *family, uint8_t a[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t compat[12] = {0};
	static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	if (sa->sa_family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = AF_INET;
		return true;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	*family = AF_INET6;
	/* ::a.b.c.d, except :: and ::1 themselves (judged as IPv6 below). */
	bool compat4 = memcmp(a, compat, 12) == 0 && (a[12] | a[13] | a[14]) != 0;
	if (memcmp(a, mapped, 12) == 0 || compat4 || memcmp(a, nat64, 12) == 0) {
		memmove(a, a + 12, 4);
		*family = AF_INET;
	} else if (a[0] == 0x20 && a[1] == 0x02) { /* 6to4: 2002:a.b.c.d::/48 */
		memmove(a, a + 2, 4);
		*family = AF_INET;
	}
	return true;
}

struct range {
	int family;
	uint8_t net[16];
	int prefix;
};

/* SPEC §5.2's addresses refused unless a rule allows them. */
static const struct range refused[] = {
	{AF_INET, {0, 0, 0, 0}, 8},          /* "this network", 0.0.0.0 */
	{AF_INET, {10, 0, 0, 0}, 8},         /* private */
	{AF_INET, {100, 64, 0, 0}, 10},      /* CGNAT */
	{AF_INET, {127, 0, 0, 0}, 8},        /* loopback */
	{AF_INET, {169, 254, 0, 0}, 16},     /* link-local: cloud metadata */
	{AF_INET, {172, 16, 0, 0}, 12},      /* private */
	{AF_INET, {192, 0, 0, 0}, 24},       /* IETF protocol assignments */
	{AF_INET, {192, 168, 0, 0}, 16},     /* private */
	{AF_INET, {198, 18, 0, 0}, 15},      /* benchmarking */
	{AF_INET, {224, 0, 0, 0}, 4},        /* multicast */
	{AF_INET, {240, 0, 0, 0}, 4},        /* reserved, broadcast */
	{AF_INET6, {0}, 128},                /* :: */
	{AF_INET6, {[15] = 1}, 128},         /* ::1 */
	{AF_INET6, {0, 0x64, 0xff, 0x9b, 0, 1}, 48}, /* NAT64, local use */
	{AF_INET6, {0xfc, 0}, 7},            /* unique local */
	{AF_INET6, {0xfe, 0x80}, 10},        /* link-local */
	{AF_INET6, {0xfe, 0xc0}, 10},        /* site-local (deprecated) */
	{AF_INET6, {0xff, 0}, 8},            /* multicast */
};

bool fetch_address_allowed(const struct fetch_rule *rules, size_t n, const struct sockaddr *sa)
{
	uint8_t a[16];
	int family, best = -1;
	bool allow = false;
	if (!address_of(sa, &family, a))
		return false; /* only IPv4 and IPv6 */
	for (size_t i = 0; i < n; i++) {
		const struct fetch_rule *r = &rules[i];
		if (r->family != family || !in_prefix(a, r->addr, r->prefix))
			continue;
		if (r->prefix > best || (r->prefix == best && !r->allow)) {
			best = r->prefix;
			allow = r->allow;
		}
	}
	if (best >= 0)
		return allow;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (refused[i].family == family && in_prefix(a, refused[i].net, refused[i].prefix))
			return false;
	return true;
}

void fetch_address_format(const struct sockaddr *sa, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	const void *a = sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
	                                         : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) || !inet_ntop(sa->sa_family, a, host, sizeof(host)))
		snprintf(host, sizeof(host), "(family %d)", sa->sa_family);
	snprintf(out, cap, "%s", host);
}
