/*
 * ins_fat.h — a FAT12/16/32 file system with VFAT long names, read by a
 * reader of imgfs's own (SPEC §18: EFI system partitions, USB images).
 * Debian has no library that reads FAT from user space (mtools is
 * programs, not a library), and FAT is small enough to read strictly.
 *
 * It runs in the sandboxed helper (helper.c) and in the unit test and the
 * fuzz target, and reads through a callback: every byte it sees is a
 * tenant's, so every count, cluster number and chain is checked before use
 * and every walk is bounded (a chain longer than the volume's clusters is
 * EIO: a loop).
 *
 * Inode numbers are the byte offset of a file's 32-byte directory entry in
 * the volume, divided by 32 (a boot sector never holds an entry, so the
 * root is FAT_ROOT_INO): computed from what is stored, stable across
 * remounts, and finite, so a directory linked into itself shows the same
 * number again.  Volumes past 128 GiB (offsets past 2^37) are refused.
 */
#ifndef IMGFS_INS_FAT_H
#define IMGFS_INS_FAT_H

#include <stddef.h>
#include <stdint.h>

#include "ins_proto.h"

#define FAT_ROOT_INO 2
#define FAT_DIR_MAX_BYTES (2u << 20) /* 65,536 entries: FAT's own bound on a directory */

/* Reads len bytes at off of the volume into buf: 0, or -errno. */
typedef int (*fat_fetch_fn)(void *arg, void *buf, size_t len, uint64_t off);

typedef struct fat_vol fat_vol;

/* Opens the FAT file system of a volume of size bytes: 0 with *out, or
 * -errno (EIO: not a FAT file system or a damaged one) with why. */
int fat_open(fat_fetch_fn fetch, void *arg, uint64_t size, fat_vol **out, char *why, size_t cap);
void fat_close(fat_vol *v);
/* "FAT12", "FAT16" or "FAT32". */
const char *fat_kind(const fat_vol *v);
/* Why the last call that failed did (a line for the log). */
const char *fat_why(const fat_vol *v);

int fat_stat(fat_vol *v, uint32_t ino, struct ins_stat *st);
/* Calls fn for each entry of directory dir (not "." and ".."), in the
 * directory's order, from position from (0: the start; a byte offset into
 * the directory), with its name as shown (UTF-8, not NUL-terminated) and
 * the position after it; fn's non-zero return stops the walk and is
 * returned (a page full: not the directory's end).  0 at the end, or
 * -errno. */
typedef int (*fat_entry_fn)(void *arg, const char *name, size_t len, const struct ins_stat *st, uint64_t after);
int fat_list(fat_vol *v, uint32_t dir, uint64_t from, fat_entry_fn fn, void *arg);
/* The entry of dir named exactly name: 0 with *st, -ENOENT, or -errno. */
int fat_lookup(fat_vol *v, uint32_t dir, const char *name, size_t len, struct ins_stat *st);
/* Up to len bytes of file ino from off into buf: 0 with *got, or -errno. */
int fat_read(fat_vol *v, uint32_t ino, uint64_t off, size_t len, void *buf, size_t *got);

#endif
