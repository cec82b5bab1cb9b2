/*
 * format.h — recognising what an uploaded disk file is: QCOW2, ISO 9660, or
 * a raw disk with an MBR or a GPT (SPEC §5.3).
 *
 * Who calls it: model/task/upload.c, on the first bytes of an upload (the
 * sniff, which refuses a wrong file before gigabytes move) and on the
 * whole file when the uploader closes it (the check); fs/fuse/upload.c
 * takes BLOB_FORMAT_SNIFF_LEN, how many first bytes it gathers for the
 * sniff.  Pure functions over a buffer
 * holding the file's first bytes: no I/O, nothing remembered.
 *
 * Where each format shows itself:
 *   QCOW2  "QFI\xfb" at 0 (header details: qcow2.h)
 *   ISO    the primary volume descriptor in sector 16 of 2048 bytes: type 1
 *          at 32768, "CD001" at 32769, version 1 at 32774; the 32 KiB
 *          before it are the system area, often zeros, sometimes an MBR
 *          (a "hybrid" ISO that also boots from a USB stick)
 *   raw    an MBR boot signature 0x55 0xAA at 510, or a GPT header
 *          "EFI PART" at 512 (a GPT disk's protective MBR has the
 *          signature too)
 * A file with both an MBR and a volume descriptor is an ISO.
 */
#ifndef IMGFS_FORMAT_H
#define IMGFS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum blob_format { BLOB_FORMAT_UNKNOWN = 0, BLOB_FORMAT_RAW, BLOB_FORMAT_QCOW2, BLOB_FORMAT_ISO };

/* Bytes of a file's start that sniffing needs to see at most (the ISO
 * descriptor ends at 32775) and that the check reads (a QCOW2 header and
 * its extensions fit in QCOW2_HEAD_MAX). */
#define BLOB_FORMAT_SNIFF_LEN 32775
#define BLOB_FORMAT_HEAD_LEN 65536

/* "raw", "qcow2", "iso"; "" for BLOB_FORMAT_UNKNOWN. */
const char *blob_format_name(enum blob_format f);

/* What the first len bytes of a file say it is.  more: the file may hold
 * bytes beyond len (an upload still being written), so what is missing is
 * not yet conclusive.  Returns
 *   1        decided: *out is the format;
 *   0        not decided yet (len < BLOB_FORMAT_SNIFF_LEN and more): *out is
 *            the format the bytes so far suggest — BLOB_FORMAT_RAW for an
 *            MBR or GPT, which a hybrid ISO also has — or UNKNOWN when they
 *            suggest none;
 *   -EINVAL  no known format. */
int blob_format_sniff(const void *head, size_t len, bool more, enum blob_format *out);
/* The name of a disk format imgfs does not take whose magic head starts
 * with ("VMDK", "VHDX", "VHD", "VDI", "LUKS", "QED"), so that a refusal can
 * say what the file is; NULL for any other bytes. */
const char *blob_format_unsupported(const void *head, size_t len);

/* Whether the file is itself encrypted: a LUKS header (version 1 or 2:
 * "LUKS\xba\xbe" at 0), or a QCOW2 header whose crypt_method (bytes
 * 32..35) is not 0 (1 AES, 2 LUKS).  SPEC §17 refuses both: imgfs
 * encrypts an image's chunks itself and must see the plain disk. */
bool blob_format_encrypted(const void *head, size_t len);

/* The full check of a whole file of file_size bytes whose first len bytes
 * (min(file_size, BLOB_FORMAT_HEAD_LEN) or more) are head, as format f:
 * a QCOW2 header that qcow2_check_header accepts with the real file size
 * (no backing file, no encryption, no external data file, virtual size >
 * 0); an ISO primary volume descriptor whose volume fits in the file; a
 * raw disk with an MBR or a GPT.  0 and *vsize_out (the virtual size: the
 * QCOW2 header's, the file's length otherwise), or -EINVAL with why. */
int blob_format_check(enum blob_format f, const void *head, size_t len, uint64_t file_size, uint64_t *vsize_out,
                      char *why, size_t why_cap);

#endif
