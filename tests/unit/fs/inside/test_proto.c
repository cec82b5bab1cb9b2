/*
 * SPEC §18: the daemon's check of a helper's attributes (fs/inside/proto.c,
 * ins_stat_valid).  Times travel as seconds and nanoseconds apart (issue
 * 67: a signed count of nanoseconds ended in 2262): any seconds pass —
 * ext4's 2446, XFS bigtime's 2486, 1901 and before — and nanoseconds up to
 * 999,999,999 of each of atime, mtime and ctime; one more is refused.
 * The stat's other checks (a known type, no stray mode bits, an inode
 * number) at their edges too.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_mode_and_ino),
		cmocka_unit_test(test_xattr_damaged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
