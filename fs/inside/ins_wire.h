/*
 * ins_wire.h — the helper's socket, for helper.c (wire.c; SPEC §18).  The
 * readers use only ins_fetch() and ins_why() (ins_fs.h).
 */
#ifndef IMGFS_INSIDE_WIRE_H
#define IMGFS_INSIDE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ins_proto.h"

extern int ins_sock;            /* the socket: fd 3 */
extern char ins_why_buf[256];   /* the last ins_why(), "" after each answer */
/* Reads len bytes: 0, or -1 when the daemon is gone. */
int ins_full_read(void *p, size_t len);
/* The daemon is gone or speaks nonsense: nothing is left to do (exits). */
void ins_die(void) __attribute__((noreturn));
/* Sends a message of type with the payload a then b (ins_die on failure). */
void ins_send_msg(uint32_t type, const void *a, size_t alen, const void *b, size_t blen);
void ins_send_err(int err, const char *why);

#endif
