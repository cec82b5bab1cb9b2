/*
 * fetch.h — the download engine of URL import (SPEC §5.2), internal to
 * model/.
 *
 * fetch_url_check() judges a URL when `url <URL>` is written to `source`;
 * fetch_run() downloads it inside the import task, handing the bytes in
 * order to a sink (the task writes them into the image's writable blob);
 * fetch_url_redact() is for anything that shows a URL to people (`source`,
 * the log): the password of a user:password@ URL never leaves this module
 * in a message.
 *
 * Workload: one transfer per running import task, on the task's thread;
 * several tasks may download at once (each fetch_run has its own handle).
 * Files are image-sized (GiB), so bytes stream through the sink and are
 * never held here.
 */
#ifndef IMGFS_FETCH_H
#define IMGFS_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest URL accepted (bytes, without the NUL). */
#define FETCH_URL_MAX 2048
/* Room for a reason, NUL included; reasons are one line and shorter. */
#define FETCH_REASON_MAX 512
/* Room for a validator, NUL included; a longer one counts as none. */
#define FETCH_VALIDATOR_MAX 256

#define FETCH_CONNECT_TIMEOUT_DEFAULT 30 /* seconds */
#define FETCH_STALL_TIMEOUT_DEFAULT 60   /* seconds without a byte */
#define FETCH_PROGRESS_INTERVAL_MS 250

struct sockaddr;

/* One import address rule (SPEC §5.2, address.c): the addresses in
 * addr/prefix are allowed or denied. */
struct fetch_rule {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* the network, host bits zero */
	int prefix;       /* 0 ... 32 or 0 ... 128 */
	bool allow;
};
/* "A.B.C.D[/N]" or an IPv6 address with an optional "/N" (no prefix: the
 * one address) into r, host bits cleared.  An IPv6 prefix inside one of
 * the forms address.c judges as an IPv4 address (::ffff:0:0/96, SIIT,
 * IPv4-compatible, NAT64, 6to4) becomes the IPv4 rule it means
 * (::ffff:127.0.0.1 is 127.0.0.1/32; /96+n becomes /n): 1 then, 0 for any
 * other rule, -EINVAL when it is not one or names part of an IPv4 address
 * or a whole form (address.c's header says which). */
int fetch_rule_parse(const char *cidr, bool allow, struct fetch_rule *r);
/* The same, with a sentence in note (when given; "" otherwise) saying how
 * an IPv4 form's rule was rewritten, or why it was refused. */
int fetch_rule_parse_note(const char *cidr, bool allow, struct fetch_rule *r, char *note, size_t cap);
/* r's canonical text: "10.0.0.0/8", "fd00::/8". */
void fetch_rule_format(const struct fetch_rule *r, char *out, size_t cap);
/* Whether an import may connect to sa: an IPv6 form of an IPv4 address
 * is judged as that address; the most specific of the rules containing it
 * decides (deny on a tie); with none, only public unicast addresses may
 * (not loopback, private, link-local, CGNAT, multicast, unspecified,
 * documentation, Teredo, discard-only or reserved ones: address.c). */
bool fetch_address_allowed(const struct fetch_rule *rules, size_t n, const struct sockaddr *sa);
/* sa's address as text, without the port. */
void fetch_address_format(const struct sockaddr *sa, char *out, size_t cap);

struct fetch_req {
	const char *url;
	/* The admin's address rules; every connection is judged by them
	 * (fetch_address_allowed), none given: the default policy. */
	const struct fetch_rule *rules;
	size_t nrules;
	/* PEM file of CAs to trust instead of the system store (tests); NULL:
	 * the system store. */
	const char *ca_file;
	uint64_t max_size;      /* the whole file's limit in bytes; 0: none */
	uint64_t resume_from;   /* bytes [0, resume_from) are already held */
	/* 0: to the end of the file.  Else bytes [resume_from, range_end)
	 * only (an early start's read-through, SPEC §6.5): asked as a Range
	 * with the validator as If-Range (required), and only a 206 of that
	 * version is taken — a 200, another version, or more bytes than asked
	 * fail with -EIO before the sink sees a byte of them, never a restart
	 * from 0.  res->announced is then the whole file's size (its
	 * Content-Range), -1 when the server did not say. */
	uint64_t range_end;
	/* The validator those bytes came with (fetch_result.validator of the
	 * run that fetched them).  A resume is asked only with one: http(s)
	 * sends it as If-Range, ftp compares it with the file's size and time
	 * now; either way a changed file comes again from 0 (res->restarted).
	 * NULL or "" with resume_from > 0: the file comes again from 0. */
	const char *validator;
	/* The rate floor (SPEC §5.2): a transfer that receives fewer than
	 * floor_bps * floor_window bytes in any floor_window seconds (counted
	 * in consecutive windows from its start) fails.  0: no floor. */
	uint64_t floor_bps;
	int floor_window;
	int connect_timeout;    /* seconds; 0: FETCH_CONNECT_TIMEOUT_DEFAULT */
	int stall_timeout;      /* seconds; 0: FETCH_STALL_TIMEOUT_DEFAULT */
	/* Receives the bytes in order: the first call's offset is resume_from,
	 * or 0 when the server could not resume (res->restarted); each next
	 * call continues where the last ended.  A negative errno aborts the
	 * transfer, and fetch_run returns it. */
	int (*sink)(void *arg, const void *buf, size_t len, uint64_t offset);
	/* Optional: done = offset after the last byte given to the sink, total
	 * = the whole file's size or 0 when unknown.  At most every
	 * FETCH_PROGRESS_INTERVAL_MS. */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	/* Optional: polled during the transfer (at least once a second, more
	 * often while bytes flow); true stops it with -ECANCELED. */
	bool (*cancelled)(void *arg);
	void *arg;
};

struct fetch_result {
	int err;                        /* 0 or -errno, as fetch_run returns */
	char reason[FETCH_REASON_MAX];  /* one line, no password; "" on success */
	uint64_t bytes;                 /* bytes given to the sink by this run */
	uint64_t end;                   /* offset after the last byte held */
	int64_t announced;              /* the whole file's size, -1 unknown */
	/* resume_from was not honoured and the file came again from offset 0;
	 * whatever the caller holds beyond res->end is then stale (truncate). */
	bool restarted;
	/* What identifies the version of the file the sink's bytes belong to,
	 * to resume with (fetch_req.validator); "" when there is none.  http(s):
	 * the final response's strong ETag, else its Last-Modified when that is
	 * at least 60 s older than its Date (RFC 9110 §13.1.5, §8.8.2.2); ftp:
	 * "<SIZE> <MDTM as unix seconds>".  Printable ASCII, one line.  Set
	 * before the sink sees the first byte of a response, so the sink may
	 * record it with what it stores; a resumed transfer keeps the one it
	 * was asked with. */
	char validator[FETCH_VALIDATOR_MAX];
	/* Whether the server said it serves ranges of this file: ftp always
	 * (REST); http(s) a final response with "Accept-Ranges: bytes", or a
	 * 206.  Set with validator.  With a validator, what makes stopping
	 * now and resuming later cost nothing (import.c's time slices). */
	bool ranges;
};

/* 0 when url may be imported: at most FETCH_URL_MAX bytes of printable
 * ASCII without spaces, parsed by libcurl, scheme http, https or ftp (any
 * case), a host, and for ftp a file (not a directory).  -EINVAL with a
 * reason in why (one line, password redacted; why may be NULL). */
int fetch_url_check(const char *url, char *why, size_t cap);

/* Downloads rq->url (see struct fetch_req); fills *res and returns res->err.
 * Only http, https and ftp; at most 5 redirects, never to another scheme;
 * TLS peer and host verified.  Errors: -EINVAL (URL), -EFBIG (larger than
 * max_size; refused before the sink sees a byte when the server announces
 * the size), -ENOENT (HTTP 404/410, no such FTP file), -EACCES (HTTP
 * 401/403, FTP login refused), -ECANCELED, -ETIMEDOUT (connect or stall),
 * -ECONNREFUSED, -ECONNRESET, -EHOSTUNREACH (name not resolved), -EPROTO
 * (TLS, bad responses), -ELOOP (too many redirects), -EIO (short body,
 * other HTTP errors), or the sink's own errno. */
int fetch_run(const struct fetch_req *rq, struct fetch_result *res);

/* Copies url to out with the password of a user:password@ part replaced by
 * "***" (the rest byte for byte, so the owner recognises it).  Works on any
 * string, valid URL or not.  Returns 0, or -ENAMETOOLONG when out is too
 * small (out then holds a truncated, still redacted copy). */
int fetch_url_redact(const char *url, char *out, size_t cap);

#endif
