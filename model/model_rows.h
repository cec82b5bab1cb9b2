/*
 * model_rows.h — what the model's files share about its rows, for them
 * only (model_int.h includes it): accounts and settings, task runners and
 * chunk writers, data keys, image and blob rows, quotas, the change log, and the
 * steps of an image's lifecycle that several files take, each inside the
 * caller's transaction unless it says otherwise.  Each names the file that
 * implements it.
 */
#ifndef IMGFS_MODEL_ROWS_H
#define IMGFS_MODEL_ROWS_H

/* The admin's import address rules (rules/import_addresses.c) for
 * fetch_req.rules: a malloc'd array the caller frees. */
struct fetch_rule;
int model_import_addresses_load(model *m, struct fetch_rule **rules, size_t *n);

/* The kinds of background task (model/task/kinds.c) and how many. */
const struct task_kind *task_kinds_all(size_t *n);

/* Accounts (account.c, roles.c).  The columns model_account_row reads, of
 * "accounts a" (has_subs: an index probe of accounts_parent). */
#define MODEL_ACCOUNT_COLS                                                                                 \
	"a.id, a.name, a.uid, a.admin, a.parent_id, CASE WHEN EXISTS (SELECT 1 FROM accounts s WHERE "      \
	"s.parent_id = a.id) THEN 1 ELSE 0 END, a.created, a.encrypt_default FROM accounts a "
void model_account_row(db_stmt *st, struct model_account *a);
/* A row callback (model_each_row, model_each_page) that reads each row
 * with model_account_row and calls cb(arg, account); arg: this struct. */
struct model_account_cb {
	int (*cb)(void *arg, const struct model_account *a);
	void *arg;
};
int model_account_each(void *arg, db_stmt *st);
/* Account name read into out (in the caller's transaction, if any): 0, or
 * -ENOENT "no account NAME", or another -errno. */
int model_account_named(model *m, const char *name, struct model_account *out, struct model_err *err);
/* The main account a sub-account may be put under (parent, by name):
 * -ENOENT "no account P", -EINVAL for an administrator or a sub-account. */
int model_account_main_check(model *m, const char *parent, struct model_account *out, struct model_err *err);
/* Inside the caller's transaction: an account was added, removed or given
 * another role — the tenants/ listings' time (model_accounts_mtime) and a
 * change every mount's watcher reads (MODEL_CHANGE_ACCOUNT). */
int model_accounts_changed(struct model_conn *c, int64_t account_id);
/* "a, b, c" (and "and N more") of main_id's sub-accounts, for a refusal. */
void model_account_subs_named(model *m, int64_t main_id, char *out, size_t cap);
/* The account whose quotas account id `a` (an SQL expression) counts
 * against (SPEC §16): its main account when it is a sub-account, else
 * itself.  One primary-key probe. */
#define MODEL_SQL_PAYER(a) "COALESCE((SELECT NULLIF(parent_id, 0) FROM accounts WHERE id = " a "), " a ")"

/* Settings (meta/settings.c): the value of key into out (cap bytes,
 * truncated): 1, or 0 when unset (out untouched), or -errno. */
int model_setting_get(model *m, const char *key, char *out, size_t cap);
/* The value of key as a whole number >= min; def when unset, unreadable
 * or not such a number. */
int64_t model_setting_int(model *m, const char *key, int64_t min, int64_t def);
/* Sets key inside the caller's write transaction c: 0 or -errno. */
int model_setting_put(struct model_conn *c, const char *key, const char *value);
/* Sets key in a write transaction of its own: 0 or -errno. */
int model_setting_set(model *m, const char *key, const char *value, struct model_err *err);
int model_setting_set_int(model *m, const char *key, int64_t value, struct model_err *err);

/* A line for the daemon's log (model_set_log), e.g. what a copy moved. */
void model_log(model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Task runners (host.c): "<host>/<pid>:<start time>" of this process, and
 * whether a runner is alive (this host: its process; another: its lease),
 * asked in c's transaction. */
#define MODEL_RUNNER_ID_MAX (MODEL_HOST_MAX + 48)
int model_runner_self(model *m, char out[MODEL_RUNNER_ID_MAX]);
/* The same for this process acting for host (migrate, which has no model). */
int model_runner_id(const char *host, char out[MODEL_RUNNER_ID_MAX]);
/* Whether a task whose runner is `runner` ("" for none) and that is bound
 * to host `bound` ("" for any) has nobody to run it now (host.c): 1 with
 * host_out the runner's (else the bound) host and *since_out when that
 * began (a lease's lapse; for a dead process of this host, `updated`), 0
 * with host_out set, -errno. */
int model_task_orphaned(struct model_conn *c, const char *runner, const char *bound, int64_t updated,
                        char host_out[MODEL_HOST_MAX + 1], int64_t *since_out);
bool model_runner_alive(struct model_conn *c, const char *id);
bool model_host_alive(struct model_conn *c, const char *host); /* lease current; cannot tell: true */

/* Writers of chunks (writer.c).  In the caller's transaction: a row for
 * this process writing into region_id's store (task_id 0: not a task's);
 * *id_out may be NULL. */
int model_writer_insert(struct model_conn *c, int64_t region_id, int64_t task_id, const char *what,
                        int64_t *id_out);
/* In a claim's transaction: task_id's row, made now (since: now) if the
 * task has none, else its runner recorded (its since kept). */
int model_writer_claimed(struct model_conn *c, int64_t task_id, const char *runner);
/* gc: lowers *not_after (unix seconds) below what the writers of region_id
 * in progress may still name, report(arg, line) for each; their number. */
int model_writers_cut(model *m, int64_t region_id, const char *region, int64_t *not_after,
                      void (*report)(void *arg, const char *line), void *arg);

/* The store spec to record for a new region (state.c): store as given
 * (checked), or the default for this service (NULL). */
int model_store_spec(model *m, const char *region, const char *store, char out[MODEL_TEXT_MAX + 1],
                     struct model_err *err);

/* Region creation inside a transaction (catalogue.c). */
int model_catalogue_install(model *m, int64_t region_id, struct model_err *err);
/* The SHA-256 of catalogue image `name`'s disk, written down in
 * catalogue.c; NULL for a name the catalogue does not have. */
const char *model_catalogue_sha256(const char *name);

/* Data keys of encrypted images (keys.c, SPEC §17).  The context of data
 * key key_id (0: *out NULL, plain): a reference the caller unrefs.
 * -EACCES with the reason when this process has no KEK or not the one
 * that wrapped it, -EIO when its row is damaged. */
int model_key_get(model *m, int64_t key_id, blob_key **out, struct model_err *err);
/* Whether this process can open key_id (0: yes), for a task's claim. */
bool model_key_usable(struct model_conn *c, int64_t key_id);
/* In c's write transaction: a new data key, wrapped by this process's KEK
 * (which becomes the service's of record if it has none): its id.
 * -EACCES with the reason without a KEK or with another than the
 * service's. */
int model_key_new(struct model_conn *c, int64_t *id_out, struct model_err *err);
/* At close: the KEK wiped, the contexts dropped. */
void model_keys_free(model *m);
/* In c's write transaction: the data key img's blobs are sealed under —
 * 0 for a plain image, its key_id when it has one, else a new one
 * (model_key_new) recorded as its lineage's (images.key_id). */
int model_image_key_ensure(struct model_conn *c, const struct model_image *img, int64_t *key_id,
                           struct model_err *err);

/* Blob rows (blob.c). */
int model_blob_insert_sealed(struct model_conn *c, int64_t region_id, const blob_manifest *man, const char *xxh128,
                             int64_t key_id, int64_t *id_out);

/* The seeds' limit of key k (0 for MODEL_QUOTA_INVALID): what applies when
 * the admin set none (quota.c). */
int64_t model_quota_default(enum model_quota_key k);
/* Quota check inside a transaction: -EDQUOT when adding `adding` would
 * exceed (quota.c). */
int model_quota_check(struct model_conn *c, int64_t account_id, int64_t region_id, enum model_quota_key key,
                      int64_t adding, struct model_err *err);

/* Appends to the change log inside the caller's transaction (changes.c).
 * old_name: the entry that went away (rename, removal), or NULL. */
int model_log_change(struct model_conn *c, enum model_change_kind kind, int64_t obj, int64_t region_id,
                     enum model_folder folder, const char *old_name);
/* The same for the image an insert sent ahead (model_send) made, if it
 * made one: the one whose ext_id and ctime_ns these are. */
int model_log_image_inserted(struct model_conn *c, const char *ext_id, int64_t ctime_ns);

/* Marks the (region, account, folder) listing as changed now. */
int model_touch_region(struct model_conn *c, int64_t region_id);

/* Lifecycle helpers (snapshot.c), inside the caller's transaction.
 * Deletes the blob row unless a device, snapshot, instance disk or hold
 * (a copy by reference, blob.c) still references it; 1 when deleted, 0
 * when kept.  What it held is released first.  The caller removes a wblob
 * the row named, after its commit. */
int model_blob_drop_unreferenced(struct model_conn *c, int64_t blob_id);
/* The destruction of an image (recycle.c, SPEC §16 "deleting"), in the
 * caller's transaction: its shares, its devices, the blob rows only it
 * used and the snapshots no other image references go; the image's row
 * stays (deleting) until the destroy task has freed the chunks. */
int model_image_strip(model *m, struct model_conn *c, const struct model_image *img);
/* Queues the destroy task of img (model/task/destroy.c), in the caller's
 * transaction (model_image_destroy's, which made it deleting). */
int model_destroy_queue(struct model_conn *c, const struct model_image *img);
/* Seconds two hosts' clocks may differ (NTP keeps them far closer), and
 * how old a chunk's stamp must be before anything may remove it unless it
 * is sure no writer relies on it: a writer that finds a chunk stored
 * refreshes its stamp only when it is older than BLOB_STAMP_FRESH, so a
 * younger one may be in use by a writer that started after its check
 * (writer.c, fsck.c). */
#define MODEL_CLOCK_SKEW 60
#define MODEL_STAMP_MARGIN (BLOB_STAMP_FRESH + MODEL_CLOCK_SKEW)
/* gc of the chunks ids only (fsck.c): each that no manifest of the region
 * names any more and no writer may rely on — none stamped in the last
 * MODEL_STAMP_MARGIN seconds, nor since the oldest writer's start minus
 * that (model_writers_cut) — is removed, with gc's rules
 * (blob_store_gc_ids). */
int model_gc_chunks(model *m, int64_t region_id, const chunk_id *ids, size_t n, uint64_t *removed_out);
/* The SHA-256 of the blob being made with manifest man, found without
 * reading it (blob.c): a blob with the same manifest — src_blob (a raw
 * conversion's or a copy's source; 0 none) or one holder took by
 * reference (an upload's; 0 none) — whose SHA-256 is known.  1 (out set),
 * 0 (not found), -errno. */
int model_blob_sha256_reuse(model *m, int64_t src_blob, int64_t holder, const blob_manifest *man, char out[65]);
/* The same for the XXH3-128 (§2.3), kept in the clear as the column is.
 * 1 (out set), 0 (not found), -errno. */
int model_blob_xxh128_reuse(model *m, int64_t src_blob, int64_t holder, const blob_manifest *man, char out[33]);
/* Records a blob's SHA-256 hashed on its way in (an import), on its own;
 * best effort (blob.c). */
void model_blob_set_sha256(model *m, int64_t blob_id, const char *sha256);
/* Image id for a change its owner may make only before its data comes
 * (image.c): a private or ISO image, queued.  -ENOENT, or -EPERM, with the
 * reason. */
int model_image_get_queued(model *m, int64_t id, struct model_image *img, struct model_err *err);
/* In c's transaction, a change to img that model_image_get_queued allowed:
 * st (NULL: it did not prepare) an UPDATE of its row whose ?1 the caller
 * bound, ?2 the time, ?3 its id and ?4 the status it must still have
 * (queued); run, and the change logged.  0 or -errno. */
int model_image_queued_update(struct model_conn *c, db_stmt *st, const struct model_image *img);
/* A SHA-256 (64 hex digits, or "") as the database keeps it for blob_id
 * (blob.c): as it is for a plain blob, sealed under the blob's data key
 * for an encrypted one (SPEC §17: no hash of an encrypted disk's
 * plaintext in the database).  0, or -errno with out "" (unknown) when it
 * cannot be sealed here. */
int model_sha256_seal(model *m, int64_t blob_id, const char *hex, char out[MODEL_SHA_STORED]);
/* The SHA-256 stored (either form) of a blob of data key key_id, as 64
 * hex digits: "" when it is unknown or this process cannot open it. */
void model_sha256_open(model *m, int64_t key_id, const char *stored, char out[65]);
/* The same for a whole-blob XXH3-128 (32 hex digits: SPEC §2.3, which
 * would name a known file as well as a SHA-256 would). */
int model_xxh128_seal(model *m, int64_t blob_id, const char *hex, char out[MODEL_SHA_STORED]);
void model_xxh128_open(model *m, int64_t key_id, const char *stored, char out[33]);
/* The same for the MD5 and the SHA-512 (SPEC §19.5, schema v27): out
 * MODEL_HASH512_STORED bytes for either. */
#define MODEL_HASH512_STORED 192
int model_md5_seal(model *m, int64_t blob_id, const char *hex, char out[MODEL_HASH512_STORED]);
void model_md5_open(model *m, int64_t key_id, const char *stored, char out[33]);
int model_sha512_seal(model *m, int64_t blob_id, const char *hex, char out[MODEL_HASH512_STORED]);
void model_sha512_open(model *m, int64_t key_id, const char *stored, char out[129]);
/* Lets go of every blob holder holds (blob.c), each dropped in turn once
 * nothing else keeps it: when the holder's row goes, or at its seal, once
 * its own manifest names what it kept.  0 or -errno. */
int model_blob_release_holds(struct model_conn *c, int64_t holder);
/* Deletes a snapshot row, its blob row unless referenced elsewhere, and
 * logs the change (old name: the ext id). */
int model_snapshot_delete_row(struct model_conn *c, const struct model_snapshot *s);

/* The columns model_image_row reads, of the images row p ("i.") and its owner's
 * name (the expression owner). */
#define MODEL_IMAGE_FIELDS_OF(p, owner)                                                                          \
	p "id, " p "ext_id, " p "region_id, " p "account_id, " owner ", " p "folder, " p "name, " p "status, " \
	p "progress, " p "type, " p "format, " p "os_type, " p "platform, " p "version, " p "arch, "           \
	p "boot_mode, " p "features, " p "description, " p "tags, " p "source, " p "error, " p "encrypted, "   \
	p "size, " p "created, " p "mtime_ns, " p "ctime_ns, " p "deleted_at, " p "dir_mtime_ns, "             \
	p "description_ns, " p "tags_ns, " p "error_ns, " p "dir_gen, " p "origin_id, " p "origin_kind, "        \
	p "project, " p "project_ns, " p "key_id, " p "uuid, " p "title, " p "disk_format, " p "container_format, "  \
	p "min_disk, " p "min_ram, " p "gflags, "                                                          \
	"(SELECT count(*) FROM image_props pr WHERE pr.image_id = " p "id), "                             \
	"CASE WHEN EXISTS (SELECT 1 FROM inspections ni WHERE ni.image_id = " p "id) THEN 1 ELSE 0 END + "  \
	"CASE WHEN EXISTS (SELECT 1 FROM tasks ti WHERE ti.image_id = " p "id AND ti.kind = 'inspect') "   \
	"THEN 2 ELSE 0 END"
#define MODEL_IMAGE_FIELDS MODEL_IMAGE_FIELDS_OF("i.", "COALESCE(a.name, 'platform')")
#define MODEL_IMAGE_NFIELDS 46 /* the columns model_image_row reads */
#define MODEL_IMAGE_FROM "FROM images i LEFT JOIN accounts a ON a.id = i.account_id "
#define MODEL_IMAGE_COLS MODEL_IMAGE_FIELDS " " MODEL_IMAGE_FROM

/* Reads an image row of MODEL_IMAGE_FIELDS into img (image.c). */
void model_image_row(db_stmt *st, struct model_image *img);
/* A new image's id in the image API (SPEC §19): a random version 4 UUID,
 * lowercase, 36 characters.  0 or -EIO. */
int model_uuid_new(char out[37]);

#endif
