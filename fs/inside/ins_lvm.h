/*
 * ins_lvm.h — an LVM2 physical volume in the helper (lvm.c; SPEC §18): its
 * volume group's linear logical volumes, for the daemon
 * (fs/fuse/inside_lvm.c) to show as volumes of their own.
 */
#ifndef IMGFS_INS_LVM_H
#define IMGFS_INS_LVM_H

#include <stddef.h>
#include <stdint.h>

#include "ins_fs.h"
#include "ins_inspect.h"

/* The table of the PV of size bytes ("vg", "seg", "skip" lines, lvm.c's
 * top): 0, or -EIO (-ENOMEM) with the reason in why. */
int ins_lvm_read(uint64_t size, struct ins_out *o, char *why, size_t cap);
/* The table from a metadata text of len bytes (a NUL ends it, as in
 * lvm2's parser) for the PV whose label's UUID is uuid (32 characters):
 * 0, or -EIO (-ENOMEM) with the reason in why; *work (if work): the
 * nodes the parser visited, linear in the text (a test's count). */
int ins_lvm_table(const char *text, size_t len, const char *uuid, struct ins_out *o, uint64_t *work, char *why,
                  size_t cap);
/* The same for the PV the helper opened (INS_T_LVM). */
int ins_lvm_answer(struct ins_out *o, char *why, size_t cap);

/* The helper's "reader" of a PV: it opens, and holds no file. */
extern const struct ins_fs_ops ins_fs_lvm;

#endif
