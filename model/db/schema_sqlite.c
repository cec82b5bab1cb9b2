/*
 * schema_sqlite.c — the SQLite schema, the one place it is written down.
 *
 * Versioned with PRAGMA user_version: step N of schema_sqlite_steps[]
 * brings version N-1 to N, and the driver (sqlite.c) applies the steps a
 * database lacks inside one transaction.  A database of a later version
 * than this program knows is refused (-EPROTONOSUPPORT).
 *
 * Conventions: times are unix seconds (created, deleted_at) or nanoseconds
 * (*_ns); "mtime_ns" is the last change of content a reader sees (what
 * st_mtime shows, so backup tools skip unchanged files), "ctime_ns" the last
 * change of anything about the row.  Row ids come from AUTOINCREMENT so they
 * are never reused: fs/ derives inode numbers from them.  account_id 0 means
 * the platform (public and marketplace images).
 */
#include <errno.h>

#include "db.h"

static const char schema_v1[] =
	/* Accounts own private resources; uid maps callers in multiuser mode. */
	"CREATE TABLE accounts ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"          /* §10 name, byte-exact */
	"  uid INTEGER UNIQUE,"                 /* NULL: no uid mapped */
	"  created INTEGER NOT NULL);"
	/* Regions; each has a blob store at <state>/regions/<name>. */
	"CREATE TABLE regions ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  name TEXT NOT NULL UNIQUE,"
	"  created_ns INTEGER NOT NULL,"        /* /regions' mtime is the newest */
	"  mtime_ns INTEGER NOT NULL);"         /* last change of any listing in it */
	/* Blobs: device contents.  Sealed blobs have a manifest (blob_format.h
	 * encoding); writable ones name a wblob in the region's store. */
	"CREATE TABLE blobs ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  region_id INTEGER NOT NULL REFERENCES regions(id),"
	"  size INTEGER NOT NULL,"              /* virtual size, bytes */
	"  stored INTEGER NOT NULL,"            /* bytes of data chunks */
	"  manifest BLOB,"                      /* NULL while writable */
	"  wblob TEXT,"                         /* NULL once sealed */
	"  xxh128 TEXT NOT NULL DEFAULT '',"    /* whole-blob XXH3-128, hex */
	"  mtime_ns INTEGER NOT NULL);"
	/* Images of every class.  folder: enum model_folder. status: enum
	 * model_image_status.  type: MODEL_TYPE_* bits. */
	"CREATE TABLE images ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ext_id TEXT NOT NULL UNIQUE,"        /* img-xxxxxxxx */
	"  region_id INTEGER NOT NULL REFERENCES regions(id),"
	"  account_id INTEGER NOT NULL,"        /* 0: platform */
	"  folder INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  progress INTEGER NOT NULL DEFAULT 0,"
	"  type INTEGER NOT NULL DEFAULT 0,"
	"  format TEXT NOT NULL DEFAULT '',"
	"  os_type TEXT NOT NULL DEFAULT '',"
	"  platform TEXT NOT NULL DEFAULT '',"
	"  version TEXT NOT NULL DEFAULT '',"
	"  arch TEXT NOT NULL DEFAULT '',"
	"  boot_mode TEXT NOT NULL DEFAULT '',"
	"  features TEXT NOT NULL DEFAULT '',"
	"  description TEXT NOT NULL DEFAULT '',"
	"  tags TEXT NOT NULL DEFAULT '',"      /* key=value lines */
	"  source TEXT NOT NULL DEFAULT '',"    /* where the data came from (§5) */
	"  error TEXT NOT NULL DEFAULT '',"     /* last refusal or failure */
	"  encrypted INTEGER NOT NULL DEFAULT 0,"
	"  size INTEGER NOT NULL DEFAULT 0,"    /* virtual size of the system disk */
	"  created INTEGER NOT NULL,"
	"  mtime_ns INTEGER NOT NULL,"          /* last change of the other attributes */
	"  ctime_ns INTEGER NOT NULL,"
	"  dir_mtime_ns INTEGER NOT NULL,"      /* last change of the directory's entries */
	"  description_ns INTEGER NOT NULL DEFAULT 0," /* last change of description; */
	"  tags_ns INTEGER NOT NULL DEFAULT 0,"        /* of tags; of error (0: created) */
	"  error_ns INTEGER NOT NULL DEFAULT 0,"
	"  deleted_at INTEGER NOT NULL DEFAULT 0);"
	/* A name is unique per (region, account, folder); recycle-bin is a folder. */
	"CREATE UNIQUE INDEX images_name ON images(region_id, account_id, folder, name);"
	/* Device mapping (§2.2): one row per device of an image. */
	"CREATE TABLE devices ("
	"  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"               /* 0..25 vda..vdz, 26 cdrom */
	"  blob_id INTEGER NOT NULL REFERENCES blobs(id),"
	"  snapshot_id INTEGER NOT NULL DEFAULT 0," /* 0: an image file */
	"  PRIMARY KEY(image_id, idx)) WITHOUT ROWID;"
	/* Cloud-disk snapshots; status: enum model_snap_status. */
	"CREATE TABLE snapshots ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ext_id TEXT NOT NULL UNIQUE,"        /* snap-xxxxxxxx */
	"  region_id INTEGER NOT NULL REFERENCES regions(id),"
	"  account_id INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  description TEXT NOT NULL DEFAULT '',"
	"  status INTEGER NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  blob_id INTEGER NOT NULL REFERENCES blobs(id),"
	"  error TEXT NOT NULL DEFAULT '',"
	"  created INTEGER NOT NULL,"
	"  mtime_ns INTEGER NOT NULL,"
	"  ctime_ns INTEGER NOT NULL);"
	/* VM instances; status: enum model_vm_status; system_disk: type bit. */
	"CREATE TABLE instances ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ext_id TEXT NOT NULL UNIQUE,"        /* i-xxxxxxxx */
	"  region_id INTEGER NOT NULL REFERENCES regions(id),"
	"  account_id INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  system_disk INTEGER NOT NULL,"
	"  image_id INTEGER NOT NULL DEFAULT 0," /* image it was built from, 0: none */
	"  has_run INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL,"
	"  mtime_ns INTEGER NOT NULL,"
	"  ctime_ns INTEGER NOT NULL,"
	"  UNIQUE(region_id, account_id, name));"
	/* An instance's disks: writable blobs. */
	"CREATE TABLE instance_disks ("
	"  instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"               /* 0..25 vda..vdz, 26 cdrom, 27 cidata (v14) */
	"  blob_id INTEGER NOT NULL REFERENCES blobs(id),"
	"  PRIMARY KEY(instance_id, idx)) WITHOUT ROWID;"
	/* Shares (§6.4): image shared with account. */
	"CREATE TABLE shares ("
	"  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id),"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY(image_id, account_id)) WITHOUT ROWID;"
	/* Quota limits set by the admin; absent rows take the seeds' defaults. */
	"CREATE TABLE quotas ("
	"  account_id INTEGER NOT NULL,"
	"  region_id INTEGER NOT NULL,"
	"  key INTEGER NOT NULL,"               /* enum model_quota_key */
	"  value INTEGER NOT NULL,"
	"  PRIMARY KEY(account_id, region_id, key)) WITHOUT ROWID;"
	/* Background tasks (issue 3): claimed by a process so none runs twice. */
	"CREATE TABLE tasks ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  kind TEXT NOT NULL,"                 /* capture, convert, copy, import, ... */
	"  image_id INTEGER NOT NULL,"          /* target image */
	"  source_id INTEGER NOT NULL DEFAULT 0,"
	"  args TEXT NOT NULL DEFAULT '',"
	"  state TEXT NOT NULL,"                /* queued, running, done, error */
	"  claimed_by TEXT NOT NULL DEFAULT '',"/* pid:start time of the runner (task.c) */
	"  bytes_done INTEGER NOT NULL DEFAULT 0,"
	"  bytes_total INTEGER NOT NULL DEFAULT 0,"
	"  error TEXT NOT NULL DEFAULT '',"
	"  started INTEGER NOT NULL DEFAULT 0,"
	"  updated INTEGER NOT NULL DEFAULT 0);"
	/* Change log: every change a mount may hold in its kernel caches, so
	 * every mount (this process or another) can invalidate exactly what
	 * changed.  Rows older than a few minutes are dropped. */
	"CREATE TABLE changes ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"                /* unix seconds */
	"  kind INTEGER NOT NULL,"              /* enum model_change_kind */
	"  obj INTEGER NOT NULL,"               /* row id of the changed object */
	"  region_id INTEGER NOT NULL,"
	"  folder INTEGER NOT NULL DEFAULT 0,"  /* the folder it was listed in before */
	"  name TEXT);"                         /* the name it had, when that entry went away */
	/* Service-wide settings (retention period, ...). */
	"CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;";

/* Version 2: the lifecycle (recycle bin, instances, tasks). */
static const char schema_v2[] =
	/* The status an image had before it went to the recycle bin, which a
	 * restore gives back (available or error); 0 outside the bin. */
	"ALTER TABLE images ADD COLUMN prior_status INTEGER NOT NULL DEFAULT 0;"
	/* An instance disk's blob is writable (wblob); a blob with neither
	 * manifest nor wblob is being written by a task (a capture's snapshot). */
	"CREATE INDEX devices_blob ON devices(blob_id);"
	"CREATE INDEX devices_snapshot ON devices(snapshot_id) WHERE snapshot_id != 0;"
	"CREATE INDEX instances_image ON instances(image_id) WHERE image_id != 0;"
	/* Tasks: a runner's lease (claimed_by names a live process, see task.c);
	 * what a task reads (source_kind: 'image' or 'instance', source_id). */
	"ALTER TABLE tasks ADD COLUMN source_kind TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE instances ADD COLUMN dir_mtime_ns INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX tasks_state ON tasks(state);"
	"CREATE INDEX tasks_image ON tasks(image_id);"
	"CREATE INDEX tasks_source ON tasks(source_kind, source_id);";

/* Version 3: conversion and cross-region copy (SPEC §6.2, §6.3). */
static const char schema_v3[] =
	/* What an image was made from when that was another image: origin_kind
	 * 'convert' or 'copy', origin_id the source image's row (0: none).
	 * copies/ of an image lists the images whose origin is a copy of it. */
	"ALTER TABLE images ADD COLUMN origin_kind TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE images ADD COLUMN origin_id INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX images_origin ON images(origin_id, origin_kind) WHERE origin_id != 0;"
	/* What a copy task actually moved into the target store (chunks and
	 * bytes copied or linked) and found there already; kept per durable
	 * device, so a resumed task counts the whole copy. */
	"ALTER TABLE tasks ADD COLUMN moved_chunks INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN moved_bytes INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN found_chunks INTEGER NOT NULL DEFAULT 0;";

/* Version 4: metadata at scale (issue 11).  Every request's cost must not
 * grow with the number of rows: each statement's plan is checked by
 * tests/unit/model/db/test_plans.c. */
static const char schema_v4[] =
	/* Full indexes instead of the partial ones of v2/v3: SQLite never uses
	 * a partial index (WHERE x != 0) for "x = ?", since it cannot prove the
	 * parameter non-zero when it prepares the statement. */
	"DROP INDEX devices_snapshot;"
	"CREATE INDEX devices_snapshot ON devices(snapshot_id);"
	"DROP INDEX instances_image;"
	"CREATE INDEX instances_image ON instances(image_id, account_id);"
	"DROP INDEX images_origin;"
	"CREATE INDEX images_origin ON images(origin_id, origin_kind, folder);"
	/* Listings page by row id within one (region, account, folder): a
	 * page is an index seek, not a sort of the whole folder. */
	"CREATE INDEX images_listing ON images(region_id, account_id, folder, id);"
	"CREATE INDEX snapshots_listing ON snapshots(region_id, account_id, id);"
	"CREATE INDEX instances_listing ON instances(region_id, account_id, id);"
	/* shared/ of a receiver is driven from its shares. */
	"CREATE INDEX shares_receiver ON shares(account_id, image_id);"
	/* The recycle bin's expiry and `expires`. */
	"CREATE INDEX images_recycled ON images(folder, deleted_at);"
	/* Whether a blob is still referenced (destroying an image). */
	"CREATE INDEX snapshots_blob ON snapshots(blob_id);"
	"CREATE INDEX instance_disks_blob ON instance_disks(blob_id);"
	/* The change log's trimming. */
	"CREATE INDEX changes_at ON changes(at);"
	/* Quota usage (SPEC §8), kept by the triggers below in the same
	 * transaction as the change, so a check reads one row instead of
	 * counting an account's images: key is enum model_quota_key
	 * (1 private-images: images in folder 3 = private; 2 snapshots;
	 * 3 shared-images: shares received, by the image's region). */
	"CREATE TABLE usage ("
	"  account_id INTEGER NOT NULL,"
	"  region_id INTEGER NOT NULL,"
	"  key INTEGER NOT NULL,"
	"  used INTEGER NOT NULL,"
	"  PRIMARY KEY(account_id, region_id, key)) WITHOUT ROWID;"
	/* shares-per-image: each image's number of shares; the quota file
	 * shows the largest of an account's (an index max, not a count). */
	"ALTER TABLE images ADD COLUMN shares INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX images_shares ON images(region_id, account_id, folder, shares);"
	"CREATE TRIGGER usage_images_insert AFTER INSERT ON images WHEN NEW.folder = 3 BEGIN"
	"  INSERT INTO usage VALUES (NEW.account_id, NEW.region_id, 1, 1)"
	"    ON CONFLICT DO UPDATE SET used = used + 1;"
	" END;"
	"CREATE TRIGGER usage_images_delete AFTER DELETE ON images WHEN OLD.folder = 3 BEGIN"
	"  UPDATE usage SET used = used - 1 WHERE account_id = OLD.account_id AND region_id = OLD.region_id AND key = 1;"
	" END;"
	"CREATE TRIGGER usage_images_update AFTER UPDATE OF folder, account_id, region_id ON images"
	"  WHEN OLD.folder = 3 OR NEW.folder = 3 BEGIN"
	"  UPDATE usage SET used = used - 1"
	"    WHERE OLD.folder = 3 AND account_id = OLD.account_id AND region_id = OLD.region_id AND key = 1;"
	"  INSERT INTO usage SELECT NEW.account_id, NEW.region_id, 1, 1 WHERE NEW.folder = 3"
	"    ON CONFLICT DO UPDATE SET used = used + 1;"
	" END;"
	"CREATE TRIGGER usage_snapshots_insert AFTER INSERT ON snapshots BEGIN"
	"  INSERT INTO usage VALUES (NEW.account_id, NEW.region_id, 2, 1)"
	"    ON CONFLICT DO UPDATE SET used = used + 1;"
	" END;"
	"CREATE TRIGGER usage_snapshots_delete AFTER DELETE ON snapshots BEGIN"
	"  UPDATE usage SET used = used - 1 WHERE account_id = OLD.account_id AND region_id = OLD.region_id AND key = 2;"
	" END;"
	"CREATE TRIGGER usage_shares_insert AFTER INSERT ON shares BEGIN"
	"  INSERT INTO usage SELECT NEW.account_id, region_id, 3, 1 FROM images WHERE id = NEW.image_id"
	"    ON CONFLICT DO UPDATE SET used = used + 1;"
	"  UPDATE images SET shares = shares + 1 WHERE id = NEW.image_id;"
	" END;"
	/* An image's shares go before the image (not by the foreign key's
	 * cascade, which runs after the image row is gone and would leave the
	 * trigger below no region to count in). */
	"CREATE TRIGGER images_unshare BEFORE DELETE ON images BEGIN"
	"  DELETE FROM shares WHERE image_id = OLD.id;"
	" END;"
	"CREATE TRIGGER usage_shares_delete AFTER DELETE ON shares BEGIN"
	"  UPDATE usage SET used = used - 1 WHERE account_id = OLD.account_id AND key = 3"
	"    AND region_id = (SELECT region_id FROM images WHERE id = OLD.image_id);"
	"  UPDATE images SET shares = shares - 1 WHERE id = OLD.image_id;"
	" END;"
	/* What the rows say today. */
	"INSERT INTO usage SELECT account_id, region_id, 1, count(*) FROM images WHERE folder = 3"
	"  GROUP BY account_id, region_id;"
	"INSERT INTO usage SELECT account_id, region_id, 2, count(*) FROM snapshots GROUP BY account_id, region_id;"
	"INSERT INTO usage SELECT s.account_id, i.region_id, 3, count(*) FROM shares s JOIN images i ON i.id = s.image_id"
	"  GROUP BY s.account_id, i.region_id;"
	"UPDATE images SET shares = (SELECT count(*) FROM shares WHERE image_id = images.id);";

/* Version 5: several hosts (SPEC §13). */
static const char schema_v5[] =
	/* Where a region's chunks are: '' the state directory's
	 * regions/<name> (the embedded default), "dir:PATH" a directory every
	 * host reaches at that path. */
	"ALTER TABLE regions ADD COLUMN store TEXT NOT NULL DEFAULT '';"
	/* The host an instance runs on: its disks are that host's files;
	 * '' (made before hosts existed): whichever host opens it. */
	"ALTER TABLE instances ADD COLUMN host TEXT NOT NULL DEFAULT '';"
	/* The host a task must run on (a capture reads an instance's disks,
	 * an upload's file is open there); '': any host. */
	"ALTER TABLE tasks ADD COLUMN host TEXT NOT NULL DEFAULT '';"
	"CREATE INDEX tasks_host ON tasks(host);"
	/* Every host that mounts the service: a lease it renews while it
	 * runs (its tasks are taken over when the lease expires). */
	"CREATE TABLE hosts ("
	"  name TEXT PRIMARY KEY,"
	"  started_ns INTEGER NOT NULL,"         /* when its current mount began */
	"  renewed_ns INTEGER NOT NULL) WITHOUT ROWID;";

/* Version 6: directories that move (SPEC §12). */
static const char schema_v6[] =
	/* How many times the image's directory became a new node for the
	 * kernels: twice per delete to the recycle bin (a kernel marks the
	 * directory inode an rmdir removed dead for as long as anybody holds
	 * it, so the delete moves the holders off it first, and the bin's
	 * node is another again).  fs/ folds this count into its FUSE node id
	 * (fs/fuse/fs.h).  st_ino does not change. */
	"ALTER TABLE images ADD COLUMN dir_gen INTEGER NOT NULL DEFAULT 0;";

/* Version 7: where imports may connect (SPEC §5.2): the admin's rules,
 * by canonical CIDR ("10.0.0.0/8"); allow 1, deny 0. */
static const char schema_v7[] =
	"CREATE TABLE import_addresses (cidr TEXT PRIMARY KEY, allow INTEGER NOT NULL) WITHOUT ROWID;";

/* Version 8: download links (SPEC §14, model/meta/download.c).  A link is
 * its token's random half; the other half is a MAC over the row (image,
 * format, expiry) under a key derived from the service secret, so the row
 * alone cannot be turned into a URL and a URL whose fields were changed
 * does not verify.  Rows of an image go when it leaves private/ or iso/
 * (moved to the recycle bin, destroyed), by the triggers. */
static const char schema_v8[] =
	"CREATE TABLE download_links ("
	"  nonce TEXT PRIMARY KEY,"              /* 32 hex: the token's random half */
	"  image_id INTEGER NOT NULL,"           /* images(id) */
	"  format TEXT NOT NULL,"                /* raw, qcow2 or iso: what is served */
	"  expires INTEGER NOT NULL,"            /* unix seconds */
	"  created INTEGER NOT NULL) WITHOUT ROWID;" /* unix seconds */
	"CREATE INDEX download_links_image ON download_links(image_id, expires);"
	"CREATE TRIGGER download_links_leave AFTER UPDATE OF folder ON images"
	"  WHEN NEW.folder <> OLD.folder BEGIN"
	"  DELETE FROM download_links WHERE image_id = NEW.id;"
	" END;"
	"CREATE TRIGGER download_links_destroy AFTER DELETE ON images BEGIN"
	"  DELETE FROM download_links WHERE image_id = OLD.id;"
	" END;";

/* /stats (model/meta/stats.c): images by region and status, blobs' stored
 * bytes by region and tasks by state and kind, each counted from an index
 * that holds the columns it groups and sums, never from the rows. */
static const char schema_v9[] =
	"CREATE INDEX images_status ON images(region_id, status);"
	"CREATE INDEX blobs_stored ON blobs(region_id, stored);"
	"CREATE INDEX tasks_state_kind ON tasks(state, kind);";

/* Version 10: fair share (SPEC §8, model/task/task.c): when each account
 * last had its turn at a kind of task — a worker given to one of its
 * tasks, or given back by one (an import's time slice) — so that among
 * accounts running as many tasks of that kind, the one served longest ago
 * goes first.  One row per account and kind that ever ran. */
static const char schema_v10[] =
	"CREATE TABLE task_turns ("
	"  account_id INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"                 /* tasks.kind */
	"  served_ns INTEGER NOT NULL,"         /* the last turn's time */
	"  PRIMARY KEY(account_id, kind)) WITHOUT ROWID;";

/* Version 11: several hosts writing, safely (issue 23).  The writers
 * table: what is being written (SPEC §13: gc never removes a chunk a host
 * is still writing).  A writer of chunks that a manifest will name
 * only later (an upload, an import, a capture's seal, a conversion, a
 * copy, publish, migrate, a region's catalogue) has a row here, committed
 * before its first chunk is written and deleted once the manifest naming
 * its chunks commits (with the task, by the foreign key, or by the
 * writer): gc, on any host, keeps every chunk of the region stamped at or
 * after the oldest row's since_ns (minus a margin: model/meta/writer.c).
 * The rows live in the database, not in the writing host's files, so a gc
 * run from anywhere sees them. */
static const char schema_v11[] =
	"CREATE TABLE writers ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  region_id INTEGER NOT NULL,"          /* the store written to; 0: any (a region being made) */
	"  task_id INTEGER REFERENCES tasks(id) ON DELETE CASCADE," /* NULL: an admin command */
	"  host TEXT NOT NULL,"                  /* the host writing (the runner's) */
	"  runner TEXT NOT NULL,"                /* <host>/<pid>:<start time> (host.c) */
	"  what TEXT NOT NULL,"                  /* for people: 'upload', 'publish NAME', ... */
	"  since_ns INTEGER NOT NULL);"          /* before its first chunk; never moves */
	"CREATE INDEX writers_region ON writers(region_id, since_ns);"
	"CREATE UNIQUE INDEX writers_task ON writers(task_id);"
	"CREATE INDEX writers_host ON writers(host);"
	/* Each mount's sweep of its wblob files looks each up by name
	 * (fsck.c: model_wblobs_sweep); most blobs have none. */
	"CREATE INDEX blobs_wblob ON blobs(region_id, wblob) WHERE wblob IS NOT NULL;";

/* Version 12: seed 004's platforms and project groups (SPEC §16).  An
 * image's project group, one line of at most 64 bytes ('' none), and the
 * last change of it (0: the creation time counts), a time of its own as
 * description's, so that backup tools re-read only the project file.
 * The catalogue's Windows
 * Server R2 images say their version as the product does ("2012 R2", not
 * "2012": model/meta/catalogue.c); a state made before gets the same, its
 * version file a new mtime (never earlier than the one it had).  Folder 1
 * is public (model/include/core.h). */
static const char schema_v12[] =
	"ALTER TABLE images ADD COLUMN project TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE images ADD COLUMN project_ns INTEGER NOT NULL DEFAULT 0;"
	"UPDATE images SET version = version || ' R2',"
	"  mtime_ns = max(mtime_ns + 1, CAST(strftime('%s', 'now') AS INTEGER) * 1000000000),"
	"  ctime_ns = max(ctime_ns + 1, CAST(strftime('%s', 'now') AS INTEGER) * 1000000000)"
	"  WHERE account_id = 0 AND folder = 1 AND ((name = 'windows-server-2012r2-standard' AND version = '2012')"
	"  OR (name = 'windows-server-2008r2-datacenter' AND version = '2008'));";

/* Version 13: ISO images go to the recycle bin too (SPEC §16): the folder
 * an image in the bin came from, where a restore puts it back (4: iso;
 * 0: private, as every image a version before this put there); 0 outside
 * the bin. */
static const char schema_v13[] = "ALTER TABLE images ADD COLUMN prior_folder INTEGER NOT NULL DEFAULT 0;";

/* Version 14: what a copy by reference holds (SPEC §16, §13).  A disk that
 * took chunks of a sealed blob by id (copy_file_range: its wblob's .ids
 * names them) holds that blob: while the hold's row exists, the held blob's
 * row stays — its snapshot or image may go — and so its manifest keeps
 * those chunks from every gc, on every host (the .ids file that also names
 * them is only the writing host's).  A hold goes with its holder's row
 * (model_blob_drop_unreferenced) or at the holder's seal, once its own
 * manifest names what it kept. */
static const char schema_v14[] =
	"CREATE TABLE blob_holds ("
	"  holder_id INTEGER NOT NULL REFERENCES blobs(id),"
	"  held_id INTEGER NOT NULL REFERENCES blobs(id),"
	"  PRIMARY KEY (holder_id, held_id)"
	") WITHOUT ROWID;"
	"CREATE INDEX blob_holds_held ON blob_holds(held_id);";

/* Version 15: a blob's SHA-256 (SPEC §2.1 `sha256`, §16), lowercase hex,
 * '' while unknown: computed on the way in by what makes the blob (an
 * upload as it is written, a task before its image is available).  Images
 * made before it get theirs from one background pass: a 'checksum' task
 * each (model/task/checksum.c), for every available image and every image
 * in a recycle bin (status 5, 7) with a system disk (idx 0, or 26: an
 * ISO's cdrom). */
static const char schema_v15[] =
	"ALTER TABLE blobs ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';"
	"INSERT INTO tasks(kind, image_id, state) SELECT 'checksum', i.id, 'queued' FROM images i "
	"  WHERE i.status IN (5, 7) AND EXISTS (SELECT 1 FROM devices d WHERE d.image_id = i.id AND d.idx IN (0, 26))"
	"  ORDER BY i.id;";

/* Version 16: administrators and sub-accounts (SPEC §16, model/meta/roles.c).
 * accounts.admin: 1 for an administrator (sees every tenant under
 * tenants/); accounts.parent_id: a sub-account's main account (0: none),
 * one level deep.  usage_totals: the usage each account's quotas are
 * checked against — its own (usage) and, for a main account, all its
 * sub-accounts' — kept by the triggers on usage in the same transaction
 * (the payer of a row: its account's parent_id, else the account), so a
 * check stays one row (model/meta/quota.c); roles.c moves an account's
 * part when its parent changes.  Keys as usage's. */
static const char schema_v16[] =
	"ALTER TABLE accounts ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE accounts ADD COLUMN parent_id INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX accounts_parent ON accounts(parent_id, id);"
	"CREATE INDEX accounts_admin ON accounts(admin, id);"
	"CREATE TABLE usage_totals ("
	"  account_id INTEGER NOT NULL,"        /* the payer: a main account (or one on its own) */
	"  region_id INTEGER NOT NULL,"
	"  key INTEGER NOT NULL,"               /* enum model_quota_key, as usage */
	"  used INTEGER NOT NULL,"
	"  PRIMARY KEY(account_id, region_id, key)) WITHOUT ROWID;"
	"CREATE TRIGGER usage_totals_insert AFTER INSERT ON usage BEGIN"
	"  INSERT INTO usage_totals VALUES (COALESCE((SELECT NULLIF(parent_id, 0) FROM accounts"
	"    WHERE id = NEW.account_id), NEW.account_id), NEW.region_id, NEW.key, NEW.used)"
	"    ON CONFLICT DO UPDATE SET used = used + excluded.used;"
	" END;"
	"CREATE TRIGGER usage_totals_update AFTER UPDATE OF used ON usage BEGIN"
	"  INSERT INTO usage_totals VALUES (COALESCE((SELECT NULLIF(parent_id, 0) FROM accounts"
	"    WHERE id = NEW.account_id), NEW.account_id), NEW.region_id, NEW.key, NEW.used - OLD.used)"
	"    ON CONFLICT DO UPDATE SET used = used + excluded.used;"
	" END;"
	/* (an update only: the payer's row may be gone with its account) */
	"CREATE TRIGGER usage_totals_delete AFTER DELETE ON usage BEGIN"
	"  UPDATE usage_totals SET used = used - OLD.used WHERE account_id = COALESCE((SELECT NULLIF(parent_id, 0)"
	"    FROM accounts WHERE id = OLD.account_id), OLD.account_id) AND region_id = OLD.region_id AND key = OLD.key;"
	" END;"
	/* Nobody is a sub-account yet: each account's totals are its own. */
	"INSERT INTO usage_totals SELECT account_id, region_id, key, used FROM usage;";

/* Version 17: instances from ISO images (SPEC §16): the size of the blank
 * system disk an instance gets (at creation, and from an ISO image),
 * 40 GiB unless written (system-disk-size).  Its cdrom (idx 26: the ISO
 * image's blob row, by reference) and its cidata seed (idx 27: a sealed
 * blob of its own) are instance_disks rows like the others. */
static const char schema_v17[] =
	"ALTER TABLE instances ADD COLUMN system_disk_size INTEGER NOT NULL DEFAULT 42949672960;";

/* Version 18: encrypted images (SPEC §17, model/meta/keys.c).  A data key
 * per lineage (an encrypted image and everything made from it: captures,
 * conversions, copies, instances), stored only wrapped by the service's
 * key-encryption key, which is never in the database: the row says which
 * key wrapped it (its id, an HMAC of it), so a rotation (`imgfs admin key
 * rotate`) re-wraps row by row, each in its own transaction, and resumes
 * where it was cut.  A blob's chunks are sealed under its key_id's key; an
 * image's key_id is its lineage's (0 until it holds data, or plain); an
 * instance's the one of the image it was built from (its new disks use
 * it); an account's encrypt_default makes its new images encrypted. */
static const char schema_v18[] =
	"CREATE TABLE data_keys ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  wrapped BLOB NOT NULL,"              /* nonce 12 || AES-256-GCM(KEK, key) 32 || tag 16 */
	"  kek TEXT NOT NULL,"                  /* the id of the KEK that wrapped it, 16 hex */
	"  created INTEGER NOT NULL);"          /* unix seconds */
	"ALTER TABLE blobs ADD COLUMN key_id INTEGER NOT NULL DEFAULT 0;"     /* data_keys(id); 0: plain */
	"ALTER TABLE images ADD COLUMN key_id INTEGER NOT NULL DEFAULT 0;"    /* its lineage's key; 0: none */
	"ALTER TABLE instances ADD COLUMN key_id INTEGER NOT NULL DEFAULT 0;" /* its new disks' key; 0: plain */
	"ALTER TABLE accounts ADD COLUMN encrypt_default INTEGER NOT NULL DEFAULT 0;";

/* Version 19: no request thread computes a whole-blob XXH3-128 any more
 * (SPEC §2.3: `getxattr` answers from blobs.xxh128, ENODATA while it is
 * ''); the background checksum pass (model/task/checksum.c) reads it
 * beside the SHA-256.  The images made before that lack one get a
 * 'checksum' task each: available or in a recycle bin (status 5, 7), a
 * disk whose xxh128 is '', no checksum task queued already. */
static const char schema_v19[] =
	"INSERT INTO tasks(kind, image_id, state) SELECT 'checksum', i.id, 'queued' FROM images i "
	"  WHERE i.status IN (5, 7) AND EXISTS (SELECT 1 FROM devices d JOIN blobs b ON b.id = d.blob_id"
	"    WHERE d.image_id = i.id AND b.xxh128 = '')"
	"  AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.image_id = i.id AND t.kind = 'checksum')"
	"  ORDER BY i.id;";

/* Version 20: the OpenStack image API (Glance v2, SPEC §19; model/meta/
 * glance.c, props.c, tokens.c, apitask.c).  What Glance keeps and the
 * tree had no word for:
 *   images.uuid          the image's id in the API (a version 4 UUID,
 *                        lowercase), unique in the service; every image
 *                        made before gets one here, every new one at its
 *                        insert;
 *   images.title         the API's name when it is not the directory's
 *                        (Glance names are free text up to 255 bytes and
 *                        need not be unique; a directory's are §10
 *                        names): '' when the name is the directory's;
 *   images.disk_format, images.container_format  as the API was told
 *                        ('' until told; disk_format follows the data
 *                        once it is in, §19);
 *   images.min_disk (GiB), images.min_ram (MiB);
 *   images.gflags        1 protected (no delete, from either face),
 *                        2 os_hidden, 4 visibility "shared" (else
 *                        "private", for a tenant's image), 8 deactivated;
 *   image_props          free-form key=value properties, at most 128 an
 *                        image (SPEC §12);
 *   shares.status        a member's answer: 1 pending, 2 accepted, 3
 *                        rejected (shares made before: accepted, their
 *                        receivers have seen them), shares.updated when;
 *   accounts.api_password  the salted SHA-512 crypt hash of the account's
 *                        API password ('' none: no password login);
 *   api_tokens           tokens of the API: the random half of each
 *                        (nonce), never the MAC that completes it;
 *   api_tasks            the API's import tasks, a few per image. */
static const char schema_v20[] =
	"ALTER TABLE images ADD COLUMN uuid TEXT NOT NULL DEFAULT '';"
	"UPDATE images SET uuid = lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||"
	"  substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) ||"
	"  substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)));"
	"CREATE UNIQUE INDEX images_uuid ON images(uuid);"
	/* Every insert path binds one; a row put in without (a test's, an
	 * old tool's) gets one at once, so '' is never kept. */
	"CREATE TRIGGER images_uuid_fill AFTER INSERT ON images WHEN NEW.uuid = '' BEGIN"
	"  UPDATE images SET uuid = lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||"
	"    substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) ||"
	"    substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))) WHERE id = NEW.id;"
	" END;"
	"ALTER TABLE images ADD COLUMN title TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE images ADD COLUMN disk_format TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE images ADD COLUMN container_format TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE images ADD COLUMN min_disk INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE images ADD COLUMN min_ram INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE images ADD COLUMN gflags INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE image_props ("
	"  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
	"  key TEXT NOT NULL,"                  /* 1-255 bytes, no blank or control character */
	"  value TEXT NOT NULL,"                /* at most 255 bytes of text */
	"  PRIMARY KEY(image_id, key)) WITHOUT ROWID;"
	"ALTER TABLE shares ADD COLUMN status INTEGER NOT NULL DEFAULT 2;"
	"ALTER TABLE shares ADD COLUMN updated INTEGER NOT NULL DEFAULT 0;"
	"UPDATE shares SET updated = created;"
	"ALTER TABLE accounts ADD COLUMN api_password TEXT NOT NULL DEFAULT '';"
	"CREATE TABLE api_tokens ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  nonce TEXT NOT NULL UNIQUE,"         /* 32 hex digits: the token's first half */
	"  account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
	"  created INTEGER NOT NULL,"           /* unix seconds */
	"  expires INTEGER NOT NULL,"           /* unix seconds */
	"  via TEXT NOT NULL DEFAULT '');"      /* 'admin' (imgfs admin token) or 'login' (POST /v3/auth/tokens) */
	"CREATE INDEX api_tokens_account ON api_tokens(account_id, expires);"
	"CREATE TABLE api_tasks ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  uuid TEXT NOT NULL UNIQUE,"
	"  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
	"  account_id INTEGER NOT NULL,"        /* who asked */
	"  method TEXT NOT NULL,"               /* glance-direct, web-download */
	"  input TEXT NOT NULL DEFAULT '',"     /* the request's body, as the API shows it */
	"  request_id TEXT NOT NULL DEFAULT '',"
	"  created INTEGER NOT NULL,"
	"  ended INTEGER NOT NULL DEFAULT 0,"   /* 0 while it runs */
	"  result TEXT NOT NULL DEFAULT '');"   /* '' while it runs, 'success', or the reason it failed */
	"CREATE INDEX api_tasks_image ON api_tasks(image_id, id);"
	"CREATE INDEX api_tasks_account ON api_tasks(account_id, id);";

/* Version 21: tasks.resume, a URL import's durable point as every host
 * can take it over — the manifest of the bytes [0, blobs.size) it holds
 * in the region's store, written with each durable point when hosts share
 * the metadata (import.c), NULL otherwise. */
static const char schema_v21[] = "ALTER TABLE tasks ADD COLUMN resume BLOB;";

/* Version 22: what is inside each image (SPEC §20, model/meta/inspection.c,
 * model/task/inspect.c).  One row an image, written by its last
 * inspection: the three files it shows (inspection, inspection.json,
 * packages) as rendered then, and which attributes it filled (those the
 * uploader left empty).  The images available before get theirs from the
 * next mount (model_inspection_sweep). */
static const char schema_v22[] =
	"CREATE TABLE inspections ("
	"  image_id INTEGER PRIMARY KEY,"       /* images(id) */
	"  state TEXT NOT NULL,"                /* done, failed */
	"  inspected INTEGER NOT NULL,"         /* unix seconds */
	"  filled TEXT NOT NULL DEFAULT '',"    /* the attributes it filled: "platform version ..." */
	"  text TEXT NOT NULL,"                 /* the inspection file */
	"  json TEXT NOT NULL,"                 /* inspection.json */
	"  packages TEXT NOT NULL);";

/* Version 23: what is inside each snapshot (SPEC §20): one row a snapshot,
 * as an image's in inspections (a snapshot has no attributes to fill).
 * Its task is an 'inspect' with image_id 0, source_kind 'snapshot' and
 * source_id the snapshot (model/task/inspect.c); a snapshot's removal
 * takes its row (model_snapshot_delete_row). */
static const char schema_v23[] =
	"CREATE TABLE snapshot_inspections ("
	"  snapshot_id INTEGER PRIMARY KEY,"    /* snapshots(id) */
	"  state TEXT NOT NULL,"                /* done, failed */
	"  inspected INTEGER NOT NULL,"         /* unix seconds */
	"  text TEXT NOT NULL,"
	"  json TEXT NOT NULL,"
	"  packages TEXT NOT NULL);";

/* Version 24: an image's inspection goes with the image.  inspections has
 * no foreign key (v22), and no writer deleted it: every destroyed image's
 * row stayed, the package list with it (a tenant's deleted images held
 * rows without bound).  The rows of images already gone go now. */
static const char schema_v24[] =
	"DELETE FROM inspections WHERE image_id NOT IN (SELECT id FROM images);"
	"CREATE TRIGGER inspections_destroy AFTER DELETE ON images BEGIN"
	"  DELETE FROM inspections WHERE image_id = OLD.id;"
	" END;";

/* Version 25: a task that failed waits before it is claimed again
 * (task.c: model_task_work, issue 49).  retry_ns is the earliest time
 * (model_now_ns) a claim takes it, 0 for now; retries counts its failed
 * runs in a row (the pause doubles from 1 s to 60 s), 0 once a run ends
 * without a failure (a stop, a time slice given back). */
static const char schema_v25[] =
	"ALTER TABLE tasks ADD COLUMN retry_ns INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE tasks ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;";

/* Version 26: a rejected share leaves its receiver's shared-images count
 * (SPEC §6.4, §8; seed 002 limits the shared images a user accepts): key
 * 3 of usage counts the shares whose status is not 3 (rejected).  Before,
 * every share counted, so a receiver who rejected one still had its place
 * taken and only the owner could free it (issue 70).  images.shares, the
 * owner's shares-per-image, still counts every share. */
static const char schema_v26[] =
	"DROP TRIGGER usage_shares_insert;"
	"CREATE TRIGGER usage_shares_insert AFTER INSERT ON shares BEGIN"
	"  INSERT INTO usage SELECT NEW.account_id, region_id, 3, 1 FROM images WHERE id = NEW.image_id"
	"    AND NEW.status != 3 ON CONFLICT DO UPDATE SET used = used + 1;"
	"  UPDATE images SET shares = shares + 1 WHERE id = NEW.image_id;"
	" END;"
	"DROP TRIGGER usage_shares_delete;"
	"CREATE TRIGGER usage_shares_delete AFTER DELETE ON shares BEGIN"
	"  UPDATE usage SET used = used - 1 WHERE OLD.status != 3 AND account_id = OLD.account_id AND key = 3"
	"    AND region_id = (SELECT region_id FROM images WHERE id = OLD.image_id);"
	"  UPDATE images SET shares = shares - 1 WHERE id = OLD.image_id;"
	" END;"
	/* A receiver's answer: into or out of rejected moves its place. */
	"CREATE TRIGGER usage_shares_answer AFTER UPDATE OF status ON shares"
	"  WHEN (OLD.status = 3) != (NEW.status = 3) BEGIN"
	"  INSERT INTO usage SELECT NEW.account_id, region_id, 3, CASE WHEN NEW.status = 3 THEN -1 ELSE 1 END"
	"    FROM images WHERE id = NEW.image_id ON CONFLICT DO UPDATE SET used = used + excluded.used;"
	" END;"
	/* What the rows say today (usage_totals follow by their triggers). */
	"UPDATE usage SET used = (SELECT count(*) FROM shares s JOIN images i ON i.id = s.image_id"
	"  WHERE s.account_id = usage.account_id AND i.region_id = usage.region_id AND s.status != 3) WHERE key = 3;";

/* Version 27: what Glance's clients check an upload by (SPEC §19.5): the
 * MD5 of a blob's bytes (`checksum`) and, where the operator asked Glance's
 * default os_hash_algo (`imgfs serve --glance-hash-algo sha512`), their
 * SHA-512 — lowercase hex, sealed as sha256 is for an encrypted blob (§17),
 * '' when not hashed: computed by the upload paths in the same pass as the
 * SHA-256 (fs/fuse/upload.c, fs/serve/glance/data.c); blobs made another
 * way, and those before this step, keep ''. */
static const char schema_v27[] = "ALTER TABLE blobs ADD COLUMN md5 TEXT NOT NULL DEFAULT '';"
                                 "ALTER TABLE blobs ADD COLUMN sha512 TEXT NOT NULL DEFAULT '';";

/* Version 28: an early import's state shared by every host (SPEC §6.5
 * "Early", §13.13; model/task/early_got.c, early_profile.c), where it was
 * one host's files (<state>/early-got/, <state>/profiles/).
 *
 * early_got: a chunk an early import's fetch (the import's window, or an
 * early reader's range on any host) stored in the region's store, written
 * after the chunk was stored durably (a row never names a chunk that is
 * not there but by gc, which a taker checks), and only while the image's
 * import task exists; the task row's deletion (a seal, a failure, a
 * cancel) deletes them in its transaction (the trigger).  The importing
 * host takes the rows of other hosts' readers before each window, and a
 * host that takes the import over, or runs it again after a crash, the
 * chunks that arrived past its durable point: none is fetched twice.
 *   seq        the order rows were written (a taker reads those after
 *              the last it read)
 *   image_id   images(id) of the import
 *   idx        the chunk's index in the file (1 MiB chunks)
 *   chunk      its id (16 bytes), empty for a chunk of zeros (a hole)
 *   size, validator  the version of the file it is a chunk of (fetch.h)
 *
 * early_profiles: boot profiles (SPEC §6.5 "Boot profile"), one a URL,
 * written when an import that readers read early ends, read by the next
 * import of that URL on any host (a hint: it orders fetches, never bytes).
 *   url_hash   FNV-1a 64 of the URL, 16 hex digits (the URL may hold a
 *              password: it is not kept)
 *   chunks     the chunk indexes in the order of their first read, 4
 *              bytes each, little-endian; at most EARLY_PROFILE_MAX
 *   saved      unix seconds */
static const char schema_v28[] =
	"CREATE TABLE early_got ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  image_id INTEGER NOT NULL,"
	"  idx INTEGER NOT NULL,"
	"  chunk BLOB NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  validator TEXT NOT NULL,"
	"  UNIQUE(image_id, idx));"
	"CREATE INDEX early_got_image ON early_got(image_id, seq);"
	"CREATE TRIGGER early_got_end AFTER DELETE ON tasks WHEN OLD.kind = 'import' BEGIN"
	"  DELETE FROM early_got WHERE image_id = OLD.image_id;"
	" END;"
	"CREATE TABLE early_profiles ("
	"  url_hash TEXT PRIMARY KEY,"
	"  chunks BLOB NOT NULL,"
	"  saved INTEGER NOT NULL);";

const char *const schema_sqlite_steps[] = {schema_v1,  schema_v2,  schema_v3,  schema_v4,  schema_v5,  schema_v6,
                                           schema_v7,  schema_v8,  schema_v9,  schema_v10, schema_v11, schema_v12,
                                           schema_v13, schema_v14, schema_v15, schema_v16, schema_v17, schema_v18,
                                           schema_v19, schema_v20, schema_v21, schema_v22,
                                           schema_v23, schema_v24, schema_v25, schema_v26, schema_v27, schema_v28};
const int schema_sqlite_version = sizeof(schema_sqlite_steps) / sizeof(schema_sqlite_steps[0]);
