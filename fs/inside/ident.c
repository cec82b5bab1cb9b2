/*
 * ident.c — a volume's type, UUID and label as blkid names them (SPEC §20;
 * ins_ident.h): what an /etc/fstab line's UUID=, LABEL= or /dev/disk/by-*
 * is matched against.  Pure: fixed offsets in the volume's first 4 KiB,
 * every field copied with its bound, a label kept to printable ASCII.
 * Fuzzed with the helper's answers (tests/fuzz/fuzz_inside_proto.c).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ins_ident.h"

static void uuid16(const uint8_t *p, char *out)
{
	static const uint8_t zero[16];
	if (memcmp(p, zero, 16) == 0) {
		out[0] = '\0';
		return;
	}
	sprintf(out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", p[0], p[1], p[2], p[3],
	        p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15]);
}

/* A label field of n bytes: printable ASCII up to a NUL, trailing blanks off. */
static void label(const uint8_t *p, size_t n, char *out, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < n && p[i] && k + 1 < cap; i++)
		out[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	while (k && out[k - 1] == ' ')
		k--;
	out[k] = '\0';
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void ins_ident(const uint8_t *h, size_t len, struct ins_ident *o)
{
	memset(o, 0, sizeof(*o));
	if (len >= 2048 && h[1080] == 0x53 && h[1081] == 0xef) {
		const uint8_t *s = h + 1024;
		uint32_t compat = le32(s + 92), incompat = le32(s + 96);
		snprintf(o->type, sizeof(o->type), "%s",
		         incompat & (0x40 | 0x80 | 0x200) ? "ext4" : compat & 0x4 ? "ext3" : "ext2");
		uuid16(s + 104, o->uuid);
		label(s + 120, 16, o->label, sizeof(o->label));
	} else if (len >= 512 && memcmp(h, "XFSB", 4) == 0) {
		snprintf(o->type, sizeof(o->type), "xfs");
		uuid16(h + 32, o->uuid);
		label(h + 108, 12, o->label, sizeof(o->label));
	} else if (len >= 512 && memcmp(h + 3, "NTFS    ", 8) == 0) {
		snprintf(o->type, sizeof(o->type), "ntfs");
		snprintf(o->uuid, sizeof(o->uuid), "%08X%08X", le32(h + 0x4c), le32(h + 0x48));
	} else if (len >= 512 && (memcmp(h + 82, "FAT32   ", 8) == 0 || memcmp(h + 54, "FAT", 3) == 0)) {
		bool f32 = memcmp(h + 82, "FAT32   ", 8) == 0;
		uint32_t id = le32(h + (f32 ? 67 : 39));
		snprintf(o->type, sizeof(o->type), "vfat");
		snprintf(o->uuid, sizeof(o->uuid), "%04X-%04X", id >> 16, id & 0xffff);
		label(h + (f32 ? 71 : 43), 11, o->label, sizeof(o->label));
		if (strcmp(o->label, "NO NAME") == 0)
			o->label[0] = '\0';
	} else if (len >= 4096 && memcmp(h + 4086, "SWAPSPACE2", 10) == 0) {
		snprintf(o->type, sizeof(o->type), "swap");
		uuid16(h + 1024 + 12, o->uuid);
		label(h + 1024 + 28, 16, o->label, sizeof(o->label));
	} else if (len >= 208 && memcmp(h, "LUKS\xba\xbe", 6) == 0) {
		snprintf(o->type, sizeof(o->type), "crypto_LUKS");
		label(h + 168, 40, o->uuid, sizeof(o->uuid));
	} else if (len >= 1024 && memcmp(h + 512, "LABELONE", 8) == 0 && memcmp(h + 512 + 24, "LVM2 001", 8) == 0) {
		const uint8_t *u = h + 512 + 32;
		snprintf(o->type, sizeof(o->type), "LVM2_member");
		/* blkid: the 32 characters in groups of 6-4-4-4-4-4-6. */
		char raw[33];
		label(u, 32, raw, sizeof(raw));
		if (strlen(raw) == 32)
			snprintf(o->uuid, sizeof(o->uuid), "%.6s-%.4s-%.4s-%.4s-%.4s-%.4s-%.6s", raw, raw + 6, raw + 10,
			         raw + 14, raw + 18, raw + 22, raw + 26);
	}
}
