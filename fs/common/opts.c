/*
 * opts.c — a command's options as a table, read with getopt_long: `imgfs
 * serve` (fs/serve/opts.c), `imgfs wait` (fs/cli/wait.c) and the global
 * options of `imgfs admin` (fs/cli/admin.c, whose per-command options use
 * fs_opts_why).  The shape of sshfs's SSHFS_OPT and passthrough_ll's
 * lo_opts: one row per option names where its value goes in the command's
 * options struct and how it is checked; the command parses into the struct
 * and then starts from the struct alone.  Every refusal is one line on
 * stderr that names the argument ("imgfs serve: unknown option --bogus",
 * "imgfs serve: --threads takes 1 to 64"), then the caller's usage, and
 * exit status 2 — the same words in every command (reference §15).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

void fs_opts_why(char *why, size_t cap, int c, char **argv)
{
	const char *bad = argv[optind - 1];
	size_t len = strcspn(bad, "=");
	int shown = (int)(len < 64 ? len : 64);
	if (optopt >= FS_OPT_FIRST && bad[len]) /* --help=x */
		snprintf(why, cap, "%.*s takes no value", shown, bad);
	else if (optopt >= FS_OPT_FIRST) /* one of ours, its value missing */
		snprintf(why, cap, "%.*s needs a value", shown, bad);
	else if (c == ':')
		snprintf(why, cap, "-%c needs a value", optopt);
	else if (optopt > 0)
		snprintf(why, cap, "unknown option -%c", optopt);
	else /* a long option nobody has, named without its value */
		snprintf(why, cap, "unknown option %.*s", shown, bad);
}

static bool set_uint(const char *s, const struct fs_opt *r, unsigned *out)
{
	char *end;
	if (s[0] < '0' || s[0] > '9') /* strtoul takes " 4" and "-1" */
		return false;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v < r->lo || v > r->hi)
		return false;
	*out = (unsigned)v;
	return true;
}

static bool set_seconds(const char *s, double *out)
{
	char *end;
	if (!s[0])
		return false;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !(v >= 0) || v > FS_OPT_SECONDS_MAX)
		return false;
	*out = v;
	return true;
}

int fs_opts_parse(const char *prog, const struct fs_opt *rows, void *out, enum fs_args args, int argc, char **argv,
                  int *first)
{
	struct option longopts[FS_OPTS_MAX + 1];
	char shorts[2 * FS_OPTS_MAX + 3];
	size_t n = 0, ns = 0;
	char why[160];
	int c;

	/* "+": the first argument that is no option ends the options (where
	 * none is taken, it is then refused); without: getopt gathers them
	 * after the options.  ":" tells a missing value from an unknown option. */
	if (args != FS_ARGS_ANYWHERE)
		shorts[ns++] = '+';
	shorts[ns++] = ':';
	for (; rows[n].name; n++) {
		if (n == FS_OPTS_MAX) {
			fprintf(stderr, "%s: more than %d options in its table\n", prog, FS_OPTS_MAX);
			return 2;
		}
		int has_arg = rows[n].kind == FS_OPT_FLAG || rows[n].kind == FS_OPT_HELP ? no_argument : required_argument;
		longopts[n] = (struct option){rows[n].name, has_arg, NULL, FS_OPT_FIRST + (int)n};
		if (rows[n].short_name) {
			shorts[ns++] = (char)rows[n].short_name;
			if (has_arg == required_argument)
				shorts[ns++] = ':';
		}
	}
	shorts[ns] = '\0';
	longopts[n] = (struct option){0, 0, 0, 0};
	opterr = 0;
	optind = 0; /* getopt's full reset: another command may have parsed before */
	for (;;) {
		int idx = -1;
		if ((c = getopt_long(argc, argv, shorts, longopts, &idx)) == -1)
			break;
		if (c == '?' || c == ':') {
			fs_opts_why(why, sizeof(why), c, argv);
			goto bad;
		}
		const struct fs_opt *r = NULL;
		if (c >= FS_OPT_FIRST)
			r = &rows[c - FS_OPT_FIRST];
		for (size_t i = 0; !r && i < n; i++)
			if (rows[i].short_name == c)
				r = &rows[i];
		char *field = (char *)out + r->off;
		switch (r->kind) {
		case FS_OPT_HELP:
			return 1;
		case FS_OPT_FLAG:
			*(bool *)field = true;
			break;
		case FS_OPT_STR:
			*(const char **)field = optarg;
			break;
		case FS_OPT_UINT:
			if (!set_uint(optarg, r, (unsigned *)field)) {
				snprintf(why, sizeof(why), "--%s takes %u to %u", r->name, r->lo, r->hi);
				goto bad;
			}
			break;
		case FS_OPT_SECONDS:
			if (!set_seconds(optarg, (double *)field)) {
				snprintf(why, sizeof(why), "--%s takes a number of seconds", r->name);
				goto bad;
			}
			break;
		}
	}
	if (args == FS_ARGS_NONE && optind < argc) {
		snprintf(why, sizeof(why), "unexpected argument %.64s", argv[optind]);
		goto bad;
	}
	if (first)
		*first = optind;
	return 0;
bad:
	fprintf(stderr, "%s: %s\n", prog, why);
	return 2;
}
