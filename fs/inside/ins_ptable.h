/*
 * ins_ptable.h — partition tables of a guest disk (SPEC §18): MBR with its
 * extended and logical partitions, and GPT.  A small, strict parser of our
 * own: every byte it reads comes from a tenant's upload, so every count and
 * offset is checked against the disk's size and fixed bounds before use,
 * and a chain of extended boot records is followed at most
 * PT_MAX_LOGICAL times (a loop in the chain ends there).
 *
 * It reads through a callback (the blob store in the daemon, a buffer in
 * the unit test and the fuzz target) and keeps nothing.
 */
#ifndef IMGFS_PTABLE_H
#define IMGFS_PTABLE_H

#include <stddef.h>
#include <stdint.h>

/* Partitions kept per disk: Linux's numbers 1..PT_MAX_NUMBER (a GPT may
 * have 128 entries; those past the bound are counted in skipped). */
#define PT_MAX_PARTS 32
#define PT_MAX_NUMBER 31
#define PT_MAX_LOGICAL 64 /* extended boot records followed */
#define PT_SECTOR 512

enum pt_scheme { PT_NONE = 0, PT_MBR, PT_GPT };

struct pt_part {
	unsigned number;      /* as Linux numbers it: vda<number> */
	uint64_t start, size; /* bytes */
	uint8_t mbr_type;     /* MBR: the type byte; GPT: 0 */
	uint8_t gpt_type[16]; /* GPT: the type GUID as stored; MBR: zeros */
};

struct pt_table {
	enum pt_scheme scheme;
	unsigned count;       /* parts[0..count) in number order */
	unsigned skipped;     /* partitions past PT_MAX_NUMBER, or out of the disk */
	struct pt_part parts[PT_MAX_PARTS];
	char note[160];       /* why a table was not taken, or "" */
};

/* Reads len bytes at off into buf: 0, or -errno (a short read is -EIO). */
typedef int (*pt_read_fn)(void *arg, void *buf, size_t len, uint64_t off);

/* Parses the partition table of a disk of disk_size bytes.  0 (out->scheme
 * PT_NONE when there is none: a whole-disk file system, or nothing), or the
 * read's -errno.  A table that is malformed is PT_NONE with out->note
 * saying why. */
int pt_parse(pt_read_fn read, void *arg, uint64_t disk_size, struct pt_table *out);

#endif
