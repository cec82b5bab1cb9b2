/*
 * stores.c — the regions' blob stores (SPEC §1, §13): a store's spec
 * checked, a region's store opened once and kept, every store checked at
 * a mount.
 *
 * A region's store is "" (the state directory's regions/<name>), "dir:PATH"
 * or "rados:..." (blobstore/backend/).  Stores are opened lazily, outside
 * the model's lock, and live until model_close (state.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgfs_lock.h"
#include "model_int.h"

int model_store_spec(model *m, const char *region, const char *store, char out[MODEL_TEXT_MAX + 1],
                     struct model_err *err)
{
	char why[512] = "";
	struct stat st;
	int rc;
	if (!store) {
		/* The embedded default: the state directory's regions/<name>,
		 * recorded by path when hosts share the metadata. */
		if (m->cluster && !m->dir)
			return model_fail(err, -EPERM, "a region's default store is in a state directory: give --store "
			                               "or a state directory");
		if (m->cluster)
			snprintf(out, MODEL_TEXT_MAX + 1, "dir:%s/regions/%s", m->dir, region);
		else
			out[0] = '\0';
		return 0;
	}
	if (strlen(store) > PATH_MAX - 64)
		return model_fail(err, -ENAMETOOLONG, "the store's spec is too long");
	if (strncmp(store, "rados:", 6) == 0) {
		/* Chunks in a Ceph pool (blobstore/backend/rados.c): the spec
		 * well-formed, the cluster answering, the pool there and holding
		 * no other region's chunks — now, not at the first write. */
		if ((rc = blob_store_check_spec(store, region, m->secret, why, sizeof(why))) < 0)
			return model_fail(err, rc, "%s", why);
		snprintf(out, MODEL_TEXT_MAX + 1, "%s", store);
		return 0;
	}
	if (strncmp(store, "dir:", 4) != 0)
		return model_fail(err, -EINVAL, "a store is dir:PATH or rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]");
	if (store[4] != '/')
		return model_fail(err, -EINVAL, "dir:PATH takes an absolute path (every host must reach it)");
	if (stat(store + 4, &st) < 0)
		return model_fail(err, -errno, "%s: %s", store + 4, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return model_fail(err, -ENOTDIR, "%s is not a directory", store + 4);
	if (access(store + 4, W_OK | X_OK) < 0)
		return model_fail(err, -errno, "%s: %s", store + 4, strerror(errno));
	snprintf(out, MODEL_TEXT_MAX + 1, "%s", store);
	return 0;
}

/* A store's own lines (blobstore.h: blob_store_set_log) go to the model's
 * log when fs/ gave it one, else to stderr (admin commands). */
static void store_log(void *arg, const char *line)
{
	model *m = arg;
	if (m->log_fn)
		model_log(m, "%s", line);
	else
		fprintf(stderr, "imgfs: %s\n", line);
}

/* Opens region r's store as its recorded spec says: "" the state
 * directory's regions/<name>, "dir:PATH", "rados:..." (whose wblobs stay
 * in regions/<name> on this host). */
static int store_open(model *m, const struct model_region *r, blob_store **out, char *why, size_t cap)
{
	char dir[PATH_MAX];
	int rc;
	if (!m->dir) { /* opened with MODEL_OPEN_NO_FILES */
		snprintf(why, cap, "no state directory: a store keeps files of this host there");
		return -EPERM;
	}
	if (snprintf(dir, sizeof(dir), "%s/regions/%s", m->dir, r->name) >= (int)sizeof(dir)) {
		snprintf(why, cap, "the region's directory name is too long");
		return -ENAMETOOLONG;
	}
	if ((rc = blob_store_open_spec(out, r->store, dir, r->name, m->secret, why, cap)) < 0)
		return rc;
	blob_store_set_log(*out, store_log, m);
	return 0;
}

int model_store(model *m, int64_t region_id, blob_store **out)
{
	struct model_region r;
	char why[512];
	blob_store *s = NULL;
	int rc;
	if (region_id <= 0 || region_id >= MODEL_MAX_REGIONS)
		return -ENOENT;
	IMGFS_LOCK(&m->lock, model_lock);
	*out = m->stores[region_id];
	IMGFS_UNLOCK(&m->lock, model_lock);
	if (*out)
		return 0;
	if ((rc = model_region_get(m, region_id, &r)) < 0)
		return rc;
	/* Opened outside the lock (a RADOS store connects to its cluster:
	 * other regions' readers must not wait); a racing opener's is
	 * dropped. */
	if ((rc = store_open(m, &r, &s, why, sizeof(why))) < 0) {
		store_log(m, why);
		return rc;
	}
	IMGFS_LOCK(&m->lock, model_lock);
	if (!m->stores[region_id]) {
		m->stores[region_id] = s;
		s = NULL;
	}
	*out = m->stores[region_id];
	IMGFS_UNLOCK(&m->lock, model_lock);
	blob_store_close(s);
	return 0;
}

struct stores_check {
	model *m;
	struct model_err *err;
};

static int stores_check_one(void *arg, const struct model_region *r)
{
	struct stores_check *c = arg;
	char why[512] = "";
	blob_store *s = NULL;
	int rc;
	if ((rc = store_open(c->m, r, &s, why, sizeof(why))) < 0)
		return model_fail(c->err, rc, "region %s: %s", r->name, why);
	blob_store_close(s);
	return 0;
}

int model_stores_check(model *m, struct model_err *err)
{
	struct stores_check c = {m, err};
	return model_region_list(m, 0, stores_check_one, &c);
}
