/*
 * serve.h — `imgfs serve` (SPEC §14): an HTTP/1.1 (HTTPS with a
 * certificate) server of download links, on libmicrohttpd.
 *
 * Who calls it: fs/main.c (`imgfs serve ...`), the unit tests (the pure
 * helpers of http.c).
 *
 * The room: serve.c is the daemon (arguments, the libmicrohttpd daemon,
 * one request from token to bytes, the log line); http.c holds what is
 * pure HTTP text (Range, If-Range, dates, header values, log escaping), so
 * it is tested without a socket.  It depends on model/ (links, images,
 * blobs) and blobstore/ (reads, the QCOW2 writer); nothing else sees it.
 */
#ifndef IMGFS_SERVE_H
#define IMGFS_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* `imgfs serve [--state DIR] [--db URL] [--listen ADDR:PORT] [--tls-cert F
 * --tls-key F] [--log FILE] [--threads N] [--max-connections N]`; returns
 * the exit status. */
int serve_main(int argc, char **argv);

/* ---- http.c ---------------------------------------------------------------- */

/* A Range header against a body of size bytes (RFC 9110 §14): 1 and
 * [*start, *start + *len) for one satisfiable byte range; 0 to send the
 * whole body (no header, one that is not a single byte range, or one that
 * is malformed: a server ignores those); -1 when it is a single range
 * that lies outside the body (416). */
int serve_range_parse(const char *h, uint64_t size, uint64_t *start, uint64_t *len);
/* Whether an If-Range value lets the Range apply: the strong ETag equal,
 * or exactly the Last-Modified date (RFC 9110 §13.1.5).  NULL: yes. */
bool serve_if_range(const char *h, const char *etag, const char *last_modified);
/* IMF-fixdate of unix seconds: "Sun, 06 Nov 1994 08:49:37 GMT" (30 bytes). */
void serve_http_date(char out[30], time_t t);
/* Content-Disposition for a download named name.ext: attachment, an ASCII
 * filename (other bytes, quotes and backslashes as '_') and, when the
 * name is not plain ASCII, filename*=UTF-8''<%-escaped>. */
void serve_disposition(char *out, size_t cap, const char *name, const char *ext);
/* in for one log line: printable ASCII stays, a backslash is \\, every
 * other byte \xNN; cut to fit cap. */
void serve_escape(char *out, size_t cap, const char *in);
/* The token of a request path "/d/<token>[/<file name>]"; false otherwise. */
bool serve_path_token(const char *path, char *out, size_t cap);

#endif
