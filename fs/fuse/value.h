/*
 * value.h — a value written into a generated file, as its handle collects
 * it piece by piece (value.c; SPEC §2.1 "Reading and writing generated
 * files", §12: at most 4 KiB).  No FUSE, no model: files.c's writes call
 * it with the handle's buffer; tests/unit/fs/fuse/test_value.c tests each
 * rule at its limit and one past.
 */
#ifndef IMGFS_VALUE_H
#define IMGFS_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

#define FS_VALUE_MAX 4096 /* bytes a value may hold, its newline included (SPEC §12) */

/* Adds the piece buf[0..size) written at off to v: a piece at offset 0
 * starts the value again; any other must start where the value ends.
 * -EINVAL with *why (a one-line reason) when the piece breaks a rule: an
 * offset elsewhere, more than FS_VALUE_MAX bytes in all, a NUL or \r, or
 * (unless multiline) anything after the line's newline; -ENOMEM when the
 * buffer could not grow.  A refused piece drops the whole value: the
 * caller empties v (fs_value_drop), and the next piece must start at 0. */
int fs_value_take(struct fs_buf *v, const char *buf, size_t size, off_t off, bool multiline, const char **why);

/* Empties v; a secret's bytes (a password written) are wiped now, not when
 * the buffer is released: a writer may hold the file open for as long as
 * it likes. */
void fs_value_drop(struct fs_buf *v);

/* Whether v ends a line (and so is applied now). */
bool fs_value_ends_line(const struct fs_buf *v);

#endif
