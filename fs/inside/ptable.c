/*
 * ptable.c — MBR (primary, extended, logical) and GPT partition tables
 * (SPEC §18; ins_ptable.h).  Numbers as Linux gives them: MBR primaries 1..4
 * by slot, logical partitions 5, 6, ... in chain order; GPT entry i is
 * number i + 1.  Every offset is checked against the disk's size before it
 * is read, GPT headers and entry arrays against their CRC32, and the
 * logical chain is followed PT_MAX_LOGICAL times at most.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "ins_ptable.h"

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* CRC-32 (IEEE 802.3, reflected), as the UEFI specification's GPT uses. */
static uint32_t crc32_ieee(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
	}
	return ~c;
}

static void add_part(struct pt_table *t, unsigned number, uint64_t start, uint64_t size, uint64_t disk_size)
{
	/* Out of the disk, or empty: not a partition anyone can read. */
	if (size == 0 || start >= disk_size || size > disk_size - start || number > PT_MAX_NUMBER ||
	    t->count >= PT_MAX_PARTS) {
		t->skipped++;
		return;
	}
	struct pt_part *p = &t->parts[t->count++];
	memset(p, 0, sizeof(*p));
	p->number = number;
	p->start = start;
	p->size = size;
}

/* The GPT whose header is at sector lba, if it is valid: 1, 0 (not valid,
 * note set), or -errno. */
static int gpt_at(pt_read_fn read, void *arg, uint64_t disk_size, uint64_t lba, struct pt_table *t)
{
	uint8_t h[PT_SECTOR];
	uint64_t sectors = disk_size / PT_SECTOR;
	int rc;
	if (lba >= sectors)
		return 0;
	if ((rc = read(arg, h, sizeof(h), lba * PT_SECTOR)) < 0)
		return rc;
	if (memcmp(h, "EFI PART", 8) != 0) {
		snprintf(t->note, sizeof(t->note), "no GPT header at sector %llu", (unsigned long long)lba);
		return 0;
	}
	uint32_t hsize = le32(h + 12), hcrc = le32(h + 16);
	if (hsize < 92 || hsize > PT_SECTOR) {
		snprintf(t->note, sizeof(t->note), "GPT header size %u out of bounds", hsize);
		return 0;
	}
	memset(h + 16, 0, 4);
	if (crc32_ieee(h, hsize) != hcrc) {
		snprintf(t->note, sizeof(t->note), "GPT header at sector %llu fails its CRC", (unsigned long long)lba);
		return 0;
	}
	uint64_t first_usable = le64(h + 40), last_usable = le64(h + 48), entries_lba = le64(h + 72);
	uint32_t nent = le32(h + 80), esize = le32(h + 84), ecrc = le32(h + 88);
	/* The UEFI bounds: entries of 128 << n bytes; 128 of them is the
	 * usual, 1024 a generous ceiling (128 KiB to read at most). */
	if (esize < 128 || esize > 1024 || (esize & (esize - 1)) || nent == 0 || nent > 1024 ||
	    (uint64_t)nent * esize > 128 * 1024 || entries_lba >= sectors ||
	    (uint64_t)nent * esize > (sectors - entries_lba) * PT_SECTOR || first_usable > last_usable ||
	    last_usable >= sectors) {
		snprintf(t->note, sizeof(t->note), "GPT header's entry array out of bounds");
		return 0;
	}
	size_t len = (size_t)nent * esize;
	uint8_t *ents = malloc(len);
	if (!ents)
		return -ENOMEM;
	if ((rc = read(arg, ents, len, entries_lba * PT_SECTOR)) < 0) {
		free(ents);
		return rc;
	}
	if (crc32_ieee(ents, len) != ecrc) {
		free(ents);
		snprintf(t->note, sizeof(t->note), "GPT entry array fails its CRC");
		return 0;
	}
	static const uint8_t zero[16];
	t->scheme = PT_GPT;
	for (uint32_t i = 0; i < nent; i++) {
		const uint8_t *e = ents + (size_t)i * esize;
		if (memcmp(e, zero, 16) == 0)
			continue;
		uint64_t first = le64(e + 32), last = le64(e + 40);
		if (first < first_usable || last > last_usable || first > last) {
			t->skipped++;
			continue;
		}
		unsigned before = t->count;
		add_part(t, i + 1 > PT_MAX_NUMBER ? PT_MAX_NUMBER + 1 : i + 1, first * PT_SECTOR,
		         (last - first + 1) * PT_SECTOR, disk_size);
		if (t->count > before)
			memcpy(t->parts[before].gpt_type, e, 16);
	}
	free(ents);
	t->note[0] = '\0';
	return 1;
}

static bool is_extended(uint8_t type)
{
	return type == 0x05 || type == 0x0f || type == 0x85;
}

/* The logical partitions of the extended partition [base, base + size). */
static int mbr_logical(pt_read_fn read, void *arg, uint64_t disk_size, uint64_t base, uint64_t size,
                       struct pt_table *t)
{
	uint8_t s[PT_SECTOR];
	uint64_t ebr = base;
	unsigned number = 5;
	for (int hops = 0; hops < PT_MAX_LOGICAL; hops++) {
		int rc;
		if (ebr >= disk_size || disk_size - ebr < PT_SECTOR || ebr < base || ebr - base >= size)
			break;
		if ((rc = read(arg, s, sizeof(s), ebr)) < 0)
			return rc;
		if (s[510] != 0x55 || s[511] != 0xaa)
			break;
		const uint8_t *e0 = s + 446, *e1 = s + 462;
		uint64_t rel = (uint64_t)le32(e0 + 8) * PT_SECTOR, len = (uint64_t)le32(e0 + 12) * PT_SECTOR;
		if (e0[4] != 0) {
			/* A logical partition must stay inside its extended one. */
			if (rel > size || len > size - rel || ebr - base > size - rel - len) {
				t->skipped++;
			} else {
				unsigned before = t->count;
				add_part(t, number, ebr + rel, len, disk_size);
				if (t->count > before)
					t->parts[before].mbr_type = e0[4];
			}
			number++;
		}
		if (!is_extended(e1[4]) || le32(e1 + 8) == 0)
			return 0;
		uint64_t next = base + (uint64_t)le32(e1 + 8) * PT_SECTOR;
		/* Forward only: a chain that points back is a loop. */
		if (next <= ebr) {
			snprintf(t->note, sizeof(t->note), "the extended partition's chain points backwards");
			return 0;
		}
		ebr = next;
	}
	if (!t->note[0])
		snprintf(t->note, sizeof(t->note), "the extended partition's chain ends early or is too long");
	return 0;
}

int pt_parse(pt_read_fn read, void *arg, uint64_t disk_size, struct pt_table *out)
{
	uint8_t s[PT_SECTOR];
	int rc;
	memset(out, 0, sizeof(*out));
	if (disk_size < 2 * PT_SECTOR)
		return 0;
	if ((rc = read(arg, s, sizeof(s), 0)) < 0)
		return rc;
	if (s[510] != 0x55 || s[511] != 0xaa)
		return 0;
	const uint8_t *e = s + 446;
	bool protective = false, any = false;
	for (int i = 0; i < 4; i++) {
		/* A boot sector of a file system (FAT, NTFS) carries 0x55aa too:
		 * an MBR's status bytes are 0x00 or 0x80, nothing else. */
		if (e[16 * i] != 0 && e[16 * i] != 0x80) {
			snprintf(out->note, sizeof(out->note), "sector 0 is not an MBR (status byte 0x%02x)", e[16 * i]);
			return 0;
		}
		if (e[16 * i + 4] == 0xee)
			protective = true;
		if (e[16 * i + 4])
			any = true;
	}
	if (!any)
		return 0;
	if (protective) {
		if ((rc = gpt_at(read, arg, disk_size, 1, out)) != 0)
			return rc < 0 ? rc : 0;
		char why[100];
		snprintf(why, sizeof(why), "%.99s", out->note);
		if ((rc = gpt_at(read, arg, disk_size, disk_size / PT_SECTOR - 1, out)) != 0)
			return rc < 0 ? rc : 0;
		snprintf(out->note, sizeof(out->note), "%.99s; no valid backup GPT either", why);
		return 0;
	}
	out->scheme = PT_MBR;
	bool extended_seen = false;
	for (unsigned i = 0; i < 4; i++) {
		uint8_t type = e[16 * i + 4];
		uint64_t start = (uint64_t)le32(e + 16 * i + 8) * PT_SECTOR, size = (uint64_t)le32(e + 16 * i + 12) * PT_SECTOR;
		if (!type)
			continue;
		if (is_extended(type)) {
			/* Linux reads one extended partition's chain. */
			if (extended_seen || start >= disk_size || size > disk_size - start) {
				out->skipped++;
				continue;
			}
			extended_seen = true;
			if ((rc = mbr_logical(read, arg, disk_size, start, size, out)) < 0)
				return rc;
			continue;
		}
		unsigned before = out->count;
		add_part(out, i + 1, start, size, disk_size);
		if (out->count > before)
			out->parts[before].mbr_type = type;
	}
	/* Primaries first, then logical ones: number order. */
	for (unsigned i = 1; i < out->count; i++)
		for (unsigned j = i; j > 0 && out->parts[j - 1].number > out->parts[j].number; j--) {
			struct pt_part x = out->parts[j];
			out->parts[j] = out->parts[j - 1];
			out->parts[j - 1] = x;
		}
	return 0;
}
