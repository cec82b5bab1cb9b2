/*
 * blob_wblob.h — writable blobs (instance disks, uploads in progress):
 * a base manifest plus a copy-on-write overlay (wblob.c has the design).
 * Part of the blob store's API (blobstore.h has the model, the errors
 * and the threads, which hold here too).
 */
#ifndef IMGFS_BLOB_WBLOB_H
#define IMGFS_BLOB_WBLOB_H

#include "blobstore.h"

/* ---- writable blobs ------------------------------------------------------ */

typedef struct blob_wblob blob_wblob;

/* Creates wblob `name` ([A-Za-z0-9_.-]{1,64}) over base (NULL: all holes),
 * with the given virtual size.  -EEXIST if it exists. */
int blob_wblob_create(blob_store *s, const char *name, const blob_manifest *base, uint64_t size);
int blob_wblob_open(blob_wblob **out, blob_store *s, const char *name);
/* Opens it under key (SPEC §17; NULL: plain, as blob_wblob_open): its
 * base's chunks, the chunks it streams and its seal are sealed under
 * key, its overlay encrypted with keys derived from key and the name.  A
 * wblob is always opened with the key it was written with (model/ keeps
 * it with the blob's row); only its size and stored bytes mean anything
 * under another. */
int blob_wblob_open_key(blob_wblob **out, blob_store *s, const char *name, const blob_key *key);
/* blob_wblob_open_key that says why an open failed with -EIO because an
 * overlay is missing or shorter than the chunks its map says it holds (a
 * file lost or cut outside imgfs: never read as zeros), in why (cap
 * bytes, may be NULL; "" for every other failure).  The same reason goes to
 * the store's log. */
int blob_wblob_open_why(blob_wblob **out, blob_store *s, const char *name, const blob_key *key, char *why,
                        size_t cap);
void blob_wblob_close(blob_wblob *w); /* accepts NULL */
/* Whether every file w's reads need is there (wblob_arr.c): 0, or -EIO
 * with why (cap bytes, may be NULL) naming the first whole-chunk file
 * (<name>.arr/<i>) that is missing where its reads would fail (written in
 * this boot: removed outside imgfs); other -errno when one cannot be
 * looked at.  fsck's check, and a failed capture's reason (issue 47).
 * The cost follows the wblob's data chunks. */
int blob_wblob_check_files(blob_wblob *w, char *why, size_t cap);
/* Removes its files; also what a crash in an earlier remove left (an
 * overlay without its map).  -ENOENT when none exists. */
int blob_wblob_remove(blob_store *s, const char *name);
/* Calls cb(arg, name, mtime) for every wblob in the store, including an
 * overlay left without its map by a crash (fsck finds wblobs no metadata
 * names); mtime is the newest of its files' (unix seconds).  Stops and
 * returns cb's value when it is non-zero. */
int blob_wblob_list(blob_store *s, int (*cb)(void *arg, const char *name, int64_t mtime), void *arg);

/* ---- where a wblob lives ------------------------------------------------------
 *
 * BLOB_WB_HOST: in the store's directory on this host (every wblob above).
 * BLOB_WB_CLUSTER: in the store's cluster when its backend keeps disks
 * there (RADOS: objects beside the chunks; blob_backend.h, "Writable blobs
 * kept in the cluster"), so that every host reaches it and a host that
 * dies loses nothing acknowledged; a store without a cluster keeps it in
 * its directory, as HOST (a dir: store on a path every host mounts is
 * that cluster).  One writer at a time: opening a cluster wblob fences
 * the client that wrote it last, if it did not close it (another host's,
 * or this host's before a crash): nothing of that client lands from then
 * on, and its writers get EIO.  A cluster wblob is plain (an encrypted
 * one: -EOPNOTSUPP), never streams, and its writes are durable when they
 * return (fsync has nothing to wait for).  The caller records where each
 * wblob lives and passes it to every call. */
enum blob_wb_where { BLOB_WB_HOST = 0, BLOB_WB_CLUSTER = 1 };
/* Whether s keeps cluster wblobs elsewhere than its directory. */
bool blob_store_has_cluster(const blob_store *s);
int blob_wblob_create_in(blob_store *s, enum blob_wb_where where, const char *name, const blob_manifest *base,
                         uint64_t size);
int blob_wblob_open_in(blob_wblob **out, blob_store *s, enum blob_wb_where where, const char *name,
                       const blob_key *key, char *why, size_t cap);
/* The same opened to read (and seal) only, as a capture or fsck does: a
 * cluster wblob's writer is not fenced, nor this handle recorded; its
 * writes, truncates and punches are -EROFS. */
int blob_wblob_open_reader(blob_wblob **out, blob_store *s, enum blob_wb_where where, const char *name,
                           const blob_key *key, char *why, size_t cap);
/* blob_wblob_open_reader for a capture, which must tell a verdict from a
 * store that did not answer (SPEC §13): a cluster wblob whose header or
 * one of whose records was read and does not decode is -EUCLEAN; every
 * other failure is what blob_wblob_open_reader says (EIO: could not
 * tell).  Readers through the mount keep EIO for both (§9). */
int blob_wblob_open_judged(blob_wblob **out, blob_store *s, enum blob_wb_where where, const char *name,
                           const blob_key *key, char *why, size_t cap);
int blob_wblob_remove_in(blob_store *s, enum blob_wb_where where, const char *name);
/* The cluster wblobs (mtime: when each was made), as blob_wblob_list. */
int blob_wblob_list_cluster(blob_store *s, int (*cb)(void *arg, const char *name, int64_t mtime), void *arg);
/* Fences the last writer of cluster wblob `name` without opening it (an
 * instance started on another host: its old host writes nothing more):
 * 1 fenced a client, 0 none was recorded (closed cleanly), -ENOENT, or
 * -errno with a one-line reason in why.  0 for a store without a cluster. */
int blob_wblob_fence(blob_store *s, const char *name, char *why, size_t cap);
/* gc's (SPEC §13 "what is removed when"): the cluster disks' chunk
 * objects that no record names (a killed first write's, a killed
 * shrink's, a removed disk's) and that last changed before not_after,
 * counted into *count and *bytes, removed unless dry; a line in the log
 * when it removed any.  0 (0 for a store without a cluster), or -errno
 * with a line in the log: a store that did not answer removed nothing
 * more from then on. */
int blob_wblob_sweep_cluster(blob_store *s, int64_t not_after, bool dry, uint64_t *count, uint64_t *bytes);
/* Whether w lives in the cluster. */
bool blob_wblob_in_cluster(const blob_wblob *w);

uint64_t blob_wblob_size(const blob_wblob *w);
uint64_t blob_wblob_stored(const blob_wblob *w); /* bytes of non-hole chunks */
blob_store *blob_wblob_store(const blob_wblob *w); /* the store it was opened in */
const blob_key *blob_wblob_key(const blob_wblob *w); /* the key it was opened with */
ssize_t blob_wblob_pread(blob_wblob *w, void *buf, size_t len, uint64_t off);
/* A small read of a cluster wblob, started (wblob_aread.c, SPEC §12): 1
 * when done(arg, n) will be called once, on a thread of the cluster's
 * client, with what blob_wblob_pread would return; 0 when it was not
 * started (done is not called): the caller reads the waiting way.  buf
 * stays the caller's until done. */
int blob_wblob_pread_start(blob_wblob *w, void *buf, size_t len, uint64_t off, void (*done)(void *arg, ssize_t n),
                           void *arg);
/* A small write of a cluster wblob, started (wblob_awrite.c, SPEC §12): 1
 * when done(arg, n) will be called once, on a thread of the cluster's
 * client, with what blob_wblob_pwrite would return; 0 when it was not
 * started (done is not called): the caller writes the waiting way.  buf
 * is the caller's again once it returns. */
int blob_wblob_pwrite_start(blob_wblob *w, const void *buf, size_t len, uint64_t off,
                            void (*done)(void *arg, ssize_t n), void *arg);
/* The largest read (write) blob_wblob_pread_start (_pwrite_start) starts
 * (part.c's BLOB_PART_MAX). */
#define BLOB_WBLOB_START_MAX (64u * 1024)
/* Writes past the end grow the blob.  Writers are serialised by the
 * caller, but a cluster wblob's (blob_wblob_in_cluster), which may run
 * side by side: the handle orders what must be. */
ssize_t blob_wblob_pwrite(blob_wblob *w, const void *buf, size_t len, uint64_t off);
/* The same for a writer that did not ask each write to be durable (SPEC
 * §11 "Decision (issue 49, stop 48)"): a whole chunk of a cluster wblob
 * may be answered (answer(arg, len), once) before it lands, its bytes
 * read from buf until then, which must stay the caller's until this
 * returns; once answered, the caller must not touch what a close frees
 * (its return value is then nobody's).  blob_wblob_settle, fsync and
 * close wait for it; a failure is told by blob_wblob_settle. */
ssize_t blob_wblob_pwrite_ahead(blob_wblob *w, const void *buf, size_t len, uint64_t off,
                                void (*answer)(void *arg, size_t n), void *arg);
/* Every write answered ahead before now landed or failed: 0, or when
 * one failed since *seen (a count, as blob_wblob_ahead_mark gave it to
 * a handle), the last failure's -errno, *seen then brought up to date —
 * each handle is told once, as Linux tells each open file of a writeback
 * error.  seen NULL: only waits. */
int blob_wblob_settle(blob_wblob *w, uint64_t *seen);
/* The failures of writes answered ahead so far (a handle's start). */
uint64_t blob_wblob_ahead_mark(blob_wblob *w);
int blob_wblob_truncate(blob_wblob *w, uint64_t size);
/* [off, off + len) (clipped to the size) reads as zeros afterwards; whole
 * chunks in it become holes and give their space back (fallocate
 * punch-hole, zero-range).  A writer: serialised with pwrite and truncate.
 * -EOPNOTSUPP on a streaming wblob. */
int blob_wblob_punch(blob_wblob *w, uint64_t off, uint64_t len);
int64_t blob_wblob_seek(blob_wblob *w, uint64_t off, int whence);
/* Copies [src_off, src_off + len) of the sealed blob src (clipped to its
 * size) to dst_off of w by reference where it can (SPEC §16): a whole
 * chunk of src that lands on a whole chunk of w (both offsets equally
 * aligned within a chunk) is taken by its id, nothing read or written;
 * the rest is read from src and written as pwrite does; holes of src
 * become holes.  Grows w as a write would.  Durable as pwrite (reaches
 * the device at blob_wblob_fsync).  Returns the bytes copied (0 at or past
 * src's end); *counts (may be NULL) says how many went by id and how many
 * as bytes (holes are neither).  -EXDEV when s_src is not w's store or
 * src not of w's key (blob_wblob_share_check).
 * A writer, like pwrite; on a streaming wblob (an upload) it settles
 * what streamed so far first (as fsync does). */
struct blob_share_counts {
	uint64_t by_id, by_bytes;
};
/* Whether blob_wblob_share may take src's chunks by id: 0, or -EXDEV when
 * src is of another store or sealed under another key than w's (a copy
 * outside the lineage: the caller copies by read and write, which seals
 * the bytes under w's key). */
int blob_wblob_share_check(const blob_wblob *w, const blob_store *s_src, const blob_manifest *src);
ssize_t blob_wblob_share(blob_wblob *w, blob_store *s_src, const blob_manifest *src, uint64_t src_off,
                         uint64_t dst_off, uint64_t len, struct blob_share_counts *counts);
int blob_wblob_fsync(blob_wblob *w);
/* From now on, writes through this handle that cover a whole chunk go
 * straight into the store (uploads: their bytes are written once, their
 * seal copies nothing).  Such writes are durable at the next fsync, not
 * when they return; other handles on the same wblob see them only after
 * it.  All-zero chunks become holes. */
void blob_wblob_stream(blob_wblob *w);
/* Stores the overlay's chunks and returns the manifest of the current
 * content.  The wblob stays open and usable. */
int blob_wblob_seal(blob_wblob *w, blob_manifest **out);
/* The same, calling progress(arg, done, total) after each data chunk
 * with the bytes of virtual size processed so far (monotonic, reaching
 * total = the size; holes count, in one step: a call per data chunk, not
 * per chunk, and one at the end).  A non-zero return stops the seal: -ECANCELED,
 * the wblob unchanged (chunks stored so far stay until gc drops them). */
int blob_wblob_seal_progress(blob_wblob *w, blob_manifest **out,
                             int (*progress)(void *arg, uint64_t done, uint64_t total), void *arg);
/* The same with the manifest's chunks sealed under key (NULL: plain),
 * which may differ from w's: a capture of an instance disk into an image
 * of another lineage (SPEC §17) stores every data chunk again under key;
 * under w's own key the unchanged chunks keep their ids.  A chunk that did
 * not read: -EUCLEAN when its stored chunk was read and is not the chunk,
 * -ENOENT when a cluster disk's own object that a record names is gone (a
 * verdict each), -EIO when nothing answered (could not tell, SPEC §13);
 * the two above say EIO for all three. */
int blob_wblob_seal_key(blob_wblob *w, const blob_key *key, blob_manifest **out,
                        int (*progress)(void *arg, uint64_t done, uint64_t total), void *arg);

#endif
