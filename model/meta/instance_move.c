/*
 * instance_move.c — an instance outlives its host (SPEC §2.4, §13): a
 * stopped instance, or one whose host was removed, starts on another host
 * when every disk it has is reachable from there; a local system disk
 * stays on its host, and an instance that lost it with its host says so.
 *
 * Which disks move.  A writable disk is reachable from every host when it
 * is kept in its region's cluster ("c<id>": model_wblob_where), or when
 * its region's store has no cluster (a dir: store every host mounts: its
 * files are there for everyone).  A local system disk (vda of a `local`
 * instance) stays on its host whatever the store, as a local disk does in
 * every cloud; so does any disk kept on a host of a region whose store has
 * a cluster (one made before cloud disks lived there, or an encrypted
 * one): its files are that host's.
 *
 * A move: the refusals first (read-only), then every cluster disk's last
 * writer fenced (blob_wblob_fence: the old host's client blocklisted, so
 * nothing of it lands from then on, SPEC §13), then one guarded update
 * (host = this one, status running, `WHERE host = old`).  A fence that
 * fails refuses the start, nothing changed (EIO: the cluster could not be
 * told, not a verdict); a fence of a move that loses the race to another
 * change only fenced a client, which reopens.  A late open on the old
 * host (after the fence, before the update) is fenced again by this
 * host's first open of the disk, which fences whoever is recorded.
 *
 * Who calls it: instance.c (writes of `start` to status), fs/ (status's
 * rendering; disk opens).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "instance_int.h"

/* Whether host is still registered (its row: alive or lapsed): 1, 0, -errno. */
static int host_registered(model *m, const char *host)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT 1 FROM hosts WHERE name = ?"))))
		return -EIO;
	db_bind_text(st, 1, host);
	rc = db_step(st);
	db_reset(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : db_errno(rc);
}

/* Whether disk d of vm stays on its host (see the top). */
static bool disk_stays(const struct model_instance *vm, const struct model_vm_disk *d, const blob_store *s)
{
	if (!d->wblob[0])
		return false; /* cdrom, cidata: sealed, by reference */
	if (d->index == 0 && vm->system_disk == MODEL_TYPE_LOCAL)
		return true;
	return model_wblob_where(d->wblob) == BLOB_WB_HOST && blob_store_has_cluster(s);
}

/* The first disk of vm that stays on its host, NULL when none; *n, and
 * disks, its disks. */
static const struct model_vm_disk *staying_disk(model *m, const struct model_instance *vm, blob_store *s,
                                                struct model_vm_disk disks[MODEL_VM_SLOTS], int *n)
{
	if ((*n = model_instance_disks(m, vm->id, disks)) < 0)
		return NULL;
	for (int i = 0; i < *n; i++)
		if (disk_stays(vm, &disks[i], s))
			return &disks[i];
	return NULL;
}

/* "its local system disk" or "its disk vdb". */
static void disk_words(char *out, size_t cap, const struct model_instance *vm, const struct model_vm_disk *d)
{
	if (d->index == 0 && vm->system_disk == MODEL_TYPE_LOCAL)
		snprintf(out, cap, "its local system disk");
	else
		snprintf(out, cap, "its disk %s", d->name);
}

int model_instance_lost(model *m, const struct model_instance *vm, char *why, size_t cap)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	const struct model_vm_disk *d;
	blob_store *s;
	char words[32];
	int n, rc;

	if (!m->cluster || !vm->host[0] || strcmp(vm->host, model_host(m)) == 0)
		return 0;
	if ((rc = host_registered(m, vm->host)) != 0)
		return rc < 0 ? rc : 0;
	if ((rc = model_store(m, vm->region_id, &s)) < 0)
		return rc;
	if (!(d = staying_disk(m, vm, s, disks, &n)))
		return n < 0 ? n : 0;
	disk_words(words, sizeof(words), vm, d);
	snprintf(why, cap, "%s was on host %s, which was removed", words, vm->host);
	return 1;
}

int model_instance_disk_here(model *m, const struct model_instance *vm, const char *wblob, struct model_err *err)
{
	char why[160];
	blob_store *s;
	int rc;

	/* Only where a host's files are out of the others' reach: a disk kept
	 * on a removed host of a region with a cluster (elsewhere its files
	 * are in the shared store, as before). */
	if (!m->cluster || !vm->host[0] || strcmp(vm->host, model_host(m)) == 0 ||
	    model_wblob_where(wblob) == BLOB_WB_CLUSTER || model_store(m, vm->region_id, &s) < 0 ||
	    !blob_store_has_cluster(s))
		return 0;
	if ((rc = model_instance_lost(m, vm, why, sizeof(why))) <= 0)
		return rc;
	return model_fail(err, -EIO, "instance %s: %s", vm->name, why);
}

/* Fences the last writer of each of vm's cluster disks: 0, or -EIO with
 * the reason (the cluster could not be told). */
static int fence_disks(model *m, const struct model_instance *vm, blob_store *s, const struct model_vm_disk *disks,
                       int n, int *fenced, struct model_err *err)
{
	char why[256];
	int rc;

	*fenced = 0;
	for (int i = 0; i < n; i++) {
		if (!disks[i].wblob[0] || model_wblob_where(disks[i].wblob) != BLOB_WB_CLUSTER)
			continue;
		if ((rc = blob_wblob_fence(s, disks[i].wblob, why, sizeof(why))) < 0 && rc != -ENOENT)
			return model_fail(err, -EIO, "cannot fence host %s's writer of %s (the cluster could not be told): %s",
			                  vm->host, disks[i].name, why[0] ? why : strerror(-rc));
		*fenced += rc > 0;
	}
	return 0;
}

int instance_start_here(model *m, int64_t id, struct model_err *err)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	const struct model_vm_disk *d;
	struct model_instance vm;
	struct model_conn *c;
	blob_store *s;
	char words[32], old[MODEL_HOST_MAX + 1];
	db_stmt *st;
	int n, fenced, registered, rc;

	if ((rc = model_instance_get(m, id, &vm)) < 0)
		return model_fail(err, rc, rc == -ENOENT ? "no such instance" : "cannot read the instance");
	if (!m->cluster || !vm.host[0] || strcmp(vm.host, model_host(m)) == 0)
		return 0; /* here: the caller starts it as always */
	if ((registered = host_registered(m, vm.host)) < 0)
		return model_fail_db(err, registered);
	/* One writer at a time: a running instance on a registered host is
	 * that host's (lapsed or not: only `host remove` says it is dead). */
	if (registered && vm.status == MODEL_VM_RUNNING)
		return model_fail(err, -EREMOTE, "instance %s runs on host %s", vm.name, vm.host);
	if ((rc = instance_store(m, vm.region_id, &s, err)) < 0)
		return rc;
	if ((d = staying_disk(m, &vm, s, disks, &n))) {
		disk_words(words, sizeof(words), &vm, d);
		if (registered)
			return model_fail(err, -EREMOTE, "instance %s runs on host %s, where %s stays", vm.name, vm.host,
			                  words);
		return model_fail(err, -EIO, "instance %s cannot start here: %s was on host %s, which was removed",
		                  vm.name, words, vm.host);
	}
	if (n < 0)
		return model_fail_db(err, n);
	if (model_instance_busy(m, id))
		return model_fail(err, -EBUSY, VM_BUSY_TASK);
	if ((rc = fence_disks(m, &vm, s, disks, n, &fenced, err)) < 0)
		return rc;
	snprintf(old, sizeof(old), "%s", vm.host);
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("UPDATE instances SET host = ?1, status = ?2, has_run = 1, mtime_ns = ?3, "
	                             "ctime_ns = ?3 WHERE id = ?4 AND host = ?5 AND status = ?6 RETURNING id")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_text(st, 1, model_host(m));
	db_bind_int(st, 2, MODEL_VM_RUNNING);
	db_bind_int64(st, 3, model_now_ns());
	db_bind_int64(st, 4, id);
	db_bind_text(st, 5, old);
	db_bind_int(st, 6, vm.status);
	rc = db_step(st);
	db_reset(st);
	if (rc == DB_DONE) {
		rc = model_fail(err, -EBUSY, "instance %s changed meanwhile (another host moved or started it)", vm.name);
		goto out;
	}
	if (rc != DB_ROW) {
		rc = db_errno(rc);
		goto out;
	}
	rc = model_log_change(c, MODEL_CHANGE_INSTANCE, id, vm.region_id, MODEL_FOLDER_INVALID, NULL);
out:
	if ((rc = model_write_end(c, rc, err)) < 0)
		return rc;
	model_log(m, "instance %s (%s) moved from host %s%s to host %s and started; %d cluster disk writer%s fenced",
	          vm.name, vm.ext_id, old, registered ? "" : " (removed)", model_host(m), fenced, fenced == 1 ? "" : "s");
	return 1;
}

int instance_vda_place(model *m, struct model_conn *c, blob_store *s, const struct model_instance *vm, unsigned type,
                       struct wblob_set *made, struct wblob_set *gone)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	const struct model_vm_disk *vda;
	blob_manifest *base = NULL;
	blob_wblob *w = NULL;
	bool cloud = type == MODEL_TYPE_CLOUD;
	uint64_t size;
	int n, rc;

	if ((n = model_instance_disks(m, vm->id, disks)) < 0)
		return n;
	if (!(vda = instance_disk_at(disks, n, 0)) || !vda->wblob[0])
		return 0;
	bool there = model_wblob_where(vda->wblob) == BLOB_WB_CLUSTER;
	bool want = cloud && m->cluster && vda->key_id == 0 && blob_store_has_cluster(s);
	if (there == want)
		return 0;
	/* What it holds (written before the type was chosen) comes along:
	 * sealed, the new disk's base; nothing is copied for a blank one. */
	if ((rc = blob_wblob_open_reader(&w, s, model_wblob_where(vda->wblob), vda->wblob, NULL, NULL, 0)) < 0)
		return rc;
	size = blob_wblob_size(w);
	if (blob_wblob_stored(w) > 0 && (rc = blob_wblob_seal(w, &base)) < 0) {
		blob_wblob_close(w);
		return rc;
	}
	blob_wblob_close(w);
	if ((rc = instance_disk_drop(c, vm->id, vda, gone)) == 0)
		rc = instance_disk_new(c, s, vm->region_id, vm->id, 0, cloud, base, size, vda->key_id, made);
	blob_manifest_free(base);
	return rc;
}
