/*
 * admin_token.c — the image API's identities in `imgfs admin` (SPEC §19):
 * `token ACCOUNT [DURATION]`, `token list ACCOUNT`, `token revoke ACCOUNT
 * [TOKEN]`, and `account set NAME api-password` (the password read from
 * standard input, never from the command line, which ps shows everyone).
 *
 * Who calls it: admin.c's command table (cmd_token, account_set).  Each
 * returns the exit status admin.c gives: 0, 1 for a refusal (one line:
 * what, errno name, reason), 2 for a usage error (the caller prints the
 * usage).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "model.h"

static int token_refused(const char *what, int rc, const struct model_err *err)
{
	fprintf(stderr, "imgfs admin: %s: %s %s\n", what, fs_errno_name(rc), err && err->msg[0] ? err->msg : strerror(-rc));
	return 1;
}

int fs_admin_duration(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	int64_t unit = 0;
	if (errno || end == s || v <= 0)
		return -EINVAL;
	switch (*end) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	default: return -EINVAL;
	}
	if (end[1] != '\0' || v > INT64_MAX / 86400)
		return -EINVAL;
	*out = v * unit;
	return 0;
}

static int print_token(void *arg, int64_t id, int64_t created, int64_t expires, const char *via)
{
	char c[21], e[21];
	(void)arg;
	model_fmt_time(c, created);
	model_fmt_time(e, expires);
	printf("%lld %s %s %s\n", (long long)id, c, e, via);
	return 0;
}

int fs_admin_token(model *m, int argc, char **argv)
{
	struct model_err err = {0};
	char token[MODEL_TOKEN_LEN + 1], when[21];
	int64_t seconds = 86400, expires = 0;
	int rc;
	if (argc == 2 && strcmp(argv[0], "list") == 0) {
		if ((rc = model_token_list(m, argv[1], (int64_t)time(NULL), print_token, NULL)) < 0)
			return token_refused(argv[1], rc, rc == -ENOENT ? &(struct model_err){.msg = "no such account"} : NULL);
		return 0;
	}
	if ((argc == 2 || argc == 3) && strcmp(argv[0], "revoke") == 0) {
		if ((rc = model_token_revoke(m, argv[1], argc == 3 ? argv[2] : NULL, &err)) < 0)
			return token_refused(argv[1], rc, &err);
		printf("%d token(s) of %s revoked\n", rc, argv[1]);
		return 0;
	}
	if (argc < 1 || argc > 2)
		return 2;
	if (argc == 2 && (fs_admin_duration(argv[1], &seconds) < 0 || seconds > MODEL_TOKEN_MAX_SECONDS)) {
		fprintf(stderr, "imgfs admin: %s is not a duration (30s, 90m, 24h, 30d; at most 366d)\n", argv[1]);
		return 2;
	}
	if ((rc = model_token_new(m, argv[0], seconds, "admin", token, &expires, &err)) < 0)
		return token_refused(argv[0], rc, &err);
	model_fmt_time(when, expires);
	printf("%s %s\n", token, when);
	explicit_bzero(token, sizeof(token));
	return 0;
}

int fs_admin_api_password(model *m, const char *account)
{
	struct model_err err = {0};
	char pw[256];
	size_t n = 0;
	int rc;
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "API password for %s (8 to 128 bytes; empty: none): ", account);
	if (!fgets(pw, sizeof(pw), stdin))
		pw[0] = '\0';
	n = strcspn(pw, "\n");
	if (pw[n] != '\n' && !feof(stdin)) {
		explicit_bzero(pw, sizeof(pw));
		fprintf(stderr, "imgfs admin: %s: EINVAL an API password is 8 to 128 bytes\n", account);
		return 1;
	}
	pw[n] = '\0';
	rc = model_account_set_api_password(m, account, pw, &err);
	explicit_bzero(pw, sizeof(pw));
	return rc < 0 ? token_refused(account, rc, &err) : 0;
}
