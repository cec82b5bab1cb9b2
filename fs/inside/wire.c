/*
 * wire.c — the helper's end of its socket (SPEC §18, ins_proto.h): the
 * messages it sends, the block reads every reader makes through
 * ins_fetch(), and the reason a reader gives with ins_why().  Its own file
 * so that the readers (ext.c, xfs.c, fat.c, ntfs.c) and helper.c, which
 * names them in its table, do not call each other in a circle.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ins_fs.h"
#include "ins_wire.h"

int ins_sock = 3;

/* ---- the socket ---------------------------------------------------------- */

static int full_write(const void *p, size_t len)
{
	const char *c = p;
	while (len) {
		ssize_t n = write(ins_sock, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

int ins_full_read(void *p, size_t len)
{
	char *c = p;
	while (len) {
		ssize_t n = read(ins_sock, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The daemon is gone or speaks nonsense: nothing is left to do. */
void ins_die(void)
{
	_exit(2);
}

void ins_send_msg(uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	struct ins_msg h = {type, (uint32_t)(alen + blen)};
	if (full_write(&h, sizeof(h)) < 0 || (alen && full_write(a, alen) < 0) || (blen && full_write(b, blen) < 0))
		ins_die();
}

void ins_send_err(int err, const char *why)
{
	int32_t e = err;
	ins_send_msg(INS_H_ERR, &e, sizeof(e), why, strlen(why));
}

/* ---- the volume: blocks from the daemon -------------------------------- */

int ins_fetch(uint64_t off, size_t len, void *data)
{
	char *p = data;
	while (len) {
		size_t part = len > INS_MAX_PAYLOAD ? INS_MAX_PAYLOAD : len;
		struct ins_req_blk r = {off, (uint32_t)part, 0};
		struct ins_msg h;
		ins_send_msg(INS_H_READ, &r, sizeof(r), NULL, 0);
		if (ins_full_read(&h, sizeof(h)) < 0 || h.type != INS_T_DATA || h.len > part)
			ins_die();
		if (h.len && ins_full_read(p, h.len) < 0)
			ins_die();
		if (h.len < part) {
			memset(p + h.len, 0, part - h.len + (len - part));
			return -EIO; /* past the volume's end */
		}
		p += part;
		off += part;
		len -= part;
	}
	return 0;
}

int ins_fetchv(const struct ins_req_blk *piece, unsigned n, void *data)
{
	struct ins_msg h;
	size_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += piece[i].len;
	if (n == 0 || n > INS_READV_MAX || total > INS_MAX_PAYLOAD)
		return -EINVAL;
	ins_send_msg(INS_H_READV, piece, n * sizeof(*piece), NULL, 0);
	if (ins_full_read(&h, sizeof(h)) < 0 || h.type != INS_T_DATA || h.len != total)
		ins_die();
	if (total && ins_full_read(data, total) < 0)
		ins_die();
	return 0;
}

char ins_why_buf[256];

void ins_why(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ins_why_buf, sizeof(ins_why_buf), fmt, ap);
	va_end(ap);
}

