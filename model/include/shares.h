/*
 * shares.h — sharing (SPEC §6.4, meta/share.c): an owner shares an
 * available private image with another account, which then sees it in
 * its shared/ listing, and may build instances from it.
 *
 * Who calls it: fs/ (private/<image>/shares/ and shared/), the image
 * reads that must know whether an account may use an image (rebuild).
 * Any thread; each write is one transaction with its quota checks.
 *
 * Errors: -errno with the reason (-EINVAL a bad name, the owner itself or
 * an account beyond MODEL_SHARE_ACCOUNT_MAX; -ENOENT no such account or
 * share; -EPERM not a private image; -EEXIST already shared;
 * -EDQUOT a quota).
 */
#ifndef IMGFS_MODEL_SHARES_H
#define IMGFS_MODEL_SHARES_H

#include "images.h"

/* ---- sharing (§6.4, share.c) ---------------------------------------------- */

/* A receiver's answer to a share (the image API's member status, SPEC
 * §19): a share is made pending (shares made before the API: accepted);
 * a rejected one is out of the receiver's shared/ listing. */
enum model_member_status {
	MODEL_MEMBER_INVALID = 0,
	MODEL_MEMBER_PENDING = 1,
	MODEL_MEMBER_ACCEPTED = 2,
	MODEL_MEMBER_REJECTED = 3,
};
const char *model_member_status_name(enum model_member_status s); /* "pending", ... */

/* One share: image_id shared with account_id (the receiver). */
struct model_share {
	int64_t image_id;
	int64_t account_id;
	char account[MODEL_NAME_MAX + 1]; /* the receiver's name */
	int64_t created;                  /* unix seconds */
	enum model_member_status status;
	int64_t updated;                  /* unix seconds: made, or last answered */
};
/* The largest account id that can receive shares (model_share_add:
 * -EINVAL beyond): the accounts a share can name are 1 .. 0x7fff. */
#define MODEL_SHARE_ACCOUNT_MAX 0x7fff
/* mkdir private/<name>/shares/<account> (or the API's POST members):
 * shares a private image, in any status (SPEC §6.4, §19), with another
 * account, pending its answer; the image's visibility becomes "shared".
 * Refusals: a bad name -EINVAL; unknown account -ENOENT; the owner itself
 * -EINVAL; not a private image -EPERM; already shared -EEXIST; the
 * owner's shares-per-image or the receiver's shared-images quota -EDQUOT.
 * The receiver's shared/ listing changes (region mtime), the image's
 * shares/ listing too. */
int model_share_add(model *m, int64_t image_id, const char *account, struct model_err *err);
/* rmdir .../shares/<account>: -ENOENT when not shared with it.  Instances
 * the receiver built from the image stay. */
int model_share_remove(model *m, int64_t image_id, const char *account, struct model_err *err);
/* The image's shares with account_id > after_id, in account id order. */
int model_share_list(model *m, int64_t image_id, int64_t after_id,
                     int (*cb)(void *arg, const struct model_share *s), void *arg);
/* The share of image_id with the account named, or with account_id: -ENOENT when none. */
int model_share_lookup(model *m, int64_t image_id, const char *account, struct model_share *out);
int model_share_get(model *m, int64_t image_id, int64_t account_id, struct model_share *out);

/* ---- what the receiver sees (shared/) ---------------------------------------- */

/* Images other accounts share with account_id in the region (SPEC §6.4). */
int model_image_list_shared(model *m, int64_t region_id, int64_t account_id, int64_t after_id,
                            int (*cb)(void *arg, const struct model_image *img), void *arg);
int model_image_lookup_shared(model *m, int64_t region_id, int64_t account_id, const char *name, const char *owner,
                              struct model_image *out);
/* True when the image is shared with account_id and the share is not
 * rejected (a rejected share is out of the receiver's view, §6.4). */
bool model_image_shared_with(model *m, int64_t image_id, int64_t account_id);

#endif
