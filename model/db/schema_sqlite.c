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
	/* Blobs: device contents.  Sealed blobs have a manifest (blobstore.h
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
	"  idx INTEGER NOT NULL,"
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

const char *const schema_sqlite_steps[] = {schema_v1, schema_v2, schema_v3};
const int schema_sqlite_version = sizeof(schema_sqlite_steps) / sizeof(schema_sqlite_steps[0]);
