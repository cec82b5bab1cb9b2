/*
 * ins_inspect.h — what a helper finds inside the file system it reads
 * (SPEC §20): the INS_T_INSPECT request's answer, built by inspect.c from
 * the volume's own files through its reader (ins_fs.h), with the package
 * databases (inspect_pkg.c: dpkg's status, rpm's SQLite and Berkeley DB
 * databases, read with SQLite and librpm's header API from memory) and
 * the Windows registry (inspect_win.c: libhivex, fed from memory).
 *
 * The answer is text, one fact a line, "key\tvalue\n" (the keys below);
 * the daemon (fs/fuse/inspect.c) checks every line before it uses it: it
 * is a tenant's file system speaking.  Every read is bounded: a file is
 * read whole only up to the bound of its kind, a walk visits at most so
 * many entries, and past a bound the answer says so ("note") rather than
 * read on.
 */
#ifndef IMGFS_INS_INSPECT_H
#define IMGFS_INS_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ins_fs.h"

#define INSPECT_SMALL_MAX (64u << 10)    /* os-release, fstab, release files */
#define INSPECT_DPKG_MAX (64u << 20)     /* /var/lib/dpkg/status */
#define INSPECT_RPMDB_MAX (256u << 20)   /* rpmdb.sqlite, Packages (read whole) */
#define INSPECT_HIVE_MAX (256u << 20)    /* the SOFTWARE hive */
#define INSPECT_PACKAGES_MAX 65536       /* packages listed */
#define INSPECT_HEADER_MAX (16u << 20)   /* one rpm header */
#define INSPECT_LINKS_MAX 40             /* symbolic links followed in one path (Linux's) */
#define INSPECT_WANTS_MAX 4096           /* entries of /etc/systemd/system looked at */
/* The packages' lines as the `packages` file lists them ("name version
 * arch\n"), all together: under the largest generated file
 * (FS_RENDER_ONE_MAX, 16 MiB), so that the file a user opens is whole.
 * 65,536 packages of 240 bytes a line fit. */
#define INSPECT_PKG_BYTES_MAX (15u << 20)
/* A volume's whole answer: the packages' lines (their bound, and "pkg\t"
 * each) and at most 1 MiB of everything else (a 64 KiB fstab of one-byte
 * lines is 458 KiB of facts); sent in parts of INSPECT_PART bytes (the
 * protocol's payload bound: INS_T_INSPECT, ins_proto.h). */
#define INSPECT_ANSWER_MAX (INSPECT_PKG_BYTES_MAX + 4u * INSPECT_PACKAGES_MAX + (1u << 20))
#define INSPECT_PART (INS_MAX_PAYLOAD - 64)

/* The answer being built (bounded by cap: past it, nothing more is put
 * and full is set; the daemon tells a cut answer by its missing "end"
 * line).  pkgs and pkg_bytes: the packages put (ins_put_pkg). */
struct ins_out {
	char *buf;
	size_t len, cap;
	bool full;
	unsigned pkgs;
	size_t pkg_bytes;
};

/* Puts one fact; value is cut at a newline or tab and at 1024 bytes. */
void ins_put(struct ins_out *o, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One package's line ("pkg" fact: "name version arch"): 0, -E2BIG past
 * INSPECT_PACKAGES_MAX packages, -EFBIG past INSPECT_PKG_BYTES_MAX bytes
 * of the packages' lines (nothing put either way). */
int ins_put_pkg(struct ins_out *o, const char *name, const char *version, const char *arch);

/* A path's inode inside the volume read by ops (absolute, symbolic links
 * followed within the volume, as the guest would): 0 with *ino and *st,
 * or -errno (ENOENT, ELOOP, EIO). */
int ins_resolve(const struct ins_fs_ops *ops, const char *path, uint64_t *ino, struct ins_stat *st);
/* A regular file's bytes, whole, if it has at most max (malloc'd, NUL
 * after them): 0, -EFBIG past max, -errno. */
int ins_slurp(const struct ins_fs_ops *ops, const char *path, size_t max, char **data, size_t *len);

/* inspect.c: the whole answer to INS_T_INSPECT. */
void ins_inspect(const struct ins_fs_ops *ops, struct ins_out *o);
/* Done before the sandbox: what the libraries would otherwise open later
 * (iconv's modules for libhivex, SQLite's randomness). */
void ins_inspect_prepare(void);

/* inspect_pkg.c: the packages of a Linux root ("pkgdb", "pkg", "note"). */
void ins_inspect_packages(const struct ins_fs_ops *ops, struct ins_out *o);
/* inspect_win.c: a Windows root's product, version and build ("win.*"),
 * its computer name ("hostname", the SYSTEM hive) and its applications
 * ("pkg", "pkgdb registry N"). */
void ins_inspect_windows(const struct ins_fs_ops *ops, struct ins_out *o, const char *arch);
/* The note for a package list cut at a bound (rc of ins_put_pkg). */
void ins_pkg_cut_note(struct ins_out *o, int rc);

#endif
