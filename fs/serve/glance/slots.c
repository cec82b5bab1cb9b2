/*
 * slots.c — the image API's upload slots (SPEC §19.7, issue 70): who
 * holds each of the GLANCE_UPLOADS slots (its tenant and its client's
 * address) and whether one more upload may start.
 *
 * Who calls it: data.c, under its waits lock (a slot is taken when an
 * upload's first byte comes and given back when the upload ends, however
 * it ends); tests/unit/fs/serve/glance/test_slots.c, without a server.
 *
 * Pure bookkeeping, no lock and no clock: the shares are counted from the
 * ledger itself, so a unit test drives who gets a slot, who is refused
 * and why, and what a release gives back, one call at a time.
 *
 * A tenant is the main account: a sub-account's uploads count under its
 * main account's share (glance_slot_tenant), so an account cannot take
 * more than its share by making sub-accounts.  An address is conns.c's
 * client key (an IPv4 address, an IPv6 /64); a request without a
 * connection (none in a unit test's dispatcher) counts under no address.
 */
#include <errno.h>
#include <string.h>

#include "glance.h"

static unsigned half_or_one(unsigned n)
{
	return n / 2 > 1 ? n / 2 : 1;
}

bool glance_upload_fits(unsigned held, unsigned account, unsigned address)
{
	if (held >= GLANCE_UPLOADS)
		return false;
	/* the account: half of what the others leave, one at least */
	unsigned share = half_or_one(GLANCE_UPLOADS - (held - account));
	if (account >= share)
		return false;
	/* its address: half of the account's share, one at least */
	return address < half_or_one(share);
}

int64_t glance_slot_tenant(const struct model_account *caller)
{
	return caller->parent_id ? caller->parent_id : caller->id;
}

int glance_slots_take(struct glance_slots *s, int64_t tenant, const uint8_t addr[GLANCE_ADDR_KEY])
{
	unsigned account = 0, address = 0;
	int free_at = -1;
	for (int i = 0; i < GLANCE_UPLOADS; i++) {
		const struct glance_holder *h = &s->holders[i];
		if (!h->used) {
			free_at = free_at < 0 ? i : free_at;
			continue;
		}
		if (h->tenant == tenant) {
			account++;
			address += addr && memcmp(h->addr, addr, GLANCE_ADDR_KEY) == 0;
		}
	}
	if (!glance_upload_fits(s->held, account, address) || free_at < 0) {
		/* the narrowest reason first: its address, its account, all */
		unsigned share = half_or_one(GLANCE_UPLOADS - (s->held - account));
		return address >= half_or_one(share)                    ? -EMFILE
		       : account >= share && s->held < GLANCE_UPLOADS ? -EBUSY
		                                                        : -ENFILE;
	}
	struct glance_holder *h = &s->holders[free_at];
	h->used = true;
	h->tenant = tenant;
	memset(h->addr, 0, sizeof(h->addr));
	if (addr)
		memcpy(h->addr, addr, sizeof(h->addr));
	s->held++;
	return free_at;
}

void glance_slots_put(struct glance_slots *s, int slot)
{
	if (slot < 0 || slot >= GLANCE_UPLOADS || !s->holders[slot].used)
		return;
	s->holders[slot].used = false;
	s->held--;
}
