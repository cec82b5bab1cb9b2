/*
 * keys.h — the keys of encrypted images (SPEC §17): the service's
 * key-encryption key (KEK), which a process is given and the database
 * never holds, and the data keys it wraps, one per lineage.
 *
 * Who calls it: fs/cli (the mount's -o keyfile= / keycmd=, imgfs admin's
 * and imgfs serve's --keyfile / --keycmd, `imgfs admin key rotate` and
 * `key status`), the unit tests.  Inside model/, model_int.h has what the
 * blobs of encrypted images need: a data key's context (model_key_get) and
 * a new one (model_key_new).  Any thread; model_set_kek once, before other
 * threads use the model.
 *
 * A process without the KEK (or with another than the one a data key was
 * wrapped by) lists encrypted images and shows their attribute files, but
 * their blobs are -EACCES with the reason, and their tasks wait for a
 * process that has it (model/task/task.c).
 *
 * Errors: -errno with a one-line reason in struct model_err.
 */
#ifndef IMGFS_MODEL_KEYS_H
#define IMGFS_MODEL_KEYS_H

#include "core.h"

#define MODEL_KEK_SIZE 32   /* AES-256 */
#define MODEL_KEK_ID_LEN 16 /* hex digits of a KEK's id */

/* A KEK from keyfile (a regular file owned by the calling user, mode 0600
 * or stricter: refused otherwise, with the reason and the fix) or from
 * keycmd (run by /bin/sh; its standard output within 30 s, exit status
 * 0), exactly one of them given.  Either holds the key as 32 bytes or as
 * 64 hex digits (one newline after them is fine): `openssl rand -hex 32`.
 * -EINVAL, -EACCES, -ENOENT ... with the reason (naming keyfile or
 * keycmd, never the key). */
int model_kek_load(uint8_t out[MODEL_KEK_SIZE], const char *keyfile, const char *keycmd, struct model_err *err);
/* The id of a KEK: the first 8 bytes of HMAC-SHA256(kek, "imgfs
 * key-encryption key id v1"), hex (what the database records of it: a
 * name, not a way to it). */
void model_kek_id(char out[MODEL_KEK_ID_LEN + 1], const uint8_t kek[MODEL_KEK_SIZE]);
/* This process's KEK (copied; NULL: none): the data keys it opened under
 * another are forgotten. */
void model_set_kek(model *m, const uint8_t kek[MODEL_KEK_SIZE]);
/* Whether the service has a KEK of record (the one its newest data keys
 * are wrapped by: settings 'kek') other than this process's: 0 when they
 * agree (or there is none yet, or this process has none), -EACCES with
 * the reason ("... id X; the service's is Y ...") otherwise, for a mount
 * to say at once. */
int model_kek_check(model *m, struct model_err *err);

/* `imgfs admin key rotate`: every data key wrapped by this process's KEK
 * is wrapped anew by new_kek, each row in a transaction of its own; the
 * service's KEK of record becomes new_kek's first, so no process with the
 * old one makes a new data key meanwhile.  Run again after an
 * interruption (kill -9), it goes on where it was (rows under new_kek are
 * skipped).  No chunk is read or written.  progress(arg, line) gets a line
 * per key re-wrapped (may be NULL).  *out counts what it did.  -EACCES
 * without the current KEK, -EINVAL when new_kek is it; rows under a
 * third KEK are left and counted (and make the result -EIO: the service's
 * keys are not all under new_kek). */
struct model_key_rotation {
	uint64_t rewrapped; /* keys wrapped anew by this run */
	uint64_t done;      /* keys under new_kek already (an earlier run's) */
	uint64_t other;     /* keys under neither key: left as they are */
};
int model_key_rotate(model *m, const uint8_t new_kek[MODEL_KEK_SIZE], void (*progress)(void *arg, const char *line),
                     void *arg, struct model_key_rotation *out, struct model_err *err);
/* `imgfs admin key status`: cb(arg, kek id, data keys it wraps) for each
 * KEK that wraps any, and the service's KEK of record (kek "" when it has
 * none yet) in *service. */
int model_key_status(model *m, char service[MODEL_KEK_ID_LEN + 1],
                     int (*cb)(void *arg, const char *kek, int64_t keys), void *arg);

#endif
