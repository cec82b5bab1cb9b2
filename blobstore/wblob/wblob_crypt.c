/*
 * wblob_crypt.c — the overlay of an encrypted writable blob (SPEC §17): an
 * instance disk or an upload of an encrypted image keeps no plaintext in
 * its .data files either.  The overlay is written in place, in pieces of
 * any size (a guest's 4 KiB writes, a copy-on-write of a whole chunk), so
 * it is encrypted by sector rather than by chunk: AES-256-XTS, 4 KiB
 * sectors, the tweak the sector's number in the disk (crypt.c), with keys
 * of the wblob's own (derived from its data key and its name, which no
 * other wblob has).  XTS and not GCM: a sector has no room for a nonce and
 * a tag, and rewriting one in place under a fresh nonce would need them
 * stored elsewhere and written with it; docs/design.md says what that costs
 * (an observer of two copies of the file sees which sectors changed).
 *
 * Who calls it: wblob_chunk.c's overlay functions (wb_overlay_read,
 * wb_overlay_write, wb_zero_overlay) when the wblob has a key; it calls
 * wblob_file.c's pieces and punches only.  Under the
 * wblob's locks as they are: a write or a zeroing runs under the writer's
 * lock (its read-modify-write of a partial sector cannot race another
 * writer), reads under the shared one.
 *
 * Sectors whose ciphertext is all zeros read as zeros (crypt.c), so what
 * a plain overlay gets from the file system stays true: holes punched,
 * the file's sparse tail and its extension read as zeros; a zeroing of
 * whole sectors punches them as for a plain overlay, and only a partial
 * sector at either end is read, decrypted, cleared in part and written
 * back.  A write covering whole sectors reads nothing.  Crash safety is a
 * plain overlay's (wblob.c, "Writes"): each write is one pwrite of whole
 * sectors, which a kill -9 leaves done or not; a power cut that tears a
 * sector mid-way garbles that sector where a plain overlay would mix old
 * and new bytes in it — unacknowledged guest writes either way.
 */
#include <errno.h>
#include <stdlib.h>

#include "wblob_int.h"

#define SECTOR BLOB_XTS_SECTOR
#define SECTOR_MASK ((uint64_t)SECTOR - 1)

static uint64_t down(uint64_t x)
{
	return x & ~SECTOR_MASK;
}

static uint64_t up(uint64_t x)
{
	return (x + SECTOR_MASK) & ~SECTOR_MASK;
}

/* The whole sectors [a, b) of f (file offsets, aligned) into buf,
 * decrypted; bytes past the file's end are zeros (past the end this handle
 * knows of: short before it is EIO). */
static int read_sectors(blob_wblob *w, struct wb_file *f, uint8_t *buf, uint64_t a, uint64_t b)
{
	ssize_t got = blob_pread_full(f->fd, buf, (size_t)(b - a), a);

	if (got < 0)
		return (int)got;
	/* Short before the end this handle knows of: the file was cut under
	 * it, outside imgfs (wb_overlay_read says the same): EIO, not zeros. */
	if ((uint64_t)got < b - a && a + (uint64_t)got < f->len) {
		blob_log_line(&w->s->log, "writable blob %s: an overlay was cut to %llu bytes under it (it had %llu): EIO",
		              w->name, (unsigned long long)(a + (uint64_t)got), (unsigned long long)f->len);
		return -EIO;
	}
	memset(buf + got, 0, (size_t)(b - a) - (size_t)got);
	return blob_xts_crypt(&w->xts, buf, (size_t)((b - a) / SECTOR), (f->base + a) / SECTOR, false);
}

int wb_crypt_read(blob_wblob *w, struct wb_file *f, void *dst, size_t n, uint64_t off)
{
	uint64_t a = down(off), b = up(off + n);
	uint8_t *buf;
	int rc;

	if (n == 0)
		return 0;
	if ((buf = malloc((size_t)(b - a))) == NULL)
		return -ENOMEM;
	if ((rc = read_sectors(w, f, buf, a, b)) == 0)
		memcpy(dst, buf + (off - a), n);
	explicit_bzero(buf, (size_t)(b - a));
	free(buf);
	return rc;
}

int wb_crypt_write(blob_wblob *w, struct wb_file *f, const void *src, size_t n, uint64_t off)
{
	uint64_t a = down(off), b = up(off + n);
	uint8_t *buf;
	int rc = 0;

	if (n == 0)
		return 0;
	if ((buf = malloc((size_t)(b - a))) == NULL)
		return -ENOMEM;
	/* The sectors the write covers in part keep the rest of their bytes. */
	if (off != a)
		rc = read_sectors(w, f, buf, a, a + SECTOR);
	if (rc == 0 && off + n != b && (b - SECTOR > a || off == a))
		rc = read_sectors(w, f, buf + (b - SECTOR - a), b - SECTOR, b);
	if (rc == 0) {
		memcpy(buf + (off - a), src, n);
		rc = blob_xts_crypt(&w->xts, buf, (size_t)((b - a) / SECTOR), (f->base + a) / SECTOR, true);
	}
	if (rc == 0)
		rc = wb_file_pwrite(f, buf, (size_t)(b - a), a);
	explicit_bzero(buf, (size_t)(b - a)); /* plaintext when the cipher failed */
	free(buf);
	return rc;
}

int wb_crypt_zero(blob_wblob *w, struct wb_file *f, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[SECTOR];
	uint64_t end, a, b;
	int rc;

	if (len == 0 || off >= f->len)
		return 0;
	end = len > f->len - off ? f->len : off + len; /* past the end: zeros already */
	a = up(off);
	b = down(end);
	if (a >= b) { /* inside one sector, or across the boundary of two */
		for (uint64_t p = off; p < end; p = down(p) + SECTOR) {
			uint64_t e = down(p) + SECTOR < end ? down(p) + SECTOR : end;
			if ((rc = wb_crypt_write(w, f, zeros, (size_t)(e - p), p)) < 0)
				return rc;
		}
		return 0;
	}
	if (off < a && (rc = wb_crypt_write(w, f, zeros, (size_t)(a - off), off)) < 0)
		return rc;
	if (b < end && (rc = wb_crypt_write(w, f, zeros, (size_t)(end - b), b)) < 0)
		return rc;
	return wb_zero_plain(f, a, b - a);
}
