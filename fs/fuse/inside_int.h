/*
 * inside_int.h — what the two halves of files/ share (SPEC §18): the
 * table of disks and their volumes (inside.c: the nodes, the table, what a
 * request asks) and the helper processes that parse the volumes
 * (inside_helper.c: starting them, the spare, a conversation with one).
 * Private to fs/fuse/inside*.c.
 *
 * Both halves keep their state in one room of the mount, struct
 * fs_inside at ctx->inside (made and freed by rooms.c through
 * fs_inside_new/fs_inside_free): two mounts in one process share no
 * helper, no disk and no counter.
 *
 * Locks, in order (their IMGFS_LOCK_LEVEL): the room's load_lock 16
 * (inside.c: one disk loads at a time), a volume's lock 18 (one
 * conversation at a time), the room's table_lock 20; a volume's sc_lock 58
 * is taken alone.  (fs.h has the rest of the daemon's order.)
 */
#ifndef IMGFS_FS_FUSE_INSIDE_INT_H
#define IMGFS_FS_FUSE_INSIDE_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "fs.h"
#include "imgfs_lock.h"
#include "ins_fs.h"
#include "ins_ident.h"
#include "ins_ptable.h"
#include "qcow2.h"

#ifndef INS_DISKS /* (smaller in a build that exercises eviction) */
#define INS_DISKS 16         /* disks (blobs) known at once */
#endif
#ifndef INS_MAX_HELPERS
#define INS_MAX_HELPERS 16   /* helpers running at once */
#endif
#define INS_STAT_SLOTS 1024  /* attributes kept per volume (struct ins_vol.sc) */
#define COUNT(c, n) __atomic_add_fetch(&(c), (n), __ATOMIC_RELAXED)

enum vol_fs { VOL_NONE = 0, VOL_READ, VOL_OTHER };

#define INS_LV_SEGS 16 /* runs of one logical volume (inside_lvm.c; fs/inside/lvm.c: LVM_SEGS) */

/* A run of a logical volume: its bytes at lv_off are the disk's at disk_off. */
struct ins_seg {
	uint64_t lv_off, len, disk_off;
};

struct ins_vol {
	unsigned number;      /* 0: the whole disk; a logical volume's: a free one (inside_lvm.c) */
	uint64_t start, size;
	enum vol_fs fs;
	uint32_t kind;        /* VOL_READ: which file system (INS_FS_*, its reader) */
	char note[512];       /* VOL_OTHER: what it holds, for README (a PV: each volume not shown, why) */
	struct ins_ident ident; /* its type, UUID and label (fstab's names: inspect.c) */
	/* An LVM2 logical volume (inside_lvm.c): "vg-lv", its physical
	 * volume's number, its runs on the disk ("": a partition or disk). */
	char lvname[130];
	unsigned pv_number;
	unsigned nsegs;
	struct ins_seg segs[INS_LV_SEGS];
	pthread_mutex_t lock; /* one conversation at a time */
	pid_t pid;            /* 0: no helper */
	int fd;
	int err_fd;           /* the read end of its stderr (-1: none) */
	uint64_t err_logged, err_dropped; /* of its stderr (at most INS_STDERR_MAX logged) */
	struct fs_ctx *ctx;   /* the mount whose log its stderr goes to */
	bool open_failed;     /* the file system could not be opened (sealed: for good) */
	char failure[200];
	uint64_t used;        /* the clock at its last request (LRU) */
	qcow2_reader *qr;     /* a QCOW2 disk's reader for this volume (vol lock) */
	/* Attributes the helper told (listings, lookups, stats), by guest
	 * inode number, direct-mapped: a blob never changes, so they never go
	 * stale, and an open or a getattr of a file just listed costs no
	 * round trip.  Kept while the volume has a helper (bounded with them:
	 * INS_STAT_SLOTS * 64 bytes each), under sc_lock, not the volume's
	 * lock (which a conversation holds). */
	pthread_mutex_t sc_lock;
	struct ins_stat *sc;
	uint32_t root;        /* the root directory's guest number, once told (atomic; 0: not yet) */
};
IMGFS_LOCK_LEVEL(ins_vol_lock, 18); /* a conversation: under load_lock, over ins_table_lock, blobstore, the model */
IMGFS_LOCK_LEVEL(ins_vol_sc_lock, 58); /* taken alone */

struct ins_disk {
	int64_t blob_id;      /* 0: a free slot */
	unsigned refs;        /* requests using it (not dropped while > 0) */
	uint64_t used;
	blob_store *store;
	blob_manifest *man;
	bool qcow2;           /* the blob is a QCOW2 file: volumes are in its virtual disk */
	uint64_t size;        /* of the (virtual) disk */
	struct pt_table pt;
	char note[200];       /* why the disk shows nothing (unreadable, no key) */
	int load_err;         /* while it loads: the first read that failed (the load is then not kept) */
	qcow2_reader *load_qr; /* while it loads (load_lock): its QCOW2 reader, if any */
	unsigned nvols;
	/* Reads of its bytes a helper asked for that the store did not
	 * answer (not a damaged chunk: a timeout, a store away; atomic): an
	 * inspection that met one could not tell (fs/fuse/inspect.c). */
	unsigned unanswered;
	/* Reads of its bytes (a helper's, the load's) that met a chunk read
	 * and condemned (blob_store_read_judged: -EUCLEAN), and the blob's
	 * chunk the last one met (atomic): a verdict, which an inspection
	 * says (fs/fuse/inspect.c, SPEC §20.2). */
	unsigned damaged;
	uint32_t damaged_chunk;
	struct ins_vol vols[PT_MAX_PARTS];
};

/* ---- the room (ctx->inside) ---- */

struct fs_inside {
	/* The table (inside.c). */
	pthread_mutex_t load_lock;  /* one disk loads at a time */
	pthread_mutex_t table_lock; /* the disks' slots and refs, the helpers' count, the spare */
	/* Signalled (table_lock) when a disk's reference, a helper or a
	 * volume's conversation ends: a request waiting for a disk slot or a
	 * helper's room looks again, within its deadline. */
	pthread_cond_t room_cond;
	struct ins_disk disks[INS_DISKS];
	uint64_t clock_ticks;       /* the LRU clock of disks and volumes */
	/* The helpers (inside_helper.c).  Running, the spare included
	 * (table_lock), and the most at once; what /stats shows of files/,
	 * counted (COUNT). */
	unsigned helpers_running, helpers_peak;
	uint64_t n_starts, n_exchanges, n_block_reads, n_block_bytes, n_spare_taken, n_stat_hits;
	int deadline_ms;            /* one answer's (IMGFS_INSIDE_DEADLINE_MS, 10 s by default) */
	char helper_exe[PATH_MAX];  /* the helper's program ("": none found) */
	bool helper_own;            /* helper_exe is imgfs itself (`imgfs inside-helper`) */
	/* One helper started ahead, sandboxed and waiting for its first
	 * request (table_lock): pid 0 none, -1 one is being started. */
	struct {
		pid_t pid;
		int fd, err_fd; /* its socket and its stderr's pipe */
	} spare;
	/* The thread that starts a spare taken (table_lock): started at the
	 * first request for one, stopped and joined by fs_inside_free. */
	pthread_t spare_tid;
	pthread_cond_t spare_cond; /* spare_wanted or spare_stop set */
	bool spare_thread, spare_thread_failed, spare_wanted, spare_stop;
	/* The mount is stopping (fs_inside_stopping): a conversation waits
	 * for no more answers (SPEC §15: a stop ends within 5 s). */
	atomic_bool stopping;
};
IMGFS_LOCK_LEVEL(ins_load_lock, 16);
IMGFS_LOCK_LEVEL(ins_table_lock, 20);

/* ---- the helpers (inside_helper.c) ---- */

/* The room's helper half, at its making (the program found, the deadline
 * read) and at its end: the spare's thread stopped and joined, the spare
 * killed and reaped (the volumes' helpers are ended by the caller). */
void ins_helpers_init(struct fs_inside *in);
void ins_helpers_stop(struct fs_inside *in);
/* The realtime clock one deadline (in->deadline_ms) from now (for timed
 * waits). */
struct timespec ins_wait_until(const struct fs_inside *in);
/* What v's helper wrote on its stderr, into the mount's log (vol lock held). */
void ins_helper_stderr(struct ins_vol *v);
/* Ends v's helper (vol lock held); why (may be NULL) gets how it died. */
void ins_helper_end(struct ins_vol *v, char *why, size_t cap);
/* Whether v needs a helper started (vol lock held): none, or one that
 * ended while idle (reaped; why says how, for the caller's log line). */
bool ins_helper_needed(struct ins_vol *v, char *why, size_t cap);
/* Gives v a helper (vol lock held): the spare, or a new one, room made. */
int ins_helper_start(struct ins_vol *v, char *why, size_t cap);
/* Asks for a spare helper to be started ahead (by the room's thread). */
void ins_spare_request(struct fs_inside *in);
/* Starts the spare if there is none and the bound leaves room. */
void ins_spare_fill(struct fs_inside *in);
/* The attributes of guest inode ino, if v's helper told them; keeps some. */
bool ins_sc_get(struct ins_vol *v, uint32_t ino, struct ins_stat *out);
void ins_sc_put(struct ins_vol *v, const struct ins_stat *st);
/* The disk's bytes: the blob's (a qcow2_reader's source), or its QCOW2
 * virtual disk's through qr.  -EUCLEAN when a chunk of the blob was read
 * and is not the chunk (counted in d->damaged, named in d->damaged_chunk),
 * any other -errno for a read that failed. */
ssize_t ins_blob_rd(void *arg, void *buf, size_t len, uint64_t off);
int ins_disk_read(struct ins_disk *d, qcow2_reader *qr, void *buf, size_t len, uint64_t off);
/* What the last damaged chunk d met was: "chunk N of the disk's blob
 * (bytes A to B) is damaged in the store (its bytes are not the chunk)". */
void ins_damaged_why(struct ins_disk *d, char *why, size_t cap);
/* len bytes of volume v at off: through its runs for a logical volume. */
int ins_vol_read(struct ins_disk *d, qcow2_reader *qr, const struct ins_vol *v, void *buf, size_t len, uint64_t off);
/* One exchange with v's helper (vol lock held). */
int ins_converse(struct ins_disk *d, struct ins_vol *v, uint32_t type, const void *req, size_t rlen, void **ans,
                 size_t *alen, char *why, size_t cap);

/* ---- LVM2 (inside_lvm.c) ---- */

/* The linear logical volumes of physical volume pv of d, appended to
 * d->vols (each probed with probe); pv->note says what it is.  At load
 * only (d not in the table yet). */
void ins_lvm_expand(struct ins_disk *d, struct ins_vol *pv, void (*probe)(struct ins_disk *, struct ins_vol *));
/* A volume's name under files/: "vda1", "vda", "vda2-vg0-root". */
void ins_vol_name(const char *dev, const struct ins_vol *v, char *out, size_t cap);

/* ---- a node's volume (inside.c) ---- */

/* The disk of blob_id (loaded if need be), taken for a request on node n
 * (NULL: every slot in use, or a load that could not read — nothing of a
 * failed load is kept —, logged, its reason in why; load_rc (may be NULL)
 * gets the load's -errno, -EUCLEAN when it met a damaged chunk, a verdict,
 * and stays untouched when there was no load) and given back: its volumes
 * (vols, nvols) are fixed once loaded. */
struct ins_disk *ins_disk_take(struct fs_ctx *ctx, const struct fs_node *n, int64_t blob_id, char *why, size_t cap,
                               int *load_rc);
void ins_disk_give(struct fs_ctx *ctx, struct ins_disk *d);

/* One exchange with the helper of inside node n's volume (its disk taken
 * and given back): 0 with *ans (the caller frees it), or -errno (EIO
 * logged with its reason). */
int ins_node_ask(struct fs_ctx *ctx, const struct fs_node *n, uint32_t type, const void *req, size_t rlen, void **ans,
                 size_t *alen);

#endif
