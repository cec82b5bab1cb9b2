/*
 * test_names.c — unit tests for model/meta/names.c: the name rules of SPEC §10
 * (1–32 characters: letters of any script, digits, '.', '_', '-', not
 * starting with '.' or '-'; EINVAL otherwise, ENAMETOOLONG over 255 bytes),
 * and that the operations that take names apply them; external ids
 * (model_insert_ext) drawn again when the first one drawn is taken.
 */
#include <sys/random.h>
#include <sys/syscall.h>

#include "test_util.h"

/* getrandom, as names.c (linked into this program) calls it: the values a
 * test scripts come first, then the kernel's. */
static uint32_t rand_script[4];
static int rand_count, rand_next;

ssize_t getrandom(void *buf, size_t len, unsigned flags)
{
	if (rand_next < rand_count && len == sizeof(uint32_t)) {
		memcpy(buf, &rand_script[rand_next++], len);
		return (ssize_t)len;
	}
	return syscall(SYS_getrandom, buf, len, flags);
}

static void script_random(const uint32_t *v, int n)
{
	memcpy(rand_script, v, (size_t)n * sizeof(*v));
	rand_count = n;
	rand_next = 0;
}

/* n copies of the UTF-8 sequence unit into out (cap bytes). */
static char *repeat(char *out, size_t cap, const char *unit, size_t n)
{
	size_t u = strlen(unit), len = 0;

	assert_true(u * n < cap);
	for (size_t i = 0; i < n; i++, len += u)
		memcpy(out + len, unit, u);
	out[len] = '\0';
	return out;
}

static void expect_ok(const char *name)
{
	struct model_err err = {0};
	int rc = model_name_check(name, &err);

	if (rc != 0)
		fail_msg("'%s' (%zu bytes): %d (%s), want 0", name, strlen(name), rc, err.msg);
}

static void expect_refused(const char *name, int want, const char *why)
{
	struct model_err err = {0};
	int rc = model_name_check(name, &err);

	if (rc != want)
		fail_msg("%s (%zu bytes): %d, want %d", why, strlen(name), rc, want);
	if (err.msg[0] == '\0')
		fail_msg("%s: refused without a reason", why);
	assert_int_equal(err.code, want);
	assert_null(strchr(err.msg, '\n')); /* §9: one line */
	/* err may be NULL. */
	assert_int_equal(model_name_check(name, NULL), want);
}

static void test_valid(void **state)
{
	static const char *const ok[] = {
		"a", "Z", "7", "_", "_x", "golden", "centos-7.4", "a.b-c_d", "7zip", "a.", "a-", "a..b",
		"ABCdef012", "x_-_.y", "镜像-测试", "образ_1", "Ωmega.2", "イメージ", "صورة", "εικόνα",
		"ñandú", "Ünïcödé", "日本語テキスト", "a١٢٣", /* Arabic-Indic digits */
	};
	char buf[512];

	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		expect_ok(ok[i]);
	/* Exactly 32 characters, in 1-, 2-, 3- and 4-byte letters. */
	expect_ok(repeat(buf, sizeof buf, "a", 32));
	expect_ok(repeat(buf, sizeof buf, "é", 32));
	expect_ok(repeat(buf, sizeof buf, "镜", 32));
	expect_ok(repeat(buf, sizeof buf, "\xf0\x90\x90\x80", 32)); /* U+10400 DESERET CAPITAL LONG I, a letter */
	/* 31 characters after a leading '_'. */
	buf[0] = '_';
	repeat(buf + 1, sizeof buf - 1, "ж", 31);
	expect_ok(buf);
}

static void test_length(void **state)
{
	char buf[1024];

	(void)state;
	expect_refused("", -EINVAL, "empty");
	expect_refused(repeat(buf, sizeof buf, "a", 33), -EINVAL, "33 ASCII characters");
	expect_refused(repeat(buf, sizeof buf, "é", 33), -EINVAL, "33 two-byte characters");
	expect_refused(repeat(buf, sizeof buf, "镜", 33), -EINVAL, "33 three-byte characters (99 bytes)");
	expect_refused(repeat(buf, sizeof buf, "\xf0\x90\x90\x80", 33), -EINVAL, "33 four-byte characters");
	expect_refused(repeat(buf, sizeof buf, "a", 100), -EINVAL, "100 characters");
	/* 255 bytes is still a length problem of characters: EINVAL. */
	expect_refused(repeat(buf, sizeof buf, "a", 255), -EINVAL, "255 bytes");
	expect_refused(repeat(buf, sizeof buf, "镜", 85), -EINVAL, "85 CJK characters (255 bytes)");
	/* Over 255 bytes: ENAMETOOLONG, whatever else is wrong. */
	expect_refused(repeat(buf, sizeof buf, "a", 256), -ENAMETOOLONG, "256 bytes");
	expect_refused(repeat(buf, sizeof buf, "镜", 86), -ENAMETOOLONG, "86 CJK characters (258 bytes)");
	expect_refused(repeat(buf, sizeof buf, "a", 1000), -ENAMETOOLONG, "1000 bytes");
	expect_refused(repeat(buf, sizeof buf, " ", 300), -ENAMETOOLONG, "300 spaces");
}

static void test_first_character(void **state)
{
	(void)state;
	expect_refused(".", -EINVAL, "'.'");
	expect_refused("..", -EINVAL, "'..'");
	expect_refused(".hidden", -EINVAL, "leading '.'");
	expect_refused("-rf", -EINVAL, "leading '-'");
	expect_refused("-", -EINVAL, "'-'");
	expect_ok("_leading");
	expect_ok("9lives");
}

static void test_bad_characters(void **state)
{
	static const struct {
		const char *name, *why;
	} bad[] = {
		{"a b", "space"},
		{" a", "leading space"},
		{"a ", "trailing space"},
		{"a/b", "slash"},
		{"/", "slash alone"},
		{"a@b", "at sign (the shared/ separator)"},
		{"a:b", "colon"},
		{"a\\b", "backslash"},
		{"a*", "star"},
		{"a?", "question mark"},
		{"a+b", "plus"},
		{"a,b", "comma (images.csv)"},
		{"a\"b", "quote"},
		{"a'b", "apostrophe"},
		{"a=b", "equals"},
		{"a~", "tilde"},
		{"a\tb", "tab"},
		{"a\nb", "newline"},
		{"a\rb", "carriage return"},
		{"\x01x", "control character 0x01"},
		{"x\x1f", "control character 0x1f"},
		{"x\x1b[0m", "escape"},
		{"x\x7f", "DEL"},
		{"x\xc2\x85y", "C1 control U+0085 (NEL)"},
		{"x\xc2\xa0y", "no-break space U+00A0"},
		{"x\xe2\x80\x8by", "zero-width space U+200B"},
		{"x\xe3\x80\x80y", "ideographic space U+3000"},
		{"x\xe2\x80\xa8y", "line separator U+2028"},
		{"a€", "currency sign U+20AC"},
		{"a©", "copyright sign"},
		{"a\xf0\x9f\x98\x80", "emoji U+1F600"},
		{"a。b", "ideographic full stop U+3002"},
		{"a\xef\xbc\x8f" "b", "fullwidth solidus U+FF0F"},
		{"a\xe2\x88\x95" "b", "division slash U+2215"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_refused(bad[i].name, -EINVAL, bad[i].why);
}

static void test_bad_utf8(void **state)
{
	static const struct {
		const char *name, *why;
	} bad[] = {
		{"a\xff", "byte 0xff"},
		{"a\xfe", "byte 0xfe"},
		{"\x80" "a", "lone continuation byte"},
		{"a\xbf", "lone continuation byte at the end"},
		{"a\xc3", "truncated two-byte sequence"},
		{"a\xe9\x95", "truncated three-byte sequence"},
		{"a\xf0\x90\x90", "truncated four-byte sequence"},
		{"a\xc3(", "bad continuation"},
		{"a\xe9(\x95", "bad continuation in three bytes"},
		{"a\xc0\xaf", "overlong '/' in two bytes"},
		{"a\xc1\xa1", "overlong 'a' in two bytes"},
		{"a\xe0\x80\xaf", "overlong '/' in three bytes"},
		{"a\xe0\x81\xa1", "overlong 'a' in three bytes"},
		{"a\xf0\x80\x80\xaf", "overlong '/' in four bytes"},
		{"a\xf0\x8f\xbf\xbf", "overlong U+FFFF in four bytes"},
		{"a\xc0\x80", "overlong NUL"},
		{"a\xed\xa0\x80", "UTF-16 surrogate U+D800"},
		{"a\xed\xbf\xbf", "UTF-16 surrogate U+DFFF"},
		{"a\xf4\x90\x80\x80", "beyond U+10FFFF"},
		{"a\xf5\x80\x80\x80", "lead byte 0xf5"},
		{"a\xf5\x80\x80", "lead byte 0xf5 with two continuations (once decoded as U+5000)"},
		{"a\xff\x80\x80", "lead byte 0xff with two continuations"},
		{"a\xf8\x88\x80\x80\x80", "five-byte sequence"},
		{"a\xfc\x84\x80\x80\x80\x80", "six-byte sequence"},
		{"\xe9\x95\x9c\xe5", "valid letter then a truncated one"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_refused(bad[i].name, -EINVAL, bad[i].why);
}

/* Free text others read (model_text_check): every character of the
 * table refused, the reason naming it and where it is; what is allowed
 * stays allowed. */
static void test_text_check(void **state)
{
	static const struct {
		const char *value, *why;
	} bad[] = {
		{"ab\x7f", "a description cannot hold U+007F (DELETE), at character 3"},
		{"\xc2\x85next line", "a description cannot hold U+0085 (a C1 control character), at character 1"},
		{"x\xc2\x9b[31m", "a description cannot hold U+009B (a C1 control character), at character 2"},
		{"\xc2\x80", "U+0080 (a C1 control character)"},
		{"\xc2\x9f", "U+009F (a C1 control character)"},
		{"é\xe2\x80\xaa", "U+202A (LEFT-TO-RIGHT EMBEDDING), at character 2"},
		{"\xe2\x80\xab", "U+202B (RIGHT-TO-LEFT EMBEDDING)"},
		{"\xe2\x80\xac", "U+202C (POP DIRECTIONAL FORMATTING)"},
		{"\xe2\x80\xad", "U+202D (LEFT-TO-RIGHT OVERRIDE)"},
		{"invoice \xe2\x80\xae" "fdp.exe", "U+202E (RIGHT-TO-LEFT OVERRIDE), at character 9"},
		{"\xe2\x81\xa6", "U+2066 (LEFT-TO-RIGHT ISOLATE)"},
		{"\xe2\x81\xa7", "U+2067 (RIGHT-TO-LEFT ISOLATE)"},
		{"\xe2\x81\xa8", "U+2068 (FIRST STRONG ISOLATE)"},
		{"\xe2\x81\xa9", "U+2069 (POP DIRECTIONAL ISOLATE)"},
		{"a\x1b[2J", "U+001B (a control character), at character 2"},
		{"a\rb", "U+000D (a control character)"},
		{"ab\xff", "a description is UTF-8 text (the byte 0xff at character 3 is not)"},
		{"a\xf5\x80\x80", "the byte 0xf5 at character 2"},
	};
	static const char *const good[] = {
		"plain", "tab\there", "two\nlines", "镜像 Ωmega образ 🙂",
		"\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a \xe2\x80\x8f(1)",  /* Arabic with RIGHT-TO-LEFT MARK */
		"a\xe2\x80\x8e" "b\xd8\x9c", /* LEFT-TO-RIGHT MARK, ARABIC LETTER MARK */
		"\xe2\x80\xa9", /* PARAGRAPH SEPARATOR: not in the table */
		"",
	};
	struct model_err err;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&err, 0, sizeof err);
		assert_int_equal(model_text_check("a description", bad[i].value, "\t\n", &err), -EINVAL);
		if (!strstr(err.msg, bad[i].why))
			fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i].value, err.msg, bad[i].why);
	}
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		if (model_text_check("a description", good[i], "\t\n", &err) != 0)
			fail_msg("\"%s\" refused: %s", good[i], err.msg);
	/* allow decides which C0 controls stay: none here. */
	assert_int_equal(model_text_check("a value", "tab\there", "", &err), -EINVAL);
	assert_string_equal(err.msg, "a value cannot hold U+0009 (a control character), at character 4");
}

/* Names cannot hold bidirectional controls or C1 controls either, and
 * the reason names them as a value's does. */
static void test_names_bidi(void **state)
{
	struct model_err err = {0};

	(void)state;
	assert_int_equal(model_name_check("abc\xe2\x80\xaegnp", &err), -EINVAL);
	assert_string_equal(err.msg, "a name cannot hold U+202E (RIGHT-TO-LEFT OVERRIDE), at character 4");
	assert_int_equal(model_name_check("\xe2\x81\xa6x", &err), -EINVAL);
	assert_string_equal(err.msg, "a name cannot hold U+2066 (LEFT-TO-RIGHT ISOLATE), at character 1");
	assert_int_equal(model_name_check("x\xc2\x85", &err), -EINVAL);
	assert_string_equal(err.msg, "a name cannot hold U+0085 (a C1 control character), at character 2");
	assert_int_equal(model_name_check("x\x7f", &err), -EINVAL);
	assert_string_equal(err.msg, "a name cannot hold U+007F (DELETE), at character 2");
	assert_int_equal(model_name_check("x\xe2\x80\x8f", &err), -EINVAL); /* a mark is no letter either */
}

/* The operations that take a name refuse bad ones and create nothing. */
static void test_names_in_operations(void **state)
{
	struct ut_fx *fx = *state;
	struct model_err err = {0};
	struct model_account a;
	int64_t acct = ut_account(fx, "alice");
	int64_t id = 0;
	char long_name[300];

	assert_int_equal(model_image_create(fx->m, fx->r1, acct, MODEL_FOLDER_PRIVATE, ".x", NULL, &err), -EINVAL);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(model_image_create(fx->m, fx->r1, acct, MODEL_FOLDER_PRIVATE, "a/b", NULL, NULL), -EINVAL);
	assert_int_equal(model_image_create(fx->m, fx->r1, acct, MODEL_FOLDER_ISO, "a b", NULL, NULL), -EINVAL);
	assert_int_equal(
		model_image_create(fx->m, fx->r1, acct, MODEL_FOLDER_PRIVATE, repeat(long_name, sizeof long_name, "x", 256),
		                   NULL, NULL),
		-ENAMETOOLONG);
	assert_int_equal(ut_sql_int(fx, "SELECT count(*) FROM images WHERE account_id = %lld", (long long)acct), 0);

	assert_int_equal(model_account_add(fx->m, "bad name", -1, &err), -EINVAL);
	assert_int_equal(model_account_add(fx->m, "-bob", -1, NULL), -EINVAL);
	assert_int_equal(model_account_by_name(fx->m, "bad name", &a), -ENOENT);
	assert_int_equal(model_account_by_name(fx->m, "-bob", &a), -ENOENT);

	/* Good names of any script work end to end and are stored byte-exact. */
	id = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "镜像-测试");
	assert_string_equal(ut_get(fx, id).name, "镜像-测试");
	id = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "Ωmega.2");
	assert_int_equal(model_image_rename(fx->m, id, "образ_1", &err), 0);
	assert_string_equal(ut_get(fx, id).name, "образ_1");
	assert_int_equal(model_image_rename(fx->m, id, "образ 1", &err), -EINVAL);
	assert_string_equal(ut_get(fx, id).name, "образ_1");
}

/* An external id drawn twice: the insert that meets it taken draws again
 * (one statement per draw, no probe) and keeps every other value it was
 * given; images, snapshots and instances all draw through it. */
static void test_taken_ext_id_is_drawn_again(void **state)
{
	struct ut_fx *fx = *state;
	int64_t acct = ut_account(fx, "alice");
	struct model_err err = {0};
	int64_t vm = 0;

	script_random((const uint32_t[]){0x0badcafe}, 1);
	int64_t first = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "first");
	script_random((const uint32_t[]){0x0badcafe, 0x0badcafe, 0x00c0ffee}, 3);
	int64_t second = ut_image(fx, fx->r1, acct, MODEL_FOLDER_PRIVATE, "second");
	assert_int_equal(rand_next, 3);
	assert_string_equal(ut_get(fx, first).ext_id, "img-0badcafe");
	struct model_image img = ut_get(fx, second);
	assert_string_equal(img.ext_id, "img-00c0ffee");
	assert_string_equal(img.name, "second");
	assert_int_equal(img.account_id, acct);
	assert_int_equal(img.status, MODEL_IMG_QUEUED);

	/* instances: "i-" ids, their own table */
	script_random((const uint32_t[]){0x0badcafe}, 1);
	assert_int_equal(model_instance_create(fx->m, fx->r1, acct, "vm1", &vm, &err), 0);
	script_random((const uint32_t[]){0x0badcafe, 0x12345678}, 2);
	assert_int_equal(model_instance_create(fx->m, fx->r1, acct, "vm2", &vm, &err), 0);
	struct model_instance v;
	assert_int_equal(model_instance_get(fx->m, vm, &v), 0);
	assert_string_equal(v.ext_id, "i-12345678");
	assert_string_equal(v.name, "vm2");
	rand_count = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_first_character),
		cmocka_unit_test(test_bad_characters),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_text_check),
		cmocka_unit_test(test_names_bidi),
		cmocka_unit_test_setup_teardown(test_names_in_operations, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_taken_ext_id_is_drawn_again, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
