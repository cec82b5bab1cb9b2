/*
 * inspect.c — INS_T_INSPECT: what one guest file system holds, in the
 * helper that reads it, under its sandbox (SPEC §20; ins_inspect.h).
 *
 * Who calls it: helper.c, for a request the daemon sends each volume of an
 * image it inspects (fs/fuse/inspect.c, a background task).  It reads the
 * files an inspector looks at (libguestfs's inspection reads the same),
 * through the volume's reader, by path, as the guest would resolve them
 * (symbolic links followed inside the volume, at most INSPECT_LINKS_MAX):
 *
 *   /etc/os-release (or /usr/lib/os-release): ID, VERSION_ID, NAME,
 *     PRETTY_NAME, ID_LIKE; /etc/redhat-release, /etc/centos-release,
 *     /etc/debian_version: the precise version those carry;
 *   the guest's own binaries' ELF machine (/usr/bin/bash, /bin/sh, ...);
 *   /etc/fstab's lines (a line holding a NUL byte: "fstab-nul", as
 *     libmount ignores it);
 *   the host name: /etc/hostname, /etc/HOSTNAME, /etc/sysconfig/network;
 *   cloud-init and qemu-guest-agent: installed (their programs), enabled
 *     (a systemd wants link, a udev rule, cloud-init.disabled);
 *   the package database (inspect_pkg.c);
 *   an EFI system partition's boot loaders (/EFI/<dir>/<loader>.efi);
 *     GRUB's BIOS modules (/boot/grub/i386-pc, /boot/grub2/i386-pc);
 *   Windows: the SOFTWARE hive (product, applications) and the SYSTEM
 *     hive (the computer name), inspect_win.c; ntoskrnl.exe's PE machine.
 *
 * What it concludes is the daemon's business: this file says what is
 * there, one fact a line.  Bounded: every file is read whole up to the
 * bound of its kind (ins_inspect.h), a directory looked at up to
 * INSPECT_WANTS_MAX entries.
 */
#include <errno.h>
#include <iconv.h>
#include <rpm/rpmlog.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ins_inspect.h"

static bool exists(const struct ins_fs_ops *ops, const char *path, unsigned type)
{
	struct ins_stat st;
	uint64_t ino;
	return ins_resolve(ops, path, &ino, &st) == 0 && (type == 0 || (st.mode & S_IFMT) == type);
}

/* The next line of data[0..len) (a NUL after it, as ins_slurp leaves)
 * from *at, its newline replaced by a NUL; NULL at the end.  *nul: the
 * line holds a NUL byte of its own.  libmount takes such an fstab line
 * for a parse error and ignores it, reading on (findmnt --tab-file says
 * "parse error at line N -- ignored"): so do these readers, for every
 * file they read by lines, and never end the file there. */
static char *next_line(char *data, size_t len, size_t *at, bool *nul)
{
	if (*at >= len)
		return NULL;
	char *line = data + *at, *nl = memchr(line, '\n', len - *at);
	size_t l = nl ? (size_t)(nl - line) : len - *at;
	*nul = memchr(line, '\0', l) != NULL;
	line[l] = '\0';
	*at += l + 1;
	return line;
}

/* ---- the OS --------------------------------------------------------------------- */

/* os-release's value of a line (quotes and backslashes as the file's shell
 * syntax has them), into out. */
static void osr_value(const char *v, char *out, size_t cap)
{
	size_t n = 0;
	char q = (*v == '"' || *v == '\'') ? *v++ : 0;
	for (; *v && *v != '\n' && n + 1 < cap; v++) {
		if (q && *v == q)
			break;
		if (q == '"' && *v == '\\' && v[1] && v[1] != '\n')
			v++;
		out[n++] = *v;
	}
	out[n] = '\0';
}

static void os_release(const struct ins_fs_ops *ops, struct ins_out *o)
{
	static const char *const keys[][2] = {
		{"ID=", "os.id"}, {"VERSION_ID=", "os.version_id"}, {"NAME=", "os.name"},
		{"PRETTY_NAME=", "os.pretty"}, {"ID_LIKE=", "os.like"}, {"VERSION=", "os.version"},
	};
	char *data;
	size_t len;
	int rc = ins_slurp(ops, "/etc/os-release", INSPECT_SMALL_MAX, &data, &len);
	if (rc == -ENOENT)
		rc = ins_slurp(ops, "/usr/lib/os-release", INSPECT_SMALL_MAX, &data, &len);
	if (rc == -EFBIG)
		ins_put(o, "note", "os-release is larger than %u KiB: not read", INSPECT_SMALL_MAX >> 10);
	if (rc < 0)
		return;
	size_t at = 0;
	bool nul;
	for (char *line; (line = next_line(data, len, &at, &nul));) {
		if (nul)
			continue;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (strncmp(line, keys[k][0], strlen(keys[k][0])) == 0) {
				char v[256];
				osr_value(line + strlen(keys[k][0]), v, sizeof(v));
				ins_put(o, keys[k][1], "%s", v);
			}
	}
	free(data);
}

static void first_line(const struct ins_fs_ops *ops, const char *path, const char *key, struct ins_out *o)
{
	char *data;
	size_t len;
	size_t at = 0;
	bool nul;
	if (ins_slurp(ops, path, INSPECT_SMALL_MAX, &data, &len) < 0)
		return;
	char *line = next_line(data, len, &at, &nul);
	if (line && !nul && line[0])
		ins_put(o, key, "%s", line);
	free(data);
}

/* The ELF machine of the first of the guest's own programs found. */
static void elf_arch(const struct ins_fs_ops *ops, struct ins_out *o)
{
	static const char *const progs[] = {"/usr/bin/bash", "/bin/bash", "/usr/bin/ls", "/bin/ls", "/bin/sh",
	                                    "/usr/lib/systemd/systemd", "/sbin/init", "/bin/busybox"};
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct ins_stat st;
		uint64_t ino;
		uint8_t h[20];
		uint32_t got = 0;
		if (ins_resolve(ops, progs[i], &ino, &st) < 0 || !S_ISREG(st.mode) || st.size < sizeof(h) ||
		    ops->read(ino, 0, sizeof(h), h, &got) < 0 || got != sizeof(h) || memcmp(h, "\177ELF", 4) != 0)
			continue;
		unsigned m = h[5] == 2 ? (unsigned)(h[18] << 8 | h[19]) : (unsigned)(h[18] | h[19] << 8);
		const char *name = m == 0x3e ? "x86_64" : m == 0xb7 ? "aarch64" : m == 3 ? "i686" : m == 0x28 ? "armv7l"
		                   : m == 0xf3 ? (h[4] == 2 ? "riscv64" : "riscv32")
		                   : m == 0x15 ? (h[5] == 1 ? "ppc64le" : "ppc64") : m == 0x16 ? "s390x" : NULL;
		if (name)
			ins_put(o, "arch", "%s %s", name, progs[i]);
		else
			ins_put(o, "arch", "elf-machine-%u %s", m, progs[i]);
		return;
	}
}

static void fstab(const struct ins_fs_ops *ops, struct ins_out *o)
{
	char *data;
	size_t len;
	int rc = ins_slurp(ops, "/etc/fstab", INSPECT_SMALL_MAX, &data, &len);
	if (rc == -EFBIG)
		ins_put(o, "note", "/etc/fstab is larger than %u KiB: not read", INSPECT_SMALL_MAX >> 10);
	if (rc < 0)
		return;
	ins_put(o, "fstab-present", "1");
	size_t at = 0;
	bool nul;
	char *line;
	for (unsigned n = 1; (line = next_line(data, len, &at, &nul)); n++) {
		char *p = line + strspn(line, " \t");
		if (nul)
			ins_put(o, "fstab-nul", "%u", n);
		else if (*p && *p != '#')
			ins_put(o, "fstab", "%u %s", n, p);
	}
	free(data);
}

/* The guest's own name: /etc/hostname's (systemd's: the first line that
 * is neither empty nor a comment, without its blanks), else SUSE's
 * /etc/HOSTNAME, else the RHEL family's HOSTNAME= of
 * /etc/sysconfig/network (EL6 and before). */
static void hostname(const struct ins_fs_ops *ops, struct ins_out *o)
{
	static const char *const files[] = {"/etc/hostname", "/etc/HOSTNAME", "/etc/sysconfig/network"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *data, *line;
		size_t len, at = 0;
		bool nul;
		int rc = ins_slurp(ops, files[i], INSPECT_SMALL_MAX, &data, &len);
		if (rc == -EFBIG)
			ins_put(o, "note", "%s is larger than %u KiB: not read", files[i], INSPECT_SMALL_MAX >> 10);
		if (rc < 0)
			continue;
		char name[256] = "";
		while (!name[0] && (line = next_line(data, len, &at, &nul))) {
			char *p = line + strspn(line, " \t");
			if (nul || !*p || *p == '#')
				continue;
			if (i == 2) {
				if (strncmp(p, "HOSTNAME=", 9) != 0)
					continue;
				osr_value(p + 9, name, sizeof(name));
			} else {
				snprintf(name, sizeof(name), "%.*s", (int)strcspn(p, " \t#"), p);
			}
		}
		free(data);
		if (name[0]) {
			ins_put(o, "hostname", "%s", name);
			return;
		}
	}
}

/* ---- agents ----------------------------------------------------------------- */

/* Whether a unit is enabled: a link to it in one of /etc/systemd/system's
 * .wants directories (at most INSPECT_WANTS_MAX entries looked at). */
struct wants {
	const struct ins_fs_ops *ops;
	const char *unit;
	unsigned seen;
	bool found;
};

/* Entries and directory blocks (name NULL) both count: a walk of a
 * directory of empty blocks is bounded too. */
static int wants_dir(void *arg, uint64_t ino, const char *name, size_t len, unsigned type, uint64_t after)
{
	(void)type;
	struct wants *w = arg;
	(void)after;
	if (++w->seen > INSPECT_WANTS_MAX)
		return 1;
	if (!name)
		return 0;
	if (len < 7 || memcmp(name + len - 6, ".wants", 6) != 0)
		return 0;
	uint64_t unit;
	if (w->ops->lookup(ino, w->unit, strlen(w->unit), &unit) == 0) {
		w->found = true;
		return 1;
	}
	return 0;
}

static bool wanted(const struct ins_fs_ops *ops, const char *unit)
{
	struct ins_stat st;
	uint64_t dir;
	struct wants w = {ops, unit, 0, false};
	if (ins_resolve(ops, "/etc/systemd/system", &dir, &st) < 0 || !S_ISDIR(st.mode))
		return false;
	ops->list(dir, 0, wants_dir, &w);
	return w.found;
}

static void agents(const struct ins_fs_ops *ops, struct ins_out *o)
{
	bool ci = exists(ops, "/usr/bin/cloud-init", S_IFREG) || exists(ops, "/usr/local/bin/cloud-init", S_IFREG);
	if (ci) {
		bool on = !exists(ops, "/etc/cloud/cloud-init.disabled", 0) &&
		          (wanted(ops, "cloud-init.service") || wanted(ops, "cloud-init.target") ||
		           wanted(ops, "cloud-init-local.service"));
		ins_put(o, "agent", "cloud-init installed %s", on ? "enabled" : "disabled");
	}
	bool ga = exists(ops, "/usr/bin/qemu-ga", S_IFREG) || exists(ops, "/usr/sbin/qemu-ga", S_IFREG);
	if (ga) {
		/* Debian starts it from a udev rule when the virtio port appears;
		 * the RHEL family from a wants link of that device's unit. */
		bool on = wanted(ops, "qemu-guest-agent.service") ||
		          exists(ops, "/lib/udev/rules.d/60-qemu-guest-agent.rules", S_IFREG) ||
		          exists(ops, "/usr/lib/udev/rules.d/60-qemu-guest-agent.rules", S_IFREG);
		ins_put(o, "agent", "qemu-ga installed %s", on ? "enabled" : "disabled");
	}
}

/* ---- boot ---------------------------------------------------------------------- */

struct efi {
	const struct ins_fs_ops *ops;
	struct ins_out *o;
	char dir[INS_NAME_MAX + 1];
	unsigned seen, found;
};

static int efi_file(void *arg, uint64_t ino, const char *name, size_t len, unsigned type, uint64_t after)
{
	(void)type;
	struct efi *e = arg;
	(void)ino, (void)after;
	if (++e->seen > INSPECT_WANTS_MAX || e->found >= 8)
		return 1;
	if (!name)
		return 0;
	if (len > 4 && strncasecmp(name + len - 4, ".efi", 4) == 0) {
		ins_put(e->o, "efi", "EFI/%s/%.*s", e->dir, (int)len, name);
		e->found++;
	}
	return 0;
}

static int efi_dir(void *arg, uint64_t ino, const char *name, size_t len, unsigned type, uint64_t after)
{
	(void)type;
	struct efi *e = arg;
	struct ins_stat st;
	(void)after;
	if (++e->seen > INSPECT_WANTS_MAX)
		return 1;
	if (!name)
		return 0;
	if (e->ops->stat(ino, &st) < 0 || !S_ISDIR(st.mode))
		return 0;
	snprintf(e->dir, sizeof(e->dir), "%.*s", (int)len, name);
	e->ops->list(ino, 0, efi_file, e);
	return 0;
}

static void boot(const struct ins_fs_ops *ops, struct ins_out *o)
{
	struct ins_stat st;
	uint64_t dir;
	/* An EFI system partition's loaders: FAT's lookup is exact, so both
	 * spellings are tried. */
	if (ins_resolve(ops, "/EFI", &dir, &st) == 0 || ins_resolve(ops, "/efi", &dir, &st) == 0) {
		struct efi e = {ops, o, "", 0, 0};
		if (S_ISDIR(st.mode))
			ops->list(dir, 0, efi_dir, &e);
	}
	static const char *const grub[] = {"/boot/grub/i386-pc", "/boot/grub2/i386-pc", "/grub/i386-pc",
	                                   "/grub2/i386-pc"};
	for (size_t i = 0; i < sizeof(grub) / sizeof(grub[0]); i++)
		if (exists(ops, grub[i], S_IFDIR)) {
			ins_put(o, "grub-bios", "%s", grub[i]);
			break;
		}
}

/* ---- Windows ------------------------------------------------------------------ */

static const char *pe_arch(const struct ins_fs_ops *ops, struct ins_out *o)
{
	struct ins_stat st;
	uint64_t ino;
	uint8_t h[64], pe[6];
	uint32_t got = 0;
	if (ins_resolve(ops, "/Windows/System32/ntoskrnl.exe", &ino, &st) < 0 || !S_ISREG(st.mode) ||
	    ops->read(ino, 0, sizeof(h), h, &got) < 0 || got != sizeof(h) || h[0] != 'M' || h[1] != 'Z')
		return "";
	uint32_t at = (uint32_t)h[60] | (uint32_t)h[61] << 8 | (uint32_t)h[62] << 16 | (uint32_t)h[63] << 24;
	if (at > st.size - sizeof(pe) || ops->read(ino, at, sizeof(pe), pe, &got) < 0 || got != sizeof(pe) ||
	    memcmp(pe, "PE\0\0", 4) != 0)
		return "";
	unsigned m = pe[4] | pe[5] << 8;
	const char *arch = m == 0x8664 ? "x86_64" : m == 0xaa64 ? "aarch64" : m == 0x14c ? "i686" : "other";
	ins_put(o, "win.arch", "%s", arch);
	return arch;
}

/* ---- the whole answer -------------------------------------------------------------- */

void ins_inspect(const struct ins_fs_ops *ops, struct ins_out *o)
{
	ins_put(o, "fs", "%u", ops->kind);
	if (ops->label && ops->label()[0])
		ins_put(o, "label", "%s", ops->label()); /* (the daemon's probe finds NTFS's none) */
	if (exists(ops, "/Windows/System32/config/SOFTWARE", S_IFREG)) {
		const char *arch = pe_arch(ops, o);
		ins_inspect_windows(ops, o, strcmp(arch, "other") == 0 ? "" : arch);
	}
	if (exists(ops, "/etc", S_IFDIR)) {
		os_release(ops, o);
		first_line(ops, "/etc/redhat-release", "redhat-release", o);
		first_line(ops, "/etc/centos-release", "centos-release", o);
		first_line(ops, "/etc/debian_version", "debian-version", o);
		elf_arch(ops, o);
		fstab(ops, o);
		hostname(ops, o);
		agents(ops, o);
		ins_inspect_packages(ops, o);
	}
	boot(ops, o);
	/* The last line: an answer cut at its bound lacks it. */
	ins_put(o, "end", "1");
}

static int by_value(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* librpm's messages would go to stderr, which the filter forbids. */
static int rpm_quiet(rpmlogRec rec, rpmlogCallbackData data)
{
	(void)rec;
	(void)data;
	return 0;
}

void ins_inspect_prepare(void)
{
	rpmlogSetCallback(rpm_quiet, NULL);
	/* libhivex converts names and values with iconv: glibc loads the
	 * modules (and reads their cache) at the first iconv_open, which the
	 * sandbox would kill.  Opened here, kept open: they stay loaded. */
	static const char *const pairs[][2] = {
		{"UTF-8", "UTF-16LE"}, {"UTF-16LE", "UTF-8"}, {"UTF-8", "LATIN1"}, {"LATIN1", "UTF-8"}};
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		(void)iconv_open(pairs[i][0], pairs[i][1]);
	/* glibc's qsort (librpm sorts a header's entries with it) asks the
	 * kernel for the machine's memory (sysinfo) the first time it sorts
	 * more than 1 KiB, and keeps the answer: asked here. */
	static uint32_t sort_me[1024];
	qsort(sort_me, sizeof(sort_me) / sizeof(sort_me[0]), sizeof(sort_me[0]), by_value);
	/* SQLite reads /dev/urandom at its first randomness: done here. */
	unsigned char r[4];
	sqlite3_initialize();
	sqlite3_randomness(sizeof(r), r);
}
