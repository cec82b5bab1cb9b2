/*
 * test_rights.c — unit tests for model/meta/rights.c (SPEC §3, §6.4, §8,
 * §19.4): the table of folder × relation -> rights, every cell, against the
 * reference's rules written here as sentences; the relations a real caller
 * has (owner, each member status, an administrator, a main account, an
 * administrator of an administrator, nobody), added up; the deactivated
 * rule; and the refusals' errno and reason.
 */
#include "model/lifecycle_test.h"

/* "SRBCHA" letters -> rights. */
static unsigned letters(const char *s)
{
	unsigned r = 0;
	for (; *s; s++)
		switch (*s) {
		case 'S': r |= MODEL_RIGHT_SEE; break;
		case 'R': r |= MODEL_RIGHT_READ; break;
		case 'B': r |= MODEL_RIGHT_BUILD; break;
		case 'C': r |= MODEL_RIGHT_CHANGE; break;
		case 'H': r |= MODEL_RIGHT_SHARE; break;
		case 'A': r |= MODEL_RIGHT_ANSWER; break;
		case '-': break;
		default: fail_msg("no right %c", *s);
		}
	return r;
}

/* Every cell, as the reference states it (rights.h draws the same). */
static void test_table_every_cell(void **state)
{
	(void)state;
	static const struct {
		enum model_folder f;
		const char *cells[MODEL_REL_COUNT]; /* anyone owner pending accepted rejected admin */
	} want[] = {
		/* §3: the platform's images are read and built from by everyone */
		{MODEL_FOLDER_PUBLIC, {"SRB", "SRB", "SRB", "SRB", "SRB", "SRB"}},
		/* §3: marketplace blobs are only for creating instances */
		{MODEL_FOLDER_MARKETPLACE, {"SB", "SB", "SB", "SB", "SB", "SB"}},
		/* §6.4, §8: a private image is its owner's; a member builds from it
		 * and answers its share, a rejected one only answers (and sees it by
		 * id, §19); the owner's administrator sees and reads it */
		{MODEL_FOLDER_PRIVATE, {"-", "SRBCH", "SBA", "SBA", "SA", "SR"}},
		/* §16: ISO images are never shared */
		{MODEL_FOLDER_ISO, {"-", "SRBC", "-", "-", "-", "SR"}},
		/* §6.1: the recycle bin is its owner's to read, restore or destroy */
		{MODEL_FOLDER_RECYCLE, {"-", "SRC", "-", "-", "-", "-"}},
	};
	int cells = 0;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		for (int rel = 0; rel < MODEL_REL_COUNT; rel++, cells++)
			if (model_rights_of(want[i].f, (enum model_rel)rel) != letters(want[i].cells[rel]))
				fail_msg("folder %d relation %d: rights %#x, the reference says %s (%#x)", (int)want[i].f, rel,
				         model_rights_of(want[i].f, (enum model_rel)rel), want[i].cells[rel],
				         letters(want[i].cells[rel]));
	assert_int_equal(cells, 5 * MODEL_REL_COUNT);
	/* Out of range: nothing. */
	assert_int_equal(model_rights_of(MODEL_FOLDER_INVALID, MODEL_REL_OWNER), 0);
	assert_int_equal(model_rights_of(MODEL_FOLDER_RECYCLE + 1, MODEL_REL_OWNER), 0);
	assert_int_equal(model_rights_of(MODEL_FOLDER_PRIVATE, MODEL_REL_COUNT), 0);
	assert_int_equal(model_rights_of(MODEL_FOLDER_PUBLIC, MODEL_REL_COUNT), 0); /* not the next row's first cell */
}

/* The rules the table must keep, whatever a later row says. */
static void test_table_rules(void **state)
{
	(void)state;
	for (int f = MODEL_FOLDER_PUBLIC; f <= MODEL_FOLDER_RECYCLE; f++)
		for (int rel = 0; rel < MODEL_REL_COUNT; rel++) {
			unsigned r = model_rights_of((enum model_folder)f, (enum model_rel)rel);
			/* a right over an image one cannot see is none */
			if (r != 0)
				assert_true(r & MODEL_RIGHT_SEE);
			/* only an owner changes or shares */
			if (r & (MODEL_RIGHT_CHANGE | MODEL_RIGHT_SHARE))
				assert_int_equal(rel, MODEL_REL_OWNER);
			/* only private images are shared, and answered by members */
			if (r & MODEL_RIGHT_SHARE)
				assert_int_equal(f, MODEL_FOLDER_PRIVATE);
			if (r & MODEL_RIGHT_ANSWER)
				assert_true(f == MODEL_FOLDER_PRIVATE &&
				            (rel == MODEL_REL_PENDING || rel == MODEL_REL_ACCEPTED || rel == MODEL_REL_REJECTED));
			/* §3: marketplace and shared blobs only make instances */
			if (f == MODEL_FOLDER_MARKETPLACE ||
			    (f == MODEL_FOLDER_PRIVATE && rel >= MODEL_REL_PENDING && rel <= MODEL_REL_REJECTED))
				assert_false(r & MODEL_RIGHT_READ);
			/* a rejected share builds nothing until it is answered again */
			if (rel == MODEL_REL_REJECTED && f == MODEL_FOLDER_PRIVATE)
				assert_false(r & MODEL_RIGHT_BUILD);
		}
}

static unsigned rights(struct ut_fx *fx, int64_t caller_id, int64_t image_id)
{
	struct model_account c;
	struct model_image img = ut_get(fx, image_id);
	unsigned r = 0xffff;

	assert_int_equal(model_account_get(fx->m, caller_id, &c), 0);
	assert_int_equal(model_image_rights(fx->m, &c, &img, &r), 0);
	return r;
}

static int64_t account(struct ut_fx *fx, const char *name, bool admin, const char *parent)
{
	struct model_err err = {0};
	struct model_account a;

	if (model_account_create(fx->m, name, -1, admin, parent, &err) < 0)
		fail_msg("account %s: %s", name, err.msg);
	assert_int_equal(model_account_by_name(fx->m, name, &a), 0);
	return a.id;
}

static void answer(struct ut_fx *fx, int64_t image_id, int64_t member, enum model_member_status st)
{
	struct model_err err = {0};
	if (model_share_answer(fx->m, image_id, member, st, &err) < 0)
		fail_msg("answer: %s", err.msg);
}

/* Real callers: the relations are found, added up, and the deactivated rule. */
static void test_relations(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	int64_t alice = ut_account(fx, "alice"), bob = ut_account(fx, "bob"), carol = ut_account(fx, "carol");
	int64_t root = account(fx, "boss", true, NULL), root2 = account(fx, "boss2", true, NULL);
	int64_t main_acct = account(fx, "acme", false, NULL), sub = account(fx, "acme-dev", false, "acme");
	int64_t priv = lt_local_image(fx, fx->r1, alice, "golden", LT_MiB);
	int64_t iso = lt_iso_image(fx, fx->r1, alice, "boot", LT_MiB);
	int64_t subs = lt_local_image(fx, fx->r1, sub, "dev", LT_MiB);
	int64_t boss_img = lt_local_image(fx, fx->r1, root2, "ops", LT_MiB);

	assert_int_equal(rights(fx, alice, priv), letters("SRBCH"));
	assert_int_equal(rights(fx, alice, iso), letters("SRBC"));
	assert_int_equal(rights(fx, bob, priv), 0); /* not shared: nothing */
	assert_int_equal(model_share_add(fx->m, priv, "bob", &err), 0);
	assert_int_equal(rights(fx, bob, priv), letters("SBA")); /* pending */
	answer(fx, priv, bob, MODEL_MEMBER_ACCEPTED);
	assert_int_equal(rights(fx, bob, priv), letters("SBA"));
	answer(fx, priv, bob, MODEL_MEMBER_REJECTED);
	assert_int_equal(rights(fx, bob, priv), letters("SA"));
	assert_int_equal(rights(fx, carol, priv), 0);
	assert_int_equal(rights(fx, carol, iso), 0);
	/* An administrator reads a non-administrator's images, not another
	 * administrator's; a main account its sub-accounts', not others'. */
	assert_int_equal(rights(fx, root, priv), letters("SR"));
	assert_int_equal(rights(fx, root, iso), letters("SR"));
	assert_int_equal(rights(fx, root, boss_img), 0);
	assert_int_equal(rights(fx, main_acct, subs), letters("SR"));
	assert_int_equal(rights(fx, main_acct, priv), 0);
	assert_int_equal(rights(fx, sub, subs), letters("SRBCH"));
	/* Relations add up: a member who is also the owner's administrator. */
	assert_int_equal(model_share_add(fx->m, priv, "boss", &err), 0);
	assert_int_equal(rights(fx, root, priv), letters("SRBA"));
	/* Nobody (no caller): nothing. */
	struct model_image img = ut_get(fx, priv);
	unsigned r = 1;
	assert_int_equal(model_image_rights(fx->m, NULL, &img, &r), 0);
	assert_int_equal(r, 0);
	/* Deactivated: the data is the administrators' only. */
	struct model_account a;
	assert_int_equal(model_account_get(fx->m, alice, &a), 0);
	img.gflags |= MODEL_GFLAG_DEACTIVATED;
	assert_int_equal(model_image_rights(fx->m, &a, &img, &r), 0);
	assert_int_equal(r, letters("SBCH"));
	assert_int_equal(model_account_get(fx->m, root, &a), 0);
	assert_int_equal(model_image_rights(fx->m, &a, &img, &r), 0);
	assert_int_equal(r, letters("SRBA"));
	/* "Administrators" are the service's (§19.5): a main account does not
	 * read its sub-account's deactivated image, an administrator reads
	 * its own. */
	struct model_image sub_img = ut_get(fx, subs), boss = ut_get(fx, boss_img);
	sub_img.gflags |= MODEL_GFLAG_DEACTIVATED;
	boss.gflags |= MODEL_GFLAG_DEACTIVATED;
	assert_int_equal(model_account_get(fx->m, main_acct, &a), 0);
	assert_int_equal(model_image_rights(fx->m, &a, &sub_img, &r), 0);
	assert_int_equal(r, letters("S"));
	assert_int_equal(model_account_get(fx->m, root2, &a), 0);
	assert_int_equal(model_image_rights(fx->m, &a, &boss, &r), 0);
	assert_int_equal(r, letters("SRBCH"));
}

/* The refusals: not seen is ENOENT, a missing right EACCES with its sentence. */
static void test_may(void **state)
{
	(void)state;
	struct model_image img = {.folder = MODEL_FOLDER_PRIVATE};
	struct model_err err = {0};

	snprintf(img.name, sizeof(img.name), "golden");
	assert_int_equal(model_rights_may(&img, 0, MODEL_RIGHT_SEE, &err), -ENOENT);
	assert_int_equal(model_rights_may(&img, letters("S"), MODEL_RIGHT_SEE, &err), 0);
	assert_int_equal(model_rights_may(&img, letters("SBA"), MODEL_RIGHT_READ, &err), -EACCES);
	assert_string_equal(err.msg, "this image's data is not yours to read: build instances from it");
	img.gflags |= MODEL_GFLAG_DEACTIVATED;
	assert_int_equal(model_rights_may(&img, letters("SBCH"), MODEL_RIGHT_READ, &err), -EACCES);
	assert_string_equal(err.msg, "The requested image has been deactivated. Image data download is forbidden.");
	assert_int_equal(model_rights_may(&img, letters("SBA"), MODEL_RIGHT_CHANGE, &err), -EACCES);
	assert_string_equal(err.msg, "only the image's owner changes it");
	assert_int_equal(model_rights_may(&img, letters("SBA"), MODEL_RIGHT_SHARE, &err), -EACCES);
	assert_string_equal(err.msg, "only the image's owner changes its members");
	assert_int_equal(model_rights_may(&img, letters("SRBCH"), MODEL_RIGHT_ANSWER, &err), -EACCES);
	assert_string_equal(err.msg, "only the member answers a share");
	assert_int_equal(model_rights_may(&img, letters("SR"), MODEL_RIGHT_BUILD, &err), -EACCES);
	assert_int_equal(model_rights_may(&img, letters("SRBCH"), MODEL_RIGHT_CHANGE | MODEL_RIGHT_SHARE, &err), 0);
	assert_int_equal(model_rights_may(&img, letters("SRBC"), MODEL_RIGHT_CHANGE | MODEL_RIGHT_SHARE, &err),
	                 -EACCES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_every_cell),
		cmocka_unit_test(test_table_rules),
		cmocka_unit_test_setup_teardown(test_relations, ut_setup, ut_teardown),
		cmocka_unit_test(test_may),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
