/*
 * helper.c — `imgfs inside-helper`: one guest file system, read in a
 * process that can do nothing else (SPEC §18), by the reader of its kind
 * (ins_fs.h: ext.c through libext2fs, ...).
 *
 * The daemon starts it with its end of a socket pair as fd 3.  Before it
 * reads a byte of the guest's, it gives up what it could misuse: root's
 * uid (it becomes nobody, 65534, with no groups), every other descriptor,
 * core dumps, and then every system call but reading and writing that
 * socket, writing its stderr (a pipe the daemon reads into its log, at
 * most 64 KiB a helper: what a library or a sanitizer says is seen, issue
 * 47), memory (brk, mmap, munmap, mremap, mprotect, madvise), exit and
 * futex (a libseccomp filter whose default action kills the process; a
 * sanitizer build allows the few calls its reports make).  Its CPU
 * time and address space are bounded (RLIMIT_CPU, RLIMIT_AS): a file
 * system that makes a reader loop or allocate without end kills the
 * helper, and the daemon answers EIO for that volume (fs/fuse/inside.c).
 *
 * Its only source of bytes is the daemon: ins_fetch() (wire.c) turns each
 * read of a reader into an INS_H_READ and waits for the bytes.  Nothing
 * is ever written.  What is common to the readers is here: the protocol,
 * a listing's pages (each from a position: issue 47), the 32-bit inode
 * numbers of the wire.
 */
#include <errno.h>
#include <grp.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ins_fs.h"
#include "ins_inspect.h"
#include "ins_lvm.h"
#include "ins_wire.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#include <sys/syscall.h>
#endif

#define HELPER_UID 65534 /* nobody */
#define HELPER_CPU_SECONDS 60
#define HELPER_AS_BYTES (512ull << 20)

/* The readers (ins_fs.h), by the kind the daemon names. */
static const struct ins_fs_ops *const readers[] = {
	&ins_fs_ext,
	&ins_fs_fat,
	&ins_fs_ntfs,
	&ins_fs_xfs,
	&ins_fs_lvm,
};

const struct ins_fs_ops *ins_fs_find(uint32_t kind)
{
	for (size_t i = 0; i < sizeof(readers) / sizeof(readers[0]); i++)
		if (readers[i]->kind == kind)
			return readers[i];
	return NULL;
}

/* ---- the sandbox --------------------------------------------------------- */

static int sandbox(void)
{
	struct rlimit cpu = {HELPER_CPU_SECONDS, HELPER_CPU_SECONDS + 1}, as = {HELPER_AS_BYTES, HELPER_AS_BYTES},
		      zero = {0, 0};
	if (chdir("/") < 0 || prctl(PR_SET_NAME, "imgfs-inside") < 0)
		return -1;
	if (getuid() == 0 || geteuid() == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(HELPER_UID, HELPER_UID, HELPER_UID) < 0 ||
		    setresuid(HELPER_UID, HELPER_UID, HELPER_UID) < 0)
			return -1;
	}
	if (getuid() == 0 || geteuid() == 0)
		return -1; /* never parse as root */
	if (setrlimit(RLIMIT_CPU, &cpu) < 0 || setrlimit(RLIMIT_CORE, &zero) < 0 ||
	    setrlimit(RLIMIT_FSIZE, &zero) < 0 || prctl(PR_SET_DUMPABLE, 0) < 0)
		return -1;
#ifndef __SANITIZE_ADDRESS__
	/* (An ASan build's shadow memory is terabytes of address space
	 * reserved: there the sanitizer's own bounds apply instead.) */
	if (setrlimit(RLIMIT_AS, &as) < 0)
		return -1;
#else
	(void)as;
#endif
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!f)
		return -1;
	int rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(read), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)ins_sock));
	rc = rc ? rc : seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(write), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)ins_sock));
	rc = rc ? rc : seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(write), 1, SCMP_A0(SCMP_CMP_EQ, STDERR_FILENO));
#ifdef __SANITIZE_ADDRESS__
	/* A sanitizer's report inside the sandbox (issue 47): what it would
	 * read later (its binary's name, the mappings) read now, and the few
	 * calls its report makes. */
	__sanitizer_sandbox_on_notify(NULL);
	static const int report[] = {SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(sched_yield), SCMP_SYS(readlink),
	                             SCMP_SYS(getrlimit), SCMP_SYS(prlimit64), SCMP_SYS(sigaltstack),
	                             SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask)}; /* futex: below */
	for (size_t i = 0; !rc && i < sizeof(report) / sizeof(report[0]); i++)
		rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, report[i], 0);
	/* Its symbolizer (files, a process of its own) is refused, not fatal:
	 * the report comes with addresses. */
	static const int refused[] = {SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(execve), SCMP_SYS(clone),
	                              SCMP_SYS(fork), SCMP_SYS(vfork), SCMP_SYS(pipe), SCMP_SYS(pipe2)};
	for (size_t i = 0; !rc && i < sizeof(refused) / sizeof(refused[0]); i++)
		rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(EACCES), refused[i], 0);
	rc = rc ? rc : seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl), 0); /* isatty(2): no colours */
#endif
	/* futex: glibc's once-only initializations and locks, which librpm and
	 * libhivex take (a process of one thread only ever wakes itself). */
	static const int mem[] = {SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap),
	                          SCMP_SYS(mprotect), SCMP_SYS(madvise), SCMP_SYS(exit), SCMP_SYS(exit_group),
	                          SCMP_SYS(rt_sigreturn), SCMP_SYS(futex)};
	for (size_t i = 0; !rc && i < sizeof(mem) / sizeof(mem[0]); i++)
		rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, mem[i], 0);
	rc = rc ? rc : seccomp_load(f);
	seccomp_release(f);
	return rc ? -1 : 0;
}

/* ---- answers ------------------------------------------------------------- */

static const struct ins_fs_ops *fs; /* the reader of the open volume */

/* An error answer: the reader's reason, or dflt when it gave none. */
static void send_fail(int rc, const char *dflt)
{
	ins_send_err(-rc, rc == -EIO && ins_why_buf[0] ? ins_why_buf : dflt);
}

/* The guest's inode number as the protocol carries it (SPEC §18: 32 bits).
 * 0: past them (an XFS's past 2^32): not shown. */
static uint32_t wire_ino(uint64_t ino)
{
	return ino <= UINT32_MAX ? (uint32_t)ino : 0;
}

/* st of ino (0: the root): 0 or -errno. */
static int get_stat(uint64_t ino, struct ins_stat *st)
{
	int rc;
	if (ino == 0)
		ino = fs->root();
	if (!wire_ino(ino)) {
		ins_why("inode number %llu is past the 32 bits files/ gives it (SPEC §18)", (unsigned long long)ino);
		return -EIO;
	}
	if ((rc = fs->stat(ino, st)) < 0)
		return rc;
	st->ino = (uint32_t)ino;
	return 0;
}

/* A page of a listing (SPEC §18, issue 47): the reader walks from the
 * position asked and stops once the page is full or INS_LIST_BLOCKS of
 * the directory's blocks were read; each entry's attributes are read after
 * the walk (a reader's walk is not interleaved with reading other
 * inodes).  Nothing is kept between pages: the next one starts from the
 * position this one gives, so a listing costs what it returns. */
struct page {
	uint32_t max, n, blocks;
	bool names;     /* INS_T_NAMES: names and types only, no inode read */
	bool spread_full;                   /* the page ended at its spread */
	uint32_t nspread;                   /* pieces in spread */
	uint64_t spread[INS_LIST_SPREAD];   /* the MiB-pieces of the volume its inodes lie in */
	size_t wire;    /* the wire's bytes of an entry but its name */
	size_t bytes;   /* the wire's bytes of the entries so far */
	uint64_t at;    /* where the walk is: past every entry and block taken */
	char *out;      /* names: the answer, u64 next and the entries so far
	                 * (written as taken: no entry kept, issue 67) */
	struct ent {
		uint64_t ino, after;
		uint32_t order; /* its place in the walk */
		uint32_t type;  /* as the directory entry says it (ins_fs.h) */
		uint16_t len;
		struct ins_stat st;
		char name[INS_NAME_MAX];
	} *e;
};

static int by_ino(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int by_order(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	return x->order < y->order ? -1 : x->order > y->order;
}

#define PAGE_BYTES (INS_MAX_PAYLOAD - 64)
#define ENT_WIRE (sizeof(struct ins_stat) + sizeof(uint64_t) + 2)
#define NAME_WIRE (2 * sizeof(uint32_t) + sizeof(uint64_t) + 2)

/* Issue 67: an entry's inode at byte at of the volume (UINT64_MAX: the
 * reader cannot tell; its stat says why, if it must) joins a page with
 * attributes if its MiB of the volume is one of the page's or the page
 * lies in fewer than INS_LIST_SPREAD: each costs the daemon a chunk
 * loaded, so that a page of a large directory, whose inodes lie all over
 * its inode tables, costs INS_LIST_SPREAD chunks at most, not one an
 * entry (512 a page of a 1,000,000-entry ext4 directory).  1: full,
 * the entry starts the next page (never the page's first). */
static int spread(struct page *p, uint64_t at)
{
	if (at == UINT64_MAX)
		return 0;
	for (uint32_t i = 0; i < p->nspread; i++)
		if (p->spread[i] == at >> 20)
			return 0;
	if (p->nspread >= INS_LIST_SPREAD) {
		p->spread_full = true;
		return 1; /* (a piece is kept with an entry taken: never the first) */
	}
	p->spread[p->nspread++] = at >> 20;
	return 0;
}

/* One entry, or a block read (name NULL): an ins_add_fn. */
static int take(void *arg, uint64_t ino, const char *name, size_t len, unsigned type, uint64_t after)
{
	struct page *p = arg;
	int rc;
	/* Entries move forward; a block's end may be where its last entry's is. */
	if (after < p->at || (name && after == p->at) || after > INS_POS_MAX) {
		ins_why("the directory's walk went back (position %llu after %llu)", (unsigned long long)after,
		        (unsigned long long)p->at);
		return -EIO;
	}
	if (!name) {
		p->at = after;
		return ++p->blocks >= INS_LIST_BLOCKS; /* enough read for one page */
	}
	if (len == 0 || len > INS_NAME_MAX || ino == 0 || (p->names && !wire_ino(ino))) {
		/* Not an entry anyone can name (or, past 32 bits, that files/
		 * shows: a listing with attributes shows it as nothing): passed. */
		p->at = after;
		return 0;
	}
	if (p->n >= p->max || sizeof(uint64_t) + p->bytes + p->wire + len > PAGE_BYTES)
		return 1; /* full: this one starts the next page */
	if (!p->names && fs->inode_at && (rc = spread(p, fs->inode_at(ino))) != 0)
		return rc;
	if (p->names) {
		/* Names, numbers and types as the directory's entries hold them:
		 * no inode read (SPEC §18.7: what `ls -f` costs). */
		char *o = p->out + sizeof(uint64_t) + p->bytes;
		uint32_t ino32 = (uint32_t)ino, type32 = type;
		uint16_t len16 = (uint16_t)len;
		memcpy(o, &ino32, 4);
		memcpy(o + 4, &type32, 4);
		memcpy(o + 8, &after, 8);
		memcpy(o + 16, &len16, 2);
		memcpy(o + NAME_WIRE, name, len);
		p->n++;
		p->bytes += NAME_WIRE + len;
		p->at = after;
		return 0;
	}
	struct ent *e = &p->e[p->n++];
	e->ino = ino;
	e->after = after;
	e->type = type;
	e->len = (uint16_t)len;
	memcpy(e->name, name, len);
	p->bytes += p->wire + len;
	p->at = after;
	return 0;
}

/* INS_T_LIST (names false) or INS_T_NAMES (ins_proto.h). */
static void do_list(const struct ins_req_list *r, bool names)
{
	struct ins_stat st;
	int rc;
	if ((rc = get_stat(r->dir, &st)) < 0 || !S_ISDIR(st.mode)) {
		send_fail(rc < 0 ? rc : -ENOTDIR, rc < 0 ? "cannot read the directory's inode" : "not a directory");
		return;
	}
	if (r->from > INS_POS_MAX) {
		ins_send_err(EINVAL, "a position past any directory's");
		return;
	}
	/* Entries of at least a byte of name each: a page of max entries
	 * fits in what the payload holds. */
	size_t wire = names ? NAME_WIRE : ENT_WIRE;
	uint32_t max = r->max;
	if (max > PAGE_BYTES / (wire + 1))
		max = (uint32_t)(PAGE_BYTES / (wire + 1));
	struct page p = {.max = max, .names = names, .wire = wire, .at = r->from};
	char *out = NULL;
	if (names ? !(p.out = malloc(PAGE_BYTES)) : max && !(p.e = malloc(max * sizeof(*p.e)))) {
		ins_send_err(ENOMEM, "out of memory");
		return;
	}
	ins_why_buf[0] = '\0';
	rc = max ? fs->list(st.ino, r->from, take, &p) : 1;
	if (rc < 0) {
		free(p.e);
		free(p.out);
		send_fail(rc, "the directory's blocks cannot be read");
		return;
	}
	uint64_t next = rc == 0 ? 0 : p.at; /* 0: the walk reached the directory's end */
	if (next && p.spread_full)
		next |= INS_NEXT_SPREAD;
	size_t used = sizeof(next);
	if (names) {
		memcpy(p.out, &next, sizeof(next));
		ins_send_msg(INS_H_OK, p.out, used + p.bytes, NULL, 0);
		free(p.out);
		return;
	}
	if (!(out = malloc(used + p.bytes))) {
		free(p.e);
		ins_send_err(ENOMEM, "out of memory");
		return;
	}
	memcpy(out, &next, sizeof(next));
	/* The entries' attributes are read in the order of their inodes, not
	 * of their names: a large directory's names (an htree's hash order)
	 * lie all over its inode tables, and read in name order each inode's
	 * block would evict the last one's (the daemon loads a whole chunk
	 * for each: a page of a 1,000,000-entry ext4 directory cost 512 chunk
	 * loads).  In inode order a page reads each block, and each chunk,
	 * once. */
	for (uint32_t i = 0; i < p.n; i++)
		p.e[i].order = i;
	qsort(p.e, p.n, sizeof(*p.e), by_ino);
	uint64_t *inos = fs->prefetch && p.n > 1 ? malloc(p.n * sizeof(*inos)) : NULL;
	if (inos) { /* their blocks in a few exchanges, not one each */
		for (uint32_t i = 0; i < p.n; i++)
			inos[i] = p.e[i].ino;
		fs->prefetch(inos, p.n);
		free(inos);
	}
	for (uint32_t i = 0; i < p.n; i++) {
		struct ent *e = &p.e[i];
		if (get_stat(e->ino, &e->st) < 0) {
			/* An entry naming a free or unreadable inode (or one
			 * numbered past 32 bits): shown as nothing rather than
			 * failing the whole directory. */
			memset(&e->st, 0, sizeof(e->st));
			e->st.ino = wire_ino(e->ino);
		}
	}
	qsort(p.e, p.n, sizeof(*p.e), by_order);
	for (uint32_t i = 0; i < p.n; i++) {
		struct ent *e = &p.e[i];
		memcpy(out + used, &e->st, sizeof(e->st));
		memcpy(out + used + sizeof(st), &e->after, sizeof(e->after));
		memcpy(out + used + sizeof(st) + sizeof(e->after), &e->len, 2);
		memcpy(out + used + ENT_WIRE, e->name, e->len);
		used += ENT_WIRE + e->len;
	}
	ins_send_msg(INS_H_OK, out, used, NULL, 0);
	free(out);
	free(p.e);
}

static void do_lookup(uint32_t dir, const char *name, size_t len)
{
	struct ins_stat st;
	uint64_t ino;
	int rc;
	if (len == 0 || len > INS_NAME_MAX) {
		ins_send_err(ENOENT, "no such name");
		return;
	}
	if ((rc = get_stat(dir, &st)) < 0 || !S_ISDIR(st.mode)) {
		send_fail(rc < 0 ? rc : -ENOTDIR, "not a directory");
		return;
	}
	if ((rc = fs->lookup(st.ino, name, len, &ino)) < 0) {
		send_fail(rc, rc == -ENOENT ? "no such name" : "the directory cannot be read");
		return;
	}
	if ((rc = get_stat(ino, &st)) < 0) {
		/* A name that leads nowhere is a damaged directory. */
		send_fail(-EIO, "the entry's inode cannot be read");
		return;
	}
	ins_send_msg(INS_H_OK, &st, sizeof(st), NULL, 0);
}

static void do_read(const struct ins_req_read *r)
{
	struct ins_stat st;
	int rc;
	if ((rc = get_stat(r->ino, &st)) < 0 || !S_ISREG(st.mode)) {
		send_fail(rc < 0 ? rc : -EINVAL, "not a regular file");
		return;
	}
	uint32_t len = r->len > INS_MAX_READ ? INS_MAX_READ : r->len, got = 0;
	if (r->off >= st.size) {
		ins_send_msg(INS_H_OK, NULL, 0, NULL, 0);
		return;
	}
	if (len > st.size - r->off)
		len = (uint32_t)(st.size - r->off);
	char *buf = malloc(len ? len : 1);
	if (!buf) {
		ins_send_err(ENOMEM, "out of memory");
		return;
	}
	if ((rc = fs->read(st.ino, r->off, len, buf, &got)) < 0 || got > len)
		send_fail(rc < 0 ? rc : -EIO, "the file's blocks cannot be read");
	else
		ins_send_msg(INS_H_OK, buf, got, NULL, 0);
	free(buf);
}

static void do_readlink(uint32_t ino)
{
	struct ins_stat st;
	char buf[4096];
	int rc;
	if ((rc = get_stat(ino, &st)) < 0 || !S_ISLNK(st.mode)) {
		send_fail(rc < 0 ? rc : -EINVAL, "not a symbolic link");
		return;
	}
	/* PATH_MAX bounds what the kernel accepts as a target. */
	if (st.size == 0 || st.size >= sizeof(buf)) {
		ins_send_err(EIO, "the link's stored length is out of bounds");
		return;
	}
	size_t len = (size_t)st.size;
	if ((rc = fs->readlink(st.ino, buf, len)) < 0) {
		send_fail(rc, "the link cannot be read");
		return;
	}
	if (memchr(buf, '\0', len)) {
		ins_send_err(EIO, "the link's target holds a NUL byte");
		return;
	}
	ins_send_msg(INS_H_OK, buf, len, NULL, 0);
}

/* An INS_T_XATTRS answer being built: bounded by the payload and by
 * Linux's own list bound (the names past it are not shown). */
struct xlist {
	char *out;
	size_t used, cap, names;
};

static int xattr_add(void *arg, const char *name, size_t nlen, const void *value, size_t vlen)
{
	struct xlist *x = arg;
	uint32_t flag = 0;
	if (!value) { /* damaged: the reader's reason is its value (ins_fs.h) */
		value = ins_why_buf[0] ? ins_why_buf : "its value does not parse";
		vlen = strnlen(value, INS_XATTR_WHY_MAX);
		flag = INS_XATTR_DAMAGED;
	}
	if (nlen == 0 || nlen > INS_XATTR_NAME_MAX || vlen > INS_XATTR_VALUE_MAX)
		return 0; /* not one Linux could show */
	if (x->names + nlen + 1 > INS_XATTR_LIST_MAX || x->used + 6 + nlen + vlen > x->cap) {
		/* Past Linux's own bound on a list: the entry that says so (a
		 * name of one NUL byte) ends the answer (listxattr: E2BIG). */
		static const char over[6] = {1, 0, 0, 0, 0, 0};
		memcpy(x->out + x->used, over, sizeof(over));
		x->out[x->used + 6] = '\0';
		x->used += 7;
		return 1;
	}
	uint16_t l16 = (uint16_t)nlen;
	uint32_t l32 = (uint32_t)vlen | flag;
	memcpy(x->out + x->used, &l16, 2);
	memcpy(x->out + x->used + 2, &l32, 4);
	memcpy(x->out + x->used + 6, name, nlen);
	memcpy(x->out + x->used + 6 + nlen, value, vlen);
	x->used += 6 + nlen + vlen;
	x->names += nlen + 1;
	return 0;
}

/* The last inode's answer: getfattr and rsync ask for the list, then for
 * each name, and every ask is answered from it (the volume never changes:
 * its blob is sealed). */
static struct {
	uint32_t ino;
	struct xlist x;
} xlast;

static void do_xattrs(uint32_t ino)
{
	struct ins_stat st;
	int rc;
	if (xlast.x.out && xlast.ino == ino) {
		ins_send_msg(INS_H_OK, xlast.x.out, xlast.x.used, NULL, 0);
		return;
	}
	if ((rc = get_stat(ino, &st)) < 0) {
		send_fail(rc, "the inode cannot be read");
		return;
	}
	if (!fs->xattrs) {
		ins_send_msg(INS_H_OK, NULL, 0, NULL, 0);
		return;
	}
	free(xlast.x.out);
	xlast.x = (struct xlist){NULL, 0, INS_MAX_PAYLOAD - 64 - 7, 0}; /* (room for the marker) */
	if (!(xlast.x.out = malloc(xlast.x.cap))) {
		ins_send_err(ENOMEM, "out of memory");
		return;
	}
	if ((rc = fs->xattrs(st.ino, xattr_add, &xlast.x)) < 0) {
		send_fail(rc, "the extended attributes cannot be read");
		free(xlast.x.out);
		xlast.x.out = NULL;
		return;
	}
	xlast.ino = ino;
	ins_send_msg(INS_H_OK, xlast.x.out, xlast.x.used, NULL, 0);
}

/* INS_T_INSPECT: what the volume holds (inspect.c, SPEC §20), up to
 * INSPECT_ANSWER_MAX bytes, sent in parts of INSPECT_PART: an empty
 * request inspects and answers the first part; a u32 k, part k of the
 * answer the last inspection made (kept until its last part, the first
 * shorter than INSPECT_PART, is sent). */
static struct ins_out inspected;

static void do_inspect(const char *req, uint32_t len)
{
	uint32_t part = 0;
	if (len == sizeof(part))
		memcpy(&part, req, sizeof(part));
	else if (len != 0)
		ins_die();
	if (len == 0) {
		free(inspected.buf);
		inspected = (struct ins_out){malloc(INSPECT_ANSWER_MAX), 0, INSPECT_ANSWER_MAX, false, 0, 0};
		if (!inspected.buf) {
			ins_send_err(ENOMEM, "out of memory");
			return;
		}
		ins_inspect(fs, &inspected);
	} else if (!inspected.buf || (uint64_t)part * INSPECT_PART > inspected.len) {
		ins_send_err(EINVAL, "no such part of the inspection's answer");
		return;
	}
	size_t at = (size_t)part * INSPECT_PART, n = inspected.len - at < INSPECT_PART ? inspected.len - at : INSPECT_PART;
	ins_send_msg(INS_H_OK, inspected.buf + at, n, NULL, 0);
	if (n < INSPECT_PART) {
		/* The last part: the answer is not kept (a helper serving files/
		 * for hours holds no inspection's memory). */
		free(inspected.buf);
		inspected = (struct ins_out){0};
	}
}

static void do_open(const struct ins_req_open *r)
{
	char why[200] = "";
	const struct ins_fs_ops *ops = ins_fs_find(r->kind);
	if (!ops) {
		ins_send_err(EIO, "no reader for this kind of file system");
		return;
	}
	if (ops->open(r->size, why, sizeof(why)) < 0) {
		ins_send_err(EIO, why[0] ? why : "the file system cannot be opened");
		return;
	}
	fs = ops;
	/* The root's attributes come with the answer: the next thing a
	 * reader needs (one round trip fewer for a cold first file). */
	struct ins_stat st;
	if (get_stat(0, &st) < 0)
		ins_send_msg(INS_H_OK, NULL, 0, NULL, 0);
	else
		ins_send_msg(INS_H_OK, &st, sizeof(st), NULL, 0);
}

int ins_helper_main(int fd)
{
	static char payload[INS_MAX_PAYLOAD];
	ins_sock = fd;
	ins_inspect_prepare(); /* what libraries would open later, before the filter */
	if (sandbox() < 0)
		return 3;
	for (;;) {
		struct ins_msg h;
		if (ins_full_read(&h, sizeof(h)) < 0 || h.len > INS_MAX_PAYLOAD || ins_full_read(payload, h.len) < 0)
			return 0; /* the daemon closed: done */
		if (h.type != INS_T_OPEN && !fs) {
			ins_send_err(EIO, "no file system open");
			continue;
		}
		ins_why_buf[0] = '\0';
		switch (h.type) {
		case INS_T_OPEN: {
			struct ins_req_open r;
			if (h.len != sizeof(r) || fs)
				ins_die();
			memcpy(&r, payload, sizeof(r));
			do_open(&r);
			break;
		}
		case INS_T_STAT: {
			uint32_t ino;
			struct ins_stat st;
			int rc;
			if (h.len != sizeof(ino))
				ins_die();
			memcpy(&ino, payload, sizeof(ino));
			if ((rc = get_stat(ino, &st)) < 0)
				send_fail(rc, "the inode cannot be read");
			else
				ins_send_msg(INS_H_OK, &st, sizeof(st), NULL, 0);
			break;
		}
		case INS_T_LOOKUP: {
			uint32_t dir;
			if (h.len < sizeof(dir))
				ins_die();
			memcpy(&dir, payload, sizeof(dir));
			do_lookup(dir, payload + sizeof(dir), h.len - sizeof(dir));
			break;
		}
		case INS_T_LIST:
		case INS_T_NAMES: {
			struct ins_req_list r;
			if (h.len != sizeof(r))
				ins_die();
			memcpy(&r, payload, sizeof(r));
			do_list(&r, h.type == INS_T_NAMES);
			break;
		}
		case INS_T_READ: {
			struct ins_req_read r;
			if (h.len != sizeof(r))
				ins_die();
			memcpy(&r, payload, sizeof(r));
			do_read(&r);
			break;
		}
		case INS_T_READLINK: {
			uint32_t ino;
			if (h.len != sizeof(ino))
				ins_die();
			memcpy(&ino, payload, sizeof(ino));
			do_readlink(ino);
			break;
		}
		case INS_T_LVM: {
			char why[200] = "";
			struct ins_out o = {malloc(INS_MAX_PAYLOAD - 64), 0, INS_MAX_PAYLOAD - 64, false, 0, 0};
			if (h.len != 0 || fs->kind != INS_FS_LVM)
				ins_die();
			int rc = o.buf ? ins_lvm_answer(&o, why, sizeof(why)) : -ENOMEM;
			if (rc < 0)
				ins_send_err(-rc, why[0] ? why : "out of memory");
			else
				ins_send_msg(INS_H_OK, o.buf, o.len, NULL, 0);
			free(o.buf);
			break;
		}
		case INS_T_INSPECT:
			do_inspect(payload, h.len);
			break;
		case INS_T_XATTRS: {
			uint32_t ino;
			if (h.len != sizeof(ino))
				ins_die();
			memcpy(&ino, payload, sizeof(ino));
			do_xattrs(ino);
			break;
		}
		default:
			ins_die();
		}
	}
}
