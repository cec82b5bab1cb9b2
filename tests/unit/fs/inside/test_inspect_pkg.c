/*
 * SPEC §20: the package databases (fs/inside/inspect_pkg.c) and the
 * package list's bounds (inspect_io.c's ins_put_pkg).  dpkg's status
 * (which stanzas are installed, a field missing, a name with a blank); rpm
 * databases the real tools wrote at test time: packages rpmbuild makes,
 * installed by `rpm --root DIR --initdb` and `rpm -i --justdb` into an
 * rpmdb.sqlite, and the same headers in a Berkeley DB `Packages` db_load
 * writes; each list compared with `rpm -qa`'s.  The bounds, each at it and
 * one past: 65,536 packages (dpkg, and rpmdb.sqlite with its rows copied
 * by sqlite3), 15 MiB of the packages' lines (65,536 lines of 240 bytes),
 * and the note that names the bound that bit.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "memfs.h"

static char dir[] = "/tmp/imgfs-inspect-pkg-XXXXXX";

static void sh(const char *fmt, ...)
{
	char cmd[8192], full[8400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && export PATH=/usr/sbin:/sbin:$PATH LC_ALL=C && (%s) >/dev/null 2>&1", dir,
	         cmd);
	if (system(full) != 0)
		fail_msg("failed: %s", cmd);
}

/* The file dir/name into the guest at path. */
static void load(const char *name, const char *path)
{
	assert_int_equal(mfs_file_load(dir, name, path), 0);
}

static struct ins_out packages(void)
{
	struct ins_out o = mfs_out(INSPECT_ANSWER_MAX);
	ins_inspect_packages(&mfs_ops, &o);
	return o;
}

/* The "pkg" values of o, sorted, one a line, into dir/name. */
static void save_pkgs(const struct ins_out *o, const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s.unsorted", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	for (size_t at = 0; at < o->len;) {
		const char *line = o->buf + at, *nl = memchr(line, '\n', o->len - at);
		size_t len = (size_t)(nl - line);
		if (len > 4 && memcmp(line, "pkg\t", 4) == 0)
			fprintf(f, "%.*s\n", (int)(len - 4), line + 4);
		at += len + 1;
	}
	fclose(f);
	sh("sort %s.unsorted >%s", name, name);
}

static int setup(void **state)
{
	(void)state;
	mfs_reset();
	return 0;
}

static void test_dpkg(void **state)
{
	(void)state;
	char v[256];
	mfs_text("/var/lib/dpkg/status", "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n"
	                                 "Architecture: amd64\nDescription: x\n more\n\n"
	                                 "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n"
	                                 "Package: held\nStatus: hold ok installed\nVersion: 2\nArchitecture: all\n\n"
	                                 "Package: half\nStatus: install reinstreq half-installed\nVersion: 3\n\n"
	                                 "Package: noarch\nStatus: install ok installed\nVersion: 4\n\n"
	                                 "Package: bad name\nStatus: install ok installed\nVersion: 5\n\n"
	                                 "Package: last\nStatus: install ok installed\nVersion: 6\nArchitecture: all");
	struct ins_out o = packages();
	assert_int_equal(mfs_count(&o, "pkg", NULL, NULL, 0), 4);
	assert_int_equal(mfs_count(&o, "pkg", "bash 5.2.15-2+b2 amd64", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "pkg", "held 2 all", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "pkg", "noarch 4 (none)", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "pkg", "last 6 all", NULL, 0), 1); /* no blank line after the last stanza */
	assert_int_equal(mfs_count(&o, "pkgdb", NULL, v, sizeof(v)), 1);
	assert_string_equal(v, "dpkg 4");
	assert_int_equal(mfs_count(&o, "note", "1 package records are damaged: not listed", NULL, 0), 1);
	free(o.buf);
}

/* A NUL ends its field's value, not the file: as dpkg-query shows it. */
static void test_dpkg_nul(void **state)
{
	(void)state;
	static const char st[] = "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n"
	                         "Package: b\nStatus: install ok installed\nVersion: 2\0x\nArchitecture: all\n\n"
	                         "Package: c\nStatus: install ok installed\nVersion: 3\nArchitecture: all\n";
	mfs_file("/var/lib/dpkg/status", st, sizeof(st) - 1);
	struct ins_out o = packages();
	assert_int_equal(mfs_count(&o, "pkg", NULL, NULL, 0), 3);
	assert_int_equal(mfs_count(&o, "pkg", "b 2 all", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "pkg", "c 3 all", NULL, 0), 1);
	free(o.buf);
}

/* n stanzas, each listed as a line of line bytes ("name 1 all\n"), the
 * last's name longer by extra bytes. */
static void dpkg_status(unsigned n, size_t line, size_t extra)
{
	size_t cap = (size_t)n * (line + 80) + extra + 1, len = 0;
	char *s = malloc(cap), name[512];
	assert_non_null(s);
	for (unsigned i = 0; i < n; i++) {
		size_t nl = line - 7 + (i == n - 1 ? extra : 0); /* " 1 all\n" */
		int k = snprintf(name, sizeof(name), "p%u-", i);
		memset(name + k, 'x', nl - (size_t)k);
		name[nl] = '\0';
		len += (size_t)snprintf(s + len, cap - len,
		                        "Package: %s\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n", name);
	}
	mfs_file_take("/var/lib/dpkg/status", s, len);
}

static void test_count_bound(void **state)
{
	(void)state;
	char v[256];
	for (unsigned n = INSPECT_PACKAGES_MAX; n <= INSPECT_PACKAGES_MAX + 1; n++) {
		dpkg_status(n, 16, 0);
		struct ins_out o = packages();
		assert_int_equal(mfs_count(&o, "pkg", NULL, NULL, 0), INSPECT_PACKAGES_MAX);
		assert_int_equal(mfs_count(&o, "pkgdb", "dpkg 65536", NULL, 0), 1);
		assert_int_equal(mfs_count(&o, "note", NULL, v, sizeof(v)), n > INSPECT_PACKAGES_MAX);
		if (n > INSPECT_PACKAGES_MAX)
			assert_string_equal(v, "more than 65536 packages: 65536 are listed (in the database's order), the rest "
			                       "are not");
		free(o.buf);
	}
}

/* 65,536 lines of 240 bytes are 15 MiB: listed whole; one byte more and
 * the last is not, with the note naming the byte bound. */
static void test_byte_bound(void **state)
{
	(void)state;
	char v[256];
	assert_int_equal((size_t)INSPECT_PACKAGES_MAX * 240, INSPECT_PKG_BYTES_MAX);
	for (size_t extra = 0; extra <= 1; extra++) {
		dpkg_status(INSPECT_PACKAGES_MAX, 240, extra);
		struct ins_out o = packages();
		assert_int_equal(mfs_count(&o, "pkg", NULL, NULL, 0), INSPECT_PACKAGES_MAX - extra);
		assert_int_equal(o.pkg_bytes, INSPECT_PKG_BYTES_MAX - 240 * extra);
		assert_int_equal(mfs_count(&o, "note", NULL, v, sizeof(v)), extra);
		if (extra)
			assert_string_equal(v, "the package list is longer than 15 MiB: 65535 packages are listed (in the "
			                       "database's order), the rest are not");
		assert_false(o.full);
		free(o.buf);
	}
}

/* Three packages rpmbuild makes, installed by rpm --justdb. */
static void rpm_root(void)
{
	sh("rm -rf root top");
	sh("printf '%%s\\n' 'Name: %%{pname}' 'Version: %%{pver}' 'Release: %%{prel}' 'Epoch: %%{pepoch}' "
	   "'Summary: t' 'License: MIT' 'BuildArch: %%{parch}' '%%description' 't' '%%files' >p.spec");
	static const char *const pkgs[] = {"bash 5.1.8 6.el9 0 x86_64", "tzdata 2024a 1.el9 0 noarch",
	                                   "openssl 3.0.7 27.el9 1 x86_64"};
	for (size_t i = 0; i < sizeof(pkgs) / sizeof(pkgs[0]); i++) {
		char n[32], ver[32], rel[32], ep[8], arch[16];
		assert_int_equal(sscanf(pkgs[i], "%31s %31s %31s %7s %15s", n, ver, rel, ep, arch), 5);
		sh("rpmbuild -bb --quiet --define '_topdir %s/top' --define 'pname %s' --define 'pver %s' --define 'prel %s' "
		   "--define 'pepoch %s' --define 'parch %s' p.spec",
		   dir, n, ver, rel, ep, arch);
	}
	sh("rpm --root %s/root --dbpath /var/lib/rpm --initdb", dir);
	sh("rpm --root %s/root --dbpath /var/lib/rpm -i --justdb --nodeps --noscripts --ignorearch top/RPMS/*/*.rpm", dir);
	sh("sqlite3 root/var/lib/rpm/rpmdb.sqlite 'PRAGMA wal_checkpoint(TRUNCATE)'");
	sh("rpm --root %s/root --dbpath /var/lib/rpm -qa --qf '%%{NAME} %%|EPOCH?{%%{EPOCH}:}:{}|%%{VERSION}-%%{RELEASE} "
	   "%%{ARCH}\\n' | sort >want",
	   dir);
}

static void test_rpm_sqlite(void **state)
{
	(void)state;
	char v[256];
	rpm_root();
	load("root/var/lib/rpm/rpmdb.sqlite", "/var/lib/rpm/rpmdb.sqlite");
	struct ins_out o = packages();
	assert_int_equal(mfs_count(&o, "pkgdb", NULL, v, sizeof(v)), 1);
	assert_string_equal(v, "rpm-sqlite 3");
	assert_int_equal(mfs_count(&o, "pkg", "openssl 1:3.0.7-27.el9 x86_64", NULL, 0), 1);
	save_pkgs(&o, "got");
	sh("cmp want got");
	free(o.buf);
	/* EL9's other place. */
	mfs_reset();
	load("root/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite");
	o = packages();
	assert_int_equal(mfs_count(&o, "pkgdb", "rpm-sqlite 3", NULL, 0), 1);
	free(o.buf);
	/* A file that is not a database: a note, no list. */
	mfs_text("/usr/lib/sysimage/rpm/rpmdb.sqlite", "not a database");
	o = packages();
	assert_int_equal(mfs_count(&o, "pkgdb", NULL, NULL, 0), 0);
	assert_int_equal(mfs_count(&o, "note", NULL, v, sizeof(v)), 1);
	assert_string_equal(v, "rpmdb.sqlite cannot be read: file is not a database");
	free(o.buf);
}

/* rpmdb.sqlite with 65,536 headers, then 65,537 (sqlite3 copies rows). */
static void test_rpm_sqlite_bound(void **state)
{
	(void)state;
	char v[256];
	rpm_root();
	sh("sqlite3 root/var/lib/rpm/rpmdb.sqlite 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
	   "WHERE i < %u) INSERT INTO Packages(blob) SELECT (SELECT blob FROM Packages LIMIT 1) FROM n; "
	   "PRAGMA wal_checkpoint(TRUNCATE)'",
	   INSPECT_PACKAGES_MAX - 3);
	for (unsigned n = INSPECT_PACKAGES_MAX; n <= INSPECT_PACKAGES_MAX + 1; n++) {
		if (n > INSPECT_PACKAGES_MAX)
			sh("sqlite3 root/var/lib/rpm/rpmdb.sqlite 'INSERT INTO Packages(blob) SELECT blob FROM Packages "
			   "LIMIT 1; PRAGMA wal_checkpoint(TRUNCATE)'");
		load("root/var/lib/rpm/rpmdb.sqlite", "/var/lib/rpm/rpmdb.sqlite");
		struct ins_out o = packages();
		assert_int_equal(mfs_count(&o, "pkg", NULL, NULL, 0), INSPECT_PACKAGES_MAX);
		assert_int_equal(mfs_count(&o, "pkgdb", "rpm-sqlite 65536", NULL, 0), 1);
		assert_int_equal(mfs_count(&o, "note", NULL, v, sizeof(v)), n > INSPECT_PACKAGES_MAX);
		if (n > INSPECT_PACKAGES_MAX)
			assert_string_equal(v, "more than 65536 packages: 65536 are listed (in the database's order), the rest "
			                       "are not");
		free(o.buf);
	}
}

/* The same headers in a Berkeley DB hash database db_load wrote (EL5 to
 * EL8's Packages), as rpm's own bdb_ro backend reads them. */
static void test_rpm_bdb(void **state)
{
	(void)state;
	char v[256];
	rpm_root();
	sh("python3 -c 'import sqlite3, struct, sys\n"
	   "esc = lambda b: \"\".join(\"\\\\%%02x\" %% x for x in b)\n"
	   "for h, b in sqlite3.connect(sys.argv[1]).execute(\"SELECT hnum, blob FROM Packages ORDER BY hnum\"):\n"
	   "    print(esc(struct.pack(\"<I\", h))); print(esc(b))' root/var/lib/rpm/rpmdb.sqlite >bdb.txt");
	sh("mkdir -p bdb && rm -f bdb/Packages && db_load -T -t hash bdb/Packages <bdb.txt");
	sh("rpm --dbpath %s/bdb --define '_db_backend bdb_ro' -qa --qf '%%{NAME} %%|EPOCH?{%%{EPOCH}:}:{}|"
	   "%%{VERSION}-%%{RELEASE} %%{ARCH}\\n' | sort >want-bdb && cmp want want-bdb",
	   dir);
	load("bdb/Packages", "/var/lib/rpm/Packages");
	struct ins_out o = packages();
	assert_int_equal(mfs_count(&o, "pkgdb", NULL, v, sizeof(v)), 1);
	assert_string_equal(v, "rpm-bdb 3");
	save_pkgs(&o, "got-bdb");
	sh("cmp want got-bdb");
	free(o.buf);
	/* Pages of 512 bytes: every header is off-page, along overflow pages
	 * that hold a page's 486 bytes each (the bound, met).  A chain whose
	 * first page says 487 (one past: bdb_stretch.py, the byte after the
	 * page set to the header's next, so that a reader trusting the count
	 * would take the whole header) is damaged, its package not listed. */
	sh("rm -f bdb/P512 && db_load -T -t hash -c db_pagesize=512 bdb/P512 <bdb.txt");
	load("bdb/P512", "/var/lib/rpm/Packages");
	o = packages();
	assert_int_equal(mfs_count(&o, "pkgdb", "rpm-bdb 3", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "note", NULL, NULL, 0), 0);
	save_pkgs(&o, "got-512");
	sh("cmp want got-512");
	free(o.buf);
	sh("python3 '%s/tests/unit/fs/inside/bdb_stretch.py' bdb/P512 bdb/P512s", IMGFS_SOURCE_DIR);
	load("bdb/P512s", "/var/lib/rpm/Packages");
	o = packages();
	assert_int_equal(mfs_count(&o, "pkgdb", "rpm-bdb 2", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "note", "1 package records are damaged: not listed", NULL, 0), 1);
	free(o.buf);
	/* db_load's meta page alone: 512 bytes are read (its pages are
	 * not there: a note), 511 are too short to be one. */
	for (size_t len = 512; len >= 511; len--) {
		char page[512], path[600];
		snprintf(path, sizeof(path), "%s/bdb/Packages", dir);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		assert_int_equal(fread(page, 1, sizeof(page), f), sizeof(page));
		fclose(f);
		mfs_file("/var/lib/rpm/Packages", page, len);
		o = packages();
		if (len == 512) {
			assert_int_equal(mfs_count(&o, "note", NULL, v, sizeof(v)), 1);
			assert_non_null(strstr(v, "Packages (Berkeley DB): page size "));
		} else {
			assert_int_equal(mfs_count(&o, "note", "Packages (Berkeley DB) is too short to hold its meta page",
			                           NULL, 0), 1);
		}
		assert_int_equal(mfs_count(&o, "pkgdb", NULL, NULL, 0), 0);
		free(o.buf);
	}
	/* Not a hash database: a note. */
	char zeros[4096] = {0};
	mfs_file("/var/lib/rpm/Packages", zeros, sizeof(zeros));
	o = packages();
	assert_int_equal(mfs_count(&o, "note", "Packages is not a Berkeley DB hash database", NULL, 0), 1);
	free(o.buf);
}

/* SUSE's NDB: said, not read. */
static void test_ndb(void **state)
{
	(void)state;
	mfs_text("/usr/lib/sysimage/rpm/Packages.db", "x");
	struct ins_out o = packages();
	assert_int_equal(mfs_count(&o, "note", "/usr/lib/sysimage/rpm/Packages.db is an NDB rpm database, which this "
	                                       "version does not read",
	                           NULL, 0),
	                 1);
	free(o.buf);
}

static int group_setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	mfs_reset();
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_dpkg, setup),
		cmocka_unit_test_setup(test_dpkg_nul, setup),
		cmocka_unit_test_setup(test_count_bound, setup),
		cmocka_unit_test_setup(test_byte_bound, setup),
		cmocka_unit_test_setup(test_rpm_sqlite, setup),
		cmocka_unit_test_setup(test_rpm_sqlite_bound, setup),
		cmocka_unit_test_setup(test_rpm_bdb, setup),
		cmocka_unit_test_setup(test_ndb, setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
