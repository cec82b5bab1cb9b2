/*
 * SPEC §20: the inspection's readers of a Linux root (fs/inside/inspect.c,
 * and inspect_io.c's answer): os-release (quotes, the 64 KiB bound at it
 * and one past), the release files, /etc/fstab (numbered lines, comments,
 * a NUL byte as libmount takes it: that line ignored, every other read;
 * a line past the 1,024 bytes a value holds; a 64 KiB fstab of 32,768
 * lines, all of them, and one byte more: a note), the host name
 * (/etc/hostname, /etc/HOSTNAME, /etc/sysconfig/network, in that order),
 * and the answer's own bound (an answer cut lacks its "end" line).  The
 * files are served from memory (memfs.h) through the reader's calls.
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

#include "memfs.h"

static struct ins_out run(void)
{
	struct ins_out o = mfs_out(INSPECT_ANSWER_MAX);
	ins_inspect(&mfs_ops, &o);
	return o;
}

static int setup(void **state)
{
	(void)state;
	mfs_reset();
	mfs_text("/usr/bin/.keep", "");
	return 0;
}

static void test_os_release(void **state)
{
	(void)state;
	char v[256];
	mfs_text("/etc/os-release", "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID='12'\n"
	                            "PRETTY_NAME=\"Debian \\\"GNU\\\"/Linux 12 (bookworm)\"\n# ID=fake\n");
	struct ins_out o = run();
	assert_int_equal(mfs_count(&o, "os.id", "debian", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "os.version_id", "12", NULL, 0), 1);
	mfs_count(&o, "os.pretty", NULL, v, sizeof(v));
	assert_string_equal(v, "Debian \"GNU\"/Linux 12 (bookworm)");
	assert_int_equal(mfs_count(&o, "end", "1", NULL, 0), 1);
	free(o.buf);
	/* /usr/lib/os-release when /etc has none. */
	mfs_reset();
	mfs_text("/etc/.keep", "");
	mfs_text("/usr/lib/os-release", "ID=fedora\n");
	o = run();
	assert_int_equal(mfs_count(&o, "os.id", "fedora", NULL, 0), 1);
	free(o.buf);
}

/* Each key into its own field (values that differ, so a field read from
 * another key's line shows), the shell's quoting, a value at its 255
 * bytes and one past (cut, never past the buffer). */
static void test_os_release_fields(void **state)
{
	(void)state;
	char v[300];
	mfs_text("/etc/os-release", "NAME=\"n a m e\"\nID=the-id\nID_LIKE=\"rhel fedora\"\nVERSION='v \\1'\n"
	                            "VERSION_ID=\"9.\\4\"\nPRETTY_NAME=\"p\nVERSION_CODENAME=x\n ID=spaced\nid=lower\n");
	struct ins_out o = run();
	static const char *const want[][2] = {
		{"os.name", "n a m e"},   {"os.id", "the-id"}, {"os.like", "rhel fedora"},
		{"os.version", "v \\1"}, /* single quotes keep a backslash */
		{"os.version_id", "9.4"}, /* double quotes drop it */
		{"os.pretty", "p"},       /* a quote never closed: to the line's end */
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (mfs_count(&o, want[i][0], NULL, v, sizeof(v)) != 1)
			fail_msg("%s: not once", want[i][0]);
		if (strcmp(v, want[i][1]) != 0)
			fail_msg("%s: '%s', want '%s'", want[i][0], v, want[i][1]);
	}
	free(o.buf);
	/* 255 bytes of value whole, 256 cut to 255 */
	for (size_t n = 255; n <= 256; n++) {
		char text[400] = "ID=";
		memset(text + 3, 'i', n);
		strcpy(text + 3 + n, "\nVERSION_ID=1\n");
		mfs_reset();
		mfs_text("/usr/bin/.keep", "");
		mfs_text("/etc/os-release", text);
		o = run();
		assert_int_equal(mfs_count(&o, "os.id", NULL, v, sizeof(v)), 1);
		assert_int_equal(strlen(v), 255);
		assert_int_equal(mfs_count(&o, "os.version_id", "1", NULL, 0), 1); /* the next line read as its own */
		free(o.buf);
	}
}

/* 64 KiB is read, one byte more is a note. */
static void test_os_release_bound(void **state)
{
	(void)state;
	for (size_t size = INSPECT_SMALL_MAX; size <= INSPECT_SMALL_MAX + 1; size++) {
		char *text = malloc(size);
		memset(text, '#', size);
		memcpy(text, "ID=debian\n", 10);
		mfs_file_take("/etc/os-release", text, size);
		struct ins_out o = run();
		assert_int_equal(mfs_count(&o, "os.id", "debian", NULL, 0), size == INSPECT_SMALL_MAX);
		assert_int_equal(mfs_count(&o, "note", "os-release is larger than 64 KiB: not read", NULL, 0),
		                 size > INSPECT_SMALL_MAX);
		free(o.buf);
	}
}

/* A NUL in os-release or a release file ends nothing but its own line. */
static void test_nul_lines(void **state)
{
	(void)state;
	static const char osr[] = "NAME=x\0y\nID=centos\nVERSION_ID=\"7\"\n";
	mfs_file("/etc/os-release", osr, sizeof(osr) - 1);
	static const char rel[] = "CentOS Linux release 7.9.2009 (Core)\n";
	mfs_file("/etc/centos-release", rel, sizeof(rel) - 1);
	static const char bad[] = "Red Hat\0 Enterprise\n";
	mfs_file("/etc/redhat-release", bad, sizeof(bad) - 1);
	struct ins_out o = run();
	assert_int_equal(mfs_count(&o, "os.name", NULL, NULL, 0), 0); /* its line held a NUL */
	assert_int_equal(mfs_count(&o, "os.id", "centos", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "os.version_id", "7", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "centos-release", "CentOS Linux release 7.9.2009 (Core)", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "redhat-release", NULL, NULL, 0), 0);
	free(o.buf);
}

static void test_fstab(void **state)
{
	(void)state;
	char v[2048];
	static const char tab[] = "# comment\n"
	                          "UUID=a / ext4 defaults 0 1\n"
	                          "\n"
	                          "  /dev/vdb1 /x\0yz ext4 defaults 0 2\n"
	                          "\t/dev/vdc1 /data ext4 defaults 0 2\n"
	                          "\0\n"
	                          "LABEL=last /last xfs defaults 0 0";
	mfs_file("/etc/fstab", tab, sizeof(tab) - 1);
	struct ins_out o = run();
	assert_int_equal(mfs_count(&o, "fstab-present", "1", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "fstab", NULL, v, sizeof(v)), 3);
	assert_string_equal(v, "2 UUID=a / ext4 defaults 0 1");
	assert_int_equal(mfs_count(&o, "fstab", "5 /dev/vdc1 /data ext4 defaults 0 2", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "fstab", "7 LABEL=last /last xfs defaults 0 0", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "fstab-nul", NULL, v, sizeof(v)), 2);
	assert_string_equal(v, "4");
	assert_int_equal(mfs_count(&o, "fstab-nul", "6", NULL, 0), 1);
	free(o.buf);
}

/* A line longer than a value holds is cut at 1,024 bytes, its number kept;
 * the lines after it are read. */
static void test_fstab_long_line(void **state)
{
	(void)state;
	char v[2048];
	size_t len = 3000;
	char *tab = malloc(len + 64);
	memset(tab, 'o', len);
	memcpy(tab, "/dev/vdb1 /x ext4 ", 18);
	len += (size_t)sprintf(tab + len, "\n/dev/vdc1 /y ext4 defaults 0 0\n");
	mfs_file_take("/etc/fstab", tab, len);
	struct ins_out o = run();
	assert_int_equal(mfs_count(&o, "fstab", NULL, v, sizeof(v)), 2);
	assert_int_equal(strlen(v), 1024);
	assert_memory_equal(v, "1 /dev/vdb1 /x ext4 ooo", 23);
	assert_int_equal(mfs_count(&o, "fstab", "2 /dev/vdc1 /y ext4 defaults 0 0", NULL, 0), 1);
	free(o.buf);
}

/* A 64 KiB fstab of 32,768 one-byte lines: every line a fact (no list
 * bound before the file's); one byte more: a note, no line. */
static void test_fstab_many_lines(void **state)
{
	(void)state;
	for (size_t size = INSPECT_SMALL_MAX; size <= INSPECT_SMALL_MAX + 1; size++) {
		char *tab = malloc(size);
		for (size_t i = 0; i + 1 < size; i += 2)
			tab[i] = 'x', tab[i + 1] = '\n';
		if (size & 1)
			tab[size - 1] = 'y';
		mfs_file_take("/etc/fstab", tab, size);
		struct ins_out o = run();
		char v[64];
		unsigned want = size == INSPECT_SMALL_MAX ? INSPECT_SMALL_MAX / 2 : 0;
		assert_int_equal(mfs_count(&o, "fstab", NULL, NULL, 0), want);
		if (want) {
			assert_int_equal(mfs_count(&o, "fstab", "32768 x", v, sizeof(v)), 1);
			assert_int_equal(mfs_count(&o, "note", NULL, NULL, 0), 0);
		} else {
			assert_int_equal(mfs_count(&o, "note", "/etc/fstab is larger than 64 KiB: not read", NULL, 0), 1);
		}
		assert_int_equal(mfs_count(&o, "end", "1", NULL, 0), 1);
		free(o.buf);
	}
}

static void test_hostname(void **state)
{
	(void)state;
	char v[300];
	struct ins_out o = run();
	assert_int_equal(mfs_count(&o, "hostname", NULL, NULL, 0), 0); /* none of the three files */
	free(o.buf);
	mfs_text("/etc/sysconfig/network", "NETWORKING=yes\nHOSTNAME=\"el6.example.com\"\n");
	o = run();
	assert_int_equal(mfs_count(&o, "hostname", "el6.example.com", NULL, 0), 1);
	free(o.buf);
	mfs_text("/etc/HOSTNAME", "suse15\n");
	o = run();
	assert_int_equal(mfs_count(&o, "hostname", NULL, v, sizeof(v)), 1);
	assert_string_equal(v, "suse15");
	free(o.buf);
	/* systemd's reading: comments and blank lines skipped, blanks cut. */
	mfs_text("/etc/hostname", "# the name\n\n   deb12  \nother\n");
	o = run();
	assert_int_equal(mfs_count(&o, "hostname", NULL, v, sizeof(v)), 1);
	assert_string_equal(v, "deb12");
	free(o.buf);
	/* An empty /etc/hostname: the next file says. */
	mfs_text("/etc/hostname", "\n");
	o = run();
	assert_int_equal(mfs_count(&o, "hostname", "suse15", NULL, 0), 1);
	free(o.buf);
	/* A line holding a NUL byte is passed, the next one read (§20: a NUL
	 * ends nothing but its own line). */
	mfs_file("/etc/hostname", "bad\0name\nreal\n", 15);
	o = run();
	assert_int_equal(mfs_count(&o, "hostname", "real", NULL, 0), 1);
	free(o.buf);
	/* A link, as the guest resolves it. */
	mfs_text("/etc/hostname.real", "linked\n");
	mfs_link("/etc/hostname", "hostname.real");
	o = run();
	assert_int_equal(mfs_count(&o, "hostname", "linked", NULL, 0), 1);
	free(o.buf);
}

/* /etc/hostname at 64 KiB is read, one byte more is a note (and the next
 * file is asked). */
static void test_hostname_bound(void **state)
{
	(void)state;
	mfs_text("/etc/HOSTNAME", "fallback\n");
	for (size_t size = INSPECT_SMALL_MAX; size <= INSPECT_SMALL_MAX + 1; size++) {
		char *text = malloc(size);
		memset(text, '\n', size);
		memcpy(text, "big", 3);
		mfs_file_take("/etc/hostname", text, size);
		struct ins_out o = run();
		assert_int_equal(mfs_count(&o, "hostname", size == INSPECT_SMALL_MAX ? "big" : "fallback", NULL, 0), 1);
		assert_int_equal(mfs_count(&o, "note", "/etc/hostname is larger than 64 KiB: not read", NULL, 0),
		                 size > INSPECT_SMALL_MAX);
		free(o.buf);
	}
}

/* The answer's bound: a fact that does not fit is not put, nor any after
 * it, so the answer lacks its "end" line (the daemon notes a cut). */
static void test_answer_bound(void **state)
{
	(void)state;
	mfs_text("/etc/os-release", "ID=debian\n");
	struct ins_out full = run();
	assert_int_equal(mfs_count(&full, "end", "1", NULL, 0), 1);
	for (size_t cap = full.len; cap + 1 >= full.len; cap--) {
		struct ins_out o = mfs_out(cap);
		ins_inspect(&mfs_ops, &o);
		assert_int_equal(mfs_count(&o, "end", "1", NULL, 0), cap == full.len);
		assert_int_equal(o.full, cap < full.len);
		free(o.buf);
	}
	/* ins_put's own: a tab, newline or CR ends a value. */
	struct ins_out o = mfs_out(64);
	ins_put(&o, "k", "a\tb");
	ins_put(&o, "k", "c\rd");
	assert_int_equal(o.len, 8);
	assert_memory_equal(o.buf, "k\ta\nk\tc\n", 8);
	free(o.buf);
	free(full.buf);
}

/* A package's line counts against the 15 MiB as the packages file shows
 * it: its value cut at 1,024 bytes and its newline, 1,025 at most. */
static void test_pkg_line_bytes(void **state)
{
	(void)state;
	char name[2100];
	for (size_t line = 1024; line <= 1026; line++) { /* the name and " 1 x\n" */
		memset(name, 'n', line - 5);
		name[line - 5] = '\0';
		struct ins_out o = mfs_out(INSPECT_ANSWER_MAX);
		assert_int_equal(ins_put_pkg(&o, name, "1", "x"), 0);
		assert_int_equal(o.pkg_bytes, line < 1025 ? line : 1025);
		assert_int_equal(o.pkgs, 1);
		free(o.buf);
	}
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	struct ins_out o = mfs_out(INSPECT_ANSWER_MAX);
	assert_int_equal(ins_put_pkg(&o, name, "1", "x"), 0);
	assert_int_equal(o.pkg_bytes, 1025);
	assert_int_equal(o.len, 4 + 1024 + 1); /* "pkg\t", the value cut, "\n" */
	free(o.buf);
}

/* A Windows root's arch: ntoskrnl.exe's PE machine. */
static void test_pe_arch(void **state)
{
	(void)state;
	static const struct {
		unsigned machine;
		const char *arch;
	} t[] = {{0x8664, "x86_64"}, {0xaa64, "aarch64"}, {0x14c, "i686"}, {0x1c4, "other"}};
	mfs_text("/Windows/System32/config/SOFTWARE", "not a hive");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		unsigned char pe[512] = {'M', 'Z'};
		pe[0x3c] = 0x80;
		memcpy(pe + 0x80, "PE\0\0", 4);
		pe[0x84] = (unsigned char)(t[i].machine & 0xff);
		pe[0x85] = (unsigned char)(t[i].machine >> 8);
		mfs_file("/Windows/System32/ntoskrnl.exe", pe, sizeof(pe));
		struct ins_out o = run();
		assert_int_equal(mfs_count(&o, "win.arch", t[i].arch, NULL, 0), 1);
		free(o.buf);
	}
	/* The PE header's 6 bytes at the file's end are read; one byte past
	 * it, or a signature that is not "PE\0\0", is no architecture. */
	for (unsigned at = 512 - 6; at <= 512 - 5; at++) {
		unsigned char pe[512] = {'M', 'Z'};
		pe[0x3c] = (unsigned char)(at & 0xff);
		pe[0x3d] = (unsigned char)(at >> 8);
		memcpy(pe + at, "PE\0\0\x64", at == 512 - 6 ? 5 : 4);
		if (at == 512 - 6)
			pe[511] = 0x86;
		mfs_file("/Windows/System32/ntoskrnl.exe", pe, sizeof(pe));
		struct ins_out o = run();
		assert_int_equal(mfs_count(&o, "win.arch", NULL, NULL, 0), at == 512 - 6);
		assert_int_equal(mfs_count(&o, "win.arch", "x86_64", NULL, 0), at == 512 - 6);
		free(o.buf);
	}
	unsigned char pe[512] = {'M', 'Z'};
	pe[0x3c] = 0x80;
	memcpy(pe + 0x80, "PX\0\0\x64\x86", 6);
	mfs_file("/Windows/System32/ntoskrnl.exe", pe, sizeof(pe));
	struct ins_out o = run();
	assert_int_equal(mfs_count(&o, "win.arch", NULL, NULL, 0), 0);
	free(o.buf);
}

/* The ELF machine of the guest's first program: this host's own
 * /usr/bin/bash (its toolchain's ELF), and its header's machine and
 * class/data bytes set to each one named; a program shorter than the
 * 20 bytes read is passed for the next one. */
static void test_elf_arch(void **state)
{
	(void)state;
	static const struct {
		unsigned cls, data, machine;
		const char *arch;
	} t[] = {{2, 1, 0x3e, "x86_64"},  {2, 1, 0xb7, "aarch64"}, {1, 1, 3, "i686"},     {1, 1, 0x28, "armv7l"},
	         {2, 1, 0xf3, "riscv64"}, {1, 1, 0xf3, "riscv32"}, {2, 1, 0x15, "ppc64le"}, {2, 2, 0x15, "ppc64"},
	         {2, 2, 0x16, "s390x"},   {2, 1, 0x99, "elf-machine-153"}, {2, 2, 0x3e00, "elf-machine-15872"}};
	char v[300];
	mfs_text("/etc/.keep", ""); /* (a Linux root: the programs are looked at) */
	assert_int_equal(mfs_file_load("/usr/bin", "bash", "/usr/bin/bash"), 0);
	struct ins_out o = run();
	assert_int_equal(mfs_count(&o, "arch", "x86_64 /usr/bin/bash", NULL, 0), 1);
	free(o.buf);
	struct mfs_node *n = &mfs[mfs_find("/usr/bin/bash")];
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n->data[4] = (char)t[i].cls;
		n->data[5] = (char)t[i].data;
		n->data[18] = (char)(t[i].data == 2 ? t[i].machine >> 8 : t[i].machine & 0xff);
		n->data[19] = (char)(t[i].data == 2 ? t[i].machine & 0xff : t[i].machine >> 8);
		o = run();
		assert_int_equal(mfs_count(&o, "arch", NULL, v, sizeof(v)), 1);
		assert_string_equal(v + strcspn(v, " ") + 1, "/usr/bin/bash");
		v[strcspn(v, " ")] = '\0';
		assert_string_equal(v, t[i].arch);
		free(o.buf);
	}
	/* 20 bytes are read; 19 are not a program: /bin/sh (the next one) says. */
	char hdr[20];
	memcpy(hdr, n->data, sizeof(hdr));
	hdr[18] = 3;
	hdr[19] = 0;
	hdr[5] = 1;
	mfs_file("/bin/sh", hdr, sizeof(hdr));
	for (size_t len = 20; len >= 19; len--) {
		n->len = len;
		n->data[5] = 1;
		n->data[18] = (char)0xb7;
		n->data[19] = 0;
		o = run();
		assert_int_equal(mfs_count(&o, "arch", len == 20 ? "aarch64 /usr/bin/bash" : "i686 /bin/sh", NULL, 0), 1);
		free(o.buf);
	}
}

/* An EFI system partition's loaders (EFI/<dir>/<name>.efi, any case), at
 * most 8, and at most INSPECT_WANTS_MAX entries looked at (directories
 * and their files together): a loader that is the last one looked at is
 * found, one entry later it is not. */
static void test_efi(void **state)
{
	(void)state;
	mfs_reset();
	mfs_text("/EFI/BOOT/BOOTX64.EFI", "x");
	mfs_text("/EFI/debian/grubx64.efi", "x");
	mfs_text("/EFI/debian/grub.cfg", "x");
	mfs_text("/EFI/startup.nsh", "x"); /* a file: not a loader's directory */
	mfs_text("/boot/grub/i386-pc/normal.mod", "x");
	struct ins_out o = run();
	assert_int_equal(mfs_count(&o, "efi", "EFI/BOOT/BOOTX64.EFI", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "efi", "EFI/debian/grubx64.efi", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "efi", NULL, NULL, 0), 2);
	assert_int_equal(mfs_count(&o, "grub-bios", "/boot/grub/i386-pc", NULL, 0), 1);
	free(o.buf);
	mfs_reset();
	mfs_text("/efi/boot/bootaa64.efi", "x"); /* FAT's lookup is exact: the other spelling */
	o = run();
	assert_int_equal(mfs_count(&o, "efi", "EFI/boot/bootaa64.efi", NULL, 0), 1);
	assert_int_equal(mfs_count(&o, "grub-bios", NULL, NULL, 0), 0);
	free(o.buf);
	for (unsigned k = 0; k <= 1; k++) {
		char p[64];
		mfs_reset();
		/* fillers, then BOOT (one entry) and its loader (one more) */
		for (unsigned i = 0; i < INSPECT_WANTS_MAX - 2 + k; i++) {
			snprintf(p, sizeof(p), "/EFI/d%05u", i);
			mfs_add(p, S_IFDIR | 0755);
		}
		mfs_text("/EFI/BOOT/BOOTX64.EFI", "x");
		o = run();
		assert_int_equal(mfs_count(&o, "efi", "EFI/BOOT/BOOTX64.EFI", NULL, 0), k == 0);
		free(o.buf);
	}
	/* Eight loaders at most. */
	mfs_reset();
	for (unsigned i = 0; i < 9; i++) {
		char p[64];
		snprintf(p, sizeof(p), "/EFI/BOOT/L%u.EFI", i);
		mfs_text(p, "x");
	}
	o = run();
	assert_int_equal(mfs_count(&o, "efi", NULL, NULL, 0), 8);
	free(o.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_os_release, setup),
		cmocka_unit_test_setup(test_os_release_fields, setup),
		cmocka_unit_test_setup(test_os_release_bound, setup),
		cmocka_unit_test_setup(test_nul_lines, setup),
		cmocka_unit_test_setup(test_fstab, setup),
		cmocka_unit_test_setup(test_fstab_long_line, setup),
		cmocka_unit_test_setup(test_fstab_many_lines, setup),
		cmocka_unit_test_setup(test_hostname, setup),
		cmocka_unit_test_setup(test_hostname_bound, setup),
		cmocka_unit_test_setup(test_answer_bound, setup),
		cmocka_unit_test_setup(test_pkg_line_bytes, setup),
		cmocka_unit_test_setup(test_pe_arch, setup),
		cmocka_unit_test_setup(test_elf_arch, setup),
		cmocka_unit_test_setup(test_efi, setup),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	mfs_reset();
	return rc;
}
