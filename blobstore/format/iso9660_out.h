/*
 * iso9660_out.h — a small ISO 9660 image with Joliet names, made in
 * memory from a handful of files (SPEC §16: an instance's disks/cidata,
 * the cloud-init NoCloud seed that `genisoimage -J -V cidata user-data
 * meta-data` would make).
 *
 * Who calls it: model/meta/seed.c (an instance's password makes its
 * seed), the unit tests.  Pure: no I/O, nothing remembered, the same
 * arguments give the same bytes (no clock is read: every date in the
 * image is `when`).
 *
 * What it makes (ECMA-119, sectors of 2048 bytes), for n files of the root
 * directory and no subdirectories:
 *
 *   0 .. 15    the system area, zeros
 *   16         the primary volume descriptor (type 1)
 *   17         a supplementary volume descriptor (type 2) with the escape
 *              sequence %/E: Joliet, UCS-2 level 3
 *   18         the volume descriptor set terminator (type 255)
 *   19, 20     the primary path table, little- and big-endian (the root)
 *   21, 22     the Joliet path table, the same
 *   23         the primary root directory (one sector)
 *   24         the Joliet root directory (one sector)
 *   25 ..      each file's bytes from a sector of its own, in the order
 *              given, the last sector of each zero-padded
 *
 * The primary directory names each file as ISO 9660 level 1 does (8.3
 * d-characters, ";1"): "user-data" is USER_DAT.;1; the Joliet directory
 * keeps the name as given ("user-data"), which is what Linux's iso9660
 * driver shows when it mounts the image and what `isoinfo -J` lists.
 * Both directories are sorted as ECMA-119 9.3 and Joliet ask.
 *
 * Limits (checked: -EINVAL): 1 to ISO9660_MAX_FILES files, names of 1 to
 * ISO9660_NAME_MAX characters from [a-z0-9._-] (not starting with a dot),
 * distinct also as 8.3 names; a volume id of 1 to 16 characters from
 * [A-Za-z0-9_-] (written as given: cloud-init looks for "cidata"); each
 * file of at most ISO9660_FILE_MAX bytes (the image lives in memory).
 * Both root directories then fit one sector.
 */
#ifndef IMGFS_ISO9660_OUT_H
#define IMGFS_ISO9660_OUT_H

#include <stddef.h>
#include <stdint.h>

#define ISO9660_SECTOR 2048
#define ISO9660_MAX_FILES 8
#define ISO9660_NAME_MAX 30
#define ISO9660_FILE_MAX (16u << 20)
/* The sector of the first file's bytes (see the layout above). */
#define ISO9660_FIRST_DATA 25

struct iso9660_file {
	const char *name; /* its Joliet name; the primary one is derived */
	const void *data;
	size_t len;
};

/* The image of files[0 .. n-1], volume id volume_id, every date `when`
 * (unix seconds, UTC, 1970 .. 2099): a malloc'd buffer into *out (the
 * caller frees it) of *len_out bytes, a whole number of sectors.
 * -EINVAL for arguments outside the limits above, -ENOMEM. */
int iso9660_build(void **out, size_t *len_out, const char *volume_id, const struct iso9660_file *files, size_t n,
                  int64_t when);

#endif
