/*
 * inspect_win.c — a Windows root's product, version and build, from its
 * registry's SOFTWARE hive, in the helper (SPEC §20; ins_inspect.h):
 * HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion's ProductName,
 * CurrentVersion, CurrentBuild(Number), CurrentMajor/MinorVersionNumber,
 * EditionID and InstallationType, as "win.*" facts.
 *
 * The hive is read by Debian's libhivex (the library virt-inspector and
 * hivexsh read hives with; it checks every offset, and marks the blocks it
 * visited, against loops).  libhivex opens a hive by its file name
 * (open, fcntl, fstat, mmap), and the helper opens no file: its seccomp
 * filter would kill it.  So the helper links a copy of libhivex.a whose six
 * file calls are renamed (objcopy --redefine-sym, CMakeLists.txt) to the
 * ins_hive_* functions below, which serve one hive from memory: the bytes
 * ins_slurp read through the volume's reader.  Nothing else of libhivex
 * changes, and no other code's calls are touched.  Its iconv modules are
 * loaded before the sandbox (ins_inspect_prepare).
 *
 * And the applications (the Uninstall keys' subkeys, as "pkg" facts, the
 * package list's bounds: ins_put_pkg) and, from the SYSTEM hive, the
 * host name (of the control set SYSTEM\Select's Current names: its
 * Services\Tcpip\Parameters\Hostname, else its
 * Control\ComputerName\ComputerName).
 *
 * Bounded: a hive larger than INSPECT_HIVE_MAX is not read (a note); key
 * paths of at most five names are followed, and the Uninstall keys'
 * children (libhivex bounds a list by the hive), no walk of the tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <hivex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "ins_inspect.h"

#define HIVE_NAME "/imgfs-inside/SOFTWARE"
#define HIVE_FD 0x7ffffff0 /* never a descriptor of the process's own */

/* The one hive being read (the helper reads one volume, one hive at a time). */
static struct {
	const char *data;
	size_t len;
} hive;

/* ---- libhivex's file calls, renamed to these (see the top) ---- */

int ins_hive_open(const char *path, int flags, ...);
int ins_hive_fcntl(int fd, int cmd, ...);
int ins_hive_fstat(int fd, struct stat *st);
void *ins_hive_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int ins_hive_munmap(void *addr, size_t len);
int ins_hive_close(int fd);

int ins_hive_open(const char *path, int flags, ...)
{
	if (strcmp(path, HIVE_NAME) != 0 || !hive.data || (flags & O_ACCMODE) != O_RDONLY) {
		errno = ENOENT;
		return -1;
	}
	return HIVE_FD;
}

int ins_hive_fcntl(int fd, int cmd, ...)
{
	(void)cmd; /* FD_CLOEXEC on a descriptor that is none */
	return fd == HIVE_FD ? 0 : (errno = EBADF, -1);
}

int ins_hive_fstat(int fd, struct stat *st)
{
	if (fd != HIVE_FD) {
		errno = EBADF;
		return -1;
	}
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0444;
	st->st_size = (off_t)hive.len;
	return 0;
}

void *ins_hive_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	(void)addr;
	(void)flags;
	if (fd != HIVE_FD || off != 0 || len != hive.len || (prot & PROT_WRITE)) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	return (void *)hive.data; /* read-only use: libhivex maps a read-only hive PROT_READ */
}

int ins_hive_munmap(void *addr, size_t len)
{
	(void)len;
	return addr == hive.data ? 0 : (errno = EINVAL, -1);
}

int ins_hive_close(int fd)
{
	return fd == HIVE_FD ? 0 : (errno = EBADF, -1);
}

/* ---- the facts ---- */

static void put_string(hive_h *h, hive_node_h node, const char *value, const char *key, struct ins_out *o)
{
	hive_value_h v = hivex_node_get_value(h, node, value);
	char *s = v ? hivex_value_string(h, v) : NULL;
	if (s && s[0])
		ins_put(o, key, "%s", s);
	free(s);
}

static void put_dword(hive_h *h, hive_node_h node, const char *value, const char *key, struct ins_out *o)
{
	hive_value_h v = hivex_node_get_value(h, node, value);
	hive_type t;
	size_t len;
	if (v && hivex_value_type(h, v, &t, &len) == 0 && t == hive_t_REG_DWORD)
		ins_put(o, key, "%d", hivex_value_dword(h, v));
}

/* Reads the hive at path into the one hive being served and opens it:
 * the handle (close with hive_done), or NULL with a note. */
static hive_h *hive_open(const struct ins_fs_ops *ops, const char *path, const char *what, struct ins_out *o)
{
	char *data;
	size_t len;
	int rc = ins_slurp(ops, path, INSPECT_HIVE_MAX, &data, &len);
	if (rc == -EFBIG)
		ins_put(o, "note", "the %s hive is larger than %u MiB: not read", what, INSPECT_HIVE_MAX >> 20);
	else if (rc < 0 && rc != -ENOENT)
		ins_put(o, "note", "the %s hive cannot be read (%s)", what, strerror(-rc));
	if (rc < 0)
		return NULL;
	if (strcmp(what, "SOFTWARE") == 0)
		ins_put(o, "win.hive", "%zu", len);
	hive.data = data;
	hive.len = len;
	hive_h *h = hivex_open(HIVE_NAME, 0);
	if (!h) {
		ins_put(o, "note", "the %s hive cannot be opened: %s", what, strerror(errno));
		free(data);
		hive.data = NULL;
		hive.len = 0;
	}
	return h;
}

static void hive_done(hive_h *h)
{
	hivex_close(h);
	free((void *)hive.data);
	hive.data = NULL;
	hive.len = 0;
}

/* The key at path (names, n of them) from the root: 0 when there is none. */
static hive_node_h key_at(hive_h *h, const char *const *path, size_t n)
{
	hive_node_h node = hivex_root(h);
	for (size_t i = 0; node && i < n; i++)
		node = hivex_node_get_child(h, node, path[i]);
	return node;
}

/* The applications of one Uninstall key (as Programs and Features lists
 * them: each subkey with a DisplayName), one "pkg" fact each:
 * "DisplayName DisplayVersion arch" (the name may hold blanks, the last two
 * fields none).  *cut: ins_put_pkg's bound, once one bites. */
static void apps(hive_h *h, hive_node_h uninstall, const char *arch, unsigned *count, int *cut, struct ins_out *o)
{
	hive_node_h *kids = hivex_node_children(h, uninstall);
	for (size_t i = 0; kids && kids[i] && !*cut; i++) {
		hive_value_h v = hivex_node_get_value(h, kids[i], "DisplayName");
		char *name = v ? hivex_value_string(h, v) : NULL;
		if (name && name[strspn(name, " \t\r\n")]) {
			v = hivex_node_get_value(h, kids[i], "DisplayVersion");
			char *ver = v ? hivex_value_string(h, v) : NULL;
			for (char *c = name; *c; c++)
				if (*c == '\t' || *c == '\n' || *c == '\r')
					*c = ' ';
			for (char *c = ver; c && *c; c++)
				if (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r')
					*c = '_';
			int rc = ins_put_pkg(o, name, ver && ver[0] ? ver : "(none)", arch);
			if (rc < 0)
				*cut = rc;
			else
				++*count;
			free(ver);
		}
		free(name);
	}
	free(kids);
}

void ins_inspect_windows(const struct ins_fs_ops *ops, struct ins_out *o, const char *arch)
{
	static const char *const cv[] = {"Microsoft", "Windows NT", "CurrentVersion"};
	static const char *const un[] = {"Microsoft", "Windows", "CurrentVersion", "Uninstall"};
	static const char *const un32[] = {"WOW6432Node", "Microsoft", "Windows", "CurrentVersion", "Uninstall"};
	hive_h *h = hive_open(ops, "/Windows/System32/config/SOFTWARE", "SOFTWARE", o);
	if (h) {
		hive_node_h node = key_at(h, cv, 3);
		if (!node)
			ins_put(o, "note", "the SOFTWARE hive has no Microsoft\\Windows NT\\CurrentVersion key");
		else {
			put_string(h, node, "ProductName", "win.product", o);
			put_string(h, node, "CurrentVersion", "win.version", o);
			put_string(h, node, "CurrentBuild", "win.build", o);
			put_string(h, node, "CurrentBuildNumber", "win.build", o);
			put_string(h, node, "EditionID", "win.edition", o);
			put_string(h, node, "InstallationType", "win.type", o);
			put_dword(h, node, "CurrentMajorVersionNumber", "win.major", o);
			put_dword(h, node, "CurrentMinorVersionNumber", "win.minor", o);
		}
		/* The applications: the native Uninstall key (the OS's arch),
		 * and a 64-bit Windows' 32-bit one (x86 programs, also on
		 * aarch64). */
		unsigned count = 0;
		int cut = 0;
		if ((node = key_at(h, un, 4)))
			apps(h, node, arch[0] ? arch : "(none)", &count, &cut, o);
		if ((node = key_at(h, un32, 5)))
			apps(h, node, "i686", &count, &cut, o);
		ins_put(o, "pkgdb", "registry %u", count);
		ins_pkg_cut_note(o, cut);
		hive_done(h);
	}
	/* The host name, of the control set SYSTEM\Select's Current names. */
	if (!(h = hive_open(ops, "/Windows/System32/config/SYSTEM", "SYSTEM", o)))
		return;
	static const char *const sel[] = {"Select"};
	hive_node_h node = key_at(h, sel, 1);
	hive_value_h v = node ? hivex_node_get_value(h, node, "Current") : 0;
	hive_type t;
	size_t len;
	if (v && hivex_value_type(h, v, &t, &len) == 0 && t == hive_t_REG_DWORD) {
		char set[32];
		snprintf(set, sizeof(set), "ControlSet%03d", hivex_value_dword(h, v));
		/* The host name as Windows' own `hostname` prints it (and
		 * virt-inspector reads it): Tcpip's Hostname, case kept, longer
		 * than 15; else the NetBIOS computer name. */
		const char *const tcpip[] = {set, "Services", "Tcpip", "Parameters"};
		const char *const cn[] = {set, "Control", "ComputerName", "ComputerName"};
		size_t was = o->len;
		if ((node = key_at(h, tcpip, 4)))
			put_string(h, node, "Hostname", "hostname", o);
		if (o->len == was && (node = key_at(h, cn, 4)))
			put_string(h, node, "ComputerName", "hostname", o);
	} else {
		ins_put(o, "note", "the SYSTEM hive has no Select\\Current: no host name");
	}
	hive_done(h);
}
