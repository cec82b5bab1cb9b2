/*
 * helper_main.c — the executable `imgfs-inside-helper` (SPEC §18): the
 * sandboxed reader of one guest file system (helper.c), started by the
 * daemon (fs/fuse/inside.c) with its end of a socket pair as fd 3.
 *
 * It is a program of its own, not `imgfs inside-helper`, for its start-up:
 * imgfs links 42 shared libraries (libpq, librados, libcurl, ...) whose
 * loading and constructors took 11-19 ms before the helper read a byte,
 * most of the time to a cold image's first file; this one links libext2fs,
 * com_err and libseccomp only and starts in about 1-3 ms.  Nothing runs
 * before ins_helper_main, which sandboxes the process first.
 */
#include "ins_proto.h"

int main(void)
{
	return ins_helper_main(3);
}
