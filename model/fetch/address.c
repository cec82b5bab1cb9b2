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
 *   1. an IPv6 address in one of the forms that hold an IPv4 address (the
 *      first table below) is judged as that IPv4 address: rules and
 *      defaults alike see a.b.c.d;
 *   2. the admin's rules (`imgfs admin import allow|deny CIDR`): the most
 *      specific rule that contains the address decides; on a tie, deny;
 *   3. with no rule containing it, public unicast addresses are allowed and
 *      the ranges of the second table are not.
 *
 * IPv6 forms judged as the IPv4 address they hold (v4_forms):
 *
 *   ::ffff:0:0/96       IPv4-mapped (RFC 4291)        a.b.c.d in the last 32 bits
 *   ::ffff:0:0:0/96     IPv4-translated, SIIT (RFC 6145)       the last 32 bits
 *   ::/96               IPv4-compatible (deprecated; RFC 4291) the last 32 bits,
 *                       except ::/127 (:: and ::1 are themselves)
 *   64:ff9b::/96        NAT64 well-known prefix (RFC 6052)     the last 32 bits
 *   2002::/16           6to4 (RFC 3056): a relay unwraps it    bits 16..47
 *
 * Refused unless a rule allows them (refused[]), and why:
 *
 *   0.0.0.0/8, ::/128            "this network", unspecified
 *   127.0.0.0/8, ::1/128         loopback
 *   10/8, 172.16/12, 192.168/16, fc00::/7   private (RFC 1918, unique local)
 *   100.64.0.0/10                CGNAT: the provider's side of a NAT
 *   169.254.0.0/16, fe80::/10    link-local: cloud metadata services live here
 *   fec0::/10                    site-local (deprecated, still routed inside sites)
 *   192.0.0.0/24                 IETF protocol assignments
 *   192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20
 *                                documentation (RFC 5737, 3849, 9637): no
 *                                image server lives there; a name that
 *                                resolves there is a mistake or a trick
 *   198.18.0.0/15, 2001:2::/48   benchmarking
 *   224.0.0.0/4, ff00::/8        multicast
 *   240.0.0.0/4                  reserved, and 255.255.255.255 broadcast
 *   64:ff9b:1::/48               NAT64 local use (RFC 8215): the site's own
 *                                IPv4 addresses, placed anywhere in it
 *   2001::/32                    Teredo (RFC 4380): it holds a server's IPv4
 *                                address and a client's (obfuscated); a
 *                                Teredo relay reaches that client, so it
 *                                is neither judged as one address nor
 *                                allowed
 *   100::/64                     discard-only (RFC 6666): a sink
 *
 * Rules are kept in the same terms: an IPv6 rule inside one of the forms
 * of the first table (a prefix longer than /96; 6to4: /17 to /48) becomes
 * the IPv4 rule it means — /96+n becomes /n, 6to4's /16+n becomes /n —
 * and the admin is told.  Refused, with the IPv4 rule to write: a 6to4
 * prefix longer than /48 (part of one IPv4 address), and a whole form
 * (::ffff:0:0/96, 2002::/16: a rule on all of IPv4, native addresses too,
 * which "deny 2002::/16" cannot have meant).  A shorter prefix that only
 * contains such a form (::/0) stays an IPv6 rule; the addresses of the
 * form in it are judged as IPv4.
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

/* An IPv6 form that holds an IPv4 address at byte `at` (v4 in the header
 * comment's first table). */
static const struct v4_form {
	uint8_t net[16];
	int prefix;
	int at;
	const char *name;
} v4_forms[] = {
	{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, 12, "an IPv4-mapped address (::ffff:0:0/96)"},
	{{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, 96, 12, "an IPv4-translated (SIIT) address (::ffff:0:0:0/96)"},
	{{0}, 96, 12, "an IPv4-compatible address (::/96)"},
	{{0, 0x64, 0xff, 0x9b}, 96, 12, "a NAT64 address (64:ff9b::/96)"},
	{{0x20, 0x02}, 16, 2, "a 6to4 address (2002::/16)"},
};
#define V4_FORMS (sizeof(v4_forms) / sizeof(v4_forms[0]))
#define V4_COMPAT 2 /* v4_forms[V4_COMPAT]: ::/127 is not one of its addresses */

static bool in_prefix(const uint8_t *a, const uint8_t *net, int prefix)
{
	int whole = prefix / 8, rest = prefix % 8;
	if (memcmp(a, net, (size_t)whole) != 0)
		return false;
	return rest == 0 || ((a[whole] ^ net[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static void clear_host_bits(uint8_t *a, int bytes, int prefix)
{
	for (int i = 0; i < bytes; i++) {
		int keep = prefix - 8 * i;
		if (keep >= 8)
			continue;
		a[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
	}
}

/* The form of v4_forms a v6 prefix (net, prefix) lies in, as a whole;
 * NULL when none (or when it is ::/127's :: or ::1). */
static const struct v4_form *form_of_prefix(const uint8_t *net, int prefix)
{
	static const uint8_t none[16] = {0};
	for (size_t i = 0; i < V4_FORMS; i++) {
		const struct v4_form *f = &v4_forms[i];
		if (prefix < f->prefix || !in_prefix(net, f->net, f->prefix))
			continue;
		if (i == V4_COMPAT && prefix >= 127 && in_prefix(net, none, 127))
			return NULL;
		return f;
	}
	return NULL;
}

static void say(char *note, size_t cap, const char *fmt, const char *a, const char *b, const char *c)
{
	if (note && cap)
		snprintf(note, cap, fmt, a, b, c);
}

/* An IPv6 rule inside an IPv4 form: rewritten as the IPv4 rule it means
 * (1), or refused when it names part of one IPv4 address (-EINVAL); 0
 * when it is no such rule. */
static int rule_to_v4(const char *cidr, struct fetch_rule *r, char *note, size_t cap)
{
	const struct v4_form *f = r->family == AF_INET6 ? form_of_prefix(r->addr, r->prefix) : NULL;
	char v4[INET_ADDRSTRLEN + 4];
	struct fetch_rule w = {.family = AF_INET, .allow = r->allow};
	if (!f)
		return 0;
	memcpy(w.addr, r->addr + f->at, 4);
	w.prefix = r->prefix - f->prefix;
	if (w.prefix > 32) { /* 6to4 past its /48: a subnet of one IPv4 address */
		w.prefix = 32;
		fetch_rule_format(&w, v4, sizeof(v4));
		say(note, cap, "%s lies inside %s, which is judged as the IPv4 address it holds: write %s", cidr, f->name,
		    v4);
		return -EINVAL;
	}
	if (w.prefix == 0) { /* the whole form: every IPv4 address, native ones too */
		say(note, cap, "%s is all of %s%s: its addresses are judged as the IPv4 addresses they hold, so the rule "
		    "would be one on all of IPv4; write 0.0.0.0/0 if that is meant", cidr, f->name, "");
		return -EINVAL;
	}
	clear_host_bits(w.addr, 4, w.prefix);
	*r = w;
	fetch_rule_format(r, v4, sizeof(v4));
	say(note, cap, "%s is %s, judged as the IPv4 address it holds: the rule is %s", cidr, f->name, v4);
	return 1;
}

int fetch_rule_parse_note(const char *cidr, bool allow, struct fetch_rule *r, char *note, size_t cap)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(cidr, '/');
	size_t n = slash ? (size_t)(slash - cidr) : strlen(cidr);
	memset(r, 0, sizeof(*r));
	if (note && cap)
		note[0] = '\0';
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
	return rule_to_v4(cidr, r, note, cap);
}

int fetch_rule_parse(const char *cidr, bool allow, struct fetch_rule *r)
{
	return fetch_rule_parse_note(cidr, allow, r, NULL, 0);
}

void fetch_rule_format(const struct fetch_rule *r, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	if (!inet_ntop(r->family, r->addr, host, sizeof(host)))
		snprintf(host, sizeof(host), "?");
	snprintf(out, cap, "%s/%d", host, r->prefix);
}

/* The address of sa as (family, 4 or 16 bytes); an IPv4 address in one of
 * IPv6's IPv4 forms becomes that IPv4 address.  false for other families. */
static bool address_of(const struct sockaddr *sa, int *family, uint8_t a[16])
{
	const struct v4_form *f;
	if (sa->sa_family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = AF_INET;
		return true;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	*family = AF_INET6;
	if ((f = form_of_prefix(a, 128))) {
		memmove(a, a + f->at, 4);
		*family = AF_INET;
	}
	return true;
}

struct range {
	int family;
	uint8_t net[16];
	int prefix;
};

/* SPEC §5.2's addresses refused unless a rule allows them (the header
 * comment says why each). */
static const struct range refused[] = {
	{AF_INET, {0, 0, 0, 0}, 8},          /* "this network", 0.0.0.0 */
	{AF_INET, {10, 0, 0, 0}, 8},         /* private */
	{AF_INET, {100, 64, 0, 0}, 10},      /* CGNAT */
	{AF_INET, {127, 0, 0, 0}, 8},        /* loopback */
	{AF_INET, {169, 254, 0, 0}, 16},     /* link-local: cloud metadata */
	{AF_INET, {172, 16, 0, 0}, 12},      /* private */
	{AF_INET, {192, 0, 0, 0}, 24},       /* IETF protocol assignments */
	{AF_INET, {192, 0, 2, 0}, 24},       /* documentation (TEST-NET-1) */
	{AF_INET, {192, 168, 0, 0}, 16},     /* private */
	{AF_INET, {198, 18, 0, 0}, 15},      /* benchmarking */
	{AF_INET, {198, 51, 100, 0}, 24},    /* documentation (TEST-NET-2) */
	{AF_INET, {203, 0, 113, 0}, 24},     /* documentation (TEST-NET-3) */
	{AF_INET, {224, 0, 0, 0}, 4},        /* multicast */
	{AF_INET, {240, 0, 0, 0}, 4},        /* reserved, broadcast */
	{AF_INET6, {0}, 128},                /* :: */
	{AF_INET6, {[15] = 1}, 128},         /* ::1 */
	{AF_INET6, {0, 0x64, 0xff, 0x9b, 0, 1}, 48}, /* NAT64, local use */
	{AF_INET6, {0x01, 0}, 64},           /* discard-only */
	{AF_INET6, {0x20, 0x01, 0, 0}, 32},  /* Teredo */
	{AF_INET6, {0x20, 0x01, 0, 0x02, 0, 0}, 48}, /* benchmarking */
	{AF_INET6, {0x20, 0x01, 0x0d, 0xb8}, 32}, /* documentation */
	{AF_INET6, {0x3f, 0xff, 0}, 20},     /* documentation */
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
