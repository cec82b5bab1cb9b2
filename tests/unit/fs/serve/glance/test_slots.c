/*
 * test_slots.c — unit tests for fs/serve/glance/slots.c (SPEC §19.7,
 * issue 70): the image API's upload slots, without a server or a clock.
 * The shares (glance_upload_fits), each bound at its limit and one past
 * it; the ledger (glance_slots_take, glance_slots_put): one account's
 * 8 of 16 and one address's 4 of them, the reason of each refusal (its
 * address, its account, all held) and nothing changed by one, a
 * sub-account's uploads counted under its main account (glance_slot_tenant),
 * a slot given back once (twice, or one never held, changes nothing), and
 * random takes and gives against a reference ledger of counts.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "glance.h"

_Static_assert(GLANCE_UPLOADS == 16, "the figures below are for 16 slots");

/* One account alone: 8 of the 16 (half of what nobody else holds), one
 * address of it 4 (half its share). */
static void test_one_account(void **state)
{
	(void)state;
	assert_true(glance_upload_fits(0, 0, 0));
	assert_true(glance_upload_fits(7, 7, 3));   /* its 8th, from a 2nd address */
	assert_false(glance_upload_fits(8, 8, 0));  /* a 9th: past its share */
	assert_true(glance_upload_fits(3, 3, 3));   /* the 4th of one address */
	assert_false(glance_upload_fits(4, 4, 4));  /* a 5th from it */
	assert_true(glance_upload_fits(4, 4, 0));   /* from another address */
}

/* Beside others: half of what they leave; the last slots one each. */
static void test_beside_others(void **state)
{
	(void)state;
	assert_true(glance_upload_fits(8, 0, 0));    /* another account beside one holding 8 */
	assert_true(glance_upload_fits(11, 3, 1));   /* its 4th: the others leave 8, half is 4 */
	assert_false(glance_upload_fits(12, 4, 0));  /* a 5th */
	assert_false(glance_upload_fits(10, 2, 2));  /* a 3rd from one address: half of 4 is 2 */
	assert_true(glance_upload_fits(15, 0, 0));   /* the last slot: one at least */
	assert_false(glance_upload_fits(15, 1, 0));  /* a 2nd when the others hold 14 */
	assert_false(glance_upload_fits(16, 0, 0));  /* all held */
}

/* Accounts arriving one after the other, each taking all it may: the
 * first holds 8, and every later one gets one slot at least until the 16
 * are held. */
static void test_greedy_accounts(void **state)
{
	unsigned held = 0, per[16] = {0}, accounts = 0;
	(void)state;
	for (unsigned a = 0; a < 16 && held < GLANCE_UPLOADS; a++) {
		/* each address of the account takes what it may, then the next */
		for (unsigned addr = 0; addr < 16; addr++) {
			unsigned mine = 0;
			while (glance_upload_fits(held, per[a], mine)) {
				held++;
				per[a]++;
				mine++;
			}
		}
		assert_true(per[a] >= 1);
		accounts++;
	}
	assert_int_equal(per[0], 8);
	assert_int_equal(held, GLANCE_UPLOADS);
	assert_true(accounts >= 5);
}

/* A client key as conns.c makes one: IPv4 127.0.0.n. */
static const uint8_t *addr(unsigned n)
{
	static uint8_t keys[256][GLANCE_ADDR_KEY];
	uint8_t *k = keys[n & 255];
	memset(k, 0, GLANCE_ADDR_KEY);
	k[0] = 4;
	k[1] = 127;
	k[4] = (uint8_t)n;
	return k;
}

/* A refusal changes nothing: the ledger byte for byte as before. */
static void refused(struct glance_slots *s, int64_t tenant, const uint8_t *a, int want)
{
	struct glance_slots before = *s;
	assert_int_equal(glance_slots_take(s, tenant, a), want);
	assert_memory_equal(&before, s, sizeof(before));
}

/* The case: one tenant trickles bodies from three addresses and
 * asks for every slot: 4 from the first address (the 5th: its address,
 * -EMFILE), 8 in all (then its account, -EBUSY, from an address below
 * its share), and another account's upload still finds a slot. */
static void test_ledger_one_tenant(void **state)
{
	(void)state;
	struct glance_slots s = {0};
	for (int i = 0; i < 4; i++)
		assert_int_equal(glance_slots_take(&s, 7, addr(1)), i); /* the first free slot */
	refused(&s, 7, addr(1), -EMFILE);
	for (int i = 4; i < 7; i++)
		assert_int_equal(glance_slots_take(&s, 7, addr(2)), i);
	assert_int_equal(glance_slots_take(&s, 7, addr(3)), 7); /* its 8th: the share's bound */
	assert_int_equal(s.held, 8);
	refused(&s, 7, addr(3), -EBUSY);   /* a 9th, its address holding 1 */
	refused(&s, 7, addr(2), -EBUSY);   /* 3 of 4: the account's the narrowest reason */
	refused(&s, 7, addr(1), -EMFILE);  /* 4 of 4: its address */
	refused(&s, 7, NULL, -EBUSY);      /* no address: counted under none */
	/* bob, from an address alice uses too: his own shares */
	assert_int_equal(glance_slots_take(&s, 8, addr(1)), 8);
	assert_int_equal(s.holders[8].tenant, 8);
	assert_memory_equal(s.holders[8].addr, addr(1), GLANCE_ADDR_KEY);
	assert_int_equal(s.held, 9);
}

/* Without an address, every upload of an account counts under none: its
 * account's share is the only bound (8), and the holder's address is
 * zeros. */
static void test_ledger_no_address(void **state)
{
	(void)state;
	struct glance_slots s = {0};
	uint8_t zeros[GLANCE_ADDR_KEY] = {0};
	for (int i = 0; i < 8; i++)
		assert_int_equal(glance_slots_take(&s, 3, NULL), i);
	assert_memory_equal(s.holders[0].addr, zeros, GLANCE_ADDR_KEY);
	refused(&s, 3, NULL, -EBUSY);
}

/* A sub-account's uploads count under its main account: the main account
 * and two sub-accounts hold 8 together, the 9th (from a third sub-account,
 * from a fresh address) is refused for the account, and another main
 * account still gets its slot. */
static void test_ledger_sub_accounts(void **state)
{
	(void)state;
	struct glance_slots s = {0};
	struct model_account boss = {.id = 10}, sub1 = {.id = 11, .parent_id = 10}, sub2 = {.id = 12, .parent_id = 10};
	struct model_account sub3 = {.id = 13, .parent_id = 10}, bob = {.id = 20};
	assert_int_equal(glance_slot_tenant(&boss), 10);
	assert_int_equal(glance_slot_tenant(&sub1), 10);
	assert_int_equal(glance_slot_tenant(&bob), 20);
	const struct model_account *who[8] = {&boss, &sub1, &sub2, &sub1, &sub2, &boss, &sub1, &sub2};
	for (int i = 0; i < 8; i++) /* four addresses, two each: no address at its share */
		assert_int_equal(glance_slots_take(&s, glance_slot_tenant(who[i]), addr(1 + (unsigned)i / 2)), i);
	refused(&s, glance_slot_tenant(&sub3), addr(9), -EBUSY);
	refused(&s, glance_slot_tenant(&boss), addr(9), -EBUSY);
	/* one address's share counts its sub-accounts' uploads too: 2 of the
	 * tenant's from 127.0.0.1 after one slot freed (share 8: 4 an address) */
	glance_slots_put(&s, 7);
	assert_int_equal(glance_slots_take(&s, glance_slot_tenant(&sub3), addr(1)), 7);
	glance_slots_put(&s, 7);
	assert_int_equal(glance_slots_take(&s, glance_slot_tenant(&bob), addr(9)), 7);
	assert_int_equal(s.holders[7].tenant, 20);
}

/* An address's share counts every upload of its tenant from it, its
 * sub-accounts' included: 4 from one address by a main account and its
 * sub-account, the 5th refused for the address. */
static void test_ledger_address_of_sub_accounts(void **state)
{
	(void)state;
	struct glance_slots s = {0};
	struct model_account boss = {.id = 10}, sub = {.id = 11, .parent_id = 10};
	for (int i = 0; i < 4; i++)
		assert_int_equal(glance_slots_take(&s, glance_slot_tenant(i % 2 ? &sub : &boss), addr(1)), i);
	refused(&s, glance_slot_tenant(&sub), addr(1), -EMFILE);
	refused(&s, glance_slot_tenant(&boss), addr(1), -EMFILE);
	assert_int_equal(glance_slots_take(&s, glance_slot_tenant(&sub), addr(2)), 4);
}

/* All 16 held (accounts of one or two slots each): the 17th is refused
 * as all held, for a newcomer too; one given back is taken again, and
 * given back twice it frees one slot only. */
static void test_ledger_all_held(void **state)
{
	(void)state;
	struct glance_slots s = {0};
	for (int i = 0; i < GLANCE_UPLOADS; i++)
		assert_int_equal(glance_slots_take(&s, 100 + i, addr((unsigned)i)), i);
	assert_int_equal(s.held, GLANCE_UPLOADS);
	refused(&s, 999, addr(200), -ENFILE);
	refused(&s, 100, addr(0), -EMFILE); /* one of them, from its address: its 1 of 1, the narrowest */
	refused(&s, 100, addr(100), -ENFILE); /* from another: all held (its account's share is 1 too) */
	glance_slots_put(&s, 5);
	assert_int_equal(s.held, GLANCE_UPLOADS - 1);
	assert_false(s.holders[5].used);
	glance_slots_put(&s, 5); /* again: nothing */
	glance_slots_put(&s, -1); /* none held: nothing */
	glance_slots_put(&s, GLANCE_UPLOADS); /* out of the ledger: nothing */
	assert_int_equal(s.held, GLANCE_UPLOADS - 1);
	assert_int_equal(glance_slots_take(&s, 999, addr(200)), 5);
	refused(&s, 998, addr(201), -ENFILE);
}

/* Random takes and gives against a reference ledger of counts: each
 * answer is what glance_upload_fits says of the counts the reference
 * keeps (and the reason the narrowest), held is the slots used, no slot
 * is held twice. */
static void test_ledger_against_model(void **state)
{
	(void)state;
	struct glance_slots s = {0};
	struct {
		bool used;
		int64_t tenant;
		unsigned a;
	} ref[GLANCE_UPLOADS] = {{0}};
	unsigned seed = 71, takes = 0, refusals[3] = {0, 0, 0};
	for (int step = 0; step < 20000; step++) {
		seed = seed * 1103515245u + 12345u;
		unsigned r = seed >> 8;
		if (r % 3 == 0) {
			int slot = (int)(r / 3 % GLANCE_UPLOADS);
			glance_slots_put(&s, slot);
			ref[slot].used = false;
			continue;
		}
		/* four busy tenants and 64 that come now and then (a slot is the
		 * 16th only when its tenant holds none: newcomers fill the last) */
		int64_t tenant = r / 3 % 2 ? 1 + (int64_t)(r / 6 % 4) : 100 + (int64_t)(r / 6 % 64);
		unsigned a = r / 384 % 4;
		unsigned held = 0, account = 0, address = 0;
		for (int i = 0; i < GLANCE_UPLOADS; i++) {
			held += ref[i].used;
			account += ref[i].used && ref[i].tenant == tenant;
			address += ref[i].used && ref[i].tenant == tenant && ref[i].a == a;
		}
		assert_int_equal(s.held, held);
		int got = glance_slots_take(&s, tenant, addr(a));
		if (!glance_upload_fits(held, account, address)) {
			unsigned others = GLANCE_UPLOADS - (held - account), share = others / 2 > 1 ? others / 2 : 1;
			int want = address >= (share / 2 > 1 ? share / 2 : 1) ? -EMFILE
			           : account >= share && held < GLANCE_UPLOADS ? -EBUSY
			                                                        : -ENFILE;
			assert_int_equal(got, want);
			refusals[want == -EMFILE ? 0 : want == -EBUSY ? 1 : 2]++;
			continue;
		}
		assert_true(got >= 0 && got < GLANCE_UPLOADS);
		assert_false(ref[got].used);
		for (int i = 0; i < got; i++)
			assert_true(ref[i].used); /* the first free one */
		ref[got].used = true;
		ref[got].tenant = tenant;
		ref[got].a = a;
		takes++;
	}
	/* every answer was met */
	assert_true(takes > 1000);
	assert_true(refusals[0] > 0 && refusals[1] > 0 && refusals[2] > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_account),
		cmocka_unit_test(test_beside_others),
		cmocka_unit_test(test_greedy_accounts),
		cmocka_unit_test(test_ledger_one_tenant),
		cmocka_unit_test(test_ledger_no_address),
		cmocka_unit_test(test_ledger_sub_accounts),
		cmocka_unit_test(test_ledger_address_of_sub_accounts),
		cmocka_unit_test(test_ledger_all_held),
		cmocka_unit_test(test_ledger_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
