/*
 * cli.h — the command line's room (fs/cli/): the `imgfs` executable
 * (main.c), `imgfs admin` (admin.c), `imgfs wait` (wait.c) and what a mount
 * needs to run as a service (service.c).
 *
 * Dependencies point one way: fs/cli/ uses the FUSE layer (fs/fuse/fs.h:
 * the mount context, log.h, the low-level operations; main.c and
 * service.c only), the HTTP server (fs/serve/serve.h) and fs/common/;
 * none of them includes this header.  admin.c and wait.c need no mount
 * and never compile against <fuse_lowlevel.h>: they reach the state
 * through model.h (admin) or through a mounted tree's files (wait).
 */
#ifndef IMGFS_CLI_H
#define IMGFS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fs_ctx; /* fs/fuse/fs.h: main.c and service.c, which mount, include it */

/* Admin command line (admin.c): argv from "admin" on (argv[0] is "admin"). */
int fs_admin_main(int argc, char **argv);

/* The image API's identities (admin_token.c, SPEC §19), for admin.c:
 * `token ACCOUNT [DURATION] | token list ACCOUNT | token revoke ACCOUNT
 * [TOKEN]` (argv: the operands after "token"), and `account set NAME
 * api-password` (the password from standard input).  The exit status: 0,
 * 1 refused, 2 a usage error (the caller prints the usage). */
struct model;
int fs_admin_token(struct model *m, int argc, char **argv);
int fs_admin_api_password(struct model *m, const char *account);
/* "30s", "90m", "24h", "7d" in seconds: 0, or -EINVAL. */
int fs_admin_duration(const char *s, int64_t *out);

/* ---- running as a service (service.c, SPEC §15) --------------------------- */

/* A mount point must exist, be a directory and not be mounted (a dead
 * mount, whose stat fails with ENOTCONN, included): 0 with its resolved
 * path in real (cap bytes), or -errno with a one-line reason in why. */
int fs_service_check_mountpoint(const char *path, char *real, size_t cap, char *why, size_t whycap);
/* What a mount was asked, for fs_service_check_args. */
struct fs_mount_args {
	const char *mountpoint; /* resolved (fs_service_check_mountpoint) */
	const char *state;      /* the state directory it would use */
	const char *source;     /* the SOURCE argument as given; NULL: none */
	bool source_is_url;     /* a postgresql:// source */
	bool state_named;       /* -o state= named the state directory */
	bool nonempty;          /* -o nonempty */
};
/* Arguments that could hurt (SPEC §12), refused before anything is
 * touched: a mount point that is a state directory (`imgfs STATE`, or
 * `imgfs MNT STATE` swapped), one that is the state directory, lies
 * inside it or contains it, and a non-empty one unless nonempty.  0, or
 * -errno with a one-line reason naming the right form in why. */
int fs_service_check_args(const struct fs_mount_args *a, char *why, size_t whycap);
/* The topmost directory of path that does not exist yet (out = "" when
 * path exists): what to remove if a mount that created it fails. */
int fs_service_missing_top(const char *path, char *out, size_t cap);
void fs_service_remove_tree(const char *path); /* "" or NULL: nothing */
/* Forks: the parent waits and exits 0 once the child reports that the
 * mount answers, 1 (printing fail_msg) if it never does; the child returns
 * 0 with *out_fd, the pipe to report on (for fs_service_start). */
int fs_service_daemonize(int *out_fd, const char *fail_msg);
/* Closes every descriptor above 2 that came through exec (no FD_CLOEXEC)
 * but the n in keep. */
void fs_service_close_inherited(const int *keep, int n);
struct service;
/* In the serving process: a thread waits until the mount answers, runs
 * on_ready, tells systemd (READY=1) and the waiting parent (ready_fd, -1:
 * none), and with detach sends stdio to /dev/null; SIGHUP calls
 * fs_log_reopen from a thread.  NULL on no memory. */
/* First of all in a mount, before the state is touched: SIGHUP is counted
 * from now on (logrotate's `pkill -HUP -x imgfs` during a first mount's
 * minutes of creating the state), not fatal; fs_service_start's thread
 * reopens the log for each one.  Called once, before fs_service_start. */
void fs_service_catch_hup(void);
struct service *fs_service_start(struct fs_ctx *ctx, int ready_fd, bool detach, void (*on_ready)(struct fs_ctx *));
void fs_service_stopping(void); /* tells systemd (STOPPING=1) */
/* After the session is unmounted: joins the threads. */
void fs_service_stop(struct service *s);


/* `imgfs wait PATH...` (wait.c): argv after "wait"; returns the exit
 * status (0 all available, 1 otherwise, 2 usage or not an imgfs path). */
int fs_wait_main(int argc, char **argv);

#endif
