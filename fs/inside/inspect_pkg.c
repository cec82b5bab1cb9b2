/*
 * inspect_pkg.c — the package list of a Linux root, in the helper (SPEC
 * §20; ins_inspect.h): "pkgdb KIND COUNT", then "pkg NAME VERSION ARCH"
 * a package.
 *
 *   dpkg    /var/lib/dpkg/status: the stanzas whose Status is "install ok
 *           installed" (or any want, "ok installed"), Package, Version,
 *           Architecture;
 *   rpm     rpmdb.sqlite (EL9, Fedora 33 on; /var/lib/rpm or
 *           /usr/lib/sysimage/rpm): its Packages table, read by SQLite
 *           from memory (sqlite3_deserialize, read-only: no file is
 *           opened, no journal, no temporary file); or Packages, a
 *           Berkeley DB hash database (EL5 to EL8), walked page by page by
 *           the small reader below.  Each value is an rpm header, read by
 *           librpm's header API (headerImport, headerGet*), the code rpm
 *           itself reads headers with.
 *
 * Why not librpm's own database code: rpmdbOpen opens the database's
 * files by path, takes locks and may write (a rebuild, a journal); the
 * helper opens no file (its seccomp filter kills it at the first open).
 * So the bytes are read through the volume's reader, whole (bounded:
 * INSPECT_RPMDB_MAX), and handed over from memory.  Not in this version:
 * SUSE's NDB format (Packages.db), "note" says so.
 *
 * Bounded: a database larger than INSPECT_RPMDB_MAX (dpkg's status:
 * INSPECT_DPKG_MAX) is not read ("note ... larger than ..."), at most
 * INSPECT_PACKAGES_MAX packages are listed, a header at most
 * INSPECT_HEADER_MAX bytes, an overflow chain at most the pages its length
 * needs; a damaged header or page is skipped and counted.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpm/header.h>
#include <rpm/rpmlog.h>
#include <rpm/rpmtag.h>

#include "ins_inspect.h"

struct pkgs {
	struct ins_out *o;
	unsigned count, damaged;
	int capped; /* ins_put_pkg's -E2BIG or -EFBIG: the list stopped there */
};

static void pkg_put(struct pkgs *p, const char *name, const char *version, const char *arch)
{
	if (p->capped)
		return;
	/* A name or version with a blank would break the line's fields. */
	if (!name[0] || strpbrk(name, " \t") || !version[0] || strpbrk(version, " \t") || strpbrk(arch, " \t")) {
		p->damaged++;
		return;
	}
	int rc = ins_put_pkg(p->o, name, version, arch[0] ? arch : "(none)");
	if (rc < 0)
		p->capped = rc;
	else
		p->count++;
}

/* ---- dpkg ---------------------------------------------------------------------- */

/* A NUL byte in a line ends that field's value, not the file: what
 * dpkg-query itself shows (a "Version: 2<NUL>x" line is version 2, and the
 * stanzas after it are read). */
static void dpkg(struct pkgs *p, char *data, size_t len)
{
	char name[256] = "", version[256] = "", arch[64] = "";
	bool installed = false;
	for (char *line = data;; ) {
		char *nl = memchr(line, '\n', (size_t)(data + len - line));
		if (nl)
			*nl = '\0';
		if (strncmp(line, "Package: ", 9) == 0) {
			snprintf(name, sizeof(name), "%s", line + 9);
		} else if (strncmp(line, "Version: ", 9) == 0) {
			snprintf(version, sizeof(version), "%s", line + 9);
		} else if (strncmp(line, "Architecture: ", 14) == 0) {
			snprintf(arch, sizeof(arch), "%s", line + 14);
		} else if (strncmp(line, "Status: ", 8) == 0) {
			/* "want flag status": the status word is the third. */
			const char *s = strrchr(line, ' ');
			installed = s && strcmp(s + 1, "installed") == 0 && strstr(line, " ok ") != NULL;
		}
		if (!line[0] || !nl) {
			/* A stanza's end (a blank line, or the file's: its last
			 * line read first, newline or not). */
			if (installed && name[0])
				pkg_put(p, name, version, arch);
			name[0] = version[0] = arch[0] = '\0';
			installed = false;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
}

/* ---- rpm headers ----------------------------------------------------------------- */

static void header(struct pkgs *p, const void *blob, size_t len)
{
	if (len < 16 || len > INSPECT_HEADER_MAX) {
		p->damaged += len >= 16; /* (the BDB's small bookkeeping records) */
		return;
	}
	Header h = headerImport((void *)blob, (unsigned)len, HEADERIMPORT_COPY);
	if (!h) {
		p->damaged++;
		return;
	}
	const char *name = headerGetString(h, RPMTAG_NAME), *ver = headerGetString(h, RPMTAG_VERSION),
	           *rel = headerGetString(h, RPMTAG_RELEASE), *arch = headerGetString(h, RPMTAG_ARCH);
	char evr[512];
	if (!name || !ver) {
		p->damaged++;
		headerFree(h);
		return;
	}
	if (headerIsEntry(h, RPMTAG_EPOCH))
		snprintf(evr, sizeof(evr), "%llu:%s%s%s", (unsigned long long)headerGetNumber(h, RPMTAG_EPOCH), ver,
		         rel ? "-" : "", rel ? rel : "");
	else
		snprintf(evr, sizeof(evr), "%s%s%s", ver, rel ? "-" : "", rel ? rel : "");
	pkg_put(p, name, evr, arch ? arch : "");
	headerFree(h);
}

/* rpmdb.sqlite, from memory: 0, or -EIO with a note. */
static int rpm_sqlite(struct pkgs *p, char *data, size_t len)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = -EIO;
	/* rpm keeps it in WAL mode, which a database in memory cannot be: read
	 * as a rollback-journal one (the header's write and read versions 1),
	 * what its last checkpoint wrote (a WAL file beside it is not read). */
	if (len >= 100 && data[18] == 2 && data[19] == 2)
		data[18] = data[19] = 1;
	/* SQLITE_DESERIALIZE_READONLY: SQLite never writes or grows it; the
	 * buffer stays the caller's. */
	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA temp_store=MEMORY", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_deserialize(db, "main", (unsigned char *)data, (sqlite3_int64)len, (sqlite3_int64)len,
	                        SQLITE_DESERIALIZE_READONLY) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT blob FROM Packages", -1, &st, NULL) != SQLITE_OK) {
		ins_put(p->o, "note", "rpmdb.sqlite cannot be read: %s", db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW && !p->capped)
		header(p, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
	if (s != SQLITE_DONE && s != SQLITE_ROW) {
		ins_put(p->o, "note", "rpmdb.sqlite cannot be read past package %u: %s", p->count, sqlite3_errmsg(db));
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* ---- Berkeley DB hash (EL5 to EL8's Packages) ------------------------------------------ */

#define BDB_HASH_MAGIC 0x061561
#define BDB_PAGE_HDR 26
enum { P_HASH_UNSORTED = 2, P_OVERFLOW = 7, P_HASH = 13 };
enum { H_KEYDATA = 1, H_OFFPAGE = 3 };

struct bdb {
	const uint8_t *d;
	size_t len;
	uint32_t pagesize, last;
	bool swap; /* written on a big-endian host */
};

static uint32_t bdb32(const struct bdb *b, const uint8_t *p)
{
	return b->swap ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
	               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static uint16_t bdb16(const struct bdb *b, const uint8_t *p)
{
	return b->swap ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static const uint8_t *bdb_page(const struct bdb *b, uint32_t pgno)
{
	return pgno <= b->last ? b->d + (size_t)pgno * b->pagesize : NULL;
}

/* An off-page item: tlen bytes along the overflow chain from pgno. */
static void bdb_offpage(struct bdb *b, struct pkgs *p, uint32_t pgno, uint32_t tlen, uint8_t *buf)
{
	uint32_t done = 0, pages = 0, per = b->pagesize - BDB_PAGE_HDR;
	if (tlen > INSPECT_HEADER_MAX) {
		p->damaged++;
		return;
	}
	while (done < tlen) {
		const uint8_t *pg = bdb_page(b, pgno);
		if (!pg || pg[25] != P_OVERFLOW || ++pages > tlen / per + 1) {
			p->damaged++; /* a chain out of the file, of another page kind, or too long (a loop) */
			return;
		}
		uint16_t n = bdb16(b, pg + 22);
		if (n > per || n > tlen - done) {
			p->damaged++;
			return;
		}
		memcpy(buf + done, pg + BDB_PAGE_HDR, n);
		done += n;
		pgno = bdb32(b, pg + 16);
		if (n == 0)
			break;
	}
	if (done == tlen)
		header(p, buf, tlen);
	else
		p->damaged++;
}

static int rpm_bdb(struct pkgs *p, char *data, size_t len)
{
	struct bdb b = {(const uint8_t *)data, len, 0, 0, false};
	if (len < 512) {
		ins_put(p->o, "note", "Packages (Berkeley DB) is too short to hold its meta page");
		return -EIO;
	}
	if (bdb32(&b, b.d + 12) != BDB_HASH_MAGIC) {
		b.swap = true;
		if (bdb32(&b, b.d + 12) != BDB_HASH_MAGIC) {
			ins_put(p->o, "note", "Packages is not a Berkeley DB hash database");
			return -EIO;
		}
	}
	b.pagesize = bdb32(&b, b.d + 20);
	b.last = bdb32(&b, b.d + 32);
	if (b.pagesize < 512 || b.pagesize > 65536 || (b.pagesize & (b.pagesize - 1)) ||
	    ((uint64_t)b.last + 1) * b.pagesize > len) {
		ins_put(p->o, "note", "Packages (Berkeley DB): page size %u or last page %u out of bounds", b.pagesize,
		        b.last);
		return -EIO;
	}
	if (b.d[24] || (b.d[26] & 1)) {
		ins_put(p->o, "note", "Packages (Berkeley DB) is encrypted or has page checksums: not read");
		return -EIO;
	}
	uint8_t *buf = malloc(INSPECT_HEADER_MAX);
	if (!buf)
		return -ENOMEM;
	for (uint32_t pgno = 1; pgno <= b.last && !p->capped; pgno++) {
		const uint8_t *pg = bdb_page(&b, pgno);
		if (pg[25] != P_HASH && pg[25] != P_HASH_UNSORTED)
			continue;
		uint16_t n = bdb16(&b, pg + 20);
		if ((size_t)BDB_PAGE_HDR + (size_t)n * 2 > b.pagesize) {
			p->damaged++;
			continue;
		}
		/* Items are key, data pairs, stored from the page's end down:
		 * item i ends where item i - 1 starts (the page's end for 0). */
		for (uint16_t i = 1; i < n; i += 2) {
			uint16_t at = bdb16(&b, pg + BDB_PAGE_HDR + 2 * i), end = bdb16(&b, pg + BDB_PAGE_HDR + 2 * (i - 1));
			if (at < BDB_PAGE_HDR + 2 * n || end > b.pagesize || at >= end) {
				p->damaged++;
				continue;
			}
			if (pg[at] == H_KEYDATA)
				header(p, pg + at + 1, (size_t)(end - at - 1));
			else if (pg[at] == H_OFFPAGE && end - at >= 12)
				bdb_offpage(&b, p, bdb32(&b, pg + at + 4), bdb32(&b, pg + at + 8), buf);
		}
	}
	free(buf);
	return 0;
}

/* ---- which database ----------------------------------------------------------------- */

void ins_inspect_packages(const struct ins_fs_ops *ops, struct ins_out *o)
{
	static const struct {
		const char *path, *kind;
		size_t max;
	} dbs[] = {
		{"/var/lib/dpkg/status", "dpkg", INSPECT_DPKG_MAX},
		{"/usr/lib/sysimage/rpm/rpmdb.sqlite", "rpm-sqlite", INSPECT_RPMDB_MAX},
		{"/var/lib/rpm/rpmdb.sqlite", "rpm-sqlite", INSPECT_RPMDB_MAX},
		{"/var/lib/rpm/Packages", "rpm-bdb", INSPECT_RPMDB_MAX},
		{"/usr/lib/sysimage/rpm/Packages.db", "rpm-ndb", 0},
		{"/var/lib/rpm/Packages.db", "rpm-ndb", 0},
	};
	struct pkgs p = {o, 0, 0, 0};
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		char *data;
		size_t len;
		int rc = ins_slurp(ops, dbs[i].path, dbs[i].max, &data, &len);
		if (rc == -ENOENT || rc == -ENOTDIR)
			continue;
		if (dbs[i].max == 0) {
			ins_put(o, "note", "%s is an NDB rpm database, which this version does not read", dbs[i].path);
			free(data);
			return;
		}
		if (rc == -EFBIG) {
			ins_put(o, "note", "%s is larger than %zu MiB: its packages are not listed", dbs[i].path,
			        dbs[i].max >> 20);
			return;
		}
		if (rc < 0) {
			ins_put(o, "note", "%s cannot be read (%s)", dbs[i].path, strerror(-rc));
			return;
		}
		if (i == 0)
			dpkg(&p, data, len), rc = 0;
		else if (strcmp(dbs[i].kind, "rpm-sqlite") == 0)
			rc = rpm_sqlite(&p, data, len);
		else
			rc = rpm_bdb(&p, data, len);
		free(data);
		if (rc == 0)
			ins_put(o, "pkgdb", "%s %u", dbs[i].kind, p.count);
		ins_pkg_cut_note(o, p.capped);
		if (p.damaged)
			ins_put(o, "note", "%u package records are damaged: not listed", p.damaged);
		return;
	}
}
