/*
 * fuzz_glance_body.h — the body of the image API's fuzzer (fuzz_glance.c)
 * and of its corpus run in the unit tests (tests/unit/fs/serve/glance/
 * test_parse.c): what clients send, through fs/serve/glance/parse.c.
 *
 * Input: the first byte picks the parser — 0 a create's body, 1 a JSON
 * patch (the image having the properties "a" and "os_distro"), 2 a tag
 * added to, 3 removed from, the tags of the rest's first line — then the
 * text.  Beyond crashes and sanitizer reports, each answer is checked
 * against what it promises: a refusal has a status of 400, 403, 409 or
 * 413 and a reason; a change list is within its bound, every op a known
 * kind with what that kind needs (a property's name 1..255 bytes, a tags
 * text within the tags file's bound, lines each ending in a newline);
 * an edited tags text is terminated within its buffer.  Every input is
 * also read as a listing's filter value (an operator, an in: list, a time).
 */
#ifndef IMGFS_FUZZ_GLANCE_BODY_H
#define IMGFS_FUZZ_GLANCE_BODY_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "glance.h"

static void glance_fuzz_must(int ok)
{
	if (!ok)
		abort();
}

static bool glance_fuzz_has(void *arg, const char *key)
{
	(void)arg;
	return strcmp(key, "a") == 0 || strcmp(key, "os_distro") == 0;
}

static void glance_fuzz_check_ops(const struct glance_ops *ops)
{
	glance_fuzz_must(ops->n <= GLANCE_PATCH_OPS + 16);
	for (size_t i = 0; i < ops->n; i++) {
		const struct model_api_op *o = &ops->op[i];
		glance_fuzz_must(o->kind > MODEL_API_INVALID && o->kind <= MODEL_API_DESCRIPTION);
		if (o->kind == MODEL_API_PROP)
			glance_fuzz_must(o->key && strlen(o->key) >= 1 && strlen(o->key) <= MODEL_PROP_KEY_MAX);
		if (o->kind == MODEL_API_TAGS) {
			size_t n = strlen(o->value);
			glance_fuzz_must(n <= MODEL_TEXT_MAX && (n == 0 || o->value[n - 1] == '\n'));
		}
		if (o->kind == MODEL_API_FLAG)
			glance_fuzz_must(o->num == MODEL_GFLAG_SHARED || o->num == MODEL_GFLAG_PROTECTED ||
			                 o->num == MODEL_GFLAG_HIDDEN);
	}
}

static int glance_fuzz_one(const uint8_t *data, size_t size)
{
	if (size < 1 || size > GLANCE_BODY_MAX)
		return 0;
	int mode = data[0] & 3;
	char *text = malloc(size);
	struct glance_ops *ops = malloc(sizeof(*ops));
	struct glance_bad bad = {0};
	if (!text || !ops) {
		free(text);
		free(ops);
		return 0;
	}
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (mode <= 1) {
		json_t *j = json_loadb(text, size - 1, JSON_REJECT_DUPLICATES, NULL);
		const char *owner = NULL;
		int rc = mode == 0 ? glance_parse_create(j, ops, &owner, &bad)
		                   : glance_parse_patch(j, "", glance_fuzz_has, NULL, ops, &bad);
		if (rc < 0) {
			glance_fuzz_must(bad.status == 400 || bad.status == 403 || bad.status == 409 || bad.status == 413);
			glance_fuzz_must(bad.why[0] != '\0' && strnlen(bad.why, sizeof(bad.why)) < sizeof(bad.why));
		} else {
			glance_fuzz_must(rc == 0);
			glance_fuzz_check_ops(ops);
		}
		json_decref(j);
	} else {
		/* the tags: the text after the first line; the tag: the first line */
		char *nl = strchr(text, '\n');
		const char *tags = nl ? nl + 1 : "";
		if (nl)
			*nl = '\0';
		if (strlen(tags) <= MODEL_TEXT_MAX) {
			char *out = malloc(MODEL_TEXT_MAX + 1), why[160] = "";
			if (out) {
				memset(out, 'x', MODEL_TEXT_MAX + 1);
				int rc = glance_tags_edit(tags, text, mode == 2, out, why, sizeof(why));
				glance_fuzz_must(rc == 0 || rc == -EINVAL || rc == -ENOENT || rc == -EDQUOT);
				glance_fuzz_must(memchr(out, '\0', MODEL_TEXT_MAX + 1) != NULL);
				if (rc == -EINVAL || rc == -EDQUOT)
					glance_fuzz_must(why[0] != '\0');
				free(out);
			}
		}
	}
	/* Every text is also a listing's filter value: its operator, an in:
	 * list of it (each value inside the text, at most GLANCE_IN_MAX) and a
	 * time (nothing read past the text's end: the sanitizers). */
	const char *value;
	char name[32];
	int op = glance_parse_op(text, &value, name);
	glance_fuzz_must(op >= -1 && op <= GLANCE_OP_IN && value >= text && value <= text + strlen(text));
	glance_fuzz_must(strnlen(name, sizeof(name)) < sizeof(name));
	struct glance_in in;
	if (glance_parse_in(text, &in, &bad) == 0) {
		glance_fuzz_must(in.n >= 0 && in.n <= GLANCE_IN_MAX);
		for (int i = 0; i < in.n; i++)
			glance_fuzz_must(in.v[i] >= text && in.v[i] + in.len[i] <= text + strlen(text));
	} else
		glance_fuzz_must(bad.status == 400 && bad.why[0] != '\0');
	int64_t ns;
	(void)glance_parse_time(text, &ns);
	free(ops);
	free(text);
	return 0;
}

#endif
