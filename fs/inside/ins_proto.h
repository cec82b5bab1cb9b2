/*
 * ins_proto.h — what the daemon and an inside helper say to each other over
 * their socket pair (SPEC §18).  The helper (`imgfs inside-helper`, helper.c)
 * parses one guest file system, as nobody, under a seccomp filter; it has
 * no file of its own: every byte of the volume it reads, it asks the
 * daemon for.
 *
 * A message is a header (type, payload length) and the payload.  The
 * daemon sends one request (INS_T_*) and then answers the helper's block
 * reads (INS_H_READ -> INS_T_DATA) until the helper's answer (INS_H_OK or
 * INS_H_ERR) ends the exchange.  Both sides check every length against
 * INS_MAX_PAYLOAD before reading it; the daemon checks every field of an
 * answer (names, modes) before it reaches the kernel.
 */
#ifndef IMGFS_INSIDE_PROTO_H
#define IMGFS_INSIDE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INS_MAX_PAYLOAD (1u << 20) /* a block read, a file read, a page of entries */
#define INS_MAX_READ (1u << 20)    /* bytes of a file per INS_T_READ: a whole FUSE read */
#define INS_NAME_MAX 255
#define INS_LIST_CAP 100000        /* names of one directory a lookup table holds (xfs.c) */
/* A listing is read a page at a time from a position (issue 47: a page
 * costs what it returns, never a walk of the directory before it).  A
 * position is the reader's own (a byte offset into the directory, an
 * index entry's place), 1 .. INS_POS_MAX, increasing along the directory. */
#define INS_POS_MAX ((1ull << 60) - 1)
#define INS_LIST_BLOCKS 256        /* directory blocks one page reads at most */
#define INS_READV_MAX 512          /* pieces of one INS_H_READV (a page's inodes' blocks) */
/* 1 MiB pieces of the volume an INS_T_LIST page's inodes lie in at most
 * (issue 67): each costs the daemon a chunk loaded and verified (and,
 * sealed, opened whole), so a page with attributes ends before an entry
 * whose inode would lie in one more (its first entry is always taken). */
#define INS_LIST_SPREAD 8
/* Set in an INS_T_LIST answer's next when its page ended there: the
 * daemon asks no more pages with attributes for that readdir. */
#define INS_NEXT_SPREAD (1ull << 63)

enum ins_type {
	/* daemon -> helper */
	INS_T_OPEN = 1,    /* struct ins_req_open: opens the file system; the
	                    * answer: the root's struct ins_stat, or nothing */
	INS_T_STAT,        /* u32 ino (0: the root directory, whatever its number) */
	INS_T_LOOKUP,      /* u32 dir, name bytes */
	INS_T_LIST,        /* struct ins_req_list: a page of a directory from a position */
	INS_T_READ,        /* u32 ino, u32 len, u64 off */
	INS_T_READLINK,    /* u32 ino */
	INS_T_DATA,        /* the bytes of an INS_H_READ (fewer: past the end) */
	INS_T_NAMES = 19,   /* struct ins_req_list: a page of names only (below) */
	INS_T_LVM = 18,     /* nothing: an LVM2 PV's linear volumes (the answer: text,
	                     * "vg", "seg", "skip" lines, lvm.c) */
	INS_T_INSPECT = 17, /* nothing: what the volume holds (SPEC §20; the answer:
	                     * text, "key\tvalue" lines, ins_inspect.h), its first
	                     * INSPECT_PART bytes; u32 k: part k of that answer
	                     * (one shorter than INSPECT_PART is the last) */
	INS_T_XATTRS = 16, /* u32 ino: its extended attributes (the answer: entries
	                    * of u16 name length, u32 value length, name, value;
	                    * a last name of one NUL byte: more names than
	                    * INS_XATTR_LIST_MAX bytes, the rest not sent) */
	/* helper -> daemon */
	INS_H_READ = 64,   /* u64 off, u32 len: bytes of the volume */
	INS_H_OK,          /* the answer: depends on the request */
	INS_H_ERR,         /* i32 errno, then a reason (text) */
	INS_H_READV,       /* struct ins_req_blk[1..INS_READV_MAX]: pieces of the volume,
	                    * each inside it, INS_MAX_PAYLOAD bytes at most in all;
	                    * one INS_T_DATA answers them all, in order */
};

/* The file systems a helper reads (INS_T_OPEN names one: the kind the
 * daemon's sniff of the volume's magic numbers found). */
enum ins_fs_kind {
	INS_FS_NONE = 0,
	INS_FS_EXT,  /* ext2/3/4 */
	INS_FS_XFS,
	INS_FS_FAT,
	INS_FS_NTFS,
	INS_FS_LVM,  /* an LVM2 physical volume: INS_T_LVM (lvm.c) */
};

struct ins_req_open {
	uint64_t size; /* of the volume */
	uint32_t kind; /* enum ins_fs_kind */
	uint32_t pad;
};

struct ins_msg {
	uint32_t type;
	uint32_t len; /* of the payload that follows */
};

/* A time as the guest file system stores it: seconds since the epoch
 * (negative before it) and nanoseconds, 0..999,999,999 (ins_stat_valid).
 * Apart, not one count of nanoseconds: a signed 64-bit one ends in 2262,
 * and ext4 holds times to 2446, XFS's bigtime to 2486. */
struct ins_time {
	int64_t sec;
	uint32_t nsec, pad;
};

/* A guest inode's attributes, as the guest file system stores them. */
struct ins_stat {
	uint32_t ino, mode, uid, gid, nlink, rdev;
	uint64_t size, blocks; /* blocks: 512-byte units */
	struct ins_time atime, mtime, ctime;
};

/* INS_T_LIST: at most max entries of directory dir from position from
 * (0: its start), and at most INS_LIST_BLOCKS of its blocks read, their
 * inodes in at most INS_LIST_SPREAD pieces of the volume.  The
 * answer: u64 next (the position to ask from next: past every entry of
 * the page, and past blocks read that held none; 0: the directory's end;
 * with INS_NEXT_SPREAD set when the spread ended the page),
 * then entries: struct ins_stat, u64 after (the position the entry after
 * it starts at: a listing resumed there goes on with that one), u16 name
 * length, the name. */
struct ins_req_list {
	uint32_t dir, max;
	uint64_t from;
};
/* INS_T_NAMES: the same page, its entries' names, numbers and types as
 * the directory's entries hold them, no inode read (a plain READDIR: `ls
 * -f`, SPEC §18.7).  The answer: u64 next, then entries: u32 ino, u32
 * type (S_IFDIR, ...; 0: the entry does not say), u64 after, u16 name
 * length, the name.  An entry numbered past 32 bits is passed. */
struct ins_req_read {
	uint32_t ino, len;
	uint64_t off;
};
struct ins_req_blk {
	uint64_t off;
	uint32_t len;
	uint32_t pad;
};

/* Extended attributes (SPEC §18): Linux's own bounds (XATTR_NAME_MAX,
 * XATTR_SIZE_MAX); an INS_T_XATTRS answer holds at most INS_XATTR_LIST_MAX
 * bytes of names (XATTR_LIST_MAX: what listxattr can return at all). */
#define INS_XATTR_NAME_MAX 255
#define INS_XATTR_VALUE_MAX 65536
#define INS_XATTR_LIST_MAX 65536

/* proto.c: the daemon's checks of an answer.  Whether st is a file the
 * tree may show (a known type, no stray mode bits, an inode number, times
 * whose nanoseconds are under a second). */
bool ins_stat_valid(const struct ins_stat *st);
/* A helper's read of the volume (INS_H_READ: one struct ins_req_blk;
 * INS_H_READV: 1..INS_READV_MAX of them), len bytes at buf, against a
 * volume of vol_size bytes: 0 with *total, the bytes the answer holds (a
 * READ past the end reads nothing there: the rest of the piece is cut); -EIO
 * with a reason in why when malformed or past a bound (a piece over
 * INS_MAX_PAYLOAD, a READV piece not inside the volume, INS_MAX_PAYLOAD
 * bytes in all). */
int ins_reads_check(uint32_t type, const void *buf, uint32_t len, uint64_t vol_size, uint64_t *total, char *why,
                    size_t cap);
/* The bytes piece r of a checked read gets of a volume of vol_size bytes. */
static inline uint64_t ins_read_clip(const struct ins_req_blk *r, uint64_t vol_size)
{
	return r->off >= vol_size ? 0 : vol_size - r->off < r->len ? vol_size - r->off : r->len;
}
/* The entry of an INS_T_LIST answer's page (after its u64 next) at *pos:
 * 1 with *st, name (NUL-terminated), the position after it in *after and
 * *pos past it, *ok false when it is not to be listed (a name with '/' or
 * NUL, "." or "..", an invalid stat); 0 at the page's end; -EIO when
 * malformed — an entry's after must lie past the one before it (*after
 * holds that on the call: the page's from, then each entry's) and
 * within INS_POS_MAX, so a page always moves forward. */
int ins_list_entry(const void *page, size_t len, size_t *pos, struct ins_stat *st, char name[INS_NAME_MAX + 1],
                   uint64_t *after, bool *ok);
/* The same for an INS_T_NAMES page: st gets the entry's number and type
 * (mode: S_IF* bits only, 0 unknown) and nothing else; *ok false also for
 * a type that is none of the seven. */
int ins_names_entry(const void *page, size_t len, size_t *pos, struct ins_stat *st, char name[INS_NAME_MAX + 1],
                    uint64_t *after, bool *ok);

/* The entry of an INS_T_XATTRS answer at *pos: 1 with name
 * (NUL-terminated), *value (inside ans) and *vlen, *pos past it, *ok false
 * when it is not to be shown (a name the kernel does not pass to a file
 * system's getxattr: not user., trusted., security. or a POSIX ACL, or one
 * holding a NUL); 2 the same for an attribute the reader found damaged
 * (its value length's top bit, INS_XATTR_DAMAGED, set: *value is the
 * reason, at most INS_XATTR_WHY_MAX bytes); 0 at the end; -EIO when
 * malformed. */
#define INS_XATTR_DAMAGED 0x80000000u
#define INS_XATTR_WHY_MAX 200
int ins_xattr_entry(const void *ans, size_t len, size_t *pos, char name[INS_XATTR_NAME_MAX + 1], const void **value,
                    size_t *vlen, bool *ok);

/* The helper's entry point (helper.c): fd is its end of the socket pair. */
int ins_helper_main(int fd);

#endif
