/*
 * admin.h — what an operator administers: hosts (SPEC §13), accounts and
 * their roles (administrators, sub-accounts: §16), regions and their
 * stores, quotas (§8, a family's counted together), the service's settings (the
 * recycle bin's retention, where imports may connect and how fast they
 * must go, fair share's slice), moving a state into PostgreSQL
 * (migrate), fsck and gc, and the rows of admin commands writing chunks.
 *
 * Who calls it: the admin command line (fs/cli), a mount at its start
 * and in its housekeeping (hosts, leases, writers, sweeps), and the
 * requests that resolve an account or a region (fs/).  Any thread.
 *
 * Errors: -errno; refusals take a struct model_err with the reason
 * (-EINVAL for a value out of range, -ENOENT for no such account, region
 * or host, -EBUSY for a host whose lease is current, -EEXIST for a name
 * taken).
 */
#ifndef IMGFS_MODEL_ADMIN_H
#define IMGFS_MODEL_ADMIN_H

#include "core.h"

/* ---- hosts (§13, host.c) ------------------------------------------------- */

/* The host this process acts for: name (NULL: this machine's short name).
 * -EINVAL for a name that is not 1-64 of [A-Za-z0-9._-]. */
int model_host_set(model *m, const char *name, struct model_err *err);
const char *model_host(const model *m);
bool model_host_name_valid(const char *name);
/* A mount registers its host (and its start) and renews the host's lease
 * every few seconds while it runs. */
int model_host_register(model *m);
int model_host_renew(model *m);
/* The lease period in seconds (settings 'lease', default 30): a host that
 * did not renew for that long is gone and its tasks are taken over. */
int64_t model_lease(model *m);
/* imgfs admin lease SECONDS (2 .. 86400; hosts read it when they mount). */
int model_lease_set(model *m, int64_t seconds, struct model_err *err);
struct model_host {
	char name[MODEL_HOST_MAX + 1];
	int64_t started_ns, renewed_ns;
	bool alive; /* renewed within the lease period */
};
int model_host_list(model *m, int (*cb)(void *arg, const struct model_host *h), void *arg);
/* A state directory used with a database holds one host's files (its
 * instances' disks, its uploads): a mount records the host's name in
 * <state>/host (model_host_record), and imgfs admin, given that state,
 * acts for that host (model_host_from_dir: 1 when the file named one, 0
 * when there is none, -errno). */
int model_host_record(model *m);
int model_host_from_dir(model *m);
/* The host's name claimed for this state directory (SPEC §13 "One name,
 * one state"): refused, -EBUSY with a one-line reason naming the other
 * state and how to choose another name, while another state directory
 * holds the name and its lease is current; else recorded (settings
 * 'host-state:NAME': the state's id, <state>/state-id, its machine and
 * path) with the host's row.  0 for a process without a state directory.
 * Every process of the state that claims (a mount, an `imgfs serve`)
 * holds <state>/host.lock shared for its life: *hold, the descriptor
 * (close-on-exec, kept across a fork), -1 when nothing is held.
 * _release at a clean stop gives the process's hold back, and the claim
 * goes (if still this state's) only when no other process of the state
 * holds it any more (the exclusive lock is had at once), so the name is
 * free at once; a serve and a mount of one state share the claim and
 * one's stop leaves it to the other; a crash leaves it until the lease
 * lapses. */
int model_host_claim(model *m, int *hold, struct model_err *err);
void model_host_release(model *m, int hold);
/* imgfs admin host remove H: a host whose lease has expired is forgotten;
 * the tasks that had to run on it end in error ("host H was removed") at
 * their next claim, on any host.  -EBUSY while its lease is current,
 * -ENOENT for no such host. */
int model_host_remove(model *m, const char *name, struct model_err *err);

/* ---- accounts ------------------------------------------------------------ */

/* Roles (SPEC §16, meta/roles.c).  An account is one of:
 *
 *   main            the default: a tenant, with its own quotas
 *   administrator   admin: sees every tenant (every account that is not an
 *                   administrator) under tenants/ of each region
 *   sub-account     parent_id: authorised by a main account, one level
 *                   deep; its images, snapshots and the shares it receives
 *                   count toward the main account's quotas, and the main
 *                   account sees it under tenants/
 *
 * An administrator is nobody's sub-account and has none; a sub-account's
 * main account is neither an administrator nor a sub-account. */
struct model_account {
	int64_t id;
	char name[MODEL_NAME_MAX + 1];
	int64_t uid;       /* -1: none */
	bool admin;        /* an administrator account */
	int64_t parent_id; /* a sub-account: its main account's id; 0: none */
	bool has_subs;     /* a main account that has sub-accounts */
	int64_t created;   /* unix seconds */
	bool encrypt_default; /* its new images are encrypted (SPEC §17) */
};
int model_account_add(model *m, const char *name, int64_t uid, struct model_err *err);
/* The same with a role: admin makes an administrator; parent (NULL: none)
 * names the main account of a new sub-account (-ENOENT "no account P";
 * -EINVAL when P is an administrator or a sub-account, or both are asked). */
int model_account_create(model *m, const char *name, int64_t uid, bool admin, const char *parent,
                         struct model_err *err);
/* admin account remove: -ENOENT, or -EBUSY (with what) while it owns an
 * image (any folder), snapshot or instance, receives a share or has
 * sub-accounts (named); else its rows (quotas, usage, fair share) and it
 * go in one transaction. */
int model_account_remove(model *m, const char *name, struct model_err *err);
int model_account_by_name(model *m, const char *name, struct model_account *out);
int model_account_by_uid(model *m, int64_t uid, struct model_account *out);
int model_account_get(model *m, int64_t id, struct model_account *out);
/* Finds or creates the account (single-user mode). */
int model_account_ensure(model *m, const char *name, struct model_account *out, struct model_err *err);
int model_account_list(model *m, int (*cb)(void *arg, const struct model_account *a), void *arg);

/* admin account set NAME admin yes|no: -ENOENT; -EINVAL for a
 * sub-account, -EBUSY (naming them) for an account with sub-accounts. */
int model_account_set_admin(model *m, const char *name, bool admin, struct model_err *err);
/* admin account set NAME uid UID|- (SPEC §8): callers of uid UID act as
 * NAME under -o multiuser (-1: no uid).  -ENOENT; -EEXIST when another
 * account has UID; -EINVAL for a uid out of 0 ... 4294967294. */
int model_account_set_uid(model *m, const char *name, int64_t uid, struct model_err *err);
/* admin account set NAME encrypt-by-default yes|no (SPEC §17): the
 * account's new private and ISO images start with `encrypted` yes (it
 * stays writable while they are queued).  -ENOENT. */
int model_account_set_encrypt_default(model *m, const char *name, bool on, struct model_err *err);
/* admin account set NAME parent MAIN|-: makes NAME a sub-account of MAIN
 * (parent NULL or "-": a main account again).  -ENOENT for either name;
 * -EINVAL when NAME is an administrator or MAIN, MAIN is an
 * administrator or a sub-account; -EBUSY (naming them) when NAME has
 * sub-accounts of its own.  The quota usage NAME's rows count moves from
 * one main account's total to the other's in the same transaction, so
 * every check stays one read (quota.c); a main account may end up above
 * its limits (nothing is refused for it: the next creation is). */
int model_account_set_parent(model *m, const char *name, const char *parent, struct model_err *err);
/* Whether actor sees tenant under tenants/ (SPEC §16): an administrator
 * sees every account that is not an administrator, a main account its
 * sub-accounts; nobody sees itself. */
bool model_account_administers(const struct model_account *actor, const struct model_account *tenant);
/* Whether actor has a tenants/ directory: an administrator, or a main
 * account with sub-accounts. */
bool model_account_has_tenants(const struct model_account *actor);
/* The accounts actor administers with id > after_id, in id order (read
 * in pages); cb returns non-zero to stop (that value is returned). */
int model_account_tenants(model *m, const struct model_account *actor, int64_t after_id,
                          int (*cb)(void *arg, const struct model_account *a), void *arg);
/* The sub-accounts of main_id, in id order, at most max of them (cb as
 * above): what a refusal names. */
int model_account_subs(model *m, int64_t main_id, int max, int (*cb)(void *arg, const struct model_account *a),
                       void *arg);
/* When any account was last added, removed or given another role (ns;
 * 0: never since this version): the mtime of the tenants/ directories. */
int64_t model_accounts_mtime(model *m);

/* ---- regions ------------------------------------------------------------- */

struct model_region {
	int64_t id;
	char name[MODEL_NAME_MAX + 1];
	int64_t created_ns; /* nanoseconds, as every time of the model: two
	                       changes a moment apart still differ in time */
	char store[MODEL_TEXT_MAX + 1]; /* where its chunks are: "" the state
	                       directory's regions/<name>; "dir:PATH" or
	                       "rados:POOL[,conf=FILE][,id=CLIENT][,ns=NS]" (§13) */
};
/* Adds a region with the platform catalogue: its chunks in the state
 * directory (with metadata in PostgreSQL: that directory's path recorded
 * as the region's store, so every host reaches the same chunks there). */
int model_region_add(model *m, const char *name, struct model_err *err);
/* The same with the region's store named: "dir:PATH" (an absolute path
 * every host reaches), "rados:POOL[,conf=FILE][,id=CLIENT][,ns=NAMESPACE]"
 * (a Ceph pool; blobstore/backend/rados.c), NULL as above.  -EINVAL for a
 * store it does not know, -ENOENT/-ENOTDIR/-EACCES when the directory
 * cannot be used, -ENOENT for a pool that does not exist, -EIO
 * for a cluster that does not answer, -EBUSY for a pool holding another
 * region's chunks. */
int model_region_add_store(model *m, const char *name, const char *store, struct model_err *err);
/* A region by id or name.  Nothing in a region's row but its mtime ever
 * changes, and no region is removed: once read, it is answered from memory
 * (no statement; a request resolves its region on every call). */
int model_region_get(model *m, int64_t id, struct model_region *out);
int model_region_by_name(model *m, const char *name, struct model_region *out);
/* The last change of any listing in the region (0 when unknown). */
int64_t model_region_mtime(model *m, int64_t id);
/* Regions with id > after_id in id order; cb returns non-zero to stop (that
 * value is returned). */
int model_region_list(model *m, int64_t after_id, int (*cb)(void *arg, const struct model_region *r), void *arg);

/* ---- quotas (§8) --------------------------------------------------------- */

enum model_quota_key {
	MODEL_QUOTA_INVALID = 0,
	MODEL_QUOTA_PRIVATE_IMAGES,
	MODEL_QUOTA_SNAPSHOTS,
	MODEL_QUOTA_SHARED_IMAGES,
	MODEL_QUOTA_SHARES_PER_IMAGE,
	MODEL_QUOTA_INSTANCES, /* counted from the instances rows (quota.c), not kept in usage */
	MODEL_QUOTA_COUNT
};
const char *model_quota_name(enum model_quota_key k);
enum model_quota_key model_quota_parse(const char *name);
/* A quota as a check reads it (SPEC §8, §16): the limit and usage of the
 * account it counts against — the account itself, or a sub-account's main
 * account, whose usage is its own and all its sub-accounts' — and the
 * account's own part of that usage. */
struct model_quota {
	enum model_quota_key key;
	int64_t used, limit;
	int64_t own;      /* the account's own usage (used, outside a family) */
	int64_t payer_id; /* the account whose limit and total these are */
};
/* All quotas of (account, region) in key order; returns the count.
 * shares-per-image's used and own are the most shares of one of the
 * account's own private images (the limit is per image). */
int model_quota_list(model *m, int64_t account_id, int64_t region_id, struct model_quota out[MODEL_QUOTA_COUNT]);
/* admin quota set: -EINVAL for an unknown key, a negative value or a
 * sub-account (its quotas are its main account's), -ENOENT for no such
 * account or region. */
int model_quota_set(model *m, const char *account, const char *region, const char *key, int64_t value,
                    struct model_err *err);

/* ---- settings (the settings table: one value a key) ------------------------ */

/* The recycle bin's retention period in seconds (settings 'retention',
 * default 7 days; set: >= 1, -EINVAL otherwise). */
int64_t model_retention(model *m);
int model_retention_set(model *m, int64_t seconds, struct model_err *err);

/* Where imports may connect (SPEC §5.2, model/rules/import_addresses.c):
 * the admin's rules by CIDR.  set adds or replaces the rule of a CIDR
 * (EINVAL: not an address or prefix), remove drops it (ENOENT), list gives
 * them in CIDR order as canonical text ("10.0.0.0/8"). */
/* note (may be NULL): "" or, when the rule was an IPv6 form of IPv4
 * addresses, the sentence saying which IPv4 rule it was stored as. */
int model_import_address_set(model *m, const char *cidr, bool allow, char *note, size_t note_cap,
                             struct model_err *err);
int model_import_address_remove(model *m, const char *cidr, struct model_err *err);
int model_import_address_list(model *m, int (*cb)(void *arg, const char *cidr, bool allow), void *arg);

/* The rate floor of imports (SPEC §5.2; settings 'import_floor'): an
 * import that receives less than bps bytes a second over a window of
 * window seconds ends in error.  Default 64 KiB/s over 300 s; bps 0: none. */
#define MODEL_IMPORT_FLOOR_BPS 65536
#define MODEL_IMPORT_FLOOR_WINDOW 300
void model_import_floor(model *m, uint64_t *bps, int *window);
int model_import_floor_set(model *m, uint64_t bps, int window, struct model_err *err);

/* Fair share's time slice of imports (SPEC §8, model/task/task.c; settings
 * 'import_slice'): seconds an import runs before it gives its worker back
 * to another account's waiting task, at its next durable point (it
 * resumes later with an HTTP Range).  0: never.  Default 60. */
#define MODEL_IMPORT_SLICE 60
int64_t model_import_slice(model *m);
int model_import_slice_set(model *m, int64_t seconds, struct model_err *err);

/* ---- moving up (§13, migrate.c) ------------------------------------------ */

/* A region given its own store by migrate: "dir:PATH". */
struct model_migrate_store {
	const char *region, *store;
};
/* imgfs admin migrate: the embedded state in state_dir (unmounted) into
 * the PostgreSQL database db_url, its instances and the tasks that read
 * its files bound to host; the regions named in stores get those stores
 * (their chunks copied), the others keep their directory in state_dir.
 * say(arg, line) reports progress.  Run again, it completes what an
 * interruption left. */
int model_migrate(const char *state_dir, const char *db_url, const char *host,
                  const struct model_migrate_store *stores, int nstores,
                  void (*say)(void *arg, const char *line), void *arg, struct model_err *err);

/* ---- maintenance (admin) ------------------------------------------------- */

/* Verifies metadata and every chunk; report(arg, line) per problem.
 * Returns the number of problems. */
int model_fsck(model *m, bool repair, void (*report)(void *arg, const char *line), void *arg);
/* What a mount removes of its own by itself (fsck.c): wblob files of its
 * stores that no row names (a killed upload whose rows were ended, a
 * crash between a disk's file and its commit) and old temp files; the
 * number of wblobs removed.  The uploads' housekeeping runs it at a
 * mount's start and every few minutes. */
int model_wblobs_sweep(model *m);
/* The same, note(arg, line) saying what was not checked and why (another
 * host's files, in cluster mode: only this host's writable blobs are
 * judged here); notes are not problems. */
int model_fsck_report(model *m, bool repair, void (*report)(void *arg, const char *line),
                      void (*note)(void *arg, const char *line), void *arg);
/* The same, *unchecked_out (may be NULL) getting the number of checks
 * the stores did not answer (a timeout, an unreachable cluster: SPEC §13,
 * issue 47), each a note line "could not check: ...": never a problem,
 * never repaired. */
int model_fsck_checked(model *m, bool repair, void (*report)(void *arg, const char *line),
                       void (*note)(void *arg, const char *line), void *arg, int *unchecked_out);
/* Drops unreferenced chunks in every region that are older than grace
 * seconds (younger ones may belong to a blob being written) and older
 * than what the region's writers in progress may still name (writer.c,
 * whatever the grace); *removed_out gets the total. */
int model_gc(model *m, int64_t grace, uint64_t *removed_out);
/* The same, report(arg, line) naming each writer whose chunks it kept. */
int model_gc_report(model *m, int64_t grace, void (*report)(void *arg, const char *line), void *arg,
                    uint64_t *removed_out);
/* gc --dry-run: what model_gc_report would drop, region by region
 * (region(arg, name, chunks, bytes), each region in id order), the same
 * writers kept and reported; nothing is removed, and no writer row of a
 * dead admin command is reaped (its chunks count as kept). */
int model_gc_plan(model *m, int64_t grace, void (*report)(void *arg, const char *line),
                  void (*region)(void *arg, const char *name, uint64_t chunks, uint64_t bytes), void *arg);

/* ---- writers of chunks (§13, writer.c) ----------------------------------- */

/* An admin command about to write chunks into region_id's store (0: a
 * region not made yet) that a manifest will name only later (publish, a
 * region's catalogue): a row every gc on every host respects, committed
 * before this returns.  *id_out for model_writer_end. */
int model_writer_begin(model *m, int64_t region_id, const char *what, int64_t *id_out);
/* After the manifest committed, or the command gave up: the row goes (a
 * failure leaves it to model_writers_reap once this process is gone). */
void model_writer_end(model *m, int64_t id);
/* Drops the rows of admin commands of this host whose process is gone;
 * their number.  gc and each mount's housekeeping call it. */
int model_writers_reap(model *m);

#endif
