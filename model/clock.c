/*
 * clock.c — the time helpers model and fs share: wall time for what rows
 * and users see, monotonic time for intervals, and the one way a time is
 * written out.  Its own file because every room of the model, the database
 * drivers included, reads a clock and a clock reads nothing back: kept in
 * state.c, it tied every file to the state opener.
 */
#include <stdint.h>
#include <time.h>

#include "model_int.h"

int64_t model_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct timespec model_mono_timespec(int64_t mono_ns)
{
	return (struct timespec){.tv_sec = (time_t)(mono_ns / 1000000000), .tv_nsec = (long)(mono_ns % 1000000000)};
}

int64_t model_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void model_fmt_time(char out[21], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
