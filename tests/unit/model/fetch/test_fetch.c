/*
 * test_fetch.c — model/fetch/fetch.c (URL import's download engine, SPEC §5.2)
 * against real servers on 127.0.0.1.
 *
 * The group setup writes two files of pseudo-random bytes (6 MiB and
 * 1 MiB) into a temporary directory and starts one tests/servers/serve.py
 * per mode (http, https, ftp, stall, reset, 404, short, redirect, noranges,
 * slow, chunked, weaketag, noifrange, plain206) with Debian's
 * /usr/bin/python3 (the one that has
 * pyftpdlib); each prints "PORT <n>" (https also "CA <file>") on a pipe.
 * The servers die with this process (PR_SET_PDEATHSIG) and are stopped by
 * the group teardown.  IMGFS_SERVE_PY overrides the script's path.
 *
 * Each test downloads into an in-memory sink that records offsets, calls,
 * progress and when it asked for cancellation, and compares bytes with the
 * file.  Timeouts are short (stall 2 s) so failures stay quick; the only
 * timing assertions are upper bounds generous for a loaded machine and
 * lower bounds that slowness cannot break.  The resume tests change a file
 * the way it changes on a real server: a new version renamed over it, with
 * another mtime (the servers read a file afresh at each request).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fetch.h"

#define PY "/usr/bin/python3"
#define FTP_USER "importer"
#define FTP_PASS "s3cret-Pw.42"
#define BIG_LEN (6u << 20)
#define MID_LEN (1u << 20)

enum srv {
	S_HTTP, S_HTTPS, S_FTP, S_STALL, S_RESET, S_404, S_SHORT, S_REDIRECT, S_NORANGES, S_SLOW, S_CHUNKED,
	S_WEAK, S_NOIFRANGE, S_PLAIN206, S_N
};
static const char *const srv_mode[S_N] = {"http",     "https",    "ftp",  "stall",   "reset",    "404",       "short",
                                          "redirect", "noranges", "slow", "chunked", "weaketag", "noifrange", "plain206"};

struct server {
	pid_t pid;
	int port;
	char ca[PATH_MAX];
};

struct fx {
	char dir[64];
	struct server srv[S_N];
	uint8_t *big; /* BIG_LEN bytes, also <dir>/big.bin */
	uint8_t *mid; /* MID_LEN bytes, also <dir>/mid.bin */
};

/* ---- fixtures -------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint8_t *make_file(const char *dir, const char *name, size_t len, uint64_t seed)
{
	char path[PATH_MAX];
	uint8_t *b = malloc(len);
	uint64_t x = seed;
	FILE *f;

	assert_non_null(b);
	for (size_t i = 0; i < len; i++) { /* xorshift64: incompressible, repeatable */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)(x >> 24);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(b, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return b;
}

static void serve_py(char *out, size_t cap)
{
	const char *env = getenv("IMGFS_SERVE_PY");

	if (env != NULL)
		snprintf(out, cap, "%s", env);
	else
		snprintf(out, cap, "%s/tests/servers/serve.py", IMGFS_SOURCE_DIR);
}

/* Forks serve.py MODE DIR; returns the read end of its stdout. */
static int server_spawn(struct server *s, const char *mode, const char *dir)
{
	char script[PATH_MAX];
	int p[2];

	serve_py(script, sizeof(script));
	assert_int_equal(pipe(p), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(null, 0);
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl(PY, PY, script, mode, dir, "--user", FTP_USER, "--password", FTP_PASS, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	return p[0];
}

/* Reads "CA <file>" / "PORT <n>" lines until PORT (30 s at most). */
static void server_wait(struct server *s, int fd, const char *mode)
{
	char buf[2 * PATH_MAX] = "";
	size_t n = 0;
	uint64_t deadline = now_ms() + 30000;
	char *port;

	while ((port = strstr(buf, "PORT ")) == NULL || strchr(port, '\n') == NULL) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t r;
		if (now_ms() > deadline || n + 1 >= sizeof(buf))
			fail_msg("serve.py %s printed no PORT line", mode);
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		if ((r = read(fd, buf + n, sizeof(buf) - n - 1)) <= 0)
			fail_msg("serve.py %s exited before printing its port", mode);
		n += (size_t)r;
		buf[n] = '\0';
	}
	s->port = atoi(port + 5);
	assert_true(s->port > 0);
	if (strncmp(buf, "CA ", 3) == 0)
		snprintf(s->ca, sizeof(s->ca), "%.*s", (int)strcspn(buf + 3, "\n"), buf + 3);
	close(fd);
}

static int group_setup(void **state)
{
	static const char *const proxies[] = {"http_proxy", "https_proxy", "ftp_proxy", "all_proxy",
	                                      "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "ALL_PROXY"};
	struct fx *f = calloc(1, sizeof(*f));
	int fds[S_N];

	assert_non_null(f);
	for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]); /* the servers are local; no proxy in between */
	snprintf(f->dir, sizeof(f->dir), "/tmp/imgfs-fetch-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->big = make_file(f->dir, "big.bin", BIG_LEN, 0x9e3779b97f4a7c15ull);
	f->mid = make_file(f->dir, "mid.bin", MID_LEN, 0x0123456789abcdefull);
	for (int i = 0; i < S_N; i++) /* start all, then wait: they boot in parallel */
		fds[i] = server_spawn(&f->srv[i], srv_mode[i], f->dir);
	for (int i = 0; i < S_N; i++)
		server_wait(&f->srv[i], fds[i], srv_mode[i]);
	assert_true(f->srv[S_HTTPS].ca[0] != '\0');
	*state = f;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_teardown(void **state)
{
	struct fx *f = *state;

	for (int i = 0; i < S_N; i++) {
		if (f->srv[i].pid > 0) {
			kill(f->srv[i].pid, SIGTERM);
			waitpid(f->srv[i].pid, NULL, 0);
		}
	}
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f->big);
	free(f->mid);
	free(f);
	return 0;
}

/* ---- the sink ---------------------------------------------------------------- */

struct sink {
	uint8_t *buf;
	size_t cap;
	int calls;
	uint64_t first_off;     /* offset of the first call */
	uint64_t next;          /* where the last call ended */
	bool gap;               /* a call did not continue where the last ended */
	int fail_at;            /* this call (1-based) fails with fail_err */
	int fail_err;
	uint64_t cancel_after;  /* ask to cancel once this many bytes arrived */
	bool cancel;
	uint64_t cancel_ms;     /* when cancel was set */
	int progress_calls;
	uint64_t progress_ms, min_interval_ms;
	uint64_t progress_done, progress_total;
	bool progress_backwards;
};

static void sink_init(struct sink *s, size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->cap = cap;
	s->buf = calloc(1, cap);
	s->min_interval_ms = UINT64_MAX;
	assert_non_null(s->buf);
}

static int sink_write(void *arg, const void *buf, size_t len, uint64_t off)
{
	struct sink *s = arg;

	if (s->calls == 0)
		s->first_off = off;
	else if (off != s->next)
		s->gap = true;
	s->calls++;
	if (s->fail_at != 0 && s->calls == s->fail_at)
		return s->fail_err;
	if (off + len > s->cap)
		return -EOVERFLOW; /* more than the test expects: fails the test */
	memcpy(s->buf + off, buf, len);
	s->next = off + len;
	if (s->cancel_after != 0 && !s->cancel && s->next >= s->cancel_after) {
		s->cancel = true;
		s->cancel_ms = now_ms();
	}
	return 0;
}

static bool sink_cancelled(void *arg)
{
	return ((struct sink *)arg)->cancel;
}

static void sink_progress(void *arg, uint64_t done, uint64_t total)
{
	struct sink *s = arg;
	uint64_t now = now_ms();

	if (s->progress_calls > 0 && now - s->progress_ms < s->min_interval_ms)
		s->min_interval_ms = now - s->progress_ms;
	if (done < s->progress_done)
		s->progress_backwards = true;
	s->progress_calls++;
	s->progress_ms = now;
	s->progress_done = done;
	s->progress_total = total;
}

/* The servers are on loopback, which imports reach only when a rule
 * allows it (§5.2): the rule an admin would add. */
static const struct fetch_rule allow_loopback[] = {{AF_INET, {127, 0, 0, 1}, 32, true}};

static struct fetch_req req_for(struct sink *s, const char *url)
{
	return (struct fetch_req){.url = url,
	                          .rules = allow_loopback,
	                          .nrules = 1,
	                          .connect_timeout = 5,
	                          .stall_timeout = 2,
	                          .sink = sink_write,
	                          .progress = sink_progress,
	                          .cancelled = sink_cancelled,
	                          .arg = s};
}

static const char *url_of(char *out, size_t cap, const struct fx *f, enum srv which, const char *path)
{
	const char *scheme = which == S_HTTPS ? "https" : which == S_FTP ? "ftp" : "http";
	const char *cred = which == S_FTP ? FTP_USER ":" FTP_PASS "@" : "";

	int n = snprintf(out, cap, "%s://%s127.0.0.1:%d/%s", scheme, cred, f->srv[which].port, path);
	assert_true(n > 0 && (size_t)n < cap);
	return out;
}

/* Downloads url into a fresh sink of cap bytes. */
static int fetch(struct sink *s, size_t cap, const char *url, const char *ca, struct fetch_result *res)
{
	struct fetch_req rq;

	sink_init(s, cap);
	rq = req_for(s, url);
	rq.ca_file = ca;
	return fetch_run(&rq, res);
}

static void assert_whole(const struct sink *s, const struct fetch_result *res, const uint8_t *want, size_t len)
{
	assert_int_equal(res->err, 0);
	assert_string_equal(res->reason, "");
	assert_int_equal(res->bytes, len);
	assert_int_equal(res->end, len);
	assert_int_equal(res->announced, len);
	assert_false(res->restarted);
	assert_int_equal(s->first_off, 0);
	assert_false(s->gap);
	assert_int_equal(s->next, len);
	assert_memory_equal(s->buf, want, len);
}

/* ---- the URL check and redaction ----------------------------------------- */

static void test_url_check_table(void **state)
{
	static const char *const ok[] = {
	        "http://example.com/a.qcow2", "https://example.com:8443/x/y.iso?sig=1&e=2", "ftp://host/pub/x.img",
	        "FTP://host/x", "HtTpS://h/x", "ftp://user:password@host:2121/path/file", "http://[::1]:8080/x",
	        "http://u:p%40ss@h/x", "https://h/a%20b.iso",
	};
	static const char *const bad[] = {
	        "file:///etc/passwd", "FILE:///etc/passwd", "gopher://h/x", "scp://h/x", "sftp://h/x", "dict://h/x",
	        "ldap://h/", "tftp://h/x", "telnet://h", "smb://h/s/f", "foo://h/x", "data:,x", "mailto:a@b",
	        "javascript:alert(1)", "http://a b", " http://h/x", "http://h/x\n", "http://h/\x01x", "http://h/\x7fx",
	        "http://h/\xc3\xa9", "", "h/x", "//h/x", "http://", "http:///x", "http:/x", "https:x", "ftp://h/dir/", "ftp://h",
	};
	char why[FETCH_REASON_MAX];
	char long_url[FETCH_URL_MAX + 2];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int rc = fetch_url_check(ok[i], why, sizeof(why));
		if (rc != 0)
			fail_msg("refused %s: %s", ok[i], why);
		assert_string_equal(why, "");
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = fetch_url_check(bad[i], why, sizeof(why));
		if (rc != -EINVAL)
			fail_msg("accepted %s (rc %d)", bad[i], rc);
		assert_true(why[0] != '\0');
		assert_null(strchr(why, '\n'));
	}
	fetch_url_check("file:///etc/passwd", why, sizeof(why));
	assert_string_equal(why, "the scheme file is not allowed (only http, https and ftp)");
	fetch_url_check("http://a b", why, sizeof(why));
	assert_non_null(strstr(why, "space"));
	/* The longest URL passes, one byte more does not. */
	memset(long_url, 'a', sizeof(long_url));
	memcpy(long_url, "http://h/", 9);
	long_url[FETCH_URL_MAX] = '\0';
	assert_int_equal(fetch_url_check(long_url, why, sizeof(why)), 0);
	long_url[FETCH_URL_MAX] = 'a';
	long_url[FETCH_URL_MAX + 1] = '\0';
	assert_int_equal(fetch_url_check(long_url, why, sizeof(why)), -EINVAL);
	/* why may be NULL; a refusal's reason never shows the password. */
	assert_int_equal(fetch_url_check("gopher://h/x", NULL, 0), -EINVAL);
	assert_int_equal(fetch_url_check("gopher://u:hunter22@h/x", why, sizeof(why)), -EINVAL);
	assert_null(strstr(why, "hunter22"));
}

static void test_url_redact_table(void **state)
{
	static const struct {
		const char *in, *out;
	} t[] = {
	        {"ftp://user:secret@host/x", "ftp://user:***@host/x"},
	        {"FTP://U:Pw@H:21/x?y=z@w", "FTP://U:***@H:21/x?y=z@w"},
	        {"https://user:p%40ss@h/a", "https://user:***@h/a"},
	        {"http://u:p@ss@h/x", "http://u:***@h/x"},
	        {"http://u:@h/", "http://u:***@h/"},
	        {"http://host/x", "http://host/x"},
	        {"https://u@host/x", "https://u@host/x"},
	        {"http://h/a@b:c", "http://h/a@b:c"},
	        {"http://h:80/a@b", "http://h:80/a@b"},
	        {"not a url", "not a url"},
	};
	char out[128];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(fetch_url_redact(t[i].in, out, sizeof(out)), 0);
		assert_string_equal(out, t[i].out);
	}
	/* Too small: truncated, still without any of the password. */
	assert_int_equal(fetch_url_redact("ftp://user:secret@host/x", out, 16), -ENAMETOOLONG);
	assert_string_equal(out, "ftp://user:***@");
	assert_int_equal(fetch_url_redact("ftp://user:secret@host/x", out, 14), -ENAMETOOLONG);
	assert_string_equal(out, "ftp://user:**");
}

/* ---- downloads that work ---------------------------------------------------- */

static void test_http_whole_file(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	char url[256];

	assert_int_equal(fetch(&s, BIG_LEN, url_of(url, sizeof(url), f, S_HTTP, "big.bin"), NULL, &res), 0);
	assert_whole(&s, &res, f->big, BIG_LEN);
	assert_true(s.progress_calls >= 1);
	free(s.buf);
}

static void test_https_with_test_ca(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	char url[256];

	assert_int_equal(fetch(&s, BIG_LEN, url_of(url, sizeof(url), f, S_HTTPS, "big.bin"), f->srv[S_HTTPS].ca, &res),
	                 0);
	assert_whole(&s, &res, f->big, BIG_LEN);
	free(s.buf);
}

static void test_https_untrusted_fails(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	char url[256];

	/* The system store does not know the test CA. */
	assert_int_equal(fetch(&s, BIG_LEN, url_of(url, sizeof(url), f, S_HTTPS, "big.bin"), NULL, &res), -EPROTO);
	assert_non_null(strstr(res.reason, "certificate"));
	assert_int_equal(s.calls, 0);
	assert_int_equal(res.bytes, 0);
	free(s.buf);
}

static void test_ftp_whole_file(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	char url[256];

	assert_int_equal(fetch(&s, BIG_LEN, url_of(url, sizeof(url), f, S_FTP, "big.bin"), NULL, &res), 0);
	assert_whole(&s, &res, f->big, BIG_LEN);
	free(s.buf);
}

static void test_redirects_same_scheme(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	char url[256], target[256];

	/* Five hops on one server: the limit, followed. */
	assert_int_equal(fetch(&s, MID_LEN, url_of(url, sizeof(url), f, S_REDIRECT, "hop/5/mid.bin"), NULL, &res), 0);
	assert_whole(&s, &res, f->mid, MID_LEN);
	free(s.buf);
	/* To another http server. */
	snprintf(target, sizeof(target), "goto?url=http%%3A%%2F%%2F127.0.0.1%%3A%d%%2Fmid.bin", f->srv[S_HTTP].port);
	assert_int_equal(fetch(&s, MID_LEN, url_of(url, sizeof(url), f, S_REDIRECT, target), NULL, &res), 0);
	assert_whole(&s, &res, f->mid, MID_LEN);
	free(s.buf);
}

/* ---- failures and their reasons ------------------------------------------- */

static void test_redirect_limits(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	char url[256], target[512];

	assert_int_equal(fetch(&s, MID_LEN, url_of(url, sizeof(url), f, S_REDIRECT, "hop/6/mid.bin"), NULL, &res),
	                 -ELOOP);
	assert_string_equal(res.reason, "more than 5 redirects");
	assert_int_equal(s.calls, 0);
	free(s.buf);

	/* http → ftp: the FTP URL works on its own, so only the rule stops it. */
	snprintf(target, sizeof(target), "goto?url=ftp%%3A%%2F%%2F%s%%3A%s%%40127.0.0.1%%3A%d%%2Fmid.bin", FTP_USER,
	         FTP_PASS, f->srv[S_FTP].port);
	assert_int_equal(fetch(&s, MID_LEN, url_of(url, sizeof(url), f, S_REDIRECT, target), NULL, &res), -EPROTO);
	assert_string_equal(res.reason, "the server redirected to another scheme (only http is followed)");
	assert_null(strstr(res.reason, FTP_PASS));
	assert_int_equal(s.calls, 0);
	free(s.buf);

	/* https → http: never a downgrade. */
	snprintf(target, sizeof(target), "goto?url=http%%3A%%2F%%2F127.0.0.1%%3A%d%%2Fmid.bin", f->srv[S_HTTP].port);
	assert_int_equal(fetch(&s, MID_LEN, url_of(url, sizeof(url), f, S_HTTPS, target), f->srv[S_HTTPS].ca, &res),
	                 -EPROTO);
	assert_string_equal(res.reason, "the server redirected to another scheme (only https is followed)");
	assert_int_equal(s.calls, 0);
	free(s.buf);

	/* http → file:// */
	assert_int_equal(fetch(&s, MID_LEN, url_of(url, sizeof(url), f, S_REDIRECT, "goto?url=file%3A%2F%2F%2Fetc%2Fpasswd"),
	                       NULL, &res),
	                 -EPROTO);
	assert_int_equal(s.calls, 0);
	free(s.buf);
}

static void test_http_404(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	char url[256];

	assert_int_equal(fetch(&s, MID_LEN, url_of(url, sizeof(url), f, S_404, "mid.bin"), NULL, &res), -ENOENT);
	assert_string_equal(res.reason, "the server answered HTTP 404");
	assert_int_equal(s.calls, 0);
	free(s.buf);
	/* A missing file on the ordinary server, too. */
	assert_int_equal(fetch(&s, MID_LEN, url_of(url, sizeof(url), f, S_HTTP, "nope.bin"), NULL, &res), -ENOENT);
	assert_non_null(strstr(res.reason, "HTTP 404"));
	free(s.buf);
}

static void test_ftp_failures(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	char url[256];

	snprintf(url, sizeof(url), "ftp://%s:wrong-Pass9@127.0.0.1:%d/mid.bin", FTP_USER, f->srv[S_FTP].port);
	assert_int_equal(fetch(&s, MID_LEN, url, NULL, &res), -EACCES);
	assert_string_equal(res.reason, "the server refused the login");
	assert_null(strstr(res.reason, "wrong-Pass9"));
	assert_int_equal(s.calls, 0);
	free(s.buf);
	assert_int_equal(fetch(&s, MID_LEN, url_of(url, sizeof(url), f, S_FTP, "nope.bin"), NULL, &res), -ENOENT);
	assert_string_equal(res.reason, "the server has no such file");
	assert_null(strstr(res.reason, FTP_PASS));
	free(s.buf);
}

static void test_stall_times_out(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	char url[256];
	uint64_t t0 = now_ms(), took;

	assert_int_equal(fetch(&s, MID_LEN, url_of(url, sizeof(url), f, S_STALL, "x"), NULL, &res), -ETIMEDOUT);
	took = now_ms() - t0;
	assert_non_null(strstr(res.reason, "stalled: nothing received for 2 s (after 1000 bytes)"));
	assert_int_equal(res.bytes, 1000);
	assert_int_equal(res.announced, 1 << 20);
	assert_true(took >= 1900);  /* the stall timeout, not something else */
	assert_true(took < 20000);
	free(s.buf);
}

static void test_reset_connection(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	char url[256];

	assert_int_equal(fetch(&s, BIG_LEN, url_of(url, sizeof(url), f, S_RESET, "big.bin"), NULL, &res), -ECONNRESET);
	assert_non_null(strstr(res.reason, "the connection was reset after"));
	assert_true(res.bytes < BIG_LEN);
	/* What arrived is the file's beginning. */
	assert_memory_equal(s.buf, f->big, res.bytes);
	free(s.buf);
}

static void test_short_body(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	char url[256], want[128];

	assert_int_equal(fetch(&s, BIG_LEN, url_of(url, sizeof(url), f, S_SHORT, "big.bin"), NULL, &res), -EIO);
	snprintf(want, sizeof(want), "the server closed the connection after %u of %u bytes", BIG_LEN / 2, BIG_LEN);
	assert_string_equal(res.reason, want);
	assert_int_equal(res.bytes, BIG_LEN / 2);
	assert_int_equal(res.announced, BIG_LEN);
	free(s.buf);
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd); /* nothing listens there now */
	return ntohs(a.sin_port);
}

static void test_connection_refused(void **state)
{
	struct fetch_result res;
	struct sink s;
	char url[256];

	snprintf(url, sizeof(url), "http://user:%s@127.0.0.1:%d/x", FTP_PASS, free_port());
	assert_int_equal(fetch(&s, MID_LEN, url, NULL, &res), -ECONNREFUSED);
	assert_non_null(strstr(res.reason, "could not connect"));
	assert_null(strstr(res.reason, FTP_PASS));
	free(s.buf);
}

/* Without the rule the same server is refused before a socket exists, by
 * IP or by a name, whether anything listens on the port or not: one
 * reason, naming the address and nothing else. */
static void test_loopback_refused_by_default(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	struct fetch_req rq;
	char url[256];
	const char *urls[3];
	char open_port[256], by_name[256], closed_port[256];

	snprintf(open_port, sizeof(open_port), "%s", url_of(url, sizeof(url), f, S_HTTP, "big.bin"));
	snprintf(by_name, sizeof(by_name), "http://0x7f000001:%d/big.bin", f->srv[S_HTTP].port);
	snprintf(closed_port, sizeof(closed_port), "http://127.0.0.1:%d/big.bin", free_port());
	urls[0] = open_port, urls[1] = by_name, urls[2] = closed_port;
	for (int i = 0; i < 3; i++) {
		sink_init(&s, MID_LEN);
		rq = req_for(&s, urls[i]);
		rq.rules = NULL;
		rq.nrules = 0;
		assert_int_equal(fetch_run(&rq, &res), -EACCES);
		assert_string_equal(res.reason, "the address 127.0.0.1 is not allowed for imports");
		assert_int_equal(s.calls, 0);
		free(s.buf);
	}
	/* A redirect from an allowed address to a refused one: judged again. */
	char target[128];
	snprintf(target, sizeof(target), "goto?url=http%%3A%%2F%%2F127.0.0.2%%3A%d%%2Fbig.bin", f->srv[S_HTTP].port);
	assert_int_equal(fetch(&s, MID_LEN, url_of(url, sizeof(url), f, S_REDIRECT, target), NULL, &res), -EACCES);
	assert_string_equal(res.reason, "the address 127.0.0.2 is not allowed for imports");
	free(s.buf);
}

static void test_refused_url_never_connects(void **state)
{
	struct fetch_result res;
	struct sink s;

	assert_int_equal(fetch(&s, MID_LEN, "file:///etc/passwd", NULL, &res), -EINVAL);
	assert_string_equal(res.reason, "the scheme file is not allowed (only http, https and ftp)");
	assert_int_equal(s.calls, 0);
	free(s.buf);
}

/* The userinfo is taken out of the URL before libcurl sees it (issue 70):
 * a password that is also a word of the reason leaves the reason whole —
 * no "***" where the word stood — in its written and its decoded form,
 * and the password itself appears nowhere. */
static void test_password_never_in_reasons(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	char url[256];

	snprintf(url, sizeof(url), "http://u:answered@127.0.0.1:%d/x", f->srv[S_404].port);
	assert_int_equal(fetch(&s, MID_LEN, url, NULL, &res), -ENOENT);
	assert_string_equal(res.reason, "the server answered HTTP 404");
	free(s.buf);
	snprintf(url, sizeof(url), "http://u:serv%%65r@127.0.0.1:%d/x", f->srv[S_404].port); /* "server" */
	assert_int_equal(fetch(&s, MID_LEN, url, NULL, &res), -ENOENT);
	assert_string_equal(res.reason, "the server answered HTTP 404");
	free(s.buf);
	/* A refused connection: libcurl's own words after ours. */
	snprintf(url, sizeof(url), "http://u:the@127.0.0.1:%d/x", free_port());
	assert_int_equal(fetch(&s, MID_LEN, url, NULL, &res), -ECONNREFUSED);
	assert_non_null(strstr(res.reason, "could not connect to the server"));
	assert_null(strstr(res.reason, "***"));
	free(s.buf);
}

/* ---- limits ------------------------------------------------------------------ */

static void test_max_size_announced(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct fetch_req rq;
	struct sink s;
	char url[256], want[128];
	const enum srv via[] = {S_HTTP, S_FTP};

	snprintf(want, sizeof(want), "the server announces %u bytes, more than the maximum %u", BIG_LEN, BIG_LEN - 1);
	for (size_t i = 0; i < 2; i++) {
		sink_init(&s, BIG_LEN);
		rq = req_for(&s, url_of(url, sizeof(url), f, via[i], "big.bin"));
		rq.max_size = BIG_LEN - 1;
		assert_int_equal(fetch_run(&rq, &res), -EFBIG);
		assert_string_equal(res.reason, want);
		assert_int_equal(s.calls, 0); /* refused before the sink saw a byte */
		assert_int_equal(res.announced, BIG_LEN);
		free(s.buf);
	}
	/* Exactly the maximum is fine. */
	sink_init(&s, BIG_LEN);
	rq = req_for(&s, url_of(url, sizeof(url), f, S_HTTP, "big.bin"));
	rq.max_size = BIG_LEN;
	assert_int_equal(fetch_run(&rq, &res), 0);
	assert_whole(&s, &res, f->big, BIG_LEN);
	free(s.buf);
}

static void test_max_size_unannounced(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct fetch_req rq;
	struct sink s;
	char url[256];

	sink_init(&s, BIG_LEN);
	rq = req_for(&s, url_of(url, sizeof(url), f, S_CHUNKED, "big.bin"));
	rq.max_size = MID_LEN;
	assert_int_equal(fetch_run(&rq, &res), -EFBIG);
	assert_string_equal(res.reason, "the download exceeds the maximum of 1048576 bytes");
	assert_int_equal(res.announced, -1);
	assert_true(res.end <= MID_LEN);
	assert_true(s.next <= MID_LEN);
	free(s.buf);
	/* Without a maximum, the same chunked answer arrives whole. */
	assert_int_equal(fetch(&s, BIG_LEN, url, NULL, &res), 0);
	assert_int_equal(res.announced, -1);
	assert_int_equal(res.bytes, BIG_LEN);
	assert_memory_equal(s.buf, f->big, BIG_LEN);
	free(s.buf);
}

/* ---- resume ------------------------------------------------------------------ */

/* Puts a new version of <dir>/name in place the way a file changes on a
 * server: written aside with mtime (unix seconds), renamed over the old
 * one.  Returns its bytes. */
static uint8_t *put_version(const char *dir, const char *name, size_t len, uint64_t seed, time_t mtime)
{
	char tmp[PATH_MAX], path[PATH_MAX], aside[NAME_MAX];
	const struct timespec ts[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
	uint8_t *b;

	snprintf(aside, sizeof(aside), "%s.new", name);
	b = make_file(dir, aside, len, seed);
	snprintf(tmp, sizeof(tmp), "%s/%s", dir, aside);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(utimensat(AT_FDCWD, tmp, ts, 0), 0);
	assert_int_equal(rename(tmp, path), 0);
	return b;
}

/* The validator a whole download of url records. */
static void validator_of(const char *url, char out[FETCH_VALIDATOR_MAX])
{
	struct fetch_result res;
	struct sink s;

	assert_int_equal(fetch(&s, BIG_LEN, url, NULL, &res), 0);
	snprintf(out, FETCH_VALIDATOR_MAX, "%s", res.validator);
	free(s.buf);
}

/* Downloads from `from` with the sink already holding [0, from) of file,
 * which came with validator. */
static int fetch_resume(struct sink *s, const char *url, const uint8_t *file, uint64_t from, const char *validator,
                        struct fetch_result *res)
{
	struct fetch_req rq;

	sink_init(s, BIG_LEN);
	memcpy(s->buf, file, from < BIG_LEN ? from : BIG_LEN);
	rq = req_for(s, url);
	rq.resume_from = from;
	rq.validator = validator;
	return fetch_run(&rq, res);
}

/* The whole of want (len bytes) came again from offset 0. */
static void assert_restarted(const struct sink *s, const struct fetch_result *res, const uint8_t *want, size_t len)
{
	assert_int_equal(res->err, 0);
	assert_true(res->restarted);
	assert_int_equal(s->first_off, 0);
	assert_false(s->gap);
	assert_int_equal(res->bytes, len);
	assert_int_equal(res->end, len);
	assert_memory_equal(s->buf, want, len);
}

static void test_resume_with_ranges(void **state)
{
	struct fx *f = *state;
	const enum srv via[] = {S_HTTP, S_FTP};
	const uint64_t from = MID_LEN + 12345;
	char url[256], v[FETCH_VALIDATOR_MAX];
	struct fetch_result res;
	struct sink s;

	for (size_t i = 0; i < 2; i++) {
		validator_of(url_of(url, sizeof(url), f, via[i], "big.bin"), v);
		assert_int_equal(fetch_resume(&s, url, f->big, from, v, &res), 0);
		assert_false(res.restarted);
		assert_int_equal(s.first_off, from);
		assert_false(s.gap);
		assert_int_equal(res.bytes, BIG_LEN - from);
		assert_int_equal(res.end, BIG_LEN);
		assert_int_equal(res.announced, BIG_LEN);
		assert_memory_equal(s.buf, f->big, BIG_LEN);
		assert_string_equal(res.validator, v); /* the bytes' version still */
		assert_true(res.ranges); /* ftp's REST; http's 206 */
		free(s.buf);
		/* All of it held: ftp has nothing left to send (the file checked
		 * all the same); http answers 416 and the file comes again. */
		assert_int_equal(fetch_resume(&s, url, f->big, BIG_LEN, v, &res), 0);
		assert_int_equal(res.end, BIG_LEN);
		assert_memory_equal(s.buf, f->big, BIG_LEN);
		assert_int_equal(res.restarted, via[i] == S_HTTP);
		assert_int_equal(res.bytes, via[i] == S_HTTP ? BIG_LEN : 0);
		assert_string_equal(res.validator, v);
		free(s.buf);
	}
}

/* An early start's window (SPEC §6.5): bytes [from, end) asked as a Range
 * whose last byte is end - 1, the validator as If-Range: exactly those
 * come, and the file's size announced — a window of one byte, one ending
 * at the file's last byte, one across chunks.  (Planted: the Range's last
 * byte asked as end, one past the window; nothing tested range_end.) */
static void test_range_window(void **state)
{
	struct fx *f = *state;
	char url[256], v[FETCH_VALIDATOR_MAX];
	struct fetch_result res;
	struct sink s;
	static const struct {
		uint64_t from, end;
	} w[] = {{0, 1}, {BIG_LEN - 1, BIG_LEN}, {MID_LEN - 7, 2 * MID_LEN + 9}, {MID_LEN + 12345, BIG_LEN}};

	validator_of(url_of(url, sizeof(url), f, S_HTTP, "big.bin"), v);
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
		struct fetch_req rq;

		sink_init(&s, BIG_LEN);
		rq = req_for(&s, url);
		rq.resume_from = w[i].from;
		rq.range_end = w[i].end;
		rq.validator = v;
		if (fetch_run(&rq, &res) != 0)
			fail_msg("window [%llu, %llu): %s", (unsigned long long)w[i].from, (unsigned long long)w[i].end,
			         res.reason);
		assert_false(res.restarted);
		assert_int_equal(s.first_off, w[i].from);
		assert_false(s.gap);
		assert_int_equal(res.bytes, w[i].end - w[i].from);
		assert_int_equal(res.end, w[i].end);
		assert_int_equal(s.next, w[i].end);
		assert_int_equal(res.announced, BIG_LEN);
		assert_memory_equal(s.buf + w[i].from, f->big + w[i].from, w[i].end - w[i].from);
		free(s.buf);
	}
}

static void test_resume_without_ranges_restarts(void **state)
{
	struct fx *f = *state;
	char url[256], v[FETCH_VALIDATOR_MAX];
	struct fetch_result res;
	struct sink s;

	/* The server answers 200 with the whole file: start again at 0.  It
	 * said so ("Accept-Ranges: none"): an import from it keeps its
	 * worker rather than give it back for a while (task.c's slices). */
	validator_of(url_of(url, sizeof(url), f, S_NORANGES, "big.bin"), v);
	assert_int_equal(fetch_resume(&s, url, f->big, MID_LEN, v, &res), 0);
	assert_restarted(&s, &res, f->big, BIG_LEN);
	assert_false(res.ranges);
	assert_int_equal(res.announced, BIG_LEN);
	free(s.buf);
	/* Holding more than the file (it changed): 416, start again at 0. */
	validator_of(url_of(url, sizeof(url), f, S_HTTP, "mid.bin"), v);
	assert_int_equal(fetch_resume(&s, url, f->big, MID_LEN + 10, v, &res), 0);
	assert_restarted(&s, &res, f->mid, MID_LEN);
	free(s.buf);
}

/* What a download records to resume with: http's strong ETag, from the
 * final answer (a redirect's has none); ftp's size and MDTM; with only a
 * weak ETag, the Last-Modified date when it is a minute older than the
 * answer's Date, else nothing. */
static void test_validator_recorded(void **state)
{
	struct fx *f = *state;
	char url[256], v[FETCH_VALIDATOR_MAX], v2[FETCH_VALIDATOR_MAX], want[FETCH_VALIDATOR_MAX], path[PATH_MAX];
	time_t aged = time(NULL) - 3600;
	struct stat st;

	validator_of(url_of(url, sizeof(url), f, S_HTTP, "mid.bin"), v);
	assert_true(v[0] == '"' && v[strlen(v) - 1] == '"');
	validator_of(url_of(url, sizeof(url), f, S_REDIRECT, "hop/3/mid.bin"), v2);
	assert_string_equal(v2, v);

	snprintf(path, sizeof(path), "%s/mid.bin", f->dir);
	assert_int_equal(stat(path, &st), 0);
	snprintf(want, sizeof(want), "%u %lld", MID_LEN, (long long)st.st_mtime);
	validator_of(url_of(url, sizeof(url), f, S_FTP, "mid.bin"), v);
	assert_string_equal(v, want);

	free(put_version(f->dir, "aged.bin", MID_LEN, 7, aged));
	strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&aged));
	validator_of(url_of(url, sizeof(url), f, S_WEAK, "aged.bin"), v);
	assert_string_equal(v, want);
	free(put_version(f->dir, "fresh.bin", MID_LEN, 8, time(NULL)));
	validator_of(url_of(url, sizeof(url), f, S_WEAK, "fresh.bin"), v);
	assert_string_equal(v, "");
	validator_of(url_of(url, sizeof(url), f, S_HTTP, "fresh.bin"), v);
	assert_true(v[0] == '"');
}

/* Nothing to tell a changed file by: the whole file again, never a gamble
 * on a range (also for a validator that could not be sent). */
static void test_resume_without_validator_restarts(void **state)
{
	struct fx *f = *state;
	const enum srv via[] = {S_HTTP, S_FTP};
	const char *const bad[] = {NULL, "", "\"a\"\r\nX-Injected: 1"};
	char url[256], v[FETCH_VALIDATOR_MAX];
	struct fetch_result res;
	struct sink s;

	for (size_t i = 0; i < 2; i++) {
		validator_of(url_of(url, sizeof(url), f, via[i], "mid.bin"), v);
		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			assert_int_equal(fetch_resume(&s, url, f->mid, MID_LEN / 2, bad[j], &res), 0);
			assert_restarted(&s, &res, f->mid, MID_LEN);
			assert_string_equal(res.validator, v); /* the new bytes' */
			free(s.buf);
		}
	}
}

/* The bug this guards against: half of version A, the server's file
 * replaced by B of the same size, then a resume.  The bytes held are kept
 * while the file is A; once it is B, B comes whole — never A's start
 * spliced to B's end.  http honours If-Range (200 with the whole file),
 * also a server whose 206 answers name no version (only If-Range can tell
 * there); the weak-ETag server matches on the date; a server ignoring
 * If-Range answers 206 but with B's ETag; ftp: B's size and MDTM differ. */
static void test_resume_file_changed(void **state)
{
	struct fx *f = *state;
	const enum srv via[] = {S_HTTP, S_PLAIN206, S_WEAK, S_NOIFRANGE, S_FTP};
	const uint64_t from = MID_LEN / 2;
	time_t t0 = time(NULL) - 7200;
	char url[256], name[32], va[FETCH_VALIDATOR_MAX], vb[FETCH_VALIDATOR_MAX];
	struct fetch_result res;
	struct sink s;

	for (size_t i = 0; i < sizeof(via) / sizeof(via[0]); i++) {
		snprintf(name, sizeof(name), "chg-%s.bin", srv_mode[via[i]]);
		uint8_t *a = put_version(f->dir, name, MID_LEN, 100 + i, t0);
		validator_of(url_of(url, sizeof(url), f, via[i], name), va);
		assert_true(va[0] != '\0');
		/* Unchanged: resumed where it was. */
		assert_int_equal(fetch_resume(&s, url, a, from, va, &res), 0);
		assert_false(res.restarted);
		assert_int_equal(s.first_off, from);
		assert_int_equal(res.bytes, MID_LEN - from);
		assert_memory_equal(s.buf, a, MID_LEN);
		free(s.buf);
		/* Changed: B whole, and B's validator to resume with. */
		uint8_t *b = put_version(f->dir, name, MID_LEN, 200 + i, t0 + 60);
		assert_int_equal(fetch_resume(&s, url, a, from, va, &res), 0);
		if (!res.restarted || memcmp(s.buf, b, MID_LEN) != 0)
			fail_msg("%s: the changed file was %s", srv_mode[via[i]],
			         res.restarted ? "restarted with wrong bytes" : "spliced onto the old one");
		assert_restarted(&s, &res, b, MID_LEN);
		validator_of(url, vb);
		assert_string_equal(res.validator, vb);
		assert_string_not_equal(vb, va);
		free(s.buf);
		free(a);
		free(b);
	}
}

/* ---- the caller's controls ---------------------------------------------------- */

static void test_cancel_while_bytes_flow(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct fetch_req rq;
	struct sink s;
	char url[256];

	sink_init(&s, BIG_LEN);
	s.cancel_after = 256 << 10;
	rq = req_for(&s, url_of(url, sizeof(url), f, S_SLOW, "big.bin"));
	assert_int_equal(fetch_run(&rq, &res), -ECANCELED);
	assert_true(s.cancel);
	assert_true(now_ms() - s.cancel_ms < 1000);
	assert_string_equal(res.reason, "cancelled");
	assert_true(res.bytes < BIG_LEN);
	assert_memory_equal(s.buf, f->big, res.bytes);
	free(s.buf);
}

static void test_cancel_while_stalled(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct fetch_req rq;
	struct sink s;
	char url[256];

	/* The stall server sends 1000 bytes, then nothing: cancel then.
	 * libcurl polls an idle transfer about once a second. */
	sink_init(&s, MID_LEN);
	s.cancel_after = 1;
	rq = req_for(&s, url_of(url, sizeof(url), f, S_STALL, "x"));
	rq.stall_timeout = 60;
	assert_int_equal(fetch_run(&rq, &res), -ECANCELED);
	assert_true(now_ms() - s.cancel_ms < 2000);
	assert_string_equal(res.reason, "cancelled");
	free(s.buf);
}

static void test_sink_error_aborts(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct fetch_req rq;
	struct sink s;
	char url[256];

	sink_init(&s, BIG_LEN);
	s.fail_at = 3;
	s.fail_err = -ENOSPC;
	rq = req_for(&s, url_of(url, sizeof(url), f, S_HTTP, "big.bin"));
	assert_int_equal(fetch_run(&rq, &res), -ENOSPC);
	assert_string_equal(res.reason, "could not store the downloaded data: No space left on device");
	assert_int_equal(s.calls, 3); /* never called again */
	assert_int_equal(res.bytes, s.next);
	free(s.buf);
}

static void test_progress_is_rate_limited(void **state)
{
	struct fx *f = *state;
	struct fetch_result res;
	struct sink s;
	char url[256];

	/* 1 MiB at about 800 KiB/s: over a second of reports. */
	assert_int_equal(fetch(&s, MID_LEN, url_of(url, sizeof(url), f, S_SLOW, "mid.bin"), NULL, &res), 0);
	assert_whole(&s, &res, f->mid, MID_LEN);
	assert_true(s.progress_calls >= 3);
	assert_true(s.min_interval_ms >= FETCH_PROGRESS_INTERVAL_MS - 5);
	assert_false(s.progress_backwards);
	assert_int_equal(s.progress_total, MID_LEN);
	assert_true(s.progress_done > 0);
	free(s.buf);
}

static void test_server_selfcheck(void **state)
{
	char script[PATH_MAX], cmd[PATH_MAX + 64];

	serve_py(script, sizeof(script));
	snprintf(cmd, sizeof(cmd), PY " '%s' selfcheck >/dev/null", script);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_url_check_table),
	        cmocka_unit_test(test_url_redact_table),
	        cmocka_unit_test(test_http_whole_file),
	        cmocka_unit_test(test_loopback_refused_by_default),
	        cmocka_unit_test(test_https_with_test_ca),
	        cmocka_unit_test(test_https_untrusted_fails),
	        cmocka_unit_test(test_ftp_whole_file),
	        cmocka_unit_test(test_redirects_same_scheme),
	        cmocka_unit_test(test_redirect_limits),
	        cmocka_unit_test(test_http_404),
	        cmocka_unit_test(test_ftp_failures),
	        cmocka_unit_test(test_stall_times_out),
	        cmocka_unit_test(test_reset_connection),
	        cmocka_unit_test(test_short_body),
	        cmocka_unit_test(test_connection_refused),
	        cmocka_unit_test(test_refused_url_never_connects),
	        cmocka_unit_test(test_password_never_in_reasons),
	        cmocka_unit_test(test_max_size_announced),
	        cmocka_unit_test(test_max_size_unannounced),
	        cmocka_unit_test(test_resume_with_ranges),
	        cmocka_unit_test(test_range_window),
	        cmocka_unit_test(test_resume_without_ranges_restarts),
	        cmocka_unit_test(test_validator_recorded),
	        cmocka_unit_test(test_resume_without_validator_restarts),
	        cmocka_unit_test(test_resume_file_changed),
	        cmocka_unit_test(test_cancel_while_bytes_flow),
	        cmocka_unit_test(test_cancel_while_stalled),
	        cmocka_unit_test(test_sink_error_aborts),
	        cmocka_unit_test(test_progress_is_rate_limited),
	        cmocka_unit_test(test_server_selfcheck),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
