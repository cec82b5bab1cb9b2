/*
 * fuzz_qcow2.c — libFuzzer target for blobstore/format/qcow2.c.
 *
 * The input is the whole QCOW2 file.  It is checked with
 * qcow2_check_header and qcow2_check_tables (the upload's whole-file
 * check: snapshot table, every L1 and L2 entry, every compressed cluster
 * inflated), then read through a reader over the input buffer:
 * the first FUZZ_READ_MAX bytes of the virtual disk in 1 MiB steps, a few
 * unaligned reads, and the last MiB (a claimed size of 64 TiB must not make
 * one input take minutes, so the middle of a huge disk is sampled, not
 * read).  The decoder must never crash, read outside a buffer or hit
 * undefined behaviour; -EINVAL is an expected answer.
 *
 * Built by -DIMGFS_FUZZ=ON with clang (see CMakeLists.txt) and run by
 * scripts/fuzz-qcow2, which also makes the seed corpus with qemu-img.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qcow2.h"

#define FUZZ_STEP (1u << 20)
#define FUZZ_READ_MAX (16ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	const uint8_t *p;
	size_t n;
};

static ssize_t input_rd(void *arg, void *buf, size_t len, uint64_t off)
{
	const struct input *in = arg;

	if (off >= in->n)
		return 0;
	if (len > in->n - off)
		len = in->n - off;
	memcpy(buf, in->p + off, len);
	return (ssize_t)len;
}

/* Reads [off, off+len) and checks the answer's shape. */
static void read_at(qcow2_reader *r, uint8_t *buf, size_t len, uint64_t off)
{
	uint64_t vsize = qcow2_reader_info(r)->size;
	bool hole;
	ssize_t n = qcow2_pread(r, buf, len, off, &hole);

	if (n >= 0) {
		uint64_t want = off >= vsize ? 0 : (vsize - off < len ? vsize - off : len);
		if ((uint64_t)n != want)
			abort();
		if (hole && n > 0 && (buf[0] != 0 || buf[n - 1] != 0))
			abort(); /* a hole reads as zeros */
	} else if (qcow2_reader_why(r)[0] == '\0' && n == -22) {
		abort(); /* every -EINVAL says why */
	}
}

static void read_disk(const struct input *in, uint64_t file_size, uint8_t *buf)
{
	qcow2_reader *r = NULL;
	char why[200];
	uint64_t vsize;

	if (qcow2_reader_new(&r, input_rd, (void *)in, file_size, why, sizeof why) < 0)
		return;
	/* The whole-file check; its work is bounded by the file (each distinct
	 * L2 table lies in it), not by the size it claims.  It may fail: the
	 * reads below must still behave. */
	if (file_size && qcow2_check_tables(r) == -22 && qcow2_reader_why(r)[0] == '\0')
		abort(); /* every -EINVAL says why */
	vsize = qcow2_reader_info(r)->size;
	for (uint64_t off = 0; off < vsize && off < FUZZ_READ_MAX; off += FUZZ_STEP)
		read_at(r, buf, FUZZ_STEP, off);
	read_at(r, buf, 1000, 511);
	read_at(r, buf, 70000, vsize / 3 + 4097);
	read_at(r, buf, FUZZ_STEP, vsize > FUZZ_STEP ? vsize - FUZZ_STEP : 0);
	read_at(r, buf, FUZZ_STEP, vsize - 1);
	read_at(r, buf, 10, vsize + 1);
	qcow2_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *buf;
	struct input in = {.p = data, .n = size};
	struct qcow2_info info;
	char why[200];

	if (!buf && !(buf = malloc(FUZZ_STEP)))
		return 0;
	qcow2_sniff(data, size);
	qcow2_check_header(data, size < QCOW2_HEAD_MAX ? size : QCOW2_HEAD_MAX, size, &info, why, sizeof why);
	read_disk(&in, size, buf);
	/* The size unknown: the reader relies on short reads instead. */
	if (size & 1)
		read_disk(&in, 0, buf);
	return 0;
}
