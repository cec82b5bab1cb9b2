/*
 * wait.c — `imgfs wait [--timeout SECONDS] [-q] PATH...` (SPEC §1): waits
 * until every image, snapshot or copy named leaves its transitional status.
 *
 * Who calls it: main.c, when argv[1] is "wait"; users and scripts, on a
 * mounted tree.  It knows nothing of the model: it reads the directories'
 * files through the file system, the way any script would — `status`,
 * `progress`, `task` and `error` — each read a fresh open (a generated
 * file's content is taken at open) — every POLL_MS, or as soon as a
 * `status` changes: between two looks it sleeps in poll(2) on a
 * descriptor of each `status`, opened before the look, which imgfs makes
 * POLLPRI once the file differs from what that descriptor took (SPEC
 * §12), so a task that ends is seen in milliseconds, not up to POLL_MS
 * later.  On a file system without that, poll(2) just sleeps POLL_MS.
 *
 * A PATH is a directory with a `status` file holding an image's or a
 * snapshot's status (an image directory, snapshots/<id>/, copies/<region>/);
 * anything else is a usage error (exit 2) before any waiting.  Statuses
 * uploading, pending, replicating (images) and creating (snapshots) are
 * transitional and waited for; every other one is final.  A queued image
 * has nothing running, so waiting for it would never end: it is reported
 * at once ("queued: nothing to wait for").
 *
 * Output goes to stderr.  On a terminal: one line per PATH, redrawn in
 * place, "<path>  [#########.........]  45%  123.4 MiB/s  ETA 0:12" (rate
 * and ETA from the task file, else from how fast bytes-done grows).  A
 * line never wraps, or moving the cursor up one row per line would land
 * in the middle of the block and leave pieces of old lines behind: every
 * line is cut to one column less than the terminal's width (TIOCGWINSZ,
 * counted in columns of the locale's characters, CJK names are two wide),
 * and a path wider than its column keeps its tail ("...private/web"), the
 * part that names the image.  SIGWINCH wakes the loop; after a change of
 * width the block is drawn afresh below the old one, which the terminal
 * may have reflowed in ways we cannot know.
 * A task nobody runs (state orphaned in `task`: its host is gone, §13)
 * shows "orphaned (host H gone since T)" instead of a rate that means
 * nothing; waiting goes on (the host may come back, or another take the
 * task over).
 * Otherwise a plain line whenever a PATH's status, the tens digit of its
 * progress or whether its task is orphaned changes.  -q draws neither.  At the end, one line per PATH that
 * is not available: "<path>: <status>: <reason>".  Exit status: 0 when all
 * are available, 1 otherwise (also on --timeout), 2 for usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "cli.h"
#include "common.h" /* fs_opts_parse */
#include "include/core.h" /* model_mono_ns */

#define POLL_MS 200
#define BAR_WIDTH 20
#define PATH_COLUMN 40 /* the widest path column; longer paths keep their tail */
#define MIN_PATH_COLUMN 12
/* What follows the path column up to the percentage: "  [bar] 100%". */
#define BAR_PART (2 + BAR_WIDTH + 2 + 5)

struct waited {
	const char *path;
	char status[32];
	int progress;         /* -1: the directory has no progress file */
	bool done;            /* its status is final (or unreadable) */
	int read_err;         /* the status could not be read any more: -errno */
	char error[512];      /* the error file, once done */
	/* From the task file (zero when absent). */
	char task_state[16];
	char task_host[72];       /* its host line */
	char orphaned_since[32];  /* its orphaned-since line ("" when running) */
	int position;
	uint64_t bytes_done, bytes_total;
	double rate, eta;
	/* Our own rate estimate from bytes-done over time. */
	double first_t;
	uint64_t first_bytes;
	bool have_first;
	/* Plain lines: what was printed last. */
	char shown_status[32];
	int shown_tens;
	bool shown_orphaned;
};

static const char *const final_statuses[] = {"queued", "available", "error", "deleted"};
static const char *const transitional_statuses[] = {"uploading", "pending", "replicating", "creating"};

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool is_transitional(const char *s)
{
	return in_list(s, transitional_statuses, sizeof(transitional_statuses) / sizeof(transitional_statuses[0]));
}

static bool is_status(const char *s)
{
	return is_transitional(s) || in_list(s, final_statuses, sizeof(final_statuses) / sizeof(final_statuses[0]));
}

static double now_s(void)
{
	return (double)model_mono_ns() / 1e9;
}

/* Reads dir/name (at most cap - 1 bytes) into buf without its trailing
 * newline; the length or -errno. */
static int read_file(const char *dir, const char *name, char *buf, size_t cap)
{
	char path[PATH_MAX];
	size_t len = 0;
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			close(fd);
			return (int)n;
		}
		len += (size_t)n;
	}
	close(fd);
	while (len > 0 && buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';
	return (int)len;
}

/* The task file's "key value" lines into w (absent keys stay zero). */
static void parse_task(struct waited *w, char *text)
{
	char *save = NULL;
	w->task_state[0] = '\0';
	w->task_host[0] = w->orphaned_since[0] = '\0';
	w->position = 0;
	w->bytes_done = w->bytes_total = 0;
	w->rate = w->eta = 0;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(line, ' ');
		if (!v)
			continue;
		*v++ = '\0';
		if (strcmp(line, "state") == 0)
			snprintf(w->task_state, sizeof(w->task_state), "%s", v);
		else if (strcmp(line, "host") == 0)
			snprintf(w->task_host, sizeof(w->task_host), "%s", v);
		else if (strcmp(line, "orphaned-since") == 0)
			snprintf(w->orphaned_since, sizeof(w->orphaned_since), "%s", v);
		else if (strcmp(line, "position") == 0)
			w->position = atoi(v);
		else if (strcmp(line, "bytes-done") == 0)
			w->bytes_done = strtoull(v, NULL, 10);
		else if (strcmp(line, "bytes-total") == 0)
			w->bytes_total = strtoull(v, NULL, 10);
		else if (strcmp(line, "rate") == 0)
			w->rate = strtod(v, NULL);
		else if (strcmp(line, "eta") == 0)
			w->eta = strtod(v, NULL);
	}
}

/* Descriptors of the `status` files of the paths still waited for (-1 for
 * the others, and where one cannot be opened: the look says why). */
static void watch_open(const struct waited *ws, int n, struct pollfd *pf)
{
	char path[PATH_MAX];
	for (int i = 0; i < n; i++) {
		pf[i] = (struct pollfd){-1, POLLPRI, 0};
		if (!ws[i].done && snprintf(path, sizeof(path), "%s/status", ws[i].path) < (int)sizeof(path))
			pf[i].fd = open(path, O_RDONLY | O_CLOEXEC);
	}
}

static void watch_close(struct pollfd *pf, int n)
{
	for (int i = 0; i < n; i++) {
		if (pf[i].fd >= 0)
			close(pf[i].fd);
		pf[i].fd = -1;
	}
}

/* One look at a path. */
static void poll_one(struct waited *w)
{
	char buf[4096];
	int rc;

	if ((rc = read_file(w->path, "status", w->status, sizeof(w->status))) < 0) {
		w->read_err = rc;
		w->done = true;
		return;
	}
	w->progress = read_file(w->path, "progress", buf, sizeof(buf)) >= 0 ? atoi(buf) : -1;
	if (read_file(w->path, "task", buf, sizeof(buf)) >= 0)
		parse_task(w, buf);
	else
		parse_task(w, (char[]){""});
	if (w->bytes_done > 0 && !w->have_first) {
		w->first_t = now_s();
		w->first_bytes = w->bytes_done;
		w->have_first = true;
	}
	if (!is_transitional(w->status)) {
		w->done = true;
		if (read_file(w->path, "error", w->error, sizeof(w->error)) < 0)
			w->error[0] = '\0';
	}
}

/* Bytes per second: the task's own figure, else ours. */
static double rate_of(const struct waited *w)
{
	double dt;
	if (w->rate > 0)
		return w->rate;
	if (!w->have_first || (dt = now_s() - w->first_t) < 1.0 || w->bytes_done <= w->first_bytes)
		return 0;
	return (double)(w->bytes_done - w->first_bytes) / dt;
}

static double eta_of(const struct waited *w, double rate)
{
	if (w->eta > 0)
		return w->eta;
	if (rate <= 0 || w->bytes_total <= w->bytes_done)
		return -1;
	return (double)(w->bytes_total - w->bytes_done) / rate;
}

static void fmt_rate(char *out, size_t cap, double r)
{
	static const char *const units[] = {"B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"};
	int u = 0;
	while (r >= 1024 && u < 4) {
		r /= 1024;
		u++;
	}
	snprintf(out, cap, "%.1f %s", r, units[u]);
}

static void fmt_eta(char *out, size_t cap, double s)
{
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(out, cap, "ETA %ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, cap, "ETA %ld:%02ld", t / 60, t % 60);
}

/* SIGWINCH only interrupts the pause between polls: draw_bars asks the
 * terminal's width each time. */
static void on_winch(int sig)
{
	(void)sig;
}

/* Columns of the terminal on stderr; 80 when it does not say. */
static int term_cols(void)
{
	struct winsize wsz;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &wsz) == 0 && wsz.ws_col > 0)
		return wsz.ws_col;
	return 80;
}

/* The next character of s (len bytes left): its length in bytes and in
 * columns.  A byte the locale cannot decode counts as one of each (the
 * terminal shows one replacement glyph); so does an unprintable one. */
static size_t next_char(const char *s, size_t len, int *cols)
{
	mbstate_t st;
	wchar_t wc;
	memset(&st, 0, sizeof(st));
	size_t n = mbrtowc(&wc, s, len, &st);
	if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
		*cols = 1;
		return 1;
	}
	int w = wcwidth(wc);
	*cols = w < 0 ? 1 : w;
	return n;
}

static int str_cols(const char *s)
{
	int total = 0, c;
	for (size_t i = 0, len = strlen(s); i < len; total += c)
		i += next_char(s + i, len - i, &c);
	return total;
}

/* Cuts s in place to at most cols columns, at a character boundary. */
static void cut_cols(char *s, int cols)
{
	int used = 0, c;
	size_t i = 0, len = strlen(s);
	while (i < len) {
		size_t n = next_char(s + i, len - i, &c);
		if (used + c > cols)
			break;
		used += c;
		i += n;
	}
	s[i] = '\0';
}

/* path in exactly cols columns: padded with blanks, or "..." and its tail. */
static int put_path(char *out, size_t cap, const char *path, int cols)
{
	int pc = str_cols(path), c;
	size_t len = strlen(path), i = 0;
	const char *dots = "";
	if (pc > cols) {
		dots = "...";
		while (i < len && pc > cols - 3) { /* drop characters from the front */
			i += next_char(path + i, len - i, &c);
			pc -= c;
		}
	}
	int n = snprintf(out, cap, "%s%s%*s", dots, path + i, cols - (int)strlen(dots) - pc, "");
	return n < 0 ? 0 : (size_t)n >= cap ? (int)cap - 1 : n;
}

/* The terminal line of one path (without newline), path in a column of
 * width columns. */
static void bar_line(const struct waited *w, int width, char *out, size_t cap)
{
	char bar[BAR_WIDTH + 1], rate[32] = "", eta[32] = "";
	int len;

	len = put_path(out, cap, w->path, width);
	len += snprintf(out + len, cap - (size_t)len, "  ");
	if (len < 0 || (size_t)len >= cap)
		return;
	out += len;
	cap -= (size_t)len;
	if (w->read_err) {
		snprintf(out, cap, "%s", strerror(-w->read_err));
		return;
	}
	if (w->done || w->progress < 0) {
		snprintf(out, cap, "%s", w->status);
		return;
	}
	int fill = w->progress * BAR_WIDTH / 100;
	for (int i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[BAR_WIDTH] = '\0';
	if (strcmp(w->task_state, "queued") == 0) {
		snprintf(out, cap, "[%s] %3d%%  %s: queued (position %d)", bar, w->progress, w->status, w->position);
		return;
	}
	if (strcmp(w->task_state, "orphaned") == 0) {
		snprintf(out, cap, "[%s] %3d%%  %s: orphaned (host %s gone since %s)", bar, w->progress, w->status,
		         w->task_host, w->orphaned_since);
		return;
	}
	double r = rate_of(w), e = eta_of(w, r);
	if (r > 0)
		fmt_rate(rate, sizeof(rate), r);
	if (e >= 0)
		fmt_eta(eta, sizeof(eta), e);
	snprintf(out, cap, "[%s] %3d%%  %s  %s", bar, w->progress, rate, eta);
}

/* Redraws every line in place (the cursor sits below the block); *cols_drawn
 * is the width the block was drawn for (0: none drawn yet). */
static void draw_bars(struct waited *ws, int n, int *cols_drawn)
{
	char line[1024];
	int cols = term_cols(), width = 0;
	for (int i = 0; i < n; i++) {
		int l = str_cols(ws[i].path);
		if (l > width)
			width = l;
	}
	/* The path column gives way to the bar and percentage first. */
	int room = cols - 1 - BAR_PART;
	if (width > PATH_COLUMN)
		width = PATH_COLUMN;
	if (width > room)
		width = room > MIN_PATH_COLUMN ? room : MIN_PATH_COLUMN;
	/* Same width as last time: up over the old block.  Otherwise the
	 * terminal may have rewrapped it: a fresh block below. */
	if (*cols_drawn == cols)
		fprintf(stderr, "\033[%dA", n);
	for (int i = 0; i < n; i++) {
		bar_line(&ws[i], width, line, sizeof(line));
		cut_cols(line, cols - 1); /* the last column would wrap on some terminals */
		fprintf(stderr, "\r\033[K%s\n", line);
	}
	fflush(stderr);
	*cols_drawn = cols;
}

/* A plain line when the status or the progress's tens digit changed. */
static void draw_plain(struct waited *w)
{
	int tens = w->progress < 0 ? -1 : w->progress / 10;
	bool orphaned = strcmp(w->task_state, "orphaned") == 0;
	if (w->read_err ||
	    (strcmp(w->status, w->shown_status) == 0 && tens == w->shown_tens && orphaned == w->shown_orphaned))
		return;
	if (orphaned && !w->done)
		fprintf(stderr, "%s: %s %d%%, orphaned (host %s gone since %s)\n", w->path, w->status, w->progress,
		        w->task_host, w->orphaned_since);
	else if (w->progress >= 0 && !w->done)
		fprintf(stderr, "%s: %s %d%%\n", w->path, w->status, w->progress);
	else
		fprintf(stderr, "%s: %s\n", w->path, w->status);
	snprintf(w->shown_status, sizeof(w->shown_status), "%s", w->status);
	w->shown_tens = tens;
	w->shown_orphaned = orphaned;
}

/* The final word on one path; true when it is available. */
static bool report(const struct waited *w, bool timed_out)
{
	if (w->read_err) {
		fprintf(stderr, "%s: cannot read its status: %s\n", w->path, strerror(-w->read_err));
		return false;
	}
	if (strcmp(w->status, "available") == 0)
		return true;
	if (!w->done && timed_out)
		fprintf(stderr, "%s: %s: timed out\n", w->path, w->status);
	else if (strcmp(w->status, "queued") == 0)
		fprintf(stderr, "%s: queued: nothing to wait for\n", w->path);
	else if (w->error[0])
		fprintf(stderr, "%s: %s: %s\n", w->path, w->status, w->error);
	else
		fprintf(stderr, "%s: %s\n", w->path, w->status);
	return false;
}

static void wait_usage(FILE *f)
{
	fprintf(f, "usage: imgfs wait [--timeout SECONDS] [-q|--quiet] PATH...\n"
	           "  Waits until each image, snapshot or copy directory named (in a mounted\n"
	           "  imgfs tree) leaves its transitional status.\n"
	           "  --timeout SECONDS  give up after that long (exit status 1; at most a year)\n"
	           "  -q, --quiet        no progress output, only the final reasons\n"
	           "  Exit status: 0 all available, 1 otherwise, 2 usage errors.\n");
}

struct wait_opts {
	double timeout; /* -1: none */
	bool quiet;
};

static const struct fs_opt wait_opt_rows[] = {
	{"help", 'h', FS_OPT_HELP, 0, 0, 0},
	{"timeout", 0, FS_OPT_SECONDS, offsetof(struct wait_opts, timeout), 0, 0},
	{"quiet", 'q', FS_OPT_FLAG, offsetof(struct wait_opts, quiet), 0, 0},
	{NULL, 0, 0, 0, 0, 0},
};

/* Options into *o; the PATHs are argv[*first..argc) (getopt gathers them
 * after the options).  0, or the exit status: 0 after --help, 2 after a
 * usage error (said). */
static int parse_args(int argc, char **argv, struct wait_opts *o, int *first)
{
	*o = (struct wait_opts){.timeout = -1};
	int rc = fs_opts_parse("imgfs wait", wait_opt_rows, o, FS_ARGS_ANYWHERE, argc, argv, first);
	if (rc == 1) {
		wait_usage(stdout);
		return 0;
	}
	if (rc == 0 && *first == argc) {
		fprintf(stderr, "imgfs wait: no PATH given\n");
		rc = 2;
	}
	if (rc != 0)
		wait_usage(stderr);
	return rc == 0 ? -1 : rc;
}

/* Whether path is a directory whose status we can wait for (exit 2 if not). */
static bool check_path(const char *path)
{
	char buf[64];
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "imgfs wait: %s: %s\n", path, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode) || read_file(path, "status", buf, sizeof(buf)) < 0 || !is_status(buf)) {
		fprintf(stderr, "imgfs wait: %s: not an image, snapshot or copy directory of an imgfs mount\n", path);
		return false;
	}
	return true;
}

int fs_wait_main(int argc, char **argv)
{
	double start = now_s();
	struct wait_opts o;
	struct waited *ws;
	struct pollfd *pf;
	bool bars, timed_out = false, all = true;
	int n, first, rc;

	if ((rc = parse_args(argc, argv, &o, &first)) >= 0)
		return rc;
	argv += first;
	n = argc - first; /* at least 1 (parse_args) */
	double timeout = o.timeout;
	bool quiet = o.quiet;
	for (int i = 0; i < n; i++)
		if (!check_path(argv[i]))
			return 2;
	ws = calloc((unsigned)n, sizeof(*ws)); /* (unsigned): the compiler cannot see n > 0 */
	pf = calloc((unsigned)n, sizeof(*pf));
	if (!ws || !pf) {
		fprintf(stderr, "imgfs wait: out of memory\n");
		free(ws);
		free(pf);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		ws[i].path = argv[i];
		ws[i].shown_tens = -2;
	}
	bars = !quiet && isatty(STDERR_FILENO);
	int cols_drawn = 0;
	if (bars) {
		/* Columns of characters, not bytes: the locale's, or UTF-8 under
		 * the plain C locale (image names are UTF-8, §10). */
		const char *loc = setlocale(LC_CTYPE, "");
		if (!loc || strcmp(loc, "C") == 0 || strcmp(loc, "POSIX") == 0)
			setlocale(LC_CTYPE, "C.UTF-8");
		/* No SA_RESTART: a resize cuts the pause short and redraws. */
		struct sigaction sa = {.sa_handler = on_winch};
		sigemptyset(&sa.sa_mask);
		sigaction(SIGWINCH, &sa, NULL);
	}
	for (;;) {
		bool pending = false;
		int ms = POLL_MS;
		watch_open(ws, n, pf);
		for (int i = 0; i < n; i++) {
			if (!ws[i].done)
				poll_one(&ws[i]);
			if (!quiet && !bars)
				draw_plain(&ws[i]);
			pending |= !ws[i].done;
		}
		if (bars)
			draw_bars(ws, n, &cols_drawn);
		if (!pending)
			break;
		if (timeout >= 0 && now_s() - start >= timeout) {
			timed_out = true;
			break;
		}
		double left_ms = (timeout - (now_s() - start)) * 1000;
		if (timeout >= 0 && left_ms < ms)
			ms = (int)left_ms + 1;
		/* Until a status changes, POLL_MS, or a resize (SIGWINCH). */
		poll(pf, (nfds_t)n, ms);
		watch_close(pf, n);
	}
	watch_close(pf, n);
	for (int i = 0; i < n; i++)
		all &= report(&ws[i], timed_out);
	free(ws);
	free(pf);
	return all ? 0 : 1;
}
