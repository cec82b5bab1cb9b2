/*
 * test_imgfs_lock.c — unit tests for include/imgfs_lock.h, the checked lock
 * order: locks taken in rising level pass (nested, let go in any order, a
 * condition wait, a rwlock, a trylock out of order); a lock taken at or
 * below a level the thread holds aborts, naming both locks, and so does
 * letting go of one not held.  An abort is a forked child's: its signal
 * and what it printed are read by the parent.
 *
 * The checks are Debug's: NDEBUG is undone here, so that the Release
 * build's run checks them too (there the daemon's sites compile to the bare
 * pthread calls).
 */
#undef NDEBUG
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgfs_lock.h"

static pthread_mutex_t outer = PTHREAD_MUTEX_INITIALIZER;
IMGFS_LOCK_LEVEL(outer, 10);
static pthread_mutex_t middle = PTHREAD_MUTEX_INITIALIZER;
IMGFS_LOCK_LEVEL(middle, 20);
static pthread_mutex_t inner = PTHREAD_MUTEX_INITIALIZER;
IMGFS_LOCK_LEVEL(inner, 30);
static pthread_mutex_t twin = PTHREAD_MUTEX_INITIALIZER; /* inner's level */
IMGFS_LOCK_LEVEL(twin, 30);
static pthread_mutex_t top = PTHREAD_MUTEX_INITIALIZER;
IMGFS_LOCK_LEVEL(top, IMGFS_LOCK_LEVELS - 1);
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
IMGFS_LOCK_LEVEL(rw, 15);

static int held_top(void)
{
	return imgfs_lock_held_.top;
}

/* Runs fn in a child: 0 when it returned, else the signal that ended it;
 * its stderr into out. */
static int in_child(void (*fn)(void), char *out, size_t cap)
{
	int p[2], status = 0;
	size_t n = 0;
	ssize_t r;
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 2);
		fn();
		_exit(0);
	}
	close(p[1]);
	while (n + 1 < cap && (r = read(p[0], out + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status) ? -1 : 0;
}

/* ---- the right order ---------------------------------------------------------------- */

static void test_rising_order_passes(void **state)
{
	(void)state;
	assert_int_equal(held_top(), 0);
	IMGFS_LOCK(&outer, outer);
	IMGFS_LOCK(&middle, middle);
	IMGFS_LOCK(&inner, inner);
	assert_int_equal(held_top(), 30);
	IMGFS_UNLOCK(&inner, inner);
	assert_int_equal(held_top(), 20);
	/* Let go out of order: the highest held is still middle. */
	IMGFS_UNLOCK(&outer, outer);
	assert_int_equal(held_top(), 20);
	IMGFS_LOCK(&twin, twin); /* 30 above 20 */
	IMGFS_UNLOCK(&twin, twin);
	IMGFS_UNLOCK(&middle, middle);
	assert_int_equal(held_top(), 0);
	/* Skipping levels, and the top of the ladder. */
	IMGFS_LOCK(&outer, outer);
	IMGFS_LOCK(&top, top);
	assert_int_equal(held_top(), IMGFS_LOCK_LEVELS - 1);
	IMGFS_UNLOCK(&top, top);
	IMGFS_UNLOCK(&outer, outer);
	assert_int_equal(held_top(), 0);
}

static void test_cond_wait_keeps_the_record(void **state)
{
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	struct timespec t;
	(void)state;
	IMGFS_LOCK(&outer, outer);
	IMGFS_LOCK(&middle, middle);
	clock_gettime(CLOCK_REALTIME, &t);
	assert_int_equal(IMGFS_COND_TIMEDWAIT(&c, &middle, &t, middle), ETIMEDOUT);
	assert_int_equal(held_top(), 20); /* middle held again */
	IMGFS_UNLOCK(&middle, middle);
	t.tv_sec += 5;
	assert_int_equal(IMGFS_TIMEDLOCK(&middle, &t, middle), 0);
	assert_int_equal(held_top(), 20);
	IMGFS_UNLOCK(&middle, middle);
	assert_int_equal(held_top(), 10);
	IMGFS_UNLOCK(&outer, outer);
	assert_int_equal(held_top(), 0);
}

static void test_rwlock_and_trylock(void **state)
{
	(void)state;
	IMGFS_RDLOCK(&rw, rw);
	IMGFS_LOCK(&middle, middle);
	IMGFS_UNLOCK(&middle, middle);
	IMGFS_RWUNLOCK(&rw, rw);
	IMGFS_WRLOCK(&rw, rw);
	assert_int_equal(held_top(), 15);
	IMGFS_RWUNLOCK(&rw, rw);
	/* A trylock cannot wait: out of order it is only recorded. */
	IMGFS_LOCK(&inner, inner);
	assert_int_equal(IMGFS_TRYLOCK(&outer, outer), 0);
	assert_int_equal(held_top(), 30);
	IMGFS_UNLOCK(&outer, outer);
	IMGFS_UNLOCK(&inner, inner);
	assert_int_equal(held_top(), 0);
	/* A trylock that fails records nothing. */
	IMGFS_LOCK(&inner, inner);
	assert_int_equal(IMGFS_TRYLOCK(&inner, inner), EBUSY);
	IMGFS_UNLOCK(&inner, inner);
	assert_int_equal(held_top(), 0);
}

/* ---- the wrong order aborts --------------------------------------------------------- */

static void inverted(void)
{
	IMGFS_LOCK(&middle, middle);
	IMGFS_LOCK(&outer, outer);
}

static void same_level(void)
{
	IMGFS_LOCK(&inner, inner);
	IMGFS_LOCK(&twin, twin);
}

static void below_one_still_held(void)
{
	IMGFS_LOCK(&outer, outer);
	IMGFS_LOCK(&inner, inner);
	IMGFS_UNLOCK(&outer, outer);
	IMGFS_LOCK(&middle, middle); /* 20 below inner's 30 */
}

static void rw_under_a_mutex(void)
{
	IMGFS_LOCK(&middle, middle);
	IMGFS_WRLOCK(&rw, rw);
}

static void right_order(void)
{
	IMGFS_LOCK(&outer, outer);
	IMGFS_LOCK(&middle, middle);
	IMGFS_UNLOCK(&middle, middle);
	IMGFS_LOCK(&inner, inner);
	IMGFS_LOCK(&top, top);
}

static void timed_inverted(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += 5;
	IMGFS_LOCK(&middle, middle);
	IMGFS_TIMEDLOCK(&outer, &t, outer);
}

static void not_held(void)
{
	IMGFS_UNLOCK(&middle, middle);
}

static void wait_under_a_higher_one(void)
{
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	struct timespec t = {0, 0};
	IMGFS_LOCK(&middle, middle);
	IMGFS_LOCK(&inner, inner);
	IMGFS_COND_TIMEDWAIT(&c, &middle, &t, middle); /* middle taken again under inner */
}

static void expect_abort(void (*fn)(void), const char *says)
{
	char out[1024];
	int sig = in_child(fn, out, sizeof out);
	if (sig != SIGABRT || !strstr(out, says))
		fail_msg("signal %d, said: %s (wanted SIGABRT and \"%s\")", sig, out, says);
}

static void test_wrong_order_aborts(void **state)
{
	(void)state;
	expect_abort(inverted, "lock order: taking outer (level 10) while holding middle (level 20)");
	expect_abort(same_level, "lock order: taking twin (level 30) while holding inner (level 30)");
	expect_abort(below_one_still_held, "lock order: taking middle (level 20) while holding inner (level 30)");
	expect_abort(timed_inverted, "lock order: taking outer (level 10) while holding middle (level 20)");
	expect_abort(rw_under_a_mutex, "lock order: taking rw (level 15) while holding middle (level 20)");
	expect_abort(not_held, "lock order: letting go of middle (level 20), not held");
	expect_abort(wait_under_a_higher_one, "lock order: taking middle (level 20) while holding inner (level 30)");
	/* The same steps in the right order end normally. */
	char out[256];
	assert_int_equal(in_child(right_order, out, sizeof out), 0);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rising_order_passes),
		cmocka_unit_test(test_cond_wait_keeps_the_record),
		cmocka_unit_test(test_rwlock_and_trylock),
		cmocka_unit_test(test_wrong_order_aborts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
