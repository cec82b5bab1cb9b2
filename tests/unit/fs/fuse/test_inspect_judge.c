/*
 * SPEC §20: the judge (fs/fuse/inspect_judge.c) from the facts helpers
 * told to the three files: the OS and its version (os-release, a release
 * file, Windows), the host name, §5.4's attributes filled where the
 * uploader wrote none (and kept where it did), contradictions, the seeds'
 * warnings (an fstab line on no disk of the image, supported versions, no
 * cloud-init), and the bounds, each at it and one past: a list of 65,536
 * lines (fstab's; a note for the line past it), an fstab of 200 lines
 * that keeps its warnings, fstab lines holding a NUL (one note), an
 * answer without its "end" line (a note: cut), packages a helper told past
 * 65,536 (not shown, a note), and the root's alone of the packages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inspect_int.h"

static struct model_image img;
static struct inspect_in *in;

/* A volume of the image: name, its type and UUID, facts (an "end" line
 * added unless cut). */
static struct inspect_vol *vol(const char *name, const char *type, const char *uuid, const char *facts, bool cut)
{
	struct inspect_vol *v = &in->vols[in->nvols++];
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->ident.type, sizeof(v->ident.type), "%s", type);
	snprintf(v->ident.uuid, sizeof(v->ident.uuid), "%s", uuid);
	v->number = (unsigned)(name[strlen(name) - 1] - '0');
	size_t len = strlen(facts);
	v->facts = malloc(len + 8);
	assert_non_null(v->facts);
	memcpy(v->facts, facts, len);
	if (!cut)
		memcpy(v->facts + len, "end\t1\n", 7), len += 6;
	v->facts[len] = '\0';
	v->facts_len = len;
	v->read = true;
	return v;
}

/* A volume's facts of n lines (fmt with the line's number), malloc'd. */
static char *many(const char *head, const char *fmt, unsigned n)
{
	size_t cap = strlen(head) + (size_t)n * (strlen(fmt) + 16) + 1, len = 0;
	char *s = malloc(cap);
	assert_non_null(s);
	len += (size_t)snprintf(s, cap, "%s", head);
	for (unsigned i = 1; i <= n; i++)
		len += (size_t)snprintf(s + len, cap - len, fmt, i, i);
	return s;
}

static struct model_inspection out;

static void judge(void)
{
	memset(&out, 0, sizeof(out));
	assert_int_equal(inspect_judge(in, &out), 0);
	assert_non_null(out.text);
}

/* How many lines of the text are "key: value" (value NULL: any); the
 * first's value into first. */
static unsigned count(const char *key, const char *value, char *first, size_t cap)
{
	unsigned n = 0;
	size_t kl = strlen(key);
	if (first)
		first[0] = '\0';
	for (const char *p = out.text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = (size_t)(nl - p);
		if (len >= kl + 2 && memcmp(p, key, kl) == 0 && p[kl] == ':' && p[kl + 1] == ' ' &&
		    (!value || (len - kl - 2 == strlen(value) && memcmp(p + kl + 2, value, len - kl - 2) == 0))) {
			if (!n && first)
				snprintf(first, cap, "%.*s", (int)(len - kl - 2), p + kl + 2);
			n++;
		}
		p = nl + 1;
	}
	return n;
}

static int setup(void **state)
{
	(void)state;
	memset(&img, 0, sizeof(img));
	in = calloc(1, sizeof(*in));
	assert_non_null(in);
	in->img = &img;
	in->now = 1700000000;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (unsigned i = 0; i < in->nvols; i++)
		free(in->vols[i].facts);
	free(in);
	free(out.text);
	free(out.json);
	free(out.packages);
	memset(&out, 0, sizeof(out));
	return 0;
}

static const char debian[] = "fs\t1\nos.id\tdebian\nos.version_id\t12\nos.name\tDebian GNU/Linux\n"
                             "os.pretty\tDebian GNU/Linux 12 (bookworm)\ndebian-version\t12.5\narch\tx86_64 /usr/bin/bash\n"
                             "hostname\tdeb12\nfstab-present\t1\n";

static void test_linux(void **state)
{
	(void)state;
	char v[1024];
	vol("vda1", "vfat", "1234-ABCD", "fs\t3\nefi\tEFI/debian/grubx64.efi\n", false);
	vol("vda2", "ext4", "aaaa", debian, false);
	snprintf(img.features, sizeof(img.features), "qemu-ga");
	judge();
	assert_int_equal(count("status", "done", NULL, 0), 1);
	assert_int_equal(count("os-type", "linux", NULL, 0), 1);
	assert_int_equal(count("platform", "debian", NULL, 0), 1);
	assert_int_equal(count("version", "12.5", NULL, 0), 1);
	assert_int_equal(count("product", "Debian GNU/Linux 12 (bookworm)", NULL, 0), 1);
	assert_int_equal(count("hostname", "deb12", NULL, 0), 1);
	assert_int_equal(count("arch", "x86_64", NULL, 0), 1);
	assert_int_equal(count("boot-mode", "uefi", NULL, 0), 1);
	assert_int_equal(count("root", "vda2", NULL, 0), 1);
	/* Filled: what the uploader left empty, its features kept. */
	assert_string_equal(out.platform, "debian");
	assert_string_equal(out.version, "12.5");
	assert_string_equal(out.boot_mode, "uefi");
	assert_string_equal(out.features, "");
	assert_int_equal(count("filled", "os-type platform version arch boot-mode", NULL, 0), 1);
	/* features says qemu-ga: contradicted; no cloud-init: warned. */
	assert_int_equal(count("contradiction", "features says qemu-ga; the image holds no qemu-guest-agent", NULL, 0), 1);
	assert_int_equal(count("warning", NULL, v, sizeof(v)), 1);
	assert_memory_equal(v, "no cloud-init installed: ", 25);
	assert_non_null(strstr(out.json, "\"hostname\": \"deb12\""));
}

/* A release file: CentOS 7's minor version; a contradiction per attribute. */
static void test_contradictions(void **state)
{
	(void)state;
	vol("vda1", "xfs", "bbbb",
	    "os.id\tcentos\nos.version_id\t7\nos.name\tCentOS Linux\ncentos-release\tCentOS Linux release 7.9.2009 (Core)\n"
	    "arch\tx86_64 /usr/bin/bash\nagent\tcloud-init installed disabled\n",
	    false);
	snprintf(img.platform, sizeof(img.platform), "ubuntu");
	snprintf(img.version, sizeof(img.version), "16.04");
	snprintf(img.arch, sizeof(img.arch), "aarch64");
	snprintf(img.boot_mode, sizeof(img.boot_mode), "uefi");
	snprintf(img.features, sizeof(img.features), "cloud-init");
	judge();
	assert_int_equal(count("version", "7.9", NULL, 0), 1);
	assert_int_equal(count("product", "CentOS Linux 7.9.2009", NULL, 0), 1);
	assert_int_equal(count("contradiction", NULL, NULL, 0), 5);
	assert_int_equal(count("contradiction", "platform says ubuntu; the image holds CentOS Linux 7.9.2009", NULL, 0), 1);
	assert_int_equal(count("contradiction", "version says 16.04; the image holds CentOS Linux 7.9.2009", NULL, 0), 1);
	assert_int_equal(count("contradiction", "arch says aarch64; the image holds x86_64 programs", NULL, 0), 1);
	assert_int_equal(count("contradiction", "boot-mode says uefi; the image boots bios", NULL, 0), 1);
	assert_int_equal(count("contradiction", "features says cloud-init; the image holds cloud-init, not enabled", NULL, 0),
	                 1);
	assert_int_equal(count("warning", "no cloud-init enabled: a password written to an instance made from this image "
	                                  "is not applied (nothing in the guest reads disks/cidata)",
	                       NULL, 0),
	                 1);
	/* A written version agrees with a longer found one. */
	teardown(state);
	setup(state);
	vol("vda1", "xfs", "bbbb", "os.id\tcentos\ncentos-release\tCentOS Linux release 7.9.2009 (Core)\n", false);
	snprintf(img.version, sizeof(img.version), "7");
	judge();
	assert_int_equal(count("contradiction", NULL, NULL, 0), 0);
}

/* Seed 004's supported versions: warned, not filled. */
static void test_supported(void **state)
{
	(void)state;
	char v[1024];
	vol("vda1", "ext4", "cccc", "redhat-release\tCentOS release 5.11 (Final)\narch\tx86_64 /bin/bash\n", false);
	judge();
	assert_int_equal(count("platform", "centos", NULL, 0), 1);
	assert_int_equal(count("version", "5.11", NULL, 0), 1);
	assert_string_equal(out.version, "");
	assert_string_equal(out.platform, "centos");
	assert_int_equal(count("warning", NULL, v, sizeof(v)), 2);
	assert_non_null(strstr(out.text, "warning: the image holds CentOS release 5.11 (Final), outside the supported "
	                                 "versions: centos 5.11 x86_64 is not importable"));
}

/* An fstab of 200 lines on no disk of the image: each its warning, and
 * the no-cloud-init warning after them all (a fixed 64 cut them before). */
static void test_fstab_200(void **state)
{
	(void)state;
	char v[1024];
	char *f = many(debian, "fstab\t%u UUID=0000-%u /mnt ext4 defaults 0 2\n", 200);
	vol("vda1", "ext4", "aaaa", f, false);
	free(f);
	judge();
	assert_int_equal(count("fstab", NULL, NULL, 0), 200);
	assert_int_equal(count("warning", NULL, NULL, 0), 201);
	snprintf(v, sizeof(v), "fstab line 200 mounts UUID=0000-200 on /mnt without nofail, and no disk of this image "
	                       "holds it: an instance made from it may not start (seed 001: remove the line or add nofail "
	                       "before capturing)");
	assert_int_equal(count("warning", v, NULL, 0), 1);
	assert_int_equal(count("warning", "no cloud-init installed: a password written to an instance made from this "
	                                  "image is not applied (nothing in the guest reads disks/cidata)",
	                       NULL, 0),
	                 1);
	assert_int_equal(count("note", NULL, NULL, 0), 0);
}

/* A list holds 65,536 lines; the line past it is counted in a note. */
static void test_list_bound(void **state)
{
	(void)state;
	char v[1024];
	for (unsigned n = 65536; n <= 65537; n++) {
		char *f = many(debian, "fstab\t%u /dev/vda%u /x ext4 noauto 0 0\n", n);
		vol("vda1", "ext4", "aaaa", f, false);
		free(f);
		judge();
		assert_int_equal(count("fstab", NULL, NULL, 0), 65536);
		assert_int_equal(count("note", NULL, v, sizeof(v)), n > 65536);
		if (n > 65536)
			assert_string_equal(v, "1 more fstab lines than the 65536 a list shows: not shown");
		teardown(state);
		setup(state);
	}
}

/* fstab lines holding a NUL: one note, numbered as the file's. */
static void test_fstab_nul(void **state)
{
	(void)state;
	char *f = many(debian, "fstab\t%u UUID=aaaa / ext4 defaults 0 1\n", 1);
	size_t len = strlen(f);
	f = realloc(f, len + 64);
	strcpy(f + len, "fstab-nul\t4\nfstab-nul\t9\n");
	vol("vda1", "ext4", "aaaa", f, false);
	free(f);
	judge();
	assert_int_equal(count("note", "vda1: /etc/fstab has 2 lines holding a NUL byte (the first: line 4): mount "
	                               "ignores such a line (a parse error), and so does this inspection",
	                       NULL, 0),
	                 1);
	assert_int_equal(count("warning", NULL, NULL, 0), 1); /* (no cloud-init) */
}

/* An answer without its "end" line was cut: said. */
static void test_cut_answer(void **state)
{
	(void)state;
	vol("vda1", "ext4", "aaaa", debian, true);
	judge();
	assert_int_equal(count("note", "vda1: what its helper found is more than an inspection holds (16 MiB a volume, "
	                               "32 MiB in all): the rest is not shown",
	                       NULL, 0),
	                 1);
	assert_int_equal(count("platform", "debian", NULL, 0), 1);
}

/* Packages: sorted, counted with their database; at most 65,536 of what
 * a helper told (one past: not shown, a note). */
static void test_packages(void **state)
{
	(void)state;
	char v[256];
	for (unsigned n = 65536; n <= 65537; n++) {
		char *f = many(debian, "pkg\tp%05u-%u 1 all\n", n);
		size_t len = strlen(f);
		f = realloc(f, len + 32);
		strcpy(f + len, "pkgdb\tdpkg 65536\n");
		vol("vda1", "ext4", "aaaa", f, false);
		free(f);
		judge();
		snprintf(v, sizeof(v), "%u dpkg", 65536);
		assert_int_equal(count("packages", v, NULL, 0), 1);
		assert_int_equal(strncmp(out.packages, "p00001-1 1 all\np00002-2 1 all\n", 30), 0);
		assert_int_equal(count("note", NULL, v, sizeof(v)), n > 65536);
		if (n > 65536)
			assert_string_equal(v, "vda1: its helper told more than 65536 packages or 15 MiB of them: the rest are "
			                       "not shown");
		teardown(state);
		setup(state);
	}
}

/* 15 MiB of package lines (65,536 of 240 bytes) are shown whole; one
 * byte more, and the last is not (a note). */
static void test_package_bytes(void **state)
{
	(void)state;
	char v[256];
	for (unsigned extra = 0; extra <= 1; extra++) {
		size_t cap = strlen(debian) + (size_t)65536 * 250 + 64, len = 0;
		char *f = malloc(cap);
		assert_non_null(f);
		len += (size_t)snprintf(f, cap, "%s", debian);
		for (unsigned i = 0; i < 65536; i++) {
			/* "pkg\t" + a value of 239 bytes ("p%05u-xxx... 1 all"), its newline the 240th */
			int k = snprintf(f + len, cap - len, "pkg\tp%05u-", i);
			size_t name = 239 - 6 - 7 + (i == 65535 ? extra : 0);
			memset(f + len + (size_t)k, 'x', name);
			len += (size_t)k + name;
			len += (size_t)snprintf(f + len, cap - len, " 1 all\n");
		}
		snprintf(f + len, cap - len, "pkgdb\tdpkg 65536\n");
		vol("vda1", "ext4", "aaaa", f, false);
		free(f);
		judge();
		assert_int_equal(strlen(out.packages), (size_t)INSPECT_PKG_BYTES_MAX - (extra ? 240 : 0));
		assert_int_equal(count("note", NULL, v, sizeof(v)), extra);
		teardown(state);
		setup(state);
	}
}

/* A volume that told nothing but its "end" line was not cut. */
static void test_end_only(void **state)
{
	(void)state;
	vol("vda1", "ext4", "aaaa", debian, false);
	vol("vdb1", "ext4", "bbbb", "", false);
	assert_int_equal(in->vols[1].facts_len, 6);
	judge();
	assert_int_equal(count("note", NULL, NULL, 0), 0);
}

/* Only the root's packages count; another volume's are dropped. */
static void test_root_packages(void **state)
{
	(void)state;
	struct inspect_vol *v = vol("vda1", "ext4", "aaaa", "fs\t1\npkg\tother 1 all\nfstab-present\t1\n", false);
	assert_false(inspect_is_root(v));
	inspect_drop_packages(v);
	assert_string_equal(v->facts, "fs\t1\nfstab-present\t1\nend\t1\n");
	assert_int_equal(v->facts_len, strlen(v->facts));
	v = vol("vda2", "ext4", "bbbb", "os.id\tdebian\npkg\tbash 5 amd64\npkgdb\tdpkg 1\n", false);
	assert_true(inspect_is_root(v));
	judge();
	assert_string_equal(out.packages, "bash 5 amd64\n");
}

static void test_windows(void **state)
{
	(void)state;
	vol("vda1", "ntfs", "", "win.hive\t8192\nwin.product\tWindows Server 2019 Datacenter\nwin.build\t17763\n"
	                        "win.arch\tx86_64\nhostname\tWIN-2019\npkg\t7-Zip 23.01 (x64) 23.01 x86_64\n"
	                        "pkg\tNotepad++ 8.6 i686\npkgdb\tregistry 2\n", false);
	judge();
	assert_int_equal(count("os-type", "windows", NULL, 0), 1);
	assert_int_equal(count("version", "2019", NULL, 0), 1);
	assert_int_equal(count("product", "Windows Server 2019 Datacenter (build 17763)", NULL, 0), 1);
	assert_int_equal(count("hostname", "WIN-2019", NULL, 0), 1);
	assert_int_equal(count("packages", "2 registry", NULL, 0), 1);
	assert_string_equal(out.packages, "7-Zip 23.01 (x64) 23.01 x86_64\nNotepad++ 8.6 i686\n");
	assert_int_equal(count("warning", NULL, NULL, 0), 0);
}

/* Control and bidirectional-override characters from a guest: '?' a byte. */
static void test_sanitize(void **state)
{
	(void)state;
	vol("vda1", "ext4", "aaaa", "os.id\tdebian\nhostname\tevil\x1b[31m\xe2\x80\xaename\n", false);
	judge();
	assert_int_equal(count("hostname", "evil?[31m???name", NULL, 0), 1); /* (each byte of U+202E) */
}

/* A damaged disk (SPEC §20.2): none of its volumes read is status
 * failed, with its note and no "no operating system found"; a volume of
 * another disk read is done; a disk that could not be read at all (no
 * volume, nothing damaged) is not a failure of the volumes. */
static void test_damaged(void **state)
{
	(void)state;
	static const char why[] = "vda: chunk 0 of the disk's blob (bytes 0 to 1048575) is damaged in the store (its "
	                          "bytes are not the chunk): its volumes are not read";
	snprintf(in->disk_notes, sizeof(in->disk_notes), "%s\n", why);
	in->damaged = true;
	judge();
	assert_int_equal(count("status", "failed", NULL, 0), 1);
	assert_int_equal(count("note", why, NULL, 0), 1);
	assert_int_equal(count("note", NULL, NULL, 0), 1);
	assert_true(out.failed);
	teardown(state);
	setup(state);
	snprintf(in->disk_notes, sizeof(in->disk_notes), "%s\n", why);
	in->damaged = true;
	vol("vdb1", "ext4", "bbbb", debian, false);
	judge();
	assert_int_equal(count("status", "done", NULL, 0), 1);
	assert_int_equal(count("note", why, NULL, 0), 1);
	assert_int_equal(count("platform", "debian", NULL, 0), 1);
	teardown(state);
	setup(state);
	snprintf(in->disk_notes, sizeof(in->disk_notes), "vda: no partition table and no file system imgfs reads\n");
	judge();
	assert_int_equal(count("status", "done", NULL, 0), 1);
	assert_false(out.failed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_linux, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contradictions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_supported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fstab_200, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fstab_nul, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_package_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_packages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sanitize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
