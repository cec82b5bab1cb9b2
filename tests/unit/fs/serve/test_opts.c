/*
 * test_opts.c — fs/serve/opts.c, `imgfs serve`'s command line (SPEC §14,
 * §15): the defaults, each bound at its limit and one past it, the two
 * spellings of the TLS options, the listening addresses, and the one line
 * each refusal says (exit 2), as a table of command lines.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "serve.h"

static char words[16][128];

/* serve_opts_parse on "serve WORDS..." (at most 15), its stderr's first line
 * in said. */
static int parse(struct serve_opts *o, char *said, size_t cap, const char *const *w)
{
	char *argv[17] = {"serve"};
	int argc = 1;
	for (; w[argc - 1]; argc++) {
		snprintf(words[argc], sizeof(words[argc]), "%s", w[argc - 1]);
		argv[argc] = words[argc];
	}
	FILE *f = tmpfile();
	assert_non_null(f);
	fflush(stderr);
	int saved = dup(2);
	dup2(fileno(f), 2);
	int rc = serve_opts_parse(o, argc, argv);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	said[0] = '\0';
	if (fgets(said, (int)cap, f))
		said[strcspn(said, "\n")] = '\0';
	fclose(f);
	return rc;
}

#define W(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_defaults(void **state)
{
	(void)state;
	struct serve_opts o;
	char said[256];
	setenv("XDG_DATA_HOME", "/tmp/imgfs-serve-opts", 1);
	assert_int_equal(parse(&o, said, sizeof(said), (const char *const[]){NULL}), 0);
	assert_string_equal(said, "");
	assert_int_equal(o.threads, SERVE_THREADS);
	assert_int_equal(o.max_conns, SERVE_MAX_CONNECTIONS);
	assert_int_equal(o.per_client, SERVE_PER_CLIENT);
	assert_string_equal(o.listen_at, "127.0.0.1:8080");
	struct sockaddr_in *in = (struct sockaddr_in *)&o.ss;
	assert_int_equal(in->sin_family, AF_INET);
	assert_int_equal(ntohs(in->sin_port), 8080);
	assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_false(o.v6);
	assert_int_equal(o.msslen, 0);
	assert_null(o.metrics_at);
	assert_null(o.cert_path);
	assert_null(o.keycmd);
	assert_true(strlen(o.state_dir) > 0);
}

static void test_values(void **state)
{
	(void)state;
	struct serve_opts o;
	char said[256];
	assert_int_equal(parse(&o, said, sizeof(said),
	                       W("--threads", "1", "--max-connections", "4096", "--max-per-client", "4096", "--state",
	                         "/tmp/s", "--db", "postgresql:///x")),
	                 0);
	assert_int_equal(o.threads, 1);
	assert_int_equal(o.max_conns, 4096);
	assert_int_equal(o.per_client, 4096);
	assert_string_equal(o.state_dir, "/tmp/s");
	assert_string_equal(o.db, "postgresql:///x");
	assert_int_equal(parse(&o, said, sizeof(said), W("--threads=64", "--max-connections=1", "--max-per-client=1")),
	                 0);
	assert_int_equal(o.threads, 64);
	assert_int_equal(o.max_conns, 1);
	assert_int_equal(o.per_client, 1);
	/* the TLS pair, either spelling */
	assert_int_equal(parse(&o, said, sizeof(said), W("--cert", "c.pem", "--tls-key", "k.pem")), 0);
	assert_string_equal(o.cert_path, "c.pem");
	assert_string_equal(o.key_path, "k.pem");
	assert_int_equal(parse(&o, said, sizeof(said), W("--tls-cert", "c2", "--key", "k2", "--log", "l", "--keycmd", "x")),
	                 0);
	assert_string_equal(o.cert_path, "c2");
	assert_string_equal(o.key_path, "k2");
	assert_string_equal(o.log_path, "l");
	assert_string_equal(o.keycmd, "x");
	/* addresses */
	assert_int_equal(parse(&o, said, sizeof(said), W("--listen", "[::1]:0", "--metrics-listen", "65535")), 0);
	assert_true(o.v6);
	assert_int_equal(((struct sockaddr_in6 *)&o.ss)->sin6_port, 0);
	assert_string_equal(o.metrics_spec, "127.0.0.1:65535");
	assert_int_equal(ntohs(((struct sockaddr_in *)&o.mss)->sin_port), 65535);
	assert_false(o.mv6);
	assert_int_equal(parse(&o, said, sizeof(said), W("--metrics-listen", "0")), 0);
	assert_string_equal(o.metrics_spec, "127.0.0.1:0");
	assert_int_equal(parse(&o, said, sizeof(said), W("--metrics-listen", "[::1]:9100", "--keyfile", "kf")), 0);
	assert_true(o.mv6);
	assert_true(o.msslen > 0);
	assert_string_equal(o.keyfile, "kf");
	assert_int_equal(parse(&o, said, sizeof(said), W("--metrics-listen", "9100")), 0);
	assert_string_equal(o.metrics_spec, "127.0.0.1:9100");
	/* an address of 47 characters (what the buffer holds) is read whole */
	assert_int_equal(parse(&o, said, sizeof(said), W("--listen", "00000000000000000000000000000000000000000000001:80")),
	                 0);
	assert_int_equal(ntohl(((struct sockaddr_in *)&o.ss)->sin_addr.s_addr), 1);
	assert_int_equal(parse(&o, said, sizeof(said), W("--listen", "[0000:0000:0000:0000:0000:0000:0000:0001%0000001]:80")),
	                 0);
	assert_true(o.v6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&o.ss)->sin6_port), 80);
}

/* --glance (SPEC §19): a flag; its workers 0 to 16 (default 2). */
static void test_glance(void **state)
{
	struct serve_opts o;
	char said[256];
	(void)state;
	assert_int_equal(parse(&o, said, sizeof(said), (const char *const[]){NULL}), 0);
	assert_false(o.glance);
	assert_int_equal(o.glance_workers, 2);
	assert_int_equal(parse(&o, said, sizeof(said), W("--glance", "--glance-workers", "0", "--glance-region", "r1",
	                                                 "--glance-peer", "https://h:1")),
	                 0);
	assert_true(o.glance);
	assert_int_equal(o.glance_workers, 0);
	assert_string_equal(o.glance_region, "r1");
	assert_string_equal(o.glance_peer, "https://h:1");
	assert_int_equal(parse(&o, said, sizeof(said), W("--glance", "--glance-workers", "16")), 0);
	assert_int_equal(o.glance_workers, 16);
}

static void test_refusals(void **state)
{
	(void)state;
	const struct {
		const char *const *w;
		const char *said;
	} cases[] = {
		{W("--bogus"), "imgfs serve: unknown option --bogus"},
		{W("--bogus", "x"), "imgfs serve: unknown option --bogus"},
		{W("--threads"), "imgfs serve: --threads needs a value"},
		{W("--threads", "0"), "imgfs serve: --threads takes 1 to 64"},
		{W("--threads", "65"), "imgfs serve: --threads takes 1 to 64"},
		{W("--max-connections", "0"), "imgfs serve: --max-connections takes 1 to 4096"},
		{W("--max-connections", "4097"), "imgfs serve: --max-connections takes 1 to 4096"},
		{W("--max-per-client", "0"), "imgfs serve: --max-per-client takes 1 to 4096"},
		{W("--max-per-client", "4097"), "imgfs serve: --max-per-client takes 1 to 4096"},
		{W("x"), "imgfs serve: unexpected argument x"},
		{W("--tls-cert", "c"), "imgfs serve: --tls-cert and --tls-key go together"},
		{W("--key", "k"), "imgfs serve: --tls-cert and --tls-key go together"},
		{W("--listen", "localhost:80"),
		 "imgfs serve: --listen takes ADDR:PORT with a numeric address (127.0.0.1:8080, [::1]:8080)"},
		{W("--listen", "127.0.0.1"),
		 "imgfs serve: --listen takes ADDR:PORT with a numeric address (127.0.0.1:8080, [::1]:8080)"},
		{W("--listen", "[::1]8080"),
		 "imgfs serve: --listen takes ADDR:PORT with a numeric address (127.0.0.1:8080, [::1]:8080)"},
		{W("--metrics-listen", "65536"),
		 "imgfs serve: --metrics-listen takes PORT or ADDR:PORT with a numeric address"},
		{W("--metrics-listen", "-1"), "imgfs serve: --metrics-listen takes PORT or ADDR:PORT with a numeric address"},
		{W("--metrics-listen", " 80"), "imgfs serve: --metrics-listen takes PORT or ADDR:PORT with a numeric address"},
		{W("--glance-workers", "17"), "imgfs serve: --glance-workers takes 0 to 16"},
		{W("--glance", "yes"), "imgfs serve: unexpected argument yes"},
		{W("--glance-region", "r"), "imgfs serve: --glance-region, --glance-peer and --glance-hash-algo go with --glance"},
		{W("--glance-peer", "http://x"),
		 "imgfs serve: --glance-region, --glance-peer and --glance-hash-algo go with --glance"},
		{W("--glance-hash-algo", "sha512"),
		 "imgfs serve: --glance-region, --glance-peer and --glance-hash-algo go with --glance"},
		{W("--glance", "--glance-hash-algo", "md5"), "imgfs serve: --glance-hash-algo takes sha256 or sha512"},
		{W("--glance", "--glance-peer", "ftp://x"), "imgfs serve: --glance-peer takes http://HOST:PORT or https://HOST:PORT"},
		/* 48 characters: one past what is read whole (cut, it would be
		 * another address), refused */
		{W("--listen", "000000000000000000000000000000000000000000000001:80"),
		 "imgfs serve: --listen takes ADDR:PORT with a numeric address (127.0.0.1:8080, [::1]:8080)"},
		{W("--listen", "[0000:0000:0000:0000:0000:0000:0000:0001%00000001]:80"),
		 "imgfs serve: --listen takes ADDR:PORT with a numeric address (127.0.0.1:8080, [::1]:8080)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct serve_opts o;
		char said[256];
		int rc = parse(&o, said, sizeof(said), cases[i].w);
		if (rc != 2 || strcmp(said, cases[i].said) != 0)
			fail_msg("case %zu (%s ...): %d, \"%s\"; want 2, \"%s\"", i, cases[i].w[0], rc, said, cases[i].said);
	}
}

static void test_help(void **state)
{
	(void)state;
	struct serve_opts o;
	char said[256];
	fflush(stdout);
	int saved = dup(1);
	FILE *f = tmpfile();
	dup2(fileno(f), 1);
	int rc = parse(&o, said, sizeof(said), W("--threads", "2", "--help"));
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	rewind(f);
	char line[256] = "";
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_int_equal(rc, 1);
	assert_string_equal(said, "");
	assert_true(strncmp(line, "usage: imgfs serve ", 19) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_glance),
		cmocka_unit_test(test_help),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
