/*
 * fuzz_format.c — libFuzzer target for blobstore/format/format.c, the
 * sniffer that decides what an upload's first bytes are (QCOW2, ISO 9660,
 * a raw disk, or a format refused by name) and the header check that
 * follows it, over bytes a tenant chose.
 *
 * Input: the first bytes of an upload; the file size claimed beside them
 * is the input's length or, when the last byte says so, a larger one (a
 * header that names more than was sent).  Checked: the sniffer answers 0,
 * 1 or an errno with a format it knows, "not decided" only while more may
 * come; a check that accepts gives a virtual size (QCOW2: not 0; raw and
 * ISO: the file's); every reason is NUL-terminated within its buffer.
 *
 * Built by -DIMGFS_FUZZ=ON with clang and run by scripts/fuzz-parsers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum blob_format f;
	uint64_t file_size = size, vsize = 0;
	char why[256];
	if (size && data[size - 1] == 0xff)
		file_size = (uint64_t)size << 20;
	for (int more = 0; more < 2; more++) {
		int rc = blob_format_sniff(data, size, more, &f);
		must(rc <= 1);
		if (rc == 0)
			must(more && size < BLOB_FORMAT_SNIFF_LEN);
		if (rc != 1)
			continue;
		must(f == BLOB_FORMAT_QCOW2 || f == BLOB_FORMAT_ISO || f == BLOB_FORMAT_RAW);
		must(blob_format_name(f) != NULL);
		why[0] = '\0';
		memset(why + 1, 'x', sizeof(why) - 1);
		if (blob_format_check(f, data, size, file_size, &vsize, why, sizeof(why)) == 0) {
			must(f != BLOB_FORMAT_QCOW2 || vsize > 0);
			must(f == BLOB_FORMAT_QCOW2 || vsize == file_size);
		} else {
			must(strnlen(why, sizeof(why)) < sizeof(why) && why[0]);
		}
	}
	const char *no = blob_format_unsupported(data, size);
	must(!no || strlen(no) < 256);
	(void)blob_format_encrypted(data, size);
	return 0;
}
