/*
 * SPEC §18: the daemon's check of a helper's attributes (fs/inside/proto.c,
 * ins_stat_valid).  Times travel as seconds and nanoseconds apart (issue
 * 67: a signed count of nanoseconds ended in 2262): any seconds pass —
 * ext4's 2446, XFS bigtime's 2486, 1901 and before — and nanoseconds up to
 * 999,999,999 of each of atime, mtime and ctime; one more is refused.
 * The stat's other checks (a known type, no stray mode bits, an inode
 * number) at their edges too; and a READDIR page's entries (names, numbers
 * and types only, SPEC §18.7) at theirs; and a helper's reads of the
 * volume (ins_reads_check: INS_H_READ, INS_H_READV) at each bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "ins_proto.h"

static struct ins_stat good(void)
{
	struct ins_stat st = {0};
	st.ino = 12;
	st.mode = S_IFREG | 07777;
	return st;
}

static void test_times(void **state)
{
	(void)state;
	static const int64_t secs[] = {
		INT64_MIN, -(1ll << 31), -14182940, -1, 0, 9223372036ll /* 2262-04-11 */, 9223372037ll,
		15032385535ll /* ext4's last: 2446-05-10 */, 16299260425ll /* XFS bigtime's last: 2486-07-02 */, INT64_MAX,
	};
	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
		struct ins_stat st = good();
		st.atime.sec = st.mtime.sec = st.ctime.sec = secs[i];
		st.atime.nsec = st.mtime.nsec = st.ctime.nsec = 999999999u;
		assert_true(ins_stat_valid(&st));
	}
	for (int which = 0; which < 3; which++) {
		struct ins_stat st = good();
		struct ins_time *t = which == 0 ? &st.atime : which == 1 ? &st.mtime : &st.ctime;
		t->nsec = 999999999u; /* the bound */
		assert_true(ins_stat_valid(&st));
		t->nsec = 1000000000u; /* one past it */
		assert_false(ins_stat_valid(&st));
		t->nsec = UINT32_MAX;
		assert_false(ins_stat_valid(&st));
	}
}

static void test_mode_and_ino(void **state)
{
	(void)state;
	struct ins_stat st = good();
	assert_true(ins_stat_valid(&st));
	st.mode = S_IFREG | 010000; /* a bit past the permission bits */
	assert_false(ins_stat_valid(&st));
	st.mode = 0170000; /* no file type Linux has */
	assert_false(ins_stat_valid(&st));
	st = good();
	st.ino = 0;
	assert_false(ins_stat_valid(&st));
}

/* One INS_T_XATTRS entry: u16 name length, u32 value length, name, value. */
static size_t entry(uint8_t *out, const char *name, uint32_t vlen_field, const void *value, size_t vlen)
{
	uint16_t n = (uint16_t)strlen(name);
	memcpy(out, &n, 2);
	memcpy(out + 2, &vlen_field, 4);
	memcpy(out + 6, name, n);
	memcpy(out + 6 + n, value, vlen);
	return 6 + n + vlen;
}

/* A damaged attribute (an ACL that does not convert) is an entry of its
 * own (2), its reason as its value, bounded by INS_XATTR_WHY_MAX. */
static void test_xattr_damaged(void **state)
{
	(void)state;
	uint8_t buf[2048];
	char name[INS_XATTR_NAME_MAX + 1], why[INS_XATTR_WHY_MAX + 1];
	const void *value;
	size_t vlen, pos = 0, len = 0;
	bool ok;
	len += entry(buf + len, "user.a", 1, "x", 1);
	len += entry(buf + len, "system.posix_acl_access", INS_XATTR_DAMAGED | 3, "bad", 3);
	assert_int_equal(ins_xattr_entry(buf, len, &pos, name, &value, &vlen, &ok), 1);
	assert_string_equal(name, "user.a");
	assert_int_equal(ins_xattr_entry(buf, len, &pos, name, &value, &vlen, &ok), 2);
	assert_string_equal(name, "system.posix_acl_access");
	assert_true(ok);
	assert_int_equal(vlen, 3);
	assert_memory_equal(value, "bad", 3);
	assert_int_equal(ins_xattr_entry(buf, len, &pos, name, &value, &vlen, &ok), 0);
	/* a reason of INS_XATTR_WHY_MAX bytes, and one past: malformed */
	memset(why, 'w', sizeof(why));
	pos = 0;
	len = entry(buf, "user.b", INS_XATTR_DAMAGED | INS_XATTR_WHY_MAX, why, INS_XATTR_WHY_MAX);
	assert_int_equal(ins_xattr_entry(buf, len, &pos, name, &value, &vlen, &ok), 2);
	pos = 0;
	len = entry(buf, "user.b", INS_XATTR_DAMAGED | (INS_XATTR_WHY_MAX + 1), why, INS_XATTR_WHY_MAX + 1);
	assert_int_equal(ins_xattr_entry(buf, len, &pos, name, &value, &vlen, &ok), -EIO);
}

/* An INS_T_NAMES entry (a READDIR's, SPEC §18.7): u32 ino, u32 type,
 * u64 after, u16 length, the name. */
static size_t name_entry(uint8_t *p, uint32_t ino, uint32_t type, uint64_t after, const char *name, size_t nlen)
{
	uint16_t l = (uint16_t)nlen;
	memcpy(p, &ino, 4);
	memcpy(p + 4, &type, 4);
	memcpy(p + 8, &after, 8);
	memcpy(p + 16, &l, 2);
	memcpy(p + 18, name, nlen);
	return 18 + nlen;
}

static void test_names_entry(void **state)
{
	(void)state;
	uint8_t buf[4096];
	char name[INS_NAME_MAX + 1], lng[INS_NAME_MAX + 1];
	struct ins_stat st;
	uint64_t after = 0;
	size_t pos = 0, len = 0;
	bool ok;
	memset(lng, 'n', sizeof(lng));
	/* each of the seven types and none: listed, st holding the number and type only */
	static const uint32_t types[] = {0, S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK};
	for (uint32_t i = 0; i < 8; i++)
		len += name_entry(buf + len, 10 + i, types[i], i + 1, "a", 1);
	for (uint32_t i = 0; i < 8; i++) {
		assert_int_equal(ins_names_entry(buf, len, &pos, &st, name, &after, &ok), 1);
		assert_true(ok);
		assert_int_equal(st.ino, 10 + i);
		assert_int_equal(st.mode, types[i]);
		assert_int_equal(st.size, 0);
		assert_int_equal(after, i + 1);
	}
	assert_int_equal(ins_names_entry(buf, len, &pos, &st, name, &after, &ok), 0);
	/* not listed: a type with mode bits, an unknown type, no number, "..", a '/' */
	static const struct {
		uint32_t ino, type;
		const char *name;
	} bad[] = {{5, S_IFREG | 0644, "a"}, {5, 0170000, "a"}, {0, S_IFREG, "a"}, {5, S_IFDIR, ".."}, {5, 0, "a/b"},
	           {5, S_IFDIR, "."},        {5, 0, "/"},       {5, 0, "ab/"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pos = 0, after = 0;
		len = name_entry(buf, bad[i].ino, bad[i].type, 1, bad[i].name, strlen(bad[i].name));
		assert_int_equal(ins_names_entry(buf, len, &pos, &st, name, &after, &ok), 1);
		assert_false(ok);
		assert_int_equal(pos, len); /* passed: the position moves on */
	}
	/* a NUL inside a name, first or last: not listed (the kernel would cut it) */
	static const char *const nul[] = {"a\0b", "\0ab", "ab\0"};
	for (size_t i = 0; i < 3; i++) {
		pos = 0, after = 0;
		len = name_entry(buf, 5, S_IFREG, 1, nul[i], 3);
		assert_int_equal(ins_names_entry(buf, len, &pos, &st, name, &after, &ok), 1);
		assert_false(ok);
	}
	/* dots that are names: listed */
	static const char *const dots[] = {".a", "..a", "...", "a.", ".a/"};
	for (size_t i = 0; i < 5; i++) {
		pos = 0, after = 0;
		len = name_entry(buf, 5, S_IFREG, 1, dots[i], strlen(dots[i]));
		assert_int_equal(ins_names_entry(buf, len, &pos, &st, name, &after, &ok), 1);
		assert_true(i < 4 ? ok : !ok);
	}
	/* a name of 255 bytes, and one past: malformed */
	pos = 0, after = 0;
	len = name_entry(buf, 5, S_IFREG, 1, lng, INS_NAME_MAX);
	assert_int_equal(ins_names_entry(buf, len, &pos, &st, name, &after, &ok), 1);
	assert_true(ok);
	assert_int_equal(strlen(name), INS_NAME_MAX);
	pos = 0, after = 0;
	len = name_entry(buf, 5, S_IFREG, 1, lng, INS_NAME_MAX + 1);
	assert_int_equal(ins_names_entry(buf, len, &pos, &st, name, &after, &ok), -EIO);
	/* a position that does not move forward, or past INS_POS_MAX; cut short */
	pos = 0, after = 7;
	len = name_entry(buf, 5, S_IFREG, 7, "a", 1);
	assert_int_equal(ins_names_entry(buf, len, &pos, &st, name, &after, &ok), -EIO);
	pos = 0, after = 0;
	len = name_entry(buf, 5, S_IFREG, INS_POS_MAX, "a", 1);
	assert_int_equal(ins_names_entry(buf, len, &pos, &st, name, &after, &ok), 1);
	pos = 0, after = 0;
	len = name_entry(buf, 5, S_IFREG, INS_POS_MAX + 1, "a", 1);
	assert_int_equal(ins_names_entry(buf, len, &pos, &st, name, &after, &ok), -EIO);
	pos = 0, after = 0;
	len = name_entry(buf, 5, S_IFREG, 1, "abc", 3);
	assert_int_equal(ins_names_entry(buf, len - 1, &pos, &st, name, &after, &ok), -EIO);
	pos = 0;
	assert_int_equal(ins_names_entry(buf, 17, &pos, &st, name, &after, &ok), -EIO);
}

/* A helper's reads of the volume (ins_reads_check): the daemon serves what
 * a helper that may have been made to say anything asks only within the
 * volume and INS_MAX_PAYLOAD bytes at once, INS_READV_MAX pieces at most;
 * each bound at the limit and one past it. */
static int reads(uint32_t type, const struct ins_req_blk *r, unsigned n, uint32_t len, uint64_t size, uint64_t *total)
{
	char why[160] = "";
	int rc = ins_reads_check(type, r, len == UINT32_MAX ? n * (uint32_t)sizeof(*r) : len, size, total, why,
	                         sizeof why);
	assert_true(rc == 0 ? why[0] == '\0' : rc == -EIO && why[0] != '\0');
	return rc;
}

static void test_reads(void **state)
{
	(void)state;
	static struct ins_req_blk r[INS_READV_MAX + 1];
	const uint64_t size = 64ull << 20;
	uint64_t total = 7;

	/* One read: exactly one piece; up to INS_MAX_PAYLOAD; past the end cut. */
	r[0] = (struct ins_req_blk){.off = 4096, .len = INS_MAX_PAYLOAD};
	assert_int_equal(reads(INS_H_READ, r, 1, UINT32_MAX, size, &total), 0);
	assert_int_equal(total, INS_MAX_PAYLOAD);
	r[0].len = INS_MAX_PAYLOAD + 1;
	assert_int_equal(reads(INS_H_READ, r, 1, UINT32_MAX, size, &total), -EIO);
	r[0] = (struct ins_req_blk){.off = size - 10, .len = 100};
	assert_int_equal(reads(INS_H_READ, r, 1, UINT32_MAX, size, &total), 0);
	assert_int_equal(total, 10);
	r[0].len = INS_MAX_PAYLOAD + 1; /* a piece past the bound, though cut to 10 bytes */
	assert_int_equal(reads(INS_H_READ, r, 1, UINT32_MAX, size, &total), -EIO);
	r[0] = (struct ins_req_blk){.off = UINT64_MAX, .len = 100};
	assert_int_equal(reads(INS_H_READ, r, 1, UINT32_MAX, size, &total), 0);
	assert_int_equal(total, 0);
	assert_int_equal(reads(INS_H_READ, r, 1, sizeof(r[0]) + 1, size, &total), -EIO);
	assert_int_equal(reads(INS_H_READ, r, 2, UINT32_MAX, size, &total), -EIO);
	assert_int_equal(reads(INS_H_READ, r, 0, 0, size, &total), -EIO);

	/* Several: 1..INS_READV_MAX pieces, whole ones. */
	for (unsigned i = 0; i <= INS_READV_MAX; i++)
		r[i] = (struct ins_req_blk){.off = (uint64_t)i * 8192, .len = INS_MAX_PAYLOAD / INS_READV_MAX};
	assert_int_equal(reads(INS_H_READV, r, INS_READV_MAX, UINT32_MAX, size, &total), 0);
	assert_int_equal(total, INS_MAX_PAYLOAD);
	r[INS_READV_MAX].len = 0;
	assert_int_equal(reads(INS_H_READV, r, INS_READV_MAX + 1, UINT32_MAX, size, &total), -EIO);
	assert_int_equal(reads(INS_H_READV, r, 0, 0, size, &total), -EIO);
	assert_int_equal(reads(INS_H_READV, r, 3, 3 * sizeof(r[0]) - 1, size, &total), -EIO);
	/* In all INS_MAX_PAYLOAD at most. */
	r[0] = (struct ins_req_blk){.off = 0, .len = INS_MAX_PAYLOAD - 100};
	r[1] = (struct ins_req_blk){.off = size - 100, .len = 100};
	assert_int_equal(reads(INS_H_READV, r, 2, UINT32_MAX, size, &total), 0);
	assert_int_equal(total, INS_MAX_PAYLOAD);
	r[1].off--, r[1].len++;
	assert_int_equal(reads(INS_H_READV, r, 2, UINT32_MAX, size, &total), -EIO);
	/* Each piece inside the volume: its end at the volume's, not one past. */
	r[0] = (struct ins_req_blk){.off = size - 4096, .len = 4096};
	assert_int_equal(reads(INS_H_READV, r, 1, UINT32_MAX, size, &total), 0);
	assert_int_equal(total, 4096);
	r[0].len++;
	assert_int_equal(reads(INS_H_READV, r, 1, UINT32_MAX, size, &total), -EIO);
	r[0] = (struct ins_req_blk){.off = size, .len = 0};
	assert_int_equal(reads(INS_H_READV, r, 1, UINT32_MAX, size, &total), 0);
	assert_int_equal(total, 0);
	r[0].off++;
	assert_int_equal(reads(INS_H_READV, r, 1, UINT32_MAX, size, &total), -EIO);
	r[0] = (struct ins_req_blk){.off = UINT64_MAX - 10, .len = 4096}; /* off + len wraps */
	assert_int_equal(reads(INS_H_READV, r, 1, UINT32_MAX, size, &total), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_reads),
		cmocka_unit_test(test_mode_and_ino),
		cmocka_unit_test(test_xattr_damaged),
		cmocka_unit_test(test_names_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
