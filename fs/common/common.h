/*
 * common.h — what the command line (fs/cli/), the FUSE layer (fs/fuse/)
 * and the HTTP server (fs/serve/) share that is none of theirs: no FUSE,
 * no HTTP, no model.  Small on purpose: a helper lands here only when two
 * rooms had each written it.  Threads: any; nothing here keeps state.
 */
#ifndef IMGFS_COMMON_H
#define IMGFS_COMMON_H

/* The symbolic name of an errno (either sign), "EMFILE"; one the list
 * lacks is "E123", never a guess (errname.c).  The string is static or
 * the calling thread's, valid until its next call. */
const char *fs_errno_name(int err);

/* sd_notify(3) without libsystemd (notify.c): msg ("READY=1",
 * "STOPPING=1") to $NOTIFY_SOCKET; nothing when that is unset. */
void fs_sd_notify(const char *msg);

/* ---- a command's options as a table (opts.c) ----
 * One row per option: its long name (--threads), an optional short one
 * ('q'), its kind and where its value goes: offsetof() into the command's
 * options struct.  A table ends with a row whose name is NULL. */
#include <stdbool.h>
#include <stddef.h>

enum fs_opt_kind {
	FS_OPT_STR = 1, /* const char *: the argument as given (it lives in argv) */
	FS_OPT_UINT,    /* unsigned, lo to hi, decimal digits only */
	FS_OPT_SECONDS, /* double, 0 to FS_OPT_SECONDS_MAX */
	FS_OPT_FLAG,    /* bool, no value */
	FS_OPT_HELP,    /* no value: fs_opts_parse returns 1, the caller prints its usage */
};
struct fs_opt {
	const char *name;
	int short_name;
	enum fs_opt_kind kind;
	size_t off;
	unsigned lo, hi; /* FS_OPT_UINT's bounds */
};
#define FS_OPTS_MAX 32                /* rows a table may have */
#define FS_OPT_FIRST 256              /* getopt_long's value of row 0 (short options are below) */
#define FS_OPT_SECONDS_MAX 31536000.0 /* a year */

/* Where the arguments that are no option may be: none (each is refused:
 * "unexpected argument X"), anywhere (getopt gathers them after the
 * options: `imgfs wait PATH -q`), or after the options (the first one ends
 * them: a command's name). */
enum fs_args { FS_ARGS_NONE = 1, FS_ARGS_ANYWHERE, FS_ARGS_AFTER };

/* Parses argv[1..argc) (argv[0] is the command's name) into out by rows.
 * 0: parsed, *first (may be NULL) the index of the first argument that is
 * no option; 1: --help was given; 2: a usage error, said on stderr as one
 * line "PROG: WHY" that names the argument (WHY: "unknown option --bogus",
 * "--threads needs a value", "--threads takes 1 to 64", "unexpected
 * argument X").  Not thread-safe (getopt's globals): commands parse once,
 * before any thread starts. */
int fs_opts_parse(const char *prog, const struct fs_opt *rows, void *out, enum fs_args args, int argc, char **argv,
                  int *first);

/* The reason for getopt_long's answer c ('?' or ':') just given on argv,
 * for a parser that builds its own table (imgfs admin's per-command
 * options, whose values are FS_OPT_FIRST and up). */
void fs_opts_why(char *why, size_t cap, int c, char **argv);

#endif
