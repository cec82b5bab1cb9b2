/*
 * glance.h — what the image API (OpenStack Glance v2, SPEC §19) keeps in
 * the model beside the tree's own: an image's UUID, its API name when that
 * is not a directory name, its declared formats, min_disk/min_ram, the
 * flags (protected, os_hidden, visibility, deactivated), its free-form
 * properties; the API's tokens and passwords; its import tasks.  Every
 * rule is here, not in fs/serve: a property a tenant sets through the API
 * is checked as the tree would, a protected image is not deleted by rmdir
 * either.
 *
 * Who calls it: fs/serve/glance (the API), fs/fuse (the `uuid` and
 * `properties` files), the admin command line (tokens, API passwords),
 * the unit tests.  Any thread; each write is one transaction, and a
 * refused one changes nothing.
 *
 * Errors: -errno with the reason, the errno of SPEC §9 (-EINVAL a value
 * the API may not set, -EPERM an operation the image's class or status
 * does not have, -EEXIST, -EDQUOT, -ENOENT); fs/serve maps them to HTTP
 * statuses (§19's table).
 */
#ifndef IMGFS_MODEL_GLANCE_H
#define IMGFS_MODEL_GLANCE_H

#include "admin.h"
#include "images.h"
#include "shares.h"

/* ---- images as the API names them (glance.c) ------------------------------ */

/* The image whose UUID is uuid (any folder, any account: visibility is
 * the caller's business): 0, -ENOENT. */
int model_image_by_uuid(model *m, const char *uuid, struct model_image *out);
/* An image as the API shows it (glance_rows.c): its row, and its system
 * disk's file (vda; an ISO image's cdrom). */
struct model_api_image {
	struct model_image img;
	bool has_data;      /* the disk exists (being uploaded, or sealed) */
	uint64_t file_size; /* its bytes (a QCOW2 file's length, not its virtual size) */
	char sha256[65];    /* its SHA-256, "" while not known */
	char md5[33];       /* its MD5 (Glance's checksum, §19.5), "" when not hashed */
	char sha512[129];   /* its SHA-512, "" when not hashed (the operator's os_hash_algo) */
};
/* One statement each: 0, -ENOENT. */
int model_api_image_get(model *m, int64_t id, struct model_api_image *out);
int model_api_image_by_uuid(model *m, const char *uuid, struct model_api_image *out);
/* The sources of a listing, each the ids of its images newest first. */
enum model_api_source {
	MODEL_API_OWN_PRIVATE = 0, /* the caller's private/ */
	MODEL_API_OWN_ISO,         /* the caller's iso/ */
	MODEL_API_PUBLIC,          /* the platform's public/ */
	MODEL_API_MARKETPLACE,     /* the platform's marketplace/ */
	MODEL_API_SHARED,          /* private images shared with the caller */
	MODEL_API_SOURCES
};
#define MODEL_API_IDS_PAGE 64
/* Up to max (<= MODEL_API_IDS_PAGE) ids of src in the region with id <
 * before (0: from the newest), newest first, into ids: one statement.
 * member: MODEL_API_SHARED's answers kept (MODEL_MEMBER_INVALID: any).
 * The count, or -errno. */
int model_api_ids(model *m, enum model_api_source src, int64_t region_id, int64_t account_id,
                  enum model_member_status member, int64_t before, int64_t *ids, int max);

/* The API's name of img: its title when it has one, else its name. */
const char *model_image_api_name(const struct model_image *img);
/* Whether s is a UUID as the API writes them (8-4-4-4-12 hex digits, any
 * case): what an id must look like before it is looked up. */
bool model_uuid_valid(const char *s);

/* The words the API accepts (Glance's defaults).  Of the disk formats,
 * raw, qcow2 and iso are what imgfs checks and the data decides (§5.3);
 * aki, ari and ami are kept as sent (a kernel, a ramdisk, a file system
 * without a partition table: no disk to check); the others are refused
 * when their data arrives, as a `cp` of them is. */
#define MODEL_DISK_FORMATS "ami ari aki vhd vhdx vmdk raw qcow2 vdi iso ploop"
#define MODEL_CONTAINER_FORMATS "ami ari aki bare ovf ova docker compressed"
/* Whether word is one of list's blank-separated words. */
bool model_word_in(const char *word, const char *list);
/* Whether a declared disk format keeps its bytes unchecked (aki, ari, ami). */
bool model_disk_format_opaque(const char *disk_format);

/* Free-form properties (SPEC §12: bounded per image). */
#define MODEL_PROPS_MAX 128
#define MODEL_PROP_KEY_MAX 255
#define MODEL_PROP_VALUE_MAX 255

/* One change the API asks of an image; a list of them is applied in one
 * transaction, all or nothing (a JSON patch, a create's body). */
enum model_api_op_kind {
	MODEL_API_INVALID = 0,
	MODEL_API_NAME,             /* value: the name (NULL or "": the directory's) */
	MODEL_API_DISK_FORMAT,      /* value (queued images only) */
	MODEL_API_CONTAINER_FORMAT, /* value (queued images only) */
	MODEL_API_MIN_DISK,         /* num: GiB, >= 0 */
	MODEL_API_MIN_RAM,          /* num: MiB, >= 0 */
	MODEL_API_FLAG,             /* num: one MODEL_GFLAG_* bit, on */
	MODEL_API_TAGS,             /* value: the tags as the `tags` file holds them */
	MODEL_API_PROP,             /* key, value (NULL: removed) */
	MODEL_API_DESCRIPTION,      /* value: the `description` file's */
};
struct model_api_op {
	enum model_api_op_kind kind;
	const char *key, *value;
	int64_t num;
	bool on;
};
/* An image made through the API: queued, in iso/ when disk_format is iso
 * (else private/, its quota checked), visibility "shared" unless ops say
 * "private"; its directory named by its name when that is a §10 name free
 * in the folder, else by its id (img-...) with the name kept as its title.
 * ops are applied in the same transaction.  *out gets its row. */
int model_api_image_create(model *m, int64_t region_id, int64_t account_id, const struct model_api_op *ops, size_t n,
                           struct model_image *out, struct model_err *err);
/* ops on the owner's private or ISO image, in one transaction: -EPERM
 * for another class, a status that does not allow the change (formats
 * while not queued; deactivating what is not available), visibility
 * public or community; -EINVAL for a value out of its rules (with the
 * rule); -EDQUOT past MODEL_PROPS_MAX properties. */
int model_api_image_update(model *m, int64_t image_id, const struct model_api_op *ops, size_t n,
                           struct model_err *err);

/* The image's properties in key order: cb(arg, key, value) until it
 * returns non-zero (returned). */
int model_image_props(model *m, int64_t image_id, int (*cb)(void *arg, const char *key, const char *value),
                      void *arg);
/* The properties of the n images ids, in (image, key) order, read
 * MODEL_PROPS_BATCH images a statement: what a listing's page costs
 * follows the page, never the table. */
#define MODEL_PROPS_BATCH 16
int model_image_props_of(model *m, const int64_t *ids, size_t n,
                         int (*cb)(void *arg, int64_t image_id, const char *key, const char *value), void *arg);
/* A key the API may set as a property: 1..MODEL_PROP_KEY_MAX bytes of
 * printable text without blanks; 0 or -EINVAL with the reason. */
int model_prop_key_check(const char *key, struct model_err *err);

/* ---- members (share.c): a share as the receiver answered it --------------- */

/* The receiver (account_id: the caller) answers the share of image_id:
 * -ENOENT when there is none, -EPERM when the caller is not its receiver
 * ("only the member answers a share"), -EINVAL for a status other than
 * the three. */
int model_share_answer(model *m, int64_t image_id, int64_t account_id, enum model_member_status status,
                       struct model_err *err);

/* ---- tokens and API passwords (tokens.c) ---------------------------------- */

/* A token: 32 hex digits of random (the row's key) and 32 of an
 * HMAC-SHA256 over them, the account and the expiry, keyed by the
 * service's secret; the row keeps the random half only, so a copy of
 * the database is not a list of tokens. */
#define MODEL_TOKEN_LEN 64
#define MODEL_TOKEN_MAX_SECONDS (366LL * 86400) /* an admin's token lives a year at most */
#define MODEL_TOKEN_LOGIN_SECONDS 3600          /* a login's (POST /v3/auth/tokens) */
#define MODEL_TOKENS_MAX 64                     /* live tokens of one account: a new one past it ends the oldest */
/* A new token for the account, valid for seconds (1..MODEL_TOKEN_MAX_
 * SECONDS); via: "admin" or "login".  *expires_out (may be NULL): unix
 * seconds.  -ENOENT "no account A", -EINVAL a duration out of range. */
int model_token_new(model *m, const char *account, int64_t seconds, const char *via,
                    char out[MODEL_TOKEN_LEN + 1], int64_t *expires_out, struct model_err *err);
/* The account a token names at now: 0 with *out (and *expires_out),
 * -ENOENT for a token unknown, tampered or revoked, -EKEYEXPIRED for one
 * that expired. */
int model_token_resolve(model *m, const char *token, int64_t now, struct model_account *out, int64_t *expires_out);
/* Ends the account's tokens: the one given (NULL: every one).  The number
 * ended; -ENOENT "no account A" or "no such token of A". */
int model_token_revoke(model *m, const char *account, const char *token, struct model_err *err);
/* The account's live tokens, oldest first: cb(arg, id, created, expires,
 * via) — never the token, which only its holder has. */
int model_token_list(model *m, const char *account, int64_t now,
                     int (*cb)(void *arg, int64_t id, int64_t created, int64_t expires, const char *via), void *arg);
/* `imgfs admin account set NAME api-password`: the password's salted
 * SHA-512 crypt hash is kept ("" removes it: no password login).  A
 * password is 8..128 bytes of printable text (-EINVAL otherwise). */
int model_account_set_api_password(model *m, const char *account, const char *password, struct model_err *err);
/* Whether password is the account's API password: 0 with *out, -EACCES
 * when it is not, when the account has none, or when there is no such
 * account (the same answer: a login does not tell which). */
int model_account_api_login(model *m, const char *account, const char *password, struct model_account *out);

/* ---- the API's import tasks (apitask.c) ----------------------------------- */

/* Bytes of an import's request a task row keeps: a web-download's body
 * with a uri of FETCH_URL_MAX (2048) bytes and its other fields. */
#define MODEL_API_TASK_INPUT_MAX 4095
struct model_api_task {
	int64_t id;
	char uuid[37];
	int64_t image_id;
	int64_t account_id;
	char method[32];        /* glance-direct, web-download */
	char input[MODEL_API_TASK_INPUT_MAX + 1]; /* the request's body as the API shows it (JSON) */
	char request_id[64];
	int64_t created, ended; /* unix seconds; ended 0 while it runs */
	char result[256];       /* "" while it runs, "success", or why it failed */
};
/* At most this many tasks are kept per image: a new one ends the oldest. */
#define MODEL_API_TASKS_PER_IMAGE 8
/* failed (NULL or "": none): an import refused before it began, kept
 * ended with that reason. */
int model_api_task_new(model *m, int64_t image_id, int64_t account_id, const char *method, const char *input,
                       const char *request_id, const char *failed, struct model_api_task *out, struct model_err *err);
/* The task with that UUID: 0, -ENOENT. */
int model_api_task_get(model *m, const char *uuid, struct model_api_task *out);
/* An image's tasks, newest first. */
int model_api_task_list(model *m, int64_t image_id, int (*cb)(void *arg, const struct model_api_task *t),
                        void *arg);

/* The newest max tasks an account asked for, newest first. */
int model_api_task_list_account(model *m, int64_t account_id, int max,
                                int (*cb)(void *arg, const struct model_api_task *t), void *arg);

/* ---- staged uploads (the API's PUT .../stage, model/task/upload.c) -------- */

struct model_upload; /* tasks.h */
/* The upload's bytes are in (the caller fsynced the wblob): its task
 * waits, 'staged', for an import (model_upload_import) instead of a
 * runner; held by no process, so any process of its host may import it.
 * As model_upload_close otherwise (sha256, xxh128 may be ""). */
int model_upload_stage(model *m, const struct model_upload *u, uint64_t size, uint64_t stored, const char *sha256,
                       const char *xxh128);
/* POST .../import with glance-direct: the staged upload of image_id is
 * queued for a runner, which checks and seals it as it does a `cp`.
 * -EPERM "nothing is staged" when the image has no staged upload. */
int model_upload_import(model *m, int64_t image_id, struct model_err *err);

#endif
