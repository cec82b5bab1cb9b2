/*
 * model.h — the service's metadata: accounts, regions, images, snapshots,
 * instances, devices, shares, quotas and tasks, kept in SQLite (WAL) in
 * <state>/imgfs.db or in PostgreSQL (SPEC §13), and the per-region blob
 * stores.  The one header the rest of the program includes: it includes
 * the topic headers in model/include/, one per kind of thing, and says
 * nothing of its own.
 *
 * Who calls it: fs/ (every request), fs/serve (download links), the admin
 * command line, the unit tests.  model/ is the only code that includes
 * <sqlite3.h> or <libpq-fe.h>; it knows nothing of FUSE, the kernel or
 * inodes (a limit fs/ needs is stated here as what it is for the model,
 * and fs/ says why it needs it).  The schema, one comment per table and
 * column, is in db/schema_sqlite.c; the image status machine (SPEC §4) in
 * meta/status.c.  Inside model/, model_int.h adds what the rooms share.
 *
 * The map (model/include/):
 *   core.h       the handle (open, close, stores, groups of reads), errors
 *                and their reasons, status enums, names and ids, the
 *                model's log and clocks
 *   images.h     images: listing, lookup, creation, attributes, the status
 *                machine's edges, recycle bin, publishing; devices and
 *                blobs; the attributes of §5.4
 *   inspections.h what is inside an image: its inspection (§20)
 *   instances.h  instances, their disks, rebuild
 *   snapshots.h  snapshots
 *   shares.h     sharing an image, and what the receiver sees
 *   tasks.h      the task queue and its runners; capture, convert, copy,
 *                upload and URL import
 *   links.h      download links
 *   admin.h      hosts, accounts, regions, quotas, settings, migrate,
 *                fsck, gc, writers of chunks
 *   keys.h       encrypted images' keys: the key-encryption key, rotation
 *   counters.h   what the model counts and /stats reads
 *   changes.h    the change log
 *   glance.h     what the image API (Glance v2, SPEC §19) keeps: UUIDs,
 *                properties, members' answers, tokens, import tasks
 * Each opens with what it covers, who calls it, its threads and errors.
 *
 * Threads: a model may be used from any number of threads; each thread
 * gets its own database connection.  Two processes may open one state
 * directory at once (SPEC §1).
 *
 * Errors: 0 (or a count) on success, -errno on failure, the errno of SPEC
 * §9 for refusals; functions that can refuse take a struct model_err that
 * receives a one-line reason.
 */
#ifndef IMGFS_MODEL_H
#define IMGFS_MODEL_H

#include "include/core.h"

#include "include/admin.h"
#include "include/changes.h"
#include "include/counters.h"
#include "include/glance.h"
#include "include/images.h"
#include "include/inspections.h"
#include "include/instances.h"
#include "include/keys.h"
#include "include/rights.h"
#include "include/links.h"
#include "include/shares.h"
#include "include/snapshots.h"
#include "include/tasks.h"

#endif
