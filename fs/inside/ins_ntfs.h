/*
 * ins_ntfs.h — an NTFS volume, read through libntfs-3g (SPEC §18: the
 * Windows images).  libntfs-3g is the library ntfs-3g and ntfsprogs are
 * built on; here it reads the volume through a struct
 * ntfs_device_operations whose reads are a fetch callback (the helper's
 * block requests to the daemon): no file is opened.
 *
 * Inode numbers are MFT record numbers (stable: the root is 5); what is
 * shown follows ntfs-3g with its default options: owner 0/0, modes 0777,
 * the unnamed data stream of a file, symbolic links and junctions as
 * libntfs-3g reports them, system files ($MFT, …) and DOS 8.3 names not
 * listed.
 */
#ifndef IMGFS_INS_NTFS_H
#define IMGFS_INS_NTFS_H

#include <stddef.h>
#include <stdint.h>

#include "ins_proto.h"

#define INS_NTFS_ROOT_INO 5

/* Reads len bytes at off of the volume into buf: 0, or -errno. */
typedef int (*ins_ntfs_fetch_fn)(void *arg, void *buf, size_t len, uint64_t off);
typedef struct ins_ntfs ins_ntfs;

/* Opens the NTFS file system of a volume of size bytes, read-only: 0 with
 * *out, or -errno with why. */
int ins_ntfs_open(ins_ntfs_fetch_fn fetch, void *arg, uint64_t size, ins_ntfs **out, char *why, size_t cap);
void ins_ntfs_close(ins_ntfs *v);
const char *ins_ntfs_why(const ins_ntfs *v);

int ins_ntfs_stat(ins_ntfs *v, uint32_t ino, struct ins_stat *st);
/* fn for each entry of directory dir (not "." or ".."), its name UTF-8 and
 * not NUL-terminated; fn's non-zero return stops.  0, or -errno. */
typedef int (*ins_ntfs_entry_fn)(void *arg, const char *name, size_t len, const struct ins_stat *st);
int ins_ntfs_list(ins_ntfs *v, uint32_t dir, ins_ntfs_entry_fn fn, void *arg);
int ins_ntfs_lookup(ins_ntfs *v, uint32_t dir, const char *name, size_t len, struct ins_stat *st);
int ins_ntfs_read(ins_ntfs *v, uint32_t ino, uint64_t off, size_t len, void *buf, size_t *got);
/* The target of link ino into buf (cap bytes): 0 with *len, or -errno. */
int ins_ntfs_readlink(ins_ntfs *v, uint32_t ino, char *buf, size_t cap, size_t *len);
/* The volume's label (its $Volume's $VOLUME_NAME, UTF-8), "" when none. */
const char *ins_ntfs_label(const ins_ntfs *v);

#endif
