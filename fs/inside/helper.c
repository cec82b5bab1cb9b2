/*
 * helper.c — `imgfs inside-helper`: one guest ext2/3/4 file system, read
 * through libext2fs in a process that can do nothing else (SPEC §18).
 *
 * The daemon starts it with its end of a socket pair as fd 3.  Before it
 * reads a byte of the guest's, it gives up what it could misuse: root's
 * uid (it becomes nobody, 65534, with no groups), every other descriptor,
 * core dumps, and then every system call but reading and writing that
 * socket, memory (brk, mmap, munmap, mremap, mprotect, madvise) and exit
 * (a libseccomp filter whose default action kills the process).  Its CPU
 * time and address space are bounded (RLIMIT_CPU, RLIMIT_AS): a file
 * system that makes libext2fs loop or allocate without end kills the
 * helper, and the daemon answers EIO for that volume (fs/fuse/inside.c).
 *
 * Its only source of bytes is the daemon: the io_manager below turns each
 * block read of libext2fs into an INS_H_READ and waits for the bytes.
 * Nothing is ever written (every write hook is EROFS, and the file system
 * is opened read-only).
 */
#include <errno.h>
#include <grp.h>
#include <seccomp.h>
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

#include <et/com_err.h>
#include <ext2fs/ext2fs.h>

#include "ins_proto.h"

#define HELPER_UID 65534 /* nobody */
#define HELPER_CPU_SECONDS 60
#define HELPER_AS_BYTES (512ull << 20)
#define LIST_CAP INS_LIST_CAP    /* entries of one directory (SPEC §18) */
#define LIST_NAME_BYTES (8u << 20) /* their names' bytes */
#define CACHE_SLOTS 1024         /* single-block reads kept (<= 4 KiB blocks) */
#define READ_AHEAD 16            /* blocks fetched around a miss */
#define READ_AHEAD_BYTES (256u << 10) /* around a miss that follows the last window */

static int sock = 3;
static uint64_t vol_size;

/* ---- the socket ---------------------------------------------------------- */

static int full_write(const void *p, size_t len)
{
	const char *c = p;
	while (len) {
		ssize_t n = write(sock, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

static int full_read(void *p, size_t len)
{
	char *c = p;
	while (len) {
		ssize_t n = read(sock, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The daemon is gone or speaks nonsense: nothing is left to do. */
static void die(void)
{
	_exit(2);
}

static void send_msg(uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
	struct ins_msg h = {type, (uint32_t)(alen + blen)};
	if (full_write(&h, sizeof(h)) < 0 || (alen && full_write(a, alen) < 0) || (blen && full_write(b, blen) < 0))
		die();
}

static void send_err(int err, const char *why)
{
	int32_t e = err;
	send_msg(INS_H_ERR, &e, sizeof(e), why, strlen(why));
}

/* ---- the io_manager: blocks from the daemon ------------------------------ */

static struct {
	uint64_t blk;
	bool valid;
	char *data;
} cache[CACHE_SLOTS];

static errcode_t fetch(uint64_t off, size_t len, void *data)
{
	char *p = data;
	while (len) {
		size_t part = len > INS_MAX_PAYLOAD ? INS_MAX_PAYLOAD : len;
		struct ins_req_blk r = {off, (uint32_t)part, 0};
		struct ins_msg h;
		send_msg(INS_H_READ, &r, sizeof(r), NULL, 0);
		if (full_read(&h, sizeof(h)) < 0 || h.type != INS_T_DATA || h.len > part)
			die();
		if (h.len && full_read(p, h.len) < 0)
			die();
		if (h.len < part) {
			memset(p + h.len, 0, part - h.len);
			return EXT2_ET_SHORT_READ; /* past the volume's end */
		}
		p += part;
		off += part;
		len -= part;
	}
	return 0;
}

static struct struct_io_manager inside_io;

static errcode_t io_open(const char *name, int flags, io_channel *out)
{
	io_channel ch;
	errcode_t rc;
	if (flags & IO_FLAG_RW)
		return EROFS;
	if ((rc = ext2fs_get_memzero(sizeof(*ch), &ch)))
		return rc;
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->manager = &inside_io;
	ch->block_size = 1024;
	ch->refcount = 1;
	if ((rc = ext2fs_get_mem(8, &ch->name))) {
		ext2fs_free_mem(&ch);
		return rc;
	}
	memcpy(ch->name, "inside", 7);
	*out = ch;
	return 0;
}

static errcode_t io_close(io_channel ch)
{
	if (--ch->refcount > 0)
		return 0;
	ext2fs_free_mem(&ch->name);
	ext2fs_free_mem(&ch);
	return 0;
}

static errcode_t io_set_blksize(io_channel ch, int blksize)
{
	if (blksize <= 0 || blksize > 65536)
		return EXT2_ET_INVALID_ARGUMENT;
	if (ch->block_size != blksize)
		for (int i = 0; i < CACHE_SLOTS; i++)
			cache[i].valid = false;
	ch->block_size = blksize;
	return 0;
}

static errcode_t io_read64(io_channel ch, unsigned long long blk, int count, void *data)
{
	uint64_t bytes = count < 0 ? (uint64_t)-(int64_t)count : (uint64_t)count * (uint64_t)ch->block_size;
	uint64_t off;
	if (blk > UINT64_MAX / (uint64_t)ch->block_size)
		return EXT2_ET_LLSEEK_FAILED;
	off = blk * (uint64_t)ch->block_size;
	if (off >= vol_size || bytes > vol_size - off || bytes > (64u << 20))
		return EXT2_ET_SHORT_READ;
	/* libext2fs reads a block at a time, metadata and file data alike,
	 * often the same one again, mostly its neighbours next: a miss asks
	 * the daemon for the aligned window of READ_AHEAD blocks around it
	 * (one round trip, not sixteen) and keeps them all.  A miss right
	 * after the last window (a file read in order) gets READ_AHEAD_BYTES
	 * (256 KiB whatever the block size: with 16 blocks, a large file read
	 * at half fuse2fs's speed); a random one keeps the small window, so
	 * that an extent block read again does not evict the file's next
	 * bytes. */
	if (count == 1 && ch->block_size <= 4096) {
		/* The blocks after the last four windows (a file's bytes and the
		 * metadata read between them are two streams, not one). */
		static uint64_t next_window[4];
		static unsigned next_turn;
		unsigned slot = (unsigned)(blk % CACHE_SLOTS), s;
		if (cache[slot].valid && cache[slot].blk == blk) {
			memcpy(data, cache[slot].data, bytes);
			return 0;
		}
		static char window[READ_AHEAD_BYTES];
		for (s = 0; s < 4 && next_window[s] != blk; s++)
			;
		uint64_t first = s < 4 ? blk : blk - blk % READ_AHEAD, woff = first * (uint64_t)ch->block_size;
		uint64_t wlen = s < 4 ? READ_AHEAD_BYTES : (uint64_t)READ_AHEAD * (uint64_t)ch->block_size;
		if (wlen > vol_size - woff)
			wlen = vol_size - woff; /* off + bytes fits: so does blk */
		wlen -= wlen % (uint64_t)ch->block_size;
		errcode_t rc = fetch(woff, (size_t)wlen, window);
		if (rc)
			return fetch(off, bytes, data);
		next_window[s < 4 ? s : next_turn++ % 4] = first + wlen / (uint64_t)ch->block_size;
		for (uint64_t b = first; b < first + wlen / (uint64_t)ch->block_size; b++) {
			unsigned sl = (unsigned)(b % CACHE_SLOTS);
			if (!cache[sl].data && !(cache[sl].data = malloc(4096)))
				continue;
			memcpy(cache[sl].data, window + (b - first) * (uint64_t)ch->block_size, bytes);
			cache[sl].blk = b;
			cache[sl].valid = true;
		}
		memcpy(data, window + (blk - first) * (uint64_t)ch->block_size, bytes);
		return 0;
	}
	return fetch(off, bytes, data);
}

static errcode_t io_read(io_channel ch, unsigned long blk, int count, void *data)
{
	return io_read64(ch, blk, count, data);
}

static errcode_t io_write(io_channel ch, unsigned long blk, int count, const void *data)
{
	return EROFS;
}

static errcode_t io_write64(io_channel ch, unsigned long long blk, int count, const void *data)
{
	return EROFS;
}

static errcode_t io_write_byte(io_channel ch, unsigned long off, int count, const void *data)
{
	return EROFS;
}

static errcode_t io_flush(io_channel ch)
{
	return 0;
}

static errcode_t io_set_option(io_channel ch, const char *opt, const char *arg)
{
	return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager inside_io = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "imgfs inside",
	.open = io_open,
	.close = io_close,
	.set_blksize = io_set_blksize,
	.read_blk = io_read,
	.write_blk = io_write,
	.flush = io_flush,
	.write_byte = io_write_byte,
	.set_option = io_set_option,
	.read_blk64 = io_read64,
	.write_blk64 = io_write64,
};

/* ---- the sandbox --------------------------------------------------------- */

static void quiet_com_err(const char *who, long code, const char *fmt, va_list args)
{
}

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
	int rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(read), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)sock));
	rc = rc ? rc : seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(write), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)sock));
	static const int mem[] = {SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap),
	                          SCMP_SYS(mprotect), SCMP_SYS(madvise), SCMP_SYS(exit), SCMP_SYS(exit_group),
	                          SCMP_SYS(rt_sigreturn)};
	for (size_t i = 0; !rc && i < sizeof(mem) / sizeof(mem[0]); i++)
		rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, mem[i], 0);
	rc = rc ? rc : seccomp_load(f);
	seccomp_release(f);
	return rc ? -1 : 0;
}

/* ---- answers ------------------------------------------------------------- */

static ext2_filsys fs;

static int64_t ext_time(uint32_t lo, uint32_t extra, bool has_extra)
{
	int64_t sec = (int32_t)lo;
	int64_t ns = 0;
	if (has_extra) {
		sec += (int64_t)(extra & 3) << 32;
		ns = extra >> 2;
		if (ns > 999999999)
			ns = 0;
	}
	return sec * 1000000000LL + ns;
}

static int get_stat(ext2_ino_t ino, struct ins_stat *st, struct ext2_inode_large *in)
{
	memset(in, 0, sizeof(*in));
	if (ino < 1 || ino > fs->super->s_inodes_count)
		return -ENOENT;
	if (ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)in, sizeof(*in)))
		return -EIO;
	if (in->i_links_count == 0 && in->i_mode == 0)
		return -ENOENT;
	bool big = EXT2_INODE_SIZE(fs->super) > EXT2_GOOD_OLD_INODE_SIZE;
	unsigned extra = big ? in->i_extra_isize : 0;
#define HAS(field) (big && offsetof(struct ext2_inode_large, field) + sizeof(in->field) <= EXT2_GOOD_OLD_INODE_SIZE + extra)
	memset(st, 0, sizeof(*st));
	st->ino = ino;
	st->mode = in->i_mode;
	st->uid = inode_uid(*in);
	st->gid = inode_gid(*in);
	st->nlink = in->i_links_count;
	st->size = EXT2_I_SIZE(in);
	st->blocks = ext2fs_get_stat_i_blocks(fs, (struct ext2_inode *)in);
	st->atime_ns = ext_time(in->i_atime, HAS(i_atime_extra) ? in->i_atime_extra : 0, HAS(i_atime_extra));
	st->mtime_ns = ext_time(in->i_mtime, HAS(i_mtime_extra) ? in->i_mtime_extra : 0, HAS(i_mtime_extra));
	st->ctime_ns = ext_time(in->i_ctime, HAS(i_ctime_extra) ? in->i_ctime_extra : 0, HAS(i_ctime_extra));
#undef HAS
	if (LINUX_S_ISCHR(in->i_mode) || LINUX_S_ISBLK(in->i_mode)) {
		unsigned maj, min;
		if (in->i_block[0]) {
			maj = (in->i_block[0] >> 8) & 255;
			min = in->i_block[0] & 255;
		} else {
			maj = (in->i_block[1] & 0xfff00) >> 8;
			min = (in->i_block[1] & 0xff) | ((in->i_block[1] >> 12) & 0xfff00);
		}
		st->rdev = (uint32_t)makedev(maj, min);
	}
	return 0;
}

/* The last directory listed, whole (bounded): the pages that follow are
 * served from it rather than by walking the directory again. */
static struct {
	ext2_ino_t dir;
	uint32_t count;
	size_t bytes;
	struct ent {
		ext2_ino_t ino;
		uint16_t len;
		char *name;
	} *e;
} listing;

static void listing_free(void)
{
	for (uint32_t i = 0; i < listing.count; i++)
		free(listing.e[i].name);
	free(listing.e);
	memset(&listing, 0, sizeof(listing));
}

static int collect(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset, int blocksize, char *buf,
                   void *priv)
{
	int len = ext2fs_dirent_name_len(d);
	int *failed = priv;
	if (d->inode == 0 || len <= 0 || (len == 1 && d->name[0] == '.') ||
	    (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
		return 0;
	if (listing.count >= LIST_CAP || listing.bytes + (size_t)len > LIST_NAME_BYTES)
		return DIRENT_ABORT; /* bounded (SPEC §18) */
	if (listing.count % 1024 == 0) {
		struct ent *n = realloc(listing.e, (listing.count + 1024) * sizeof(*n));
		if (!n) {
			*failed = -ENOMEM;
			return DIRENT_ABORT;
		}
		listing.e = n;
	}
	char *name = malloc((size_t)len);
	if (!name) {
		*failed = -ENOMEM;
		return DIRENT_ABORT;
	}
	memcpy(name, d->name, (size_t)len);
	listing.e[listing.count++] = (struct ent){d->inode, (uint16_t)len, name};
	listing.bytes += (size_t)len;
	return 0;
}

static void do_list(const struct ins_req_list *r)
{
	struct ins_stat st;
	struct ext2_inode_large in;
	int rc;
	if ((rc = get_stat(r->dir, &st, &in)) < 0 || !LINUX_S_ISDIR(st.mode)) {
		send_err(rc < 0 ? -rc : ENOTDIR, rc < 0 ? "cannot read the directory's inode" : "not a directory");
		return;
	}
	if (listing.dir != r->dir || r->from == 0) {
		int failed = 0;
		listing_free();
		if (ext2fs_dir_iterate2(fs, r->dir, 0, NULL, collect, &failed) || failed) {
			listing_free();
			send_err(failed ? -failed : EIO, "the directory's blocks cannot be read");
			return;
		}
		listing.dir = r->dir;
	}
	size_t cap = INS_MAX_PAYLOAD - 64, used = sizeof(uint32_t);
	char *out = malloc(cap);
	if (!out) {
		send_err(ENOMEM, "out of memory");
		return;
	}
	uint32_t i = r->from, n = 0;
	for (; i < listing.count && n < r->max; i++) {
		struct ent *e = &listing.e[i];
		if (used + sizeof(st) + 2 + e->len > cap)
			break;
		if (get_stat(e->ino, &st, &in) < 0) {
			/* An entry naming a free or unreadable inode: shown as
			 * nothing rather than failing the whole directory. */
			memset(&st, 0, sizeof(st));
			st.ino = e->ino;
		}
		memcpy(out + used, &st, sizeof(st));
		uint16_t len = e->len;
		memcpy(out + used + sizeof(st), &len, 2);
		memcpy(out + used + sizeof(st) + 2, e->name, e->len);
		used += sizeof(st) + 2 + e->len;
		n++;
	}
	uint32_t next = i < listing.count ? i : 0;
	memcpy(out, &next, sizeof(next));
	send_msg(INS_H_OK, out, used, NULL, 0);
	free(out);
}

static void do_lookup(uint32_t dir, const char *name, size_t len)
{
	char buf[INS_NAME_MAX + 1];
	ext2_ino_t ino;
	struct ins_stat st;
	struct ext2_inode_large in;
	int rc;
	if (len == 0 || len > INS_NAME_MAX) {
		send_err(ENOENT, "no such name");
		return;
	}
	memcpy(buf, name, len);
	buf[len] = '\0';
	if ((rc = get_stat(dir, &st, &in)) < 0 || !LINUX_S_ISDIR(st.mode)) {
		send_err(rc < 0 ? -rc : ENOTDIR, "not a directory");
		return;
	}
	errcode_t e = ext2fs_lookup(fs, dir, buf, (int)len, NULL, &ino);
	if (e == EXT2_ET_FILE_NOT_FOUND) {
		send_err(ENOENT, "no such name");
		return;
	}
	if (e || (rc = get_stat(ino, &st, &in)) < 0) {
		send_err(EIO, "the directory or the entry's inode cannot be read");
		return;
	}
	send_msg(INS_H_OK, &st, sizeof(st), NULL, 0);
}

static void do_read(const struct ins_req_read *r)
{
	struct ins_stat st;
	struct ext2_inode_large in;
	ext2_file_t f;
	int rc;
	if ((rc = get_stat(r->ino, &st, &in)) < 0 || !LINUX_S_ISREG(st.mode)) {
		send_err(rc < 0 ? -rc : EINVAL, "not a regular file");
		return;
	}
	uint32_t len = r->len > INS_MAX_READ ? INS_MAX_READ : r->len;
	if (r->off >= st.size) {
		send_msg(INS_H_OK, NULL, 0, NULL, 0);
		return;
	}
	if (len > st.size - r->off)
		len = (uint32_t)(st.size - r->off);
	char *buf = malloc(len ? len : 1);
	unsigned got = 0;
	if (!buf) {
		send_err(ENOMEM, "out of memory");
		return;
	}
	if (ext2fs_file_open2(fs, r->ino, (struct ext2_inode *)&in, 0, &f)) {
		free(buf);
		send_err(EIO, "the file's inode cannot be read");
		return;
	}
	errcode_t e = ext2fs_file_llseek(f, r->off, EXT2_SEEK_SET, NULL);
	while (!e && got < len) {
		unsigned n = 0;
		if ((e = ext2fs_file_read(f, buf + got, len - got, &n)) || n == 0)
			break;
		got += n;
	}
	ext2fs_file_close(f);
	if (e)
		send_err(EIO, "the file's blocks cannot be read");
	else
		send_msg(INS_H_OK, buf, got, NULL, 0);
	free(buf);
}

static void do_readlink(uint32_t ino)
{
	struct ins_stat st;
	struct ext2_inode_large in;
	int rc;
	if ((rc = get_stat(ino, &st, &in)) < 0 || !LINUX_S_ISLNK(st.mode)) {
		send_err(rc < 0 ? -rc : EINVAL, "not a symbolic link");
		return;
	}
	/* PATH_MAX bounds what the kernel accepts as a target. */
	if (st.size == 0 || st.size >= 4096) {
		send_err(EIO, "the link's stored length is out of bounds");
		return;
	}
	char buf[4096];
	size_t len = (size_t)st.size;
	if (in.i_flags & EXT4_INLINE_DATA_FL) {
		size_t n = sizeof(buf);
		if (ext2fs_inline_data_get(fs, ino, (struct ext2_inode *)&in, buf, &n) || n < len) {
			send_err(EIO, "the link's inline data cannot be read");
			return;
		}
	} else if (ext2fs_is_fast_symlink((struct ext2_inode *)&in)) {
		if (len > sizeof(in.i_block)) {
			send_err(EIO, "the link's stored length is out of bounds");
			return;
		}
		memcpy(buf, in.i_block, len);
	} else {
		ext2_file_t f;
		unsigned got = 0, n = 0;
		errcode_t e = ext2fs_file_open2(fs, ino, (struct ext2_inode *)&in, 0, &f);
		while (!e && got < len && !(e = ext2fs_file_read(f, buf + got, (unsigned)len - got, &n)) && n)
			got += n;
		if (!e)
			ext2fs_file_close(f);
		if (e || got < len) {
			send_err(EIO, "the link's block cannot be read");
			return;
		}
	}
	if (memchr(buf, '\0', len)) {
		send_err(EIO, "the link's target holds a NUL byte");
		return;
	}
	send_msg(INS_H_OK, buf, len, NULL, 0);
}

static void do_open(uint64_t size)
{
	vol_size = size;
	errcode_t e = ext2fs_open2("inside", NULL, EXT2_FLAG_64BITS, 0, 0, &inside_io, &fs);
	if (e) {
		char why[160];
		snprintf(why, sizeof(why), "libext2fs cannot open the file system: %s", error_message(e));
		fs = NULL;
		send_err(EIO, why);
		return;
	}
	/* The root's attributes come with the answer: the next thing a
	 * reader needs (one round trip fewer for a cold first file). */
	struct ins_stat st;
	struct ext2_inode_large in;
	if (get_stat(EXT2_ROOT_INO, &st, &in) < 0)
		send_msg(INS_H_OK, NULL, 0, NULL, 0);
	else
		send_msg(INS_H_OK, &st, sizeof(st), NULL, 0);
}

int ins_helper_main(int fd)
{
	static char payload[INS_MAX_PAYLOAD];
	sock = fd;
	/* com_err's messages would go to stderr, which the filter forbids. */
	set_com_err_hook(quiet_com_err);
	initialize_ext2_error_table(); /* libext2fs's messages, for the reasons it gives */
	if (sandbox() < 0)
		return 3;
	for (;;) {
		struct ins_msg h;
		if (full_read(&h, sizeof(h)) < 0 || h.len > INS_MAX_PAYLOAD || full_read(payload, h.len) < 0)
			return 0; /* the daemon closed: done */
		if (h.type != INS_T_OPEN && !fs) {
			send_err(EIO, "no file system open");
			continue;
		}
		switch (h.type) {
		case INS_T_OPEN: {
			uint64_t size;
			if (h.len != sizeof(size) || fs)
				die();
			memcpy(&size, payload, sizeof(size));
			do_open(size);
			break;
		}
		case INS_T_STAT: {
			uint32_t ino;
			struct ins_stat st;
			struct ext2_inode_large in;
			int rc;
			if (h.len != sizeof(ino))
				die();
			memcpy(&ino, payload, sizeof(ino));
			if ((rc = get_stat(ino, &st, &in)) < 0)
				send_err(-rc, "the inode cannot be read");
			else
				send_msg(INS_H_OK, &st, sizeof(st), NULL, 0);
			break;
		}
		case INS_T_LOOKUP: {
			uint32_t dir;
			if (h.len < sizeof(dir))
				die();
			memcpy(&dir, payload, sizeof(dir));
			do_lookup(dir, payload + sizeof(dir), h.len - sizeof(dir));
			break;
		}
		case INS_T_LIST: {
			struct ins_req_list r;
			if (h.len != sizeof(r))
				die();
			memcpy(&r, payload, sizeof(r));
			do_list(&r);
			break;
		}
		case INS_T_READ: {
			struct ins_req_read r;
			if (h.len != sizeof(r))
				die();
			memcpy(&r, payload, sizeof(r));
			do_read(&r);
			break;
		}
		case INS_T_READLINK: {
			uint32_t ino;
			if (h.len != sizeof(ino))
				die();
			memcpy(&ino, payload, sizeof(ino));
			do_readlink(ino);
			break;
		}
		default:
			die();
		}
	}
}
