/*
 * inspect_int.h — what the two halves of an image's inspection share
 * (SPEC §20): inspect.c gathers (each volume's facts, told by its helper
 * under the sandbox, and the type, UUID and label the daemon's probe read)
 * and serves the files; inspect_judge.c concludes (the OS, its version,
 * arch, boot mode, agents, packages), finds the seeds' warnings and the
 * contradictions with what the uploader wrote, and renders inspection,
 * inspection.json and packages.  Private to fs/fuse/inspect*.c.
 */
#ifndef IMGFS_FS_FUSE_INSPECT_INT_H
#define IMGFS_FS_FUSE_INSPECT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ins_ident.h"
#include "ins_inspect.h"
#include "model.h"

#define INSPECT_VOLS 64 /* volumes of one image looked at */
/* The facts an inspection holds at once, all volumes together: the root's
 * answer (INSPECT_ANSWER_MAX) and as much again for the others (a volume
 * that is not the root keeps no packages: about 1 MiB at most of an honest
 * helper's facts); past it, a volume's answer is cut (and said). */
#define INSPECT_FACTS_MAX (2 * (size_t)INSPECT_ANSWER_MAX)

/* One volume of the image, as gathered. */
struct inspect_vol {
	char name[160];         /* vda1, vdb, data1, vda2-vg0-root */
	unsigned dev_index;     /* vda 0, vdb 1, ... */
	unsigned number;        /* partition number; 0: the whole disk */
	struct ins_ident ident; /* type, UUID, label (the daemon's probe) */
	char lvname[130];       /* an LVM2 logical volume's "vg-lv"; "" */
	bool read;              /* its helper answered INS_T_INSPECT */
	char note[200];         /* why it was not read ("" when read or not a file system imgfs reads) */
	char *facts;            /* the helper's answer ("key\tvalue" lines), NUL-terminated; NULL */
	size_t facts_len;
};

struct inspect_in {
	const struct model_image *img; /* a snapshot's: blank but its ext_id */
	bool snapshot;                 /* a snapshot's data: nothing to fill */
	struct inspect_vol vols[INSPECT_VOLS];
	unsigned nvols;
	char disk_notes[512];   /* disks that could not be read at all, or met a damaged chunk */
	bool damaged;           /* a chunk of a disk was read and is not the chunk (a note says which) */
	int64_t now;            /* unix seconds: the inspection's time */
};

/* Whether v's facts name an OS (the judge's root: the first such volume). */
bool inspect_is_root(const struct inspect_vol *v);
/* Drops v's "pkg" facts (a volume not the root: never shown). */
void inspect_drop_packages(struct inspect_vol *v);

/* Concludes and renders (inspect_judge.c): out's three files (malloc'd)
 * and the attributes to fill. */
int inspect_judge(const struct inspect_in *in, struct model_inspection *out);

#endif
