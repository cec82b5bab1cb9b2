/*
 * SPEC §20: a Windows root read through its registry (fs/inside/
 * inspect_win.c), on hives `hivexregedit --merge` wrote at test time
 * (tests/integration/make-hive starts each from an empty root key): the
 * SOFTWARE hive's product and version facts, its applications (the
 * Uninstall keys' subkeys with a DisplayName, native and WOW6432Node, the
 * version's blanks as '_', none as "(none)"), the SYSTEM hive's host name
 * from the control set Select\Current names (not another's: Tcpip's
 * Hostname, else the NetBIOS ComputerName), what is
 * said when a key is missing or a hive is damaged, and the applications
 * cut at the package list's bound (65,536: shared with the package
 * databases, ins_put_pkg) with the note.
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

static char dir[] = "/tmp/imgfs-inspect-win-XXXXXX";

static void sh(const char *fmt, ...)
{
	char cmd[8192], full[8400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && export LC_ALL=C.UTF-8 && (%s) >/dev/null 2>&1", dir, cmd);
	if (system(full) != 0)
		fail_msg("failed: %s", cmd);
}

/* The file dir/name into the guest at path. */
static void load(const char *name, const char *path)
{
	assert_int_equal(mfs_file_load(dir, name, path), 0);
}

/* A hive named name: make-hive's empty one, then reg merged under prefix. */
static void hive(const char *name, const char *prefix, const char *reg)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s.reg", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fprintf(f, "Windows Registry Editor Version 5.00\n\n%s", reg);
	fclose(f);
	sh("python3 '%s/tests/integration/make-hive' %s && hivexregedit --merge --prefix '%s' %s %s.reg", IMGFS_SOURCE_DIR,
	   name, prefix, name, name);
}

static const char software[] =
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft]\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT]\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion]\n"
	"\"ProductName\"=\"Windows Server 2019 Datacenter\"\n"
	"\"CurrentVersion\"=\"6.3\"\n"
	"\"CurrentBuild\"=\"17763\"\n"
	"\"EditionID\"=\"ServerDatacenter\"\n"
	"\"InstallationType\"=\"Server\"\n"
	"\"CurrentMajorVersionNumber\"=dword:0000000a\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows]\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion]\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall]\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\7-Zip]\n"
	"\"DisplayName\"=\"7-Zip 23.01 (x64)\"\n"
	"\"DisplayVersion\"=\"23.01\"\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\{GUID-1}]\n"
	"\"DisplayName\"=\"Cloudbase-Init 1.1.4\"\n"
	"\"DisplayVersion\"=\"1.1.4 beta\"\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Hidden]\n"
	"\"SystemComponent\"=dword:00000001\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\NoVersion]\n"
	"\"DisplayName\"=\"Tool\"\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node]\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft]\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows]\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion]\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall]\n\n"
	"[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\Notepad++]\n"
	"\"DisplayName\"=\"Notepad++ (32-bit x86)\"\n"
	"\"DisplayVersion\"=\"8.6\"\n";

static const char system_hive[] =
	"[HKEY_LOCAL_MACHINE\\SYSTEM\\Select]\n"
	"\"Current\"=dword:00000002\n\n"
	"[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001]\n\n"
	"[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Control]\n\n"
	"[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Control\\ComputerName]\n\n"
	"[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Control\\ComputerName\\ComputerName]\n"
	"\"ComputerName\"=\"OLD-NAME\"\n\n"
	"[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet002]\n\n"
	"[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet002\\Control]\n\n"
	"[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet002\\Control\\ComputerName]\n\n"
	"[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet002\\Control\\ComputerName\\ComputerName]\n"
	"\"ComputerName\"=\"WIN-2019\"\n\n"
	"[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet002\\Services]\n\n"
	"[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet002\\Services\\Tcpip]\n\n"
	"[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet002\\Services\\Tcpip\\Parameters]\n"
	"\"Hostname\"=\"win-2019-web01\"\n";

static struct ins_out windows(const char *arch)
{
	struct ins_out o = mfs_out(INSPECT_ANSWER_MAX);
	ins_inspect_windows(&mfs_ops, &o, arch);
	return o;
}

static int group_setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	hive("SOFTWARE", "HKEY_LOCAL_MACHINE\\SOFTWARE", software);
	hive("SYSTEM", "HKEY_LOCAL_MACHINE\\SYSTEM", system_hive);
	/* Only the NetBIOS name (no Tcpip key), in ControlSet001. */
	hive("SYSTEM-netbios", "HKEY_LOCAL_MACHINE\\SYSTEM",
	     "[HKEY_LOCAL_MACHINE\\SYSTEM\\Select]\n\"Current\"=dword:00000001\n\n"
	     "[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001]\n\n"
	     "[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Control]\n\n"
	     "[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Control\\ComputerName]\n\n"
	     "[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001\\Control\\ComputerName\\ComputerName]\n"
	     "\"ComputerName\"=\"NETBIOS-ONLY\"\n");
	hive("SYSTEM-noselect", "HKEY_LOCAL_MACHINE\\SYSTEM",
	     "[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet001]\n\n");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	mfs_reset();
	return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	(void)state;
	mfs_reset();
	load("SOFTWARE", "/Windows/System32/config/SOFTWARE");
	return 0;
}

static void test_software(void **state)
{
	(void)state;
	char v[256];
	struct ins_out o = windows("x86_64");
	assert_int_equal(mfs_count(&o, "win.product", "Windows Server 2019 Datacenter", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "win.build", "17763", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "win.major", "10", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "win.type", "Server", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "win.hive", NULL, NULL, 0), 1);
	/* The applications: those with a DisplayName, 32-bit ones as i686. */
	assert_int_equal(mfs_count(&o, "pkg", NULL, NULL, 0), 4);
	assert_int_equal(mfs_count(&o, "pkg", "7-Zip 23.01 (x64) 23.01 x86_64", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "pkg", "Cloudbase-Init 1.1.4 1.1.4_beta x86_64", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "pkg", "Tool (none) x86_64", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "pkg", "Notepad++ (32-bit x86) 8.6 i686", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "pkgdb", NULL, v, sizeof(v)), 1);
	assert_string_equal(v, "registry 4");
	/* No SYSTEM hive: no name, and nothing to say about it. */
	assert_int_equal(mfs_count(&o, "hostname", NULL, NULL, 0), 0);
	assert_int_equal(mfs_count(&o, "note", NULL, NULL, 0), 0);
	free(o.buf);
	/* An unknown arch: "(none)" for the native key's. */
	o = windows("");
	assert_int_equal(mfs_count(&o, "pkg", "7-Zip 23.01 (x64) 23.01 (none)", NULL, 0), 1);
	free(o.buf);
}

/* The host name of the control set Select\Current names. */
static void test_system(void **state)
{
	(void)state;
	load("SYSTEM", "/Windows/System32/config/SYSTEM");
	struct ins_out o = windows("x86_64");
	assert_int_equal(mfs_count(&o, "hostname", NULL, NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "hostname", "win-2019-web01", NULL, 0), 1); /* Tcpip's, before ComputerName */
	assert_int_equal(mfs_count(&o, "note", NULL, NULL, 0), 0);
	free(o.buf);
	load("SYSTEM-netbios", "/Windows/System32/config/SYSTEM");
	o = windows("x86_64");
	assert_int_equal(mfs_count(&o, "hostname", NULL, NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "hostname", "NETBIOS-ONLY", NULL, 0), 1);
	free(o.buf);
	load("SYSTEM-noselect", "/Windows/System32/config/SYSTEM");
	o = windows("x86_64");
	assert_int_equal(mfs_count(&o, "hostname", NULL, NULL, 0), 0);
	assert_int_equal(mfs_count(&o, "note", "the SYSTEM hive has no Select\\Current: no host name", NULL, 0), 1);
	free(o.buf);
	/* A damaged SYSTEM hive: a note; SOFTWARE's facts stay. */
	mfs_text("/Windows/System32/config/SYSTEM", "not a hive");
	o = windows("x86_64");
	char v[256];
	assert_int_equal(mfs_count(&o, "note", NULL, v, sizeof(v)), 1);
	assert_memory_equal(v, "the SYSTEM hive cannot be opened: ", 34);
	assert_int_equal(mfs_count(&o, "win.product", NULL, NULL, 0), 1);
	free(o.buf);
}

/* A SOFTWARE hive without CurrentVersion, or damaged. */
static void test_software_damaged(void **state)
{
	(void)state;
	char v[256];
	load("SYSTEM-noselect", "/Windows/System32/config/SOFTWARE"); /* a hive, without the key */
	struct ins_out o = windows("x86_64");
	assert_int_equal(mfs_count(&o, "note", "the SOFTWARE hive has no Microsoft\\Windows NT\\CurrentVersion key", NULL, 0),
	                 1);
	assert_int_equal(mfs_count(&o, "pkgdb", "registry 0", NULL, 0), 1);
	free(o.buf);
	mfs_text("/Windows/System32/config/SOFTWARE", "regf");
	o = windows("x86_64");
	assert_int_equal(mfs_count(&o, "note", NULL, v, sizeof(v)), 1);
	assert_memory_equal(v, "the SOFTWARE hive cannot be opened: ", 36);
	assert_int_equal(mfs_count(&o, "win.hive", "4", NULL, 0), 1); /* still Windows's layout */
	assert_int_equal(mfs_count(&o, "pkgdb", NULL, NULL, 0), 0);
	free(o.buf);
}

/* The applications count against the package list's bound: with 65,532
 * packages already put, the 4 fit (65,536: no note); with 65,533,
 * the fourth is one past it (the note). */
static void test_apps_bound(void **state)
{
	(void)state;
	char v[256];
	for (unsigned before = INSPECT_PACKAGES_MAX - 4; before <= INSPECT_PACKAGES_MAX - 3; before++) {
		struct ins_out o = mfs_out(INSPECT_ANSWER_MAX);
		o.pkgs = before;
		ins_inspect_windows(&mfs_ops, &o, "x86_64");
		unsigned listed = INSPECT_PACKAGES_MAX - before < 4 ? INSPECT_PACKAGES_MAX - before : 4;
		assert_int_equal(mfs_count(&o, "pkg", NULL, NULL, 0), listed);
		assert_int_equal(o.pkgs, before + listed);
		assert_int_equal(mfs_count(&o, "note", NULL, v, sizeof(v)), before + 4 > INSPECT_PACKAGES_MAX);
		if (before + 4 > INSPECT_PACKAGES_MAX)
			assert_string_equal(v, "more than 65536 packages: 65536 are listed (in the database's order), the rest "
			                       "are not");
		free(o.buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_software, setup),
		cmocka_unit_test_setup(test_system, setup),
		cmocka_unit_test_setup(test_software_damaged, setup),
		cmocka_unit_test_setup(test_apps_bound, setup),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
