/*
 * ext.c — ext2/3/4 inside a helper, read through libext2fs (SPEC §18;
 * ins_fs.h).
 *
 * libext2fs reads the volume through the io_manager below, which turns
 * each block read into an ins_fetch() (a block read of the daemon's) and
 * keeps a bounded cache.  Nothing is ever written: every write hook is
 * EROFS, and the file system is opened read-only.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <et/com_err.h>
#include <ext2fs/ext2fs.h>

#include "ins_fs.h"

#define CACHE_SLOTS 1024 /* single-block reads kept (<= 4 KiB blocks) */
#define READ_AHEAD_BYTES (256u << 10) /* after a miss that follows the last read */
#define READ_AHEAD_FIRST 16 /* blocks, the first time a miss follows the last read */
#define DX_LEVELS 3      /* an htree's index levels, the root's included (largedir: 3) */

static uint64_t vol_size;
static ext2_filsys fs;
static unsigned dir_reads; /* a lookup's directory blocks read (ins_ext_dir_reads) */
/* The blocks ext_prefetch read for a page's inodes, in increasing order. */
static struct {
	unsigned n;
	uint64_t blk[INS_READV_MAX];
	char *data;
} pre;

/* ---- the io_manager: blocks from the daemon ------------------------------ */

static struct {
	uint64_t blk;
	bool valid;
	char *data;
} cache[CACHE_SLOTS];

static errcode_t fetch(uint64_t off, size_t len, void *data)
{
	return ins_fetch(off, len, data) < 0 ? EXT2_ET_SHORT_READ : 0;
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
	if (ch->block_size != blksize) {
		for (int i = 0; i < CACHE_SLOTS; i++)
			cache[i].valid = false;
		pre.n = 0;
	}
	ch->block_size = blksize;
	return 0;
}

static int by_blk(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
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
	 * often the same one again: a miss asks the daemon for what was asked
	 * (an inode's block, an index block: SPEC §18.7), and a miss right
	 * after the last read of a stream (a file or a directory read in
	 * order) for READ_AHEAD_FIRST blocks, then READ_AHEAD_BYTES (256 KiB
	 * whatever the block size), all of it kept: a 4 MiB file in 18
	 * reads, two blocks that happen to be neighbours in 17 blocks (a
	 * page's inodes are read ahead apart: ext_prefetch).  Before, every
	 * miss read the aligned 64 KiB around it: a
	 * listing's random inode reads moved 16 times what they used (about
	 * 3 GB over the socket for 100,000 entries, issue 67). */
	if (count == 1 && ch->block_size <= 4096) {
		/* The blocks after the last four windows (a file's bytes and the
		 * metadata read between them are two streams, not one). */
		static uint64_t next_window[4];
		static uint64_t run[4]; /* blocks the stream's last read got */
		static unsigned next_turn;
		unsigned slot = (unsigned)(blk % CACHE_SLOTS), s;
		if (cache[slot].valid && cache[slot].blk == blk) {
			memcpy(data, cache[slot].data, bytes);
			return 0;
		}
		const uint64_t *hit = pre.n ? bsearch(&blk, pre.blk, pre.n, sizeof(blk), by_blk) : NULL;
		if (hit) { /* a page's inodes' block, read ahead */
			memcpy(data, pre.data + (size_t)(hit - pre.blk) * (size_t)ch->block_size, bytes);
			return 0;
		}
		static char window[READ_AHEAD_BYTES];
		for (s = 0; s < 4 && next_window[s] != blk; s++)
			;
		uint64_t first = blk, woff = first * (uint64_t)ch->block_size, most = READ_AHEAD_BYTES / (uint64_t)ch->block_size;
		uint64_t wlen = (s < 4 ? (run[s] < READ_AHEAD_FIRST && READ_AHEAD_FIRST < most ? READ_AHEAD_FIRST : most) : 1) *
		                (uint64_t)ch->block_size;
		if (wlen > vol_size - woff)
			wlen = vol_size - woff; /* off + bytes fits: so does blk */
		wlen -= wlen % (uint64_t)ch->block_size;
		errcode_t rc = fetch(woff, (size_t)wlen, window);
		if (rc)
			return fetch(off, bytes, data);
		s = s < 4 ? s : next_turn++ % 4;
		next_window[s] = first + wlen / (uint64_t)ch->block_size;
		run[s] = wlen / (uint64_t)ch->block_size;
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

/* ---- the file system ----------------------------------------------------- */

static void quiet_com_err(const char *who, long code, const char *fmt, va_list args)
{
}

static int ext_open(uint64_t size, char *why, size_t cap)
{
	/* com_err's messages would go to stderr, which the filter forbids. */
	set_com_err_hook(quiet_com_err);
	initialize_ext2_error_table(); /* libext2fs's messages, for the reasons it gives */
	vol_size = size;
	for (int i = 0; i < CACHE_SLOTS; i++)
		cache[i].valid = false; /* (another volume's blocks: a unit test opens several) */
	pre.n = 0;
	if (fs) /* (a unit test opens several volumes in one process; the helper one) */
		ext2fs_close_free(&fs);
	errcode_t e = ext2fs_open2("inside", NULL, EXT2_FLAG_64BITS, 0, 0, &inside_io, &fs);
	if (e) {
		snprintf(why, cap, "libext2fs cannot open the file system: %s", error_message(e));
		fs = NULL;
		return -EIO;
	}
	return 0;
}

static uint64_t ext_root(void)
{
	return EXT2_ROOT_INO;
}

/* As the kernel's ext4_decode_extra_time: the extra field's low 2 bits
 * extend the signed 32-bit seconds (to 2446), its 30 high bits are the
 * nanoseconds. */
static struct ins_time ext_time(uint32_t lo, uint32_t extra, bool has_extra)
{
	struct ins_time t = {(int32_t)lo, 0, 0};
	if (has_extra) {
		t.sec += (int64_t)(extra & 3) << 32;
		t.nsec = extra >> 2 > 999999999 ? 0 : extra >> 2;
	}
	return t;
}

/* The last inode read: a request's stat and its read or readlink that
 * follows need it both. */
static ext2_ino_t last_ino;
static struct ext2_inode_large last_in;

static int get_inode(uint64_t ino, struct ext2_inode_large *in)
{
	if (ino < 1 || ino > fs->super->s_inodes_count)
		return -ENOENT;
	if (ino == last_ino) {
		*in = last_in;
		return 0;
	}
	memset(in, 0, sizeof(*in));
	if (ext2fs_read_inode_full(fs, (ext2_ino_t)ino, (struct ext2_inode *)in, sizeof(*in))) {
		ins_why("the inode cannot be read");
		return -EIO;
	}
	if (in->i_links_count == 0 && in->i_mode == 0)
		return -ENOENT;
	last_ino = (ext2_ino_t)ino;
	last_in = *in;
	return 0;
}

static int ext_stat(uint64_t ino, struct ins_stat *st)
{
	struct ext2_inode_large inode, *in = &inode;
	int rc;
	if ((rc = get_inode(ino, in)) < 0)
		return rc;
	bool big = EXT2_INODE_SIZE(fs->super) > EXT2_GOOD_OLD_INODE_SIZE;
	unsigned extra = big ? in->i_extra_isize : 0;
#define HAS(field) (big && offsetof(struct ext2_inode_large, field) + sizeof(in->field) <= EXT2_GOOD_OLD_INODE_SIZE + extra)
	memset(st, 0, sizeof(*st));
	st->mode = in->i_mode;
	st->uid = inode_uid(*in);
	st->gid = inode_gid(*in);
	st->nlink = in->i_links_count;
	st->size = EXT2_I_SIZE(in);
	/* Logical block numbers are 32 bits: a size past 2^32 blocks is a
	 * damaged or hostile inode, whose bytes a reader would otherwise
	 * read as zeros without end (a 2^56-byte claim). */
	if (LINUX_S_ISREG(in->i_mode) && st->size > ((uint64_t)1 << 32) * EXT2_BLOCK_SIZE(fs->super)) {
		ins_why("inode %llu claims %llu bytes, more than its file system can address",
		        (unsigned long long)ino, (unsigned long long)st->size);
		return -EIO;
	}
	st->blocks = ext2fs_get_stat_i_blocks(fs, (struct ext2_inode *)in);
	/* A file whose bytes are inline (in the inode) is shown with the
	 * sectors they would take as well, as the kernel does (ext4_file_getattr:
	 * so that tar and rsync do not take it for all holes); regular files
	 * only. */
	if (LINUX_S_ISREG(in->i_mode) && (in->i_flags & EXT4_INLINE_DATA_FL))
		st->blocks += (st->size + 511) >> 9;
	st->atime = ext_time(in->i_atime, HAS(i_atime_extra) ? in->i_atime_extra : 0, HAS(i_atime_extra));
	st->mtime = ext_time(in->i_mtime, HAS(i_mtime_extra) ? in->i_mtime_extra : 0, HAS(i_mtime_extra));
	st->ctime = ext_time(in->i_ctime, HAS(i_ctime_extra) ? in->i_ctime_extra : 0, HAS(i_ctime_extra));
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

/* The byte on the volume where inode ino's record starts, from the group
 * descriptors libext2fs holds (no read); UINT64_MAX for a number out of
 * range or a group without an inode table inside the volume. */
static uint64_t ext_inode_at(uint64_t ino)
{
	unsigned isz = EXT2_INODE_SIZE(fs->super), ipg = fs->super->s_inodes_per_group;
	if (!ipg || !isz || ino < 1 || ino > fs->super->s_inodes_count)
		return UINT64_MAX;
	blk64_t t = ext2fs_inode_table_loc(fs, (dgrp_t)((ino - 1) / ipg));
	uint64_t at = (uint64_t)t * fs->blocksize + (ino - 1) % ipg * isz;
	return t && at / fs->blocksize < vol_size / fs->blocksize ? at : UINT64_MAX;
}

/* The blocks of the inode tables that hold a page's inodes (ins_fs_ops:
 * prefetch), those not kept already, each once, in exchanges of
 * INS_MAX_PAYLOAD bytes, kept apart from the cache (whose slots a page's
 * blocks would share) until the next page: a page of 512 inodes costs
 * two or three round trips with the daemon, where each inode's block
 * cost one (SPEC §18.7). */
static void ext_prefetch(const uint64_t *ino, size_t n)
{
	static struct ins_req_blk piece[INS_READV_MAX];
	unsigned bs = fs->blocksize;
	pre.n = 0;
	if (bs > 4096 || (!pre.data && !(pre.data = malloc((size_t)INS_READV_MAX * 4096))))
		return;
	for (size_t i = 0; i < n && pre.n < INS_READV_MAX; i++) {
		uint64_t at = ext_inode_at(ino[i]);
		if (at == UINT64_MAX)
			continue;
		uint64_t b = at / bs;
		unsigned sl = (unsigned)(b % CACHE_SLOTS);
		if (!(cache[sl].valid && cache[sl].blk == b))
			pre.blk[pre.n++] = b;
	}
	qsort(pre.blk, pre.n, sizeof(pre.blk[0]), by_blk);
	unsigned m = 0;
	for (unsigned i = 0; i < pre.n; i++)
		if (m == 0 || pre.blk[m - 1] != pre.blk[i])
			pre.blk[m++] = pre.blk[i];
	pre.n = m < 2 ? 0 : m; /* (one block alone: what stat reads anyway) */
	for (unsigned at = 0; at < pre.n;) {
		unsigned np = 0, k = 0; /* pieces, blocks */
		for (; at + k < pre.n && (uint64_t)(k + 1) * bs <= INS_MAX_PAYLOAD; k++) {
			if (k && pre.blk[at + k] == pre.blk[at + k - 1] + 1)
				piece[np - 1].len += bs; /* neighbours: one piece */
			else
				piece[np++] = (struct ins_req_blk){pre.blk[at + k] * bs, bs, 0};
		}
		if (ins_fetchv(piece, np, pre.data + (size_t)at * bs) < 0) {
			pre.n = at;
			break;
		}
		at += k;
	}
}

/* An entry's type as the entry says it (the filetype feature: what
 * mke2fs and the kernel have written since Linux 2.2), no inode read. */
static unsigned dirent_type(const struct ext2_dir_entry *d)
{
	return ext2fs_has_feature_filetype(fs->super) ? ins_ftype((unsigned)ext2fs_dirent_file_type(d)) : 0;
}

/* An inline directory's entries (in the inode: a few dozen at most), by
 * their place: position n + 1 follows the n-th. */
struct walk {
	ins_add_fn add;
	void *arg;
	int rc;
	uint64_t from, n;
};

static int inline_one(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset, int blocksize, char *buf,
                      void *priv)
{
	struct walk *w = priv;
	int len = ext2fs_dirent_name_len(d);
	uint64_t n = ++w->n;
	if (n <= w->from || d->inode == 0 || len <= 0 || (len == 1 && d->name[0] == '.') ||
	    (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
		return 0;
	if ((w->rc = w->add(w->arg, d->inode, d->name, (size_t)len, dirent_type(d), n)) != 0)
		return DIRENT_ABORT;
	return 0;
}

/* A directory from position from (SPEC §18, issue 47): a position is a
 * byte offset into the directory, where an entry (or a block) starts; the
 * walk maps and reads the blocks from there on only — holes are passed,
 * an htree's index blocks read as the empty entries they hold. */
static int ext_list(uint64_t dir, uint64_t from, ins_add_fn add, void *arg)
{
	struct ext2_inode_large in;
	char *buf = NULL;
	int rc;
	if ((rc = get_inode(dir, &in)) < 0)
		return rc;
	if (!LINUX_S_ISDIR(in.i_mode))
		return -ENOTDIR;
	if (in.i_flags & EXT4_INLINE_DATA_FL) {
		struct walk w = {add, arg, 0, from, 0};
		if (ext2fs_dir_iterate2(fs, (ext2_ino_t)dir, 0, NULL, inline_one, &w) && !w.rc) {
			ins_why("the directory's blocks cannot be read");
			return -EIO;
		}
		return w.rc;
	}
	uint64_t bs = fs->blocksize, nblocks = (EXT2_I_SIZE(&in) + bs - 1) / bs;
	if (nblocks > (uint64_t)UINT32_MAX + 1)
		nblocks = (uint64_t)UINT32_MAX + 1; /* logical block numbers are 32 bits */
	if (ext2fs_get_mem(bs, &buf))
		return -ENOMEM;
	rc = 0;
	for (uint64_t lblk = from / bs; !rc && lblk < nblocks; lblk++) {
		uint64_t at = lblk * bs, off = lblk == from / bs ? from % bs : 0;
		blk64_t pblk = 0;
		if (ext2fs_bmap2(fs, (ext2_ino_t)dir, (struct ext2_inode *)&in, NULL, 0, lblk, NULL, &pblk)) {
			ins_why("directory %llu's block map cannot be read", (unsigned long long)dir);
			rc = -EIO;
			break;
		}
		if (pblk && ext2fs_read_dir_block4(fs, pblk, buf, 0, (ext2_ino_t)dir)) {
			ins_why("directory %llu's block %llu cannot be read", (unsigned long long)dir,
			        (unsigned long long)lblk);
			rc = -EIO;
			break;
		}
		while (pblk && !rc && off < bs) {
			struct ext2_dir_entry *d = (struct ext2_dir_entry *)(void *)(buf + off);
			unsigned int rec_len = 0;
			if (bs - off < 8 || (off & 3) || ext2fs_get_rec_len(fs, d, &rec_len) || rec_len < 8 || rec_len % 4 ||
			    rec_len > bs - off || (unsigned)ext2fs_dirent_name_len(d) + 8 > rec_len) {
				ins_why("directory %llu's block %llu is damaged at byte %llu", (unsigned long long)dir,
				        (unsigned long long)lblk, (unsigned long long)off);
				rc = -EIO;
				break;
			}
			int len = ext2fs_dirent_name_len(d);
			off += rec_len;
			if (d->inode == 0 || len == 0 || (len == 1 && d->name[0] == '.') ||
			    (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
				continue;
			rc = add(arg, d->inode, d->name, (size_t)len, dirent_type(d), at + off);
		}
		if (!rc)
			rc = add(arg, 0, NULL, 0, 0, at + bs); /* a block read (or a hole passed) */
	}
	ext2fs_free_mem(&buf);
	return rc;
}

/* ---- lookups by name ------------------------------------------------------ */

/* Logical block lblk of directory dir into buf: 0, 1 for a hole, -EIO. */
static int dir_block(ext2_ino_t dir, struct ext2_inode_large *in, uint32_t lblk, char *buf)
{
	blk64_t pblk = 0;
	if (ext2fs_bmap2(fs, dir, (struct ext2_inode *)in, NULL, 0, lblk, NULL, &pblk))
		return -EIO;
	if (!pblk)
		return 1;
	dir_reads++;
	return ext2fs_read_dir_block4(fs, pblk, buf, 0, dir) ? -EIO : 0;
}

static uint32_t le32_at(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* Name in one directory block: 1 (*ino), 0 not there, -EIO damaged. */
static int leaf_find(const char *buf, const char *name, size_t len, uint64_t *ino)
{
	unsigned bs = fs->blocksize, off = 0;
	while (off < bs) {
		struct ext2_dir_entry *d = (struct ext2_dir_entry *)(void *)(buf + off);
		unsigned int rec_len = 0;
		if (bs - off < 8 || ext2fs_get_rec_len(fs, d, &rec_len) || rec_len < 8 || rec_len % 4 ||
		    rec_len > bs - off || (unsigned)ext2fs_dirent_name_len(d) + 8 > rec_len)
			return -EIO;
		if (d->inode && (size_t)ext2fs_dirent_name_len(d) == len && memcmp(d->name, name, len) == 0) {
			*ino = d->inode;
			return 1;
		}
		off += rec_len;
	}
	return 0;
}

/* One level of an htree's index: its entries (hash, logical block; the
 * first's hash is the count and limit), how many, the one taken. */
struct dx_level {
	const char *ent;
	unsigned count, at;
};

/* The entries of an index block at byte off (the root: 32, a node: 8):
 * 0, or 1 when they do not hold together (the caller walks instead). */
static int dx_entries(const char *blk, unsigned off, struct dx_level *l)
{
	unsigned bs = fs->blocksize, limit = (unsigned)(unsigned char)blk[off] | (unsigned)(unsigned char)blk[off + 1] << 8;
	l->count = (unsigned)(unsigned char)blk[off + 2] | (unsigned)(unsigned char)blk[off + 3] << 8;
	l->ent = blk + off;
	return l->count == 0 || l->count > limit || limit > (bs - off) / 8;
}

/* The entry of l that can hold hash: the last whose hash is not past it
 * (the first holds every hash below the second's), as the kernel's
 * dx_probe. */
static void dx_choose(struct dx_level *l, uint32_t hash)
{
	unsigned lo = 1, hi = l->count; /* [lo, hi): entries still in question */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (le32_at(l->ent + 8 * mid) > hash)
			hi = mid;
		else
			lo = mid + 1;
	}
	l->at = lo - 1;
}

static uint32_t dx_block(const struct dx_level *l)
{
	return le32_at(l->ent + 8 * l->at + 4) & 0x0fffffff;
}

/* An htree (dir_index) directory's lookup (SPEC §18.7): the name's hash
 * (the root's hash version, the superblock's seed), the index blocks down
 * to the one leaf that can hold it, and the leaves after it only while
 * they go on with the same hash (a collision) — a few blocks whatever
 * the directory's size, where libext2fs's ext2fs_lookup reads every block
 * (43 to 153 reads of 64 KiB for one stat in a 1,000,000-entry
 * directory).  1: found (*ino); 0: no such name; -EIO; 2: not an htree
 * this can follow (not indexed, casefolded or encrypted names, a hash
 * this does not know, an index that does not hold together: the caller
 * walks every block, as the kernel falls back to). */
static int htree_lookup(ext2_ino_t dir, struct ext2_inode_large *in, const char *name, size_t len, uint64_t *ino)
{
	unsigned bs = fs->blocksize;
	if (!ext2fs_has_feature_dir_index(fs->super) || !(in->i_flags & EXT2_INDEX_FL) ||
	    (in->i_flags & (EXT4_INLINE_DATA_FL | EXT4_ENCRYPT_FL | EXT4_CASEFOLD_FL)))
		return 2;
	char *buf = NULL;
	if (ext2fs_get_mem((size_t)bs * (DX_LEVELS + 1), &buf))
		return -ENOMEM;
	struct dx_level lv[DX_LEVELS];
	unsigned levels = 0;
	uint32_t hash = 0;
	int rc = dir_block(dir, in, 0, buf);
	if (rc == 0) {
		/* The root: "." (12 bytes), ".." to the block's end, then
		 * reserved_zero (4), hash_version, info_length, indirect_levels,
		 * unused_flags, and the entries at 24 + info_length. */
		int hv = (unsigned char)buf[28];
		unsigned info = (unsigned char)buf[29], ind = (unsigned char)buf[30];
		ext2_dirhash_t minor;
		if (hv <= EXT2_HASH_TEA && (fs->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH))
			hv += 3; /* EXT2_HASH_*_UNSIGNED */
		rc = info != 8 || ind >= (ext2fs_has_feature_largedir(fs->super) ? DX_LEVELS : 2) ||
		     hv > EXT2_HASH_TEA_UNSIGNED || dx_entries(buf, 32, &lv[0]) ||
		     ext2fs_dirhash2(hv, name, (int)len, NULL, 0, fs->super->s_hash_seed, &hash, &minor)
		         ? 2 : 0;
		levels = ind + 1;
	}
	/* Down: the entry that can hold the hash, at each level. */
	for (unsigned i = 0; rc == 0 && i < levels; i++) {
		dx_choose(&lv[i], hash);
		if (i + 1 < levels && (rc = dir_block(dir, in, dx_block(&lv[i]), buf + (size_t)bs * (i + 1))) == 0)
			rc = dx_entries(buf + (size_t)bs * (i + 1), 8, &lv[i + 1]) ? 2 : 0;
	}
	/* The leaf, and the next while it goes on with the hash (the kernel's
	 * ext4_htree_next_block: the next entry at the lowest level, up a
	 * level at a node's end). */
	char *leaf = buf + (size_t)bs * DX_LEVELS;
	while (rc == 0) {
		rc = dir_block(dir, in, dx_block(&lv[levels - 1]), leaf);
		if (rc == 0)
			rc = leaf_find(leaf, name, len, ino);
		if (rc != 0)
			break; /* found, a hole (damaged: walked), or damaged */
		unsigned up = levels;
		while (up > 0 && lv[up - 1].at + 1 >= lv[up - 1].count)
			up--;
		if (up == 0)
			break; /* the index's last leaf: no such name */
		lv[up - 1].at++;
		for (unsigned i = up; rc == 0 && i < levels; i++) {
			if ((rc = dir_block(dir, in, dx_block(&lv[i - 1]), buf + (size_t)bs * i)) == 0)
				rc = dx_entries(buf + (size_t)bs * i, 8, &lv[i]) ? 2 : 0;
			lv[i].at = 0;
		}
		if (rc == 0 && (le32_at(lv[levels - 1].ent + 8 * lv[levels - 1].at) & ~1u) != hash)
			break; /* the next leaf starts another hash: no such name */
	}
	ext2fs_free_mem(&buf);
	if (rc == 1 && !*ino)
		rc = 2;
	return rc;
}

static int ext_lookup(uint64_t dir, const char *name, size_t len, uint64_t *ino)
{
	char buf[INS_NAME_MAX + 1];
	struct ext2_inode_large in;
	ext2_ino_t found;
	int rc;
	if ((rc = get_inode(dir, &in)) < 0)
		return rc;
	*ino = 0;
	rc = htree_lookup((ext2_ino_t)dir, &in, name, len, ino);
	if (rc == 1)
		return 0;
	if (rc == 0)
		return -ENOENT;
	if (rc == -EIO)
		ins_why("directory %llu's index or a leaf it names cannot be read", (unsigned long long)dir);
	if (rc < 0)
		return rc;
	memcpy(buf, name, len);
	buf[len] = '\0';
	dir_reads += (unsigned)((EXT2_I_SIZE(&in) + fs->blocksize - 1) / fs->blocksize); /* (every block, at most) */
	errcode_t e = ext2fs_lookup(fs, (ext2_ino_t)dir, buf, (int)len, NULL, &found);
	if (e == EXT2_ET_FILE_NOT_FOUND)
		return -ENOENT;
	if (e) {
		ins_why("the directory or the entry's inode cannot be read");
		return -EIO;
	}
	*ino = found;
	return 0;
}

static int ext_read(uint64_t ino, uint64_t off, uint32_t len, void *buf, uint32_t *got)
{
	struct ext2_inode_large in;
	ext2_file_t f;
	int rc;
	*got = 0;
	if ((rc = get_inode(ino, &in)) < 0)
		return rc;
	if (ext2fs_file_open2(fs, (ext2_ino_t)ino, (struct ext2_inode *)&in, 0, &f)) {
		ins_why("the file's inode cannot be read");
		return -EIO;
	}
	errcode_t e = ext2fs_file_llseek(f, off, EXT2_SEEK_SET, NULL);
	while (!e && *got < len) {
		unsigned n = 0;
		if ((e = ext2fs_file_read(f, (char *)buf + *got, len - *got, &n)) || n == 0)
			break;
		*got += n;
	}
	ext2fs_file_close(f);
	if (e) {
		ins_why("the file's blocks cannot be read");
		return -EIO;
	}
	return 0;
}

static int ext_readlink(uint64_t ino, char *buf, size_t len)
{
	struct ext2_inode_large in;
	int rc;
	if ((rc = get_inode(ino, &in)) < 0)
		return rc;
	if (in.i_flags & EXT4_INLINE_DATA_FL) {
		size_t n = 4096;
		char tmp[4096];
		if (ext2fs_inline_data_get(fs, (ext2_ino_t)ino, (struct ext2_inode *)&in, tmp, &n) || n < len) {
			ins_why("the link's inline data cannot be read");
			return -EIO;
		}
		memcpy(buf, tmp, len);
	} else if (ext2fs_is_fast_symlink((struct ext2_inode *)&in)) {
		if (len > sizeof(in.i_block)) {
			ins_why("the link's stored length is out of bounds");
			return -EIO;
		}
		memcpy(buf, in.i_block, len);
	} else {
		ext2_file_t f;
		unsigned got = 0, n = 0;
		errcode_t e = ext2fs_file_open2(fs, (ext2_ino_t)ino, (struct ext2_inode *)&in, 0, &f);
		while (!e && got < len && !(e = ext2fs_file_read(f, buf + got, (unsigned)len - got, &n)) && n)
			got += n;
		if (!e)
			ext2fs_file_close(f);
		if (e || got < len) {
			ins_why("the link's block cannot be read");
			return -EIO;
		}
	}
	return 0;
}

/* ---- extended attributes --------------------------------------------------- */

struct xwalk {
	struct ext2_xattr_handle *h;
	ins_xattr_fn add;
	void *arg;
	int rc;
};

static int xattr_one(char *name, char *value, size_t value_len, void *data)
{
	struct xwalk *w = data;
	void *acl = NULL;
	size_t len = 0;
	/* "system.data" holds an inline-data inode's bytes: not an attribute
	 * Linux's ext4 lists (the daemon shows only the names it passes on).
	 * An ACL is iterated as ext4 stores it; ext2fs_xattr_get gives it in
	 * Linux's xattr format (version 2), the one the kernel accepts. */
	if (strncmp(name, "system.posix_acl_", 17) == 0) {
		errcode_t e = ext2fs_xattr_get(w->h, name, &acl, &len);
		if (e) { /* a damaged ACL: listed, and EIO with why to read */
			ins_why("its %s does not convert to Linux's format (libext2fs: %s)", name, error_message(e));
			w->rc = w->add(w->arg, name, strlen(name), NULL, 0);
			return w->rc ? XATTR_ABORT : 0;
		}
		value = acl;
		value_len = len;
	}
	w->rc = w->add(w->arg, name, strlen(name), value, value_len);
	if (acl)
		ext2fs_free_mem(&acl);
	return w->rc ? XATTR_ABORT : 0;
}

/* libext2fs's xattr API: the in-inode area and the EA block (and EA
 * inodes), POSIX ACLs turned into Linux's xattr format as the kernel's
 * driver gives them (XATTR_HANDLE_FLAG_RAW not set). */
static int ext_xattrs(uint64_t ino, ins_xattr_fn add, void *arg)
{
	struct ext2_xattr_handle *h = NULL;
	struct xwalk w = {NULL, add, arg, 0};
	struct ext2_inode_large in;
	int rc;
	if ((rc = get_inode(ino, &in)) < 0)
		return rc;
	if (!ext2fs_has_feature_xattr(fs->super) && !ext2fs_has_feature_inline_data(fs->super))
		return 0; /* (libext2fs refuses to look: there are none) */
	/* (ext2fs_xattrs_read reads the whole on-disk inode, its in-inode
	 * area past struct ext2_inode_large included.) */
	errcode_t e = ext2fs_xattrs_open(fs, (ext2_ino_t)ino, &h);
	if (!e)
		e = ext2fs_xattrs_read(h);
	w.h = h;
	if (!e)
		e = ext2fs_xattrs_iterate(h, xattr_one, &w);
	if (h)
		ext2fs_xattrs_close(&h);
	if (w.rc)
		return w.rc;
	if (e) {
		ins_why("inode %llu's extended attributes cannot be read: %s", (unsigned long long)ino, error_message(e));
		return -EIO;
	}
	return 0;
}

unsigned ins_ext_dir_reads(void)
{
	return dir_reads;
}

const struct ins_fs_ops ins_fs_ext = {
	.kind = INS_FS_EXT,
	.readme = "ext2/3/4, read through libext2fs",
	.open = ext_open,
	.root = ext_root,
	.stat = ext_stat,
	.lookup = ext_lookup,
	.list = ext_list,
	.read = ext_read,
	.readlink = ext_readlink,
	.xattrs = ext_xattrs,
	.prefetch = ext_prefetch,
	.inode_at = ext_inode_at,
};
