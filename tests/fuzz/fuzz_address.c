/*
 * fuzz_address.c — libFuzzer target for model/fetch/address.c: the
 * import rules an administrator writes ("A.B.C.D/N", IPv6 with its IPv4
 * forms) and the judgement of every address an import connects to.
 *
 * Input: a rule's text (up to the first NUL), then 16 bytes of an address
 * to judge.  Checked: a rule that parses has its family's prefix range and
 * no host bits, formats back to text that parses to the same rule; the
 * judgement of an address by a lone deny rule that contains it is "no"
 * (for IPv6, an address that is none of the IPv4 forms);
 * and the default policy never lets loopback (127/8, ::1) through.
 *
 * Built by -DIMGFS_FUZZ=ON with clang and run by scripts/fuzz-parsers.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fetch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int ok)
{
	if (!ok)
		abort();
}

/* Whether the first prefix bits of a and b are equal. */
static int same_prefix(const uint8_t *a, const uint8_t *b, int prefix)
{
	for (int i = 0; i < prefix; i++)
		if (((a[i / 8] ^ b[i / 8]) >> (7 - i % 8)) & 1)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t n = nul ? (size_t)(nul - data) : size;
	uint8_t addr[16] = {0};
	if (n > 200)
		return 0;
	char text[201];
	memcpy(text, data, n);
	text[n] = '\0';
	if (nul && size - n - 1 > 0)
		memcpy(addr, nul + 1, size - n - 1 < 16 ? size - n - 1 : 16);

	struct fetch_rule r, again;
	char note[256], back[128];
	int rc = fetch_rule_parse_note(text, false, &r, note, sizeof(note));
	must(strnlen(note, sizeof(note)) < sizeof(note));
	if (rc >= 0) {
		int bits = r.family == AF_INET ? 32 : 128;
		must(r.family == AF_INET || r.family == AF_INET6);
		must(r.prefix >= 0 && r.prefix <= bits);
		for (int i = r.prefix; i < bits; i++)
			must(!((r.addr[i / 8] >> (7 - i % 8)) & 1));
		fetch_rule_format(&r, back, sizeof(back));
		must(fetch_rule_parse(back, false, &again) >= 0);
		must(again.family == r.family && again.prefix == r.prefix && !memcmp(again.addr, r.addr, 16));
	}

	struct sockaddr_in v4 = {.sin_family = AF_INET};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
	memcpy(&v4.sin_addr, addr, 4);
	memcpy(&v6.sin6_addr, addr, 16);
	if (rc >= 0 && r.family == AF_INET && same_prefix(r.addr, addr, r.prefix))
		must(!fetch_address_allowed(&r, 1, (const struct sockaddr *)&v4));
	/* An IPv6 address that is none of the IPv4 forms (which are judged as
	 * the IPv4 address they carry): global unicast outside 2000::/8. */
	if (rc >= 0 && r.family == AF_INET6 && (addr[0] & 0xe0) == 0x20 && addr[0] != 0x20 &&
	    same_prefix(r.addr, addr, r.prefix))
		must(!fetch_address_allowed(&r, 1, (const struct sockaddr *)&v6));
	(void)fetch_address_allowed(NULL, 0, (const struct sockaddr *)&v6);
	v4.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)(addr[0] << 16 | addr[1] << 8 | addr[2]));
	must(!fetch_address_allowed(NULL, 0, (const struct sockaddr *)&v4));
	memset(&v6.sin6_addr, 0, 16);
	v6.sin6_addr.s6_addr[15] = 1;
	must(!fetch_address_allowed(NULL, 0, (const struct sockaddr *)&v6));
	return 0;
}
