/*
 * node_test.h — the fs/ tests' nodes: callers, walking a path from the
 * root the way the kernel looks names up, rendering a generated file.
 * Included by test_util.h only when fs/fuse/attr.h was included first.
 */
#ifndef IMGFS_NODE_TEST_H
#define IMGFS_NODE_TEST_H

#include "sql_test.h"

/* A caller acting as account_id (0: none), shown as uid/gid 1000. */
static inline struct fs_caller ut_caller(int64_t account_id)
{
	struct fs_caller c = {.account_id = account_id, .uid = 1000, .gid = 1000};
	return c;
}

/* The node of an absolute path ("/regions/cn-north-1/public/centos-7.4/id"),
 * found by lookups from the root as the kernel would; 0 or -errno. */
static inline int ut_walk(struct fs_ctx *ctx, const struct fs_caller *caller, const char *path, struct fs_node *out)
{
	char buf[1024], *save = NULL;
	struct fs_node *cur = malloc(sizeof *cur);
	int rc;

	assert_non_null(cur);
	snprintf(buf, sizeof buf, "%s", path);
	if ((rc = fs_node_resolve(ctx, caller, FS_INO_ROOT, out)) < 0)
		goto out;
	for (char *name = strtok_r(buf, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		*cur = *out;
		if ((rc = fs_node_lookup(ctx, cur, name, out)) < 0)
			goto out;
	}
out:
	free(cur);
	return rc;
}

/* Like ut_walk, failing the test when the path does not resolve. */
static inline void ut_node(struct fs_ctx *ctx, const struct fs_caller *caller, const char *path, struct fs_node *out)
{
	int rc = ut_walk(ctx, caller, path, out);

	if (rc < 0)
		fail_msg("%s: %d", path, rc);
}

/* Renders a generated file (an attribute, quota, images.csv or .json) into b. */
static inline void ut_render(struct fs_ctx *ctx, const struct fs_node *n, struct fs_buf *b)
{
	memset(b, 0, sizeof *b);
	if (n->what == FS_W_QUOTA)
		fs_show_quota(n, ctx, b);
	else if (n->what == FS_W_CSV)
		fs_show_csv(n, ctx, b, NULL);
	else if (n->what == FS_W_JSON)
		fs_show_json(n, ctx, b, NULL);
	else if (n->what == FS_W_ATTR && n->attr && n->attr->show)
		n->attr->show(n, ctx, b);
	else
		fail_msg("node %llx is not a generated file", (unsigned long long)n->ino);
	assert_false(b->failed);
	fs_buf_put(b, "", 0); /* so that an empty file is "" too, not NULL */
	assert_non_null(b->p);
}

#endif
