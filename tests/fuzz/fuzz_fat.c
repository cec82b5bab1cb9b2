/*
 * fuzz_fat.c — libFuzzer target for fs/inside/fat.c, the FAT12/16/32
 * reader of the inside helper (SPEC §18): a tenant's EFI partition or USB
 * image.  What it checks: fuzz_fat_body.h (shared with the unit test,
 * which runs a corpus of damaged volumes in every build).
 *
 * Built by -DIMGFS_FUZZ=ON with clang and run by scripts/fuzz-parsers.
 */
#include "fuzz_fat_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_fat_one(data, size);
}
