/*
 * value.c — the rules of a value written into a generated file (value.h):
 * pieces in order from offset 0, at most FS_VALUE_MAX bytes, no NUL or
 * carriage return, a command one line.  Who calls it: files.c's writes
 * (text_write), with the open handle's buffer.
 */
#include <errno.h>
#include <string.h>

#include "value.h"

void fs_value_drop(struct fs_buf *v)
{
	if (v->secret && v->p)
		explicit_bzero(v->p, v->cap);
	v->len = 0;
}

int fs_value_take(struct fs_buf *v, const char *buf, size_t size, off_t off, bool multiline, const char **why)
{
	bool line_done;

	if (off == 0) {
		fs_value_drop(v);
	} else if ((size_t)off != v->len) { /* nothing yet: only 0 is */
		*why = "a value is written from offset 0, each piece where the last one ended";
		return -EINVAL;
	}
	if (size > FS_VALUE_MAX - v->len) {
		*why = "a value is at most 4 KiB";
		return -EINVAL;
	}
	line_done = !multiline && v->len && v->p[v->len - 1] == '\n';
	for (size_t i = 0; i < size; i++) {
		if (buf[i] == '\0' || buf[i] == '\r') {
			*why = "a value cannot hold NUL or carriage-return bytes";
			return -EINVAL;
		}
		if (line_done) {
			*why = "a command is one line: nothing may follow its newline";
			return -EINVAL;
		}
		line_done = !multiline && buf[i] == '\n';
	}
	fs_buf_put(v, buf, size);
	return v->failed ? -ENOMEM : 0;
}

bool fs_value_ends_line(const struct fs_buf *v)
{
	return v->len && v->p[v->len - 1] == '\n';
}
