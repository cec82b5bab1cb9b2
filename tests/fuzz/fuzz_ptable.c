/*
 * fuzz_ptable.c — libFuzzer target for fs/inside/ptable.c, the partition
 * tables (MBR, extended and logical, GPT) of a disk a tenant uploaded
 * (SPEC §18).
 *
 * Input: the disk's first bytes.  Its size is the input's length or, when
 * the last byte is odd, 2^40 (a table that names sectors past what was
 * sent: those reads fail with EIO, as a short blob's would).  Checked:
 * every partition kept lies inside the disk and is not empty, numbers are
 * 1..PT_MAX_NUMBER and increasing, the count is bounded, the note is
 * NUL-terminated, and the reads stay few (a looping chain is cut).
 *
 * Built by -DIMGFS_FUZZ=ON with clang and run by scripts/fuzz-parsers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ins_ptable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct src {
	const uint8_t *data;
	size_t size;
	unsigned reads;
};

static void must(int ok)
{
	if (!ok)
		abort();
}

static int rd(void *arg, void *buf, size_t len, uint64_t off)
{
	struct src *s = arg;
	s->reads++;
	if (off > s->size || len > s->size - off)
		return -EIO;
	memcpy(buf, s->data + off, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct src s = {data, size, 0};
	struct pt_table t;
	uint64_t disk = size && (data[size - 1] & 1) ? 1ull << 40 : size;
	int rc = pt_parse(rd, &s, disk, &t);
	must(rc == 0 || rc == -EIO || rc == -ENOMEM);
	if (rc)
		return 0;
	must(t.count <= PT_MAX_PARTS);
	must(s.reads <= PT_MAX_LOGICAL + 8);
	must(memchr(t.note, '\0', sizeof(t.note)) != NULL);
	for (unsigned i = 0; i < t.count; i++) {
		must(t.parts[i].number >= 1 && t.parts[i].number <= PT_MAX_NUMBER);
		must(t.parts[i].size > 0 && t.parts[i].start < disk && t.parts[i].size <= disk - t.parts[i].start);
		must(i == 0 || t.parts[i].number > t.parts[i - 1].number);
	}
	must(t.scheme != PT_NONE || t.count == 0);
	return 0;
}
