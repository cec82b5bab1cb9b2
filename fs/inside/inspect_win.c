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
 * Bounded: a hive larger than INSPECT_HIVE_MAX is not read (a note); a
 * key path of five names is followed, no walk of the tree.
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

void ins_inspect_windows(const struct ins_fs_ops *ops, struct ins_out *o)
{
	static const char *const path[] = {"Microsoft", "Windows NT", "CurrentVersion"};
	char *data;
	size_t len;
	int rc = ins_slurp(ops, "/Windows/System32/config/SOFTWARE", INSPECT_HIVE_MAX, &data, &len);
	if (rc == -EFBIG)
		ins_put(o, "note", "the SOFTWARE hive is larger than %u MiB: not read", INSPECT_HIVE_MAX >> 20);
	if (rc < 0)
		return;
	ins_put(o, "win.hive", "%zu", len);
	hive.data = data;
	hive.len = len;
	hive_h *h = hivex_open(HIVE_NAME, 0);
	hive_node_h node = h ? hivex_root(h) : 0;
	for (size_t i = 0; node && i < sizeof(path) / sizeof(path[0]); i++)
		node = hivex_node_get_child(h, node, path[i]);
	if (!h)
		ins_put(o, "note", "the SOFTWARE hive cannot be opened: %s", strerror(errno));
	else if (!node)
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
	if (h)
		hivex_close(h);
	hive.data = NULL;
	hive.len = 0;
	free(data);
}
