/*
 * test_opts.c — fs/common/opts.c, the option tables of imgfs serve, imgfs
 * wait and imgfs admin (SPEC §15): every kind at its bounds and one past,
 * the three places an argument that is no option may be, and the one line
 * each refusal says (it names the argument), as a table of command lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common.h"

struct cmd {
	const char *name;
	unsigned count;
	double seconds;
	bool quiet;
};

static const struct fs_opt rows[] = {
	{"name", 'n', FS_OPT_STR, offsetof(struct cmd, name), 0, 0}, /* first: getopt's value FS_OPT_FIRST */
	{"help", 'h', FS_OPT_HELP, 0, 0, 0},
	{"count", 0, FS_OPT_UINT, offsetof(struct cmd, count), 1, 64},
	{"timeout", 't', FS_OPT_SECONDS, offsetof(struct cmd, seconds), 0, 0},
	{"quiet", 'q', FS_OPT_FLAG, offsetof(struct cmd, quiet), 0, 0},
	{NULL, 0, 0, 0, 0, 0},
};

/* Runs the parser on a command line of up to 8 words, its stderr caught
 * in said (its first line, without the newline). */
static int run(struct cmd *c, enum fs_args args, int *first, char *said, size_t cap, const char *const *words)
{
	char *argv[10] = {"cmd"};
	char copy[9][128];
	int argc = 1;
	for (; words[argc - 1]; argc++) {
		snprintf(copy[argc], sizeof(copy[argc]), "%s", words[argc - 1]);
		argv[argc] = copy[argc];
	}
	FILE *f = tmpfile();
	assert_non_null(f);
	fflush(stderr);
	int saved = dup(2);
	dup2(fileno(f), 2);
	*c = (struct cmd){.count = 7, .seconds = -1};
	int rc = fs_opts_parse("cmd", rows, c, args, argc, argv, first);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	said[0] = '\0';
	if (fgets(said, (int)cap, f))
		said[strcspn(said, "\n")] = '\0';
	fclose(f);
	/* what parsed is checked against copies that the table cannot point to
	 * once this frame is gone: keep the name's text */
	if (c->name) {
		static char name[64];
		snprintf(name, sizeof(name), "%s", c->name);
		c->name = name;
	}
	return rc;
}

#define W(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_refusals_name_the_argument(void **state)
{
	(void)state;
	const struct {
		const char *const *words;
		const char *said;
	} cases[] = {
		{W("--bogus"), "cmd: unknown option --bogus"},
		{W("--bogus=3"), "cmd: unknown option --bogus"},
		{W("--count", "3", "--bogus", "x"), "cmd: unknown option --bogus"},
		{W("-z"), "cmd: unknown option -z"},
		{W("-qz"), "cmd: unknown option -z"},
		{W("--count"), "cmd: --count needs a value"},
		{W("--name"), "cmd: --name needs a value"},
		{W("-n"), "cmd: -n needs a value"},
		/* a name is shown up to 64 bytes, never with its value */
		{W("--o123456789o123456789o123456789o123456789o123456789o123456789o=1"),
		 "cmd: unknown option --o123456789o123456789o123456789o123456789o123456789o123456789o"},
		{W("--o123456789o123456789o123456789o123456789o123456789o123456789o123456789"),
		 "cmd: unknown option --o123456789o123456789o123456789o123456789o123456789o123456789o1"},
		{W("-t"), "cmd: -t needs a value"},
		{W("--quiet=yes"), "cmd: --quiet takes no value"},
		{W("--help=1"), "cmd: --help takes no value"},
		{W("--count", "0"), "cmd: --count takes 1 to 64"},
		{W("--count", "65"), "cmd: --count takes 1 to 64"},
		{W("--count", "-1"), "cmd: --count takes 1 to 64"},
		{W("--count", " 4"), "cmd: --count takes 1 to 64"},
		{W("--count", "4x"), "cmd: --count takes 1 to 64"},
		{W("--count", ""), "cmd: --count takes 1 to 64"},
		{W("--count", "99999999999999999999"), "cmd: --count takes 1 to 64"},
		{W("--timeout", "-0.5"), "cmd: --timeout takes a number of seconds"},
		{W("--timeout", "nan"), "cmd: --timeout takes a number of seconds"},
		{W("--timeout", ""), "cmd: --timeout takes a number of seconds"},
		{W("--timeout", "31536000.5"), "cmd: --timeout takes a number of seconds"},
		{W("--timeout", "1s"), "cmd: --timeout takes a number of seconds"},
		{W("x"), "cmd: unexpected argument x"},
		{W("-q", "x", "--bogus"), "cmd: unexpected argument x"},
		{W("-q", "--", "x"), "cmd: unexpected argument x"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cmd c;
		char said[200];
		int rc = run(&c, FS_ARGS_NONE, NULL, said, sizeof(said), cases[i].words);
		if (rc != 2 || strcmp(said, cases[i].said) != 0)
			fail_msg("case %zu (%s ...): %d, \"%s\"; want 2, \"%s\"", i, cases[i].words[0], rc, said, cases[i].said);
	}
}

static void test_values_at_their_bounds(void **state)
{
	(void)state;
	struct cmd c;
	char said[200];
	assert_int_equal(run(&c, FS_ARGS_NONE, NULL, said, sizeof(said), W("--count", "1")), 0);
	assert_int_equal(c.count, 1);
	assert_int_equal(run(&c, FS_ARGS_NONE, NULL, said, sizeof(said), W("--count", "09")), 0);
	assert_int_equal(c.count, 9);
	assert_int_equal(run(&c, FS_ARGS_NONE, NULL, said, sizeof(said), W("--count=64")), 0);
	assert_int_equal(c.count, 64);
	assert_string_equal(said, "");
	assert_int_equal(run(&c, FS_ARGS_NONE, NULL, said, sizeof(said), W("--timeout", "0")), 0);
	assert_true(c.seconds == 0);
	assert_int_equal(run(&c, FS_ARGS_NONE, NULL, said, sizeof(said), W("-t", "31536000")), 0);
	assert_true(c.seconds == FS_OPT_SECONDS_MAX);
	assert_int_equal(run(&c, FS_ARGS_NONE, NULL, said, sizeof(said), W("-t2.5", "-qn", "x y", "--name=z")), 0);
	assert_true(c.seconds == 2.5);
	assert_true(c.quiet);
	assert_string_equal(c.name, "z"); /* the last one given */
	/* nothing given: the caller's defaults stay */
	assert_int_equal(run(&c, FS_ARGS_NONE, NULL, said, sizeof(said), W("--name", "a")), 0);
	assert_int_equal(c.count, 7);
	assert_false(c.quiet);
	assert_true(c.seconds == -1);
	/* a unique prefix is the option (getopt_long's rule) */
	assert_int_equal(run(&c, FS_ARGS_NONE, NULL, said, sizeof(said), W("--cou", "9")), 0);
	assert_int_equal(c.count, 9);
}

static void test_help(void **state)
{
	(void)state;
	struct cmd c;
	char said[200];
	assert_int_equal(run(&c, FS_ARGS_NONE, NULL, said, sizeof(said), W("--help")), 1);
	assert_int_equal(run(&c, FS_ARGS_NONE, NULL, said, sizeof(said), W("--count", "3", "-h")), 1);
	assert_string_equal(said, "");
}

static void test_where_arguments_go(void **state)
{
	(void)state;
	struct cmd c;
	char said[200];
	int first = -1;
	/* anywhere: gathered after the options */
	const char *const *w = W("a", "-q", "b", "--count", "3");
	char *argv[6] = {"cmd"};
	char copy[5][8];
	for (int i = 0; i < 5; i++) {
		snprintf(copy[i], sizeof(copy[i]), "%s", w[i]);
		argv[i + 1] = copy[i];
	}
	assert_int_equal(fs_opts_parse("cmd", rows, &c, FS_ARGS_ANYWHERE, 6, argv, &first), 0);
	assert_int_equal(first, 4);
	assert_string_equal(argv[4], "a");
	assert_string_equal(argv[5], "b");
	assert_true(c.quiet);
	/* after: the first one ends the options (a command's name and its own) */
	assert_int_equal(run(&c, FS_ARGS_AFTER, &first, said, sizeof(said), W("-q", "list", "--bogus")), 0);
	assert_int_equal(first, 2);
	assert_int_equal(run(&c, FS_ARGS_AFTER, &first, said, sizeof(said), W("--count", "2")), 0);
	assert_int_equal(first, 3);
	assert_int_equal(run(&c, FS_ARGS_ANYWHERE, &first, said, sizeof(said), W("--", "-q")), 0);
	assert_int_equal(first, 2);
	assert_false(c.quiet);
	/* a second parse in one process starts afresh (getopt's state reset) */
	assert_int_equal(run(&c, FS_ARGS_NONE, NULL, said, sizeof(said), W("--bogus")), 2);
	assert_int_equal(run(&c, FS_ARGS_NONE, NULL, said, sizeof(said), W("--count", "5")), 0);
	assert_int_equal(c.count, 5);
}

static void test_first_row_flag(void **state)
{
	(void)state;
	/* a flag as row 0 (getopt's value FS_OPT_FIRST itself) given a value */
	static const struct fs_opt flag_first[] = {
		{"flag", 0, FS_OPT_FLAG, offsetof(struct cmd, quiet), 0, 0},
		{NULL, 0, 0, 0, 0, 0},
	};
	char flag[] = "--flag=1", *argv[] = {"cmd", flag};
	struct cmd c = {0};
	FILE *f = tmpfile();
	fflush(stderr);
	int saved = dup(2);
	dup2(fileno(f), 2);
	int rc = fs_opts_parse("cmd", flag_first, &c, FS_ARGS_NONE, 2, argv, NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	char said[100] = "";
	assert_non_null(fgets(said, sizeof(said), f));
	fclose(f);
	assert_int_equal(rc, 2);
	assert_string_equal(said, "cmd: --flag takes no value\n");
}

static void test_table_bound(void **state)
{
	(void)state;
	/* FS_OPTS_MAX rows parse; one more is the table's fault, said */
	struct fs_opt many[FS_OPTS_MAX + 2];
	char names[FS_OPTS_MAX + 1][16];
	struct cmd c = {0};
	for (int i = 0; i <= FS_OPTS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "o%d", i);
		many[i] = (struct fs_opt){names[i], 0, FS_OPT_FLAG, offsetof(struct cmd, quiet), 0, 0};
	}
	char o31[] = "--o31", *argv[] = {"cmd", o31};
	many[FS_OPTS_MAX] = (struct fs_opt){0};
	assert_int_equal(fs_opts_parse("cmd", many, &c, FS_ARGS_NONE, 2, argv, NULL), 0);
	assert_true(c.quiet);
	many[FS_OPTS_MAX] = (struct fs_opt){names[FS_OPTS_MAX], 0, FS_OPT_FLAG, offsetof(struct cmd, quiet), 0, 0};
	many[FS_OPTS_MAX + 1] = (struct fs_opt){0};
	FILE *f = tmpfile();
	int saved = dup(2);
	dup2(fileno(f), 2);
	int rc = fs_opts_parse("cmd", many, &c, FS_ARGS_NONE, 2, argv, NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fclose(f);
	assert_int_equal(rc, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals_name_the_argument),
		cmocka_unit_test(test_values_at_their_bounds),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_where_arguments_go),
		cmocka_unit_test(test_first_row_flag),
		cmocka_unit_test(test_table_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
