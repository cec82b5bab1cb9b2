/*
 * xxh.h — <xxhash.h> as blobstore/ uses it: XXH3 with the widest vector
 * unit the CPU has.
 *
 * libxxhash's plain XXH3 entry points are built for the baseline of the
 * architecture (SSE2 on x86-64: Debian's libxxhash0 has no AVX2 in them);
 * on x86 the library also exports XXH3_*_dispatch, which picks SSE2, AVX2
 * or AVX-512 once, at the first call, from CPUID.  Same bytes, same hash
 * (tests/unit/blobstore/test_xxh.c holds both to it).  Measured on the
 * build machine's AVX-512 CPU: a keyed 1 MiB chunk id 0.053 s per GiB
 * plain, 0.013 dispatched; the whole-blob hash fed 64 KiB at a time 0.227
 * against 0.013 (the plain streaming path is the slow one).  XXH3 names
 * every chunk written, checks every chunk read (SPEC §2.3) and hashes every
 * uploaded byte beside SHA-256 on the upload's one hashing thread, so that
 * is daemon CPU on every data path.  <xxh_x86dispatch.h> renames the plain
 * calls to the dispatching ones; CMake defines IMGFS_HAVE_XXH_DISPATCH when
 * the library has them.
 */
#ifndef IMGFS_XXH_H
#define IMGFS_XXH_H

#include <xxhash.h>
#ifdef IMGFS_HAVE_XXH_DISPATCH
#include <xxh_x86dispatch.h>
#endif

#endif
