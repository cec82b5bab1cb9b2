/*
 * fuzz_glance.c — libFuzzer target for fs/serve/glance/parse.c, what
 * image API clients send (SPEC §19): a create's body, a JSON patch in
 * both of Glance's dialects, tags edited; its body and promises are
 * fuzz_glance_body.h's, which the unit test test_parse.c also runs over
 * tests/fuzz/corpus-glance, so every build and the ASan lane run the
 * corpus.  Built by -DIMGFS_FUZZ=ON with clang and run by
 * scripts/fuzz-parsers.
 */
#include "fuzz_glance_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return glance_fuzz_one(data, size);
}
