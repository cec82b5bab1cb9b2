/*
 * test_data.c — unit tests for fs/serve/glance/data.c (SPEC §19.7): the
 * shares of the image API's upload slots (glance_upload_fits), each bound
 * at its limit and one past it, and against a reference: accounts that
 * take every slot they may, one after the other, never let one account
 * hold more than half, and leave a slot for a newcomer while any is free.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_account),
		cmocka_unit_test(test_beside_others),
		cmocka_unit_test(test_greedy_accounts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
