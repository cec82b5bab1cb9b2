/*
 * share.c — sharing private images with other accounts (SPEC §6.4, seed
 * 002 "Image Usage Restrictions").
 *
 * Who calls it: fs/fuse/share.c (mkdir and rmdir of
 * private/<name>/shares/<account>, listing and resolving shares/), the
 * unit tests.  The receiver sees the
 * image as shared/<name>@<owner>/ through model_image_list_shared and
 * model_image_lookup_shared (image.c), which join the same table.
 *
 * Layout: one row in `shares` (model/db/schema_*.c) per (image,
 * receiver), with the time it was made.  A share lives as long as the image: it survives a
 * rename, stays while the image sits in the recycle bin (the receiver sees
 * nothing then: shared/ lists private images only) and comes back with a
 * restore; destroying the image deletes it (image.c).
 *
 * Quotas (§8): the owner's shares-per-image counts the shares of the one
 * image; the receiver's shared-images counts every share it holds in the
 * region that it has not rejected (pending and accepted: what its shared/
 * lists), shares of images in the owner's recycle bin included: a restore
 * brings those back without asking the receiver, so their places stay
 * taken and the quota can never be exceeded that way (docs/reference.md
 * §6.4).  A rejection frees the place (the schema's triggers, v26); an
 * answer out of rejected takes one again, checked here.
 *
 * Every change is one write transaction that also moves both listings it
 * changes: the image's shares/ (images.dir_mtime_ns) and the receiver's
 * shared/, a class directory (the region's mtime), and logs an image change
 * whose old name lets other mounts drop the receiver's shared/ entry.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "model_int.h"

static void share_fill(db_stmt *st, void *out)
{
	struct model_share *s = out;
	s->image_id = db_col_int64(st, 0);
	s->account_id = db_col_int64(st, 1);
	model_col_text(st, 2, s->account, sizeof(s->account));
	s->created = db_col_int64(st, 3);
	s->status = db_col_int(st, 4);
	s->updated = db_col_int64(st, 5);
}

#define SHARE_COLS                                                                                          \
	"s.image_id, s.account_id, a.name, s.created, s.status, s.updated FROM shares s JOIN accounts a ON "  \
	"a.id = s.account_id "

const char *model_member_status_name(enum model_member_status s)
{
	switch (s) {
	case MODEL_MEMBER_PENDING: return "pending";
	case MODEL_MEMBER_ACCEPTED: return "accepted";
	case MODEL_MEMBER_REJECTED: return "rejected";
	default: return "";
	}
}

int model_share_lookup(model *m, int64_t image_id, const char *account, struct model_share *out)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT " SHARE_COLS "WHERE s.image_id = ? AND a.name = ?"))))
		return -EIO;
	db_bind_int64(st, 1, image_id);
	db_bind_text(st, 2, account);
	return model_one_row(st, share_fill, out);
}

int model_share_get(model *m, int64_t image_id, int64_t account_id, struct model_share *out)
{
	struct model_conn *c;
	db_stmt *st;
	int rc;
	if ((rc = model_conn_get(m, &c)) < 0)
		return rc;
	if (!(st = model_stmt(c, SQL("SELECT " SHARE_COLS "WHERE s.image_id = ? AND s.account_id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, image_id);
	db_bind_int64(st, 2, account_id);
	return model_one_row(st, share_fill, out);
}

struct share_cb {
	int (*cb)(void *arg, const struct model_share *s);
	void *arg;
};

static int share_each(void *arg, db_stmt *st)
{
	struct share_cb *c = arg;
	struct model_share s;
	share_fill(st, &s);
	return c->cb(c->arg, &s);
}

int model_share_list(model *m, int64_t image_id, int64_t after_id,
                     int (*cb)(void *arg, const struct model_share *s), void *arg)
{
	struct share_cb c = {cb, arg};
	struct model_conn *conn;
	int rc;
	if ((rc = model_conn_get(m, &conn)) < 0)
		return rc;
	const int64_t params[] = {image_id, after_id};
	return model_each_page(conn, SQL("SELECT " SHARE_COLS "WHERE s.image_id = ? AND s.account_id > ? "
	                                 "ORDER BY s.account_id " MODEL_PAGE_SQL),
	                       params, 2, 1, share_each, &c);
}

/* The owner's shares-per-image limit applies to each image on its own;
 * model_quota_check's usage of that key is the largest count of any image
 * (what the quota file shows), so the one image's count is taken here. */
static int share_quota_per_image(struct model_conn *c, const struct model_image *img, struct model_err *err)
{
	struct model_quota q[MODEL_QUOTA_COUNT];
	db_stmt *st;
	int64_t used = 0, limit = -1;
	int n = model_quota_list(c->m, img->account_id, img->region_id, q);
	for (int i = 0; i < n; i++)
		if (q[i].key == MODEL_QUOTA_SHARES_PER_IMAGE)
			limit = q[i].limit;
	if (n < 0 || limit < 0)
		return n < 0 ? n : -EIO;
	if (!(st = model_stmt(c, SQL("SELECT count(*) FROM shares WHERE image_id = ?"))))
		return -EIO;
	db_bind_int64(st, 1, img->id);
	if (db_step(st) == DB_ROW)
		used = db_col_int64(st, 0);
	db_reset(st);
	if (used + 1 > limit)
		return model_fail(err, -EDQUOT, "quota shares-per-image is %lld of %lld for %s", (long long)used,
		                  (long long)limit, img->name);
	return 0;
}

/* The refusals of model_share_add that need no counting, in the order a
 * user fixes them: the image, the name, the account, the status. */
static int share_check(model *m, const struct model_image *img, const char *account, struct model_account *to,
                       struct model_err *err)
{
	struct model_share old;
	int rc;
	if (img->folder != MODEL_FOLDER_PRIVATE)
		return model_fail(err, -EPERM, "only private images are shared, not %s ones",
		                  model_folder_name(img->folder));
	if ((rc = model_name_check(account, err)) < 0)
		return rc;
	if ((rc = model_account_by_name(m, account, to)) < 0)
		return rc == -ENOENT ? model_fail(err, -ENOENT, "no account %s", account) : rc;
	if (to->id == img->account_id)
		return model_fail(err, -EINVAL, "an image is not shared with its owner");
	/* seed 001: no share while the image is being made (an intermediate
	 * status); a queued image, with no data yet, is shared (SPEC §6.4) */
	if (img->status == MODEL_IMG_UPLOADING || img->status == MODEL_IMG_PENDING ||
	    img->status == MODEL_IMG_REPLICATING || img->status == MODEL_IMG_DELETING)
		return model_fail(err, -EPERM, "a %s image cannot be shared until it is made",
		                  model_image_status_name(img->status));
	if (model_share_get(m, img->id, to->id, &old) == 0)
		return model_fail(err, -EEXIST, "%s is already shared with %s", img->name, account);
	if (to->id > MODEL_SHARE_ACCOUNT_MAX)
		return model_fail(err, -EINVAL, "account %s cannot receive shares (only the first %d accounts can)",
		                  account, MODEL_SHARE_ACCOUNT_MAX);
	return 0;
}

/* Both listings a share changes, and the log line other mounts act on.
 * old_name: the image's name when the receiver's entry went away. */
static int share_changed(struct model_conn *c, const struct model_image *img, const char *old_name)
{
	db_stmt *st = model_stmt(c, SQL("UPDATE images SET dir_mtime_ns = ?1, ctime_ns = ?1 WHERE id = ?2"));
	int rc;
	if (!st)
		return -EIO;
	db_bind_int64(st, 1, model_now_ns());
	db_bind_int64(st, 2, img->id);
	if ((rc = model_exec_stmt(st)) < 0 || (rc = model_touch_region(c, img->region_id)) < 0)
		return rc;
	return model_log_change(c, MODEL_CHANGE_IMAGE, img->id, img->region_id, img->folder, old_name);
}

int model_share_add(model *m, int64_t image_id, const char *account, struct model_err *err)
{
	struct model_conn *c;
	struct model_image img;
	struct model_account to;
	struct model_err quota = {0};
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, image_id, &img)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	if ((rc = share_check(m, &img, account, &to, err)) < 0 ||
	    (rc = share_quota_per_image(c, &img, err)) < 0)
		goto out;
	if ((rc = model_quota_check(c, to.id, img.region_id, MODEL_QUOTA_SHARED_IMAGES, 1, &quota)) < 0) {
		model_fail(err, rc, "%s cannot receive more shared images here: %s", account, quota.msg);
		goto out;
	}
	if (!(st = model_stmt(c, SQL("INSERT INTO shares(image_id, account_id, created, status, updated) "
	                             "VALUES (?1, ?2, ?3, ?4, ?3)")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, img.id);
	db_bind_int64(st, 2, to.id);
	db_bind_int64(st, 3, model_now_ns() / 1000000000);
	db_bind_int(st, 4, MODEL_MEMBER_PENDING);
	if ((rc = model_exec_stmt(st)) < 0)
		goto out;
	/* an image with members is "shared" to the API (SPEC §19) */
	if (!(st = model_stmt(c, SQL("UPDATE images SET gflags = gflags | 4 WHERE id = ?")))) {
		rc = -EIO;
		goto out;
	}
	_Static_assert(MODEL_GFLAG_SHARED == 4, "the statement above spells MODEL_GFLAG_SHARED as 4");
	db_bind_int64(st, 1, img.id);
	if ((rc = model_exec_stmt(st)) < 0 || (rc = share_changed(c, &img, NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

int model_share_remove(model *m, int64_t image_id, const char *account, struct model_err *err)
{
	struct model_conn *c;
	struct model_image img;
	struct model_share s;
	db_stmt *st;
	int rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, image_id, &img)) < 0) {
		model_fail(err, rc, "no such image");
		goto out;
	}
	if ((rc = model_share_lookup(m, image_id, account, &s)) < 0) {
		model_fail(err, rc, "%s is not shared with %s", img.name, account);
		goto out;
	}
	if (!(st = model_stmt(c, SQL("DELETE FROM shares WHERE image_id = ? AND account_id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int64(st, 1, img.id);
	db_bind_int64(st, 2, s.account_id);
	/* The old name: the receiver's shared/<name>@<owner> went away. */
	if ((rc = model_exec_stmt(st)) < 0 || (rc = share_changed(c, &img, img.name)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}

int model_share_answer(model *m, int64_t image_id, int64_t account_id, enum model_member_status status,
                       struct model_err *err)
{
	struct model_conn *c;
	struct model_image img;
	struct model_share sh;
	struct model_err quota = {0};
	db_stmt *st;
	int rc;
	if (status != MODEL_MEMBER_PENDING && status != MODEL_MEMBER_ACCEPTED && status != MODEL_MEMBER_REJECTED)
		return model_fail(err, -EINVAL, "a member's status is pending, accepted or rejected");
	if ((rc = model_write_begin(m, &c, err)) < 0)
		return rc;
	if ((rc = model_image_get(m, image_id, &img)) < 0) {
		rc = model_fail(err, rc, "no such image");
		goto out;
	}
	if ((rc = model_share_get(m, image_id, account_id, &sh)) < 0) {
		rc = img.account_id == account_id ? model_fail(err, -EPERM, "only the member answers a share")
		                                  : model_fail(err, -ENOENT, "%s is not shared with this account", img.name);
		goto out;
	}
	if (sh.status == status)
		goto out;
	/* A rejected share holds no place in the receiver's shared-images
	 * (the schema's triggers move it, SPEC §6.4): answering it again
	 * takes one, checked as a new share's is. */
	if (sh.status == MODEL_MEMBER_REJECTED &&
	    (rc = model_quota_check(c, account_id, img.region_id, MODEL_QUOTA_SHARED_IMAGES, 1, &quota)) < 0) {
		model_fail(err, rc, "this account cannot take more shared images here: %s", quota.msg);
		goto out;
	}
	if (!(st = model_stmt(c, SQL("UPDATE shares SET status = ?, updated = ? WHERE image_id = ? AND account_id = ?")))) {
		rc = -EIO;
		goto out;
	}
	db_bind_int(st, 1, status);
	db_bind_int64(st, 2, model_now_ns() / 1000000000);
	db_bind_int64(st, 3, image_id);
	db_bind_int64(st, 4, account_id);
	/* the receiver's shared/ gains or loses the entry (a rejected share is
	 * out of it): both listings move, the old name for other mounts */
	if ((rc = model_exec_stmt(st)) < 0 ||
	    (rc = share_changed(c, &img, status == MODEL_MEMBER_REJECTED ? img.name : NULL)) < 0)
		goto out;
out:
	return model_write_end(c, rc, err);
}
