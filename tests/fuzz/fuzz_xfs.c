/*
 * fuzz_xfs.c — libFuzzer target for fs/inside/xfs.c, imgfs's own reader
 * of XFS (SPEC §18), fed from memory (xfs_walk.h: the input is a volume
 * in segments).  The reader runs in the sandboxed helper, but a crash
 * there is still a volume that cannot be read: every answer must be an
 * errno, never a crash, a hang or a broken promise.
 *
 * Built by -DIMGFS_FUZZ=ON with clang and run by scripts/fuzz-parsers,
 * with a seed corpus made from the XFS fixtures (tests/fuzz/xfs-seeds);
 * the unit test tests/unit/fs/inside/test_xfs.c runs the same corpus
 * under the sanitizers of its build.
 */
#include "xfs_walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xw_count c;
	if (xw_load(data, size) < 0)
		return 0;
	xw_walk(&ins_fs_xfs, &c);
	return 0;
}
