/*
 * format.c — sniffing and checking uploaded disk files (format.h).
 *
 * Who calls it: model/task/upload.c.  The buffers come from a user: every read
 * is bounded by the length given.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "format.h"
#include "qcow2.h"

#define MBR_SIG_OFF 510
#define GPT_OFF 512
#define ISO_PVD_OFF 32768          /* sector 16 of 2048 bytes */
#define ISO_PVD_LEN 2048
#define ISO_SPACE_OFF 80           /* volume space size, both-endian 32 bits */
#define ISO_BLOCK_OFF 128          /* logical block size, both-endian 16 bits */

_Static_assert(BLOB_FORMAT_SNIFF_LEN == ISO_PVD_OFF + 7, "the sniff sees the descriptor's type, id and version");
_Static_assert(BLOB_FORMAT_HEAD_LEN >= ISO_PVD_OFF + ISO_PVD_LEN, "the check sees the whole descriptor");

const char *blob_format_name(enum blob_format f)
{
	switch (f) {
	case BLOB_FORMAT_RAW: return "raw";
	case BLOB_FORMAT_QCOW2: return "qcow2";
	case BLOB_FORMAT_ISO: return "iso";
	default: return "";
	}
}

static bool has_mbr(const uint8_t *p, size_t len)
{
	return len >= MBR_SIG_OFF + 2 && p[MBR_SIG_OFF] == 0x55 && p[MBR_SIG_OFF + 1] == 0xaa;
}

static bool has_gpt(const uint8_t *p, size_t len)
{
	return len >= GPT_OFF + 8 && memcmp(p + GPT_OFF, "EFI PART", 8) == 0;
}

/* Type 1 (primary), "CD001", version 1. */
static bool has_iso_pvd(const uint8_t *p, size_t len)
{
	return len >= BLOB_FORMAT_SNIFF_LEN && p[ISO_PVD_OFF] == 1 && memcmp(p + ISO_PVD_OFF + 1, "CD001", 5) == 0 &&
	       p[ISO_PVD_OFF + 6] == 1;
}

int blob_format_sniff(const void *head, size_t len, bool more, enum blob_format *out)
{
	const uint8_t *p = head;
	bool disk = has_mbr(p, len) || has_gpt(p, len);

	*out = BLOB_FORMAT_UNKNOWN;
	if (qcow2_sniff(head, len)) {
		*out = BLOB_FORMAT_QCOW2;
		return 1;
	}
	if (has_iso_pvd(p, len)) {
		*out = BLOB_FORMAT_ISO;
		return 1;
	}
	if (len < BLOB_FORMAT_SNIFF_LEN && more) {
		/* Too short to rule out an ISO's descriptor.  The magic of a QCOW2
		 * file is its first 4 bytes: shorter than that, nothing is known. */
		*out = disk ? BLOB_FORMAT_RAW : BLOB_FORMAT_UNKNOWN;
		return 0;
	}
	if (disk) {
		*out = BLOB_FORMAT_RAW;
		return 1;
	}
	return -EINVAL;
}

const char *blob_format_unsupported(const void *head, size_t len)
{
	static const struct {
		size_t at;
		const char *magic;
		size_t n;
		const char *name;
	} known[] = {
		{0, "KDMV", 4, "VMDK"},                  /* a sparse extent */
		{0, "# Disk DescriptorFile", 21, "VMDK"}, /* a descriptor */
		{0, "vhdxfile", 8, "VHDX"},
		{0, "conectix", 8, "VHD"},               /* a dynamic VHD's footer copy */
		{64, "\x7f\x10\xda\xbe", 4, "VDI"},
		{0, "LUKS\xba\xbe", 6, "LUKS"},
		{0, "QED\0", 4, "QED"},
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (len >= known[i].at + known[i].n && memcmp((const uint8_t *)head + known[i].at, known[i].magic, known[i].n) == 0)
			return known[i].name;
	return NULL;
}

bool blob_format_encrypted(const void *head, size_t len)
{
	const uint8_t *p = head;

	if (len >= 6 && memcmp(p, "LUKS\xba\xbe", 6) == 0)
		return true;
	return qcow2_sniff(head, len) && len >= 36 && (p[32] | p[33] | p[34] | p[35]) != 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

/* ISO 9660 (ECMA-119 8.4): the primary volume descriptor, and the volume
 * it describes (space size x block size) inside the file: a file cut
 * short is refused. */
static int check_iso(const uint8_t *p, size_t len, uint64_t file_size, char *why, size_t cap)
{
	if (len < ISO_PVD_OFF + ISO_PVD_LEN || file_size < ISO_PVD_OFF + ISO_PVD_LEN || !has_iso_pvd(p, len)) {
		snprintf(why, cap, "not an ISO 9660 image: no primary volume descriptor at 32768");
		return -EINVAL;
	}
	const uint8_t *d = p + ISO_PVD_OFF;
	uint32_t blocks = le32(d + ISO_SPACE_OFF);
	uint32_t block = (uint32_t)d[ISO_BLOCK_OFF] | (uint32_t)d[ISO_BLOCK_OFF + 1] << 8;
	uint32_t block_be = (uint32_t)d[ISO_BLOCK_OFF + 3] | (uint32_t)d[ISO_BLOCK_OFF + 2] << 8;
	if (blocks != be32(d + ISO_SPACE_OFF + 4) || block != block_be) {
		snprintf(why, cap, "ISO 9660 primary volume descriptor is damaged (its two byte orders disagree)");
		return -EINVAL;
	}
	if (block < 512 || block > 2048 || (block & (block - 1))) {
		snprintf(why, cap, "ISO 9660 logical block size %u is not 512, 1024 or 2048", block);
		return -EINVAL;
	}
	if ((uint64_t)blocks * block > file_size || (uint64_t)blocks * block < ISO_PVD_OFF + ISO_PVD_LEN) {
		snprintf(why, cap, "ISO 9660 volume of %llu bytes does not match the file of %llu bytes (truncated?)",
		         (unsigned long long)blocks * block, (unsigned long long)file_size);
		return -EINVAL;
	}
	return 0;
}

int blob_format_check(enum blob_format f, const void *head, size_t len, uint64_t file_size, uint64_t *vsize_out,
                      char *why, size_t why_cap)
{
	const uint8_t *p = head;
	struct qcow2_info info;
	int rc;

	if (len > file_size)
		len = (size_t)file_size;
	switch (f) {
	case BLOB_FORMAT_QCOW2:
		if ((rc = qcow2_check_header(head, len, file_size, &info, why, why_cap)) < 0)
			return rc;
		if (info.size == 0) { /* qcow2_check_header refuses it too: the spec's own rule */
			snprintf(why, why_cap, "QCOW2 virtual size is 0");
			return -EINVAL;
		}
		*vsize_out = info.size;
		return 0;
	case BLOB_FORMAT_ISO:
		if ((rc = check_iso(p, len, file_size, why, why_cap)) < 0)
			return rc;
		*vsize_out = file_size;
		return 0;
	case BLOB_FORMAT_RAW:
		if (!has_mbr(p, len) && !has_gpt(p, len)) {
			snprintf(why, why_cap, "not a disk image: no MBR boot signature at 510 and no GPT header at 512");
			return -EINVAL;
		}
		*vsize_out = file_size;
		return 0;
	default:
		snprintf(why, why_cap, "unknown format");
		return -EINVAL;
	}
}
