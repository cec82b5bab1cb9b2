/*
 * opts.c — `imgfs serve`'s command line (SPEC §14, §15): a table of
 * options (fs/common/opts.c reads it with getopt_long) into struct
 * serve_opts, then the checks that need more than one option or a parse
 * of its own (the listening addresses, the TLS pair, the state directory).
 * serve_main (serve.c) starts from the struct alone.  Adding an option: a
 * field in struct serve_opts (serve.h), a row below, a line of the usage,
 * and a test in tests/unit/fs/serve/test_opts.c.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common.h"
#include "include/core.h" /* model_default_state_dir */
#include "serve.h"

static const char serve_usage[] =
	"usage: imgfs serve [--state DIR] [--db URL] [--listen ADDR:PORT] [--tls-cert FILE --tls-key FILE]\n"
	"                   [--log FILE] [--threads N] [--max-connections N] [--max-per-client N]\n"
	"                   [--metrics-listen [ADDR:]PORT] [--keyfile PATH | --keycmd CMD]\n"
	"                   [--glance [--glance-region R] [--glance-workers N] [--glance-peer URL]\n"
	"                    [--glance-hash-algo sha256|sha512]]\n"
	"  Serves the state's download links (SPEC §14) over HTTP/1.1, HTTPS with a certificate.\n"
	"  --keyfile, --keycmd  the key-encryption key: links of encrypted images (SPEC §17) are\n"
	"                     served only with it (503 without)\n"
	"  --listen    default 127.0.0.1:8080; port 0 picks a free one (printed at start)\n"
	"  --log       also append the log lines (one per download) to FILE\n"
	"  --threads   threads polling the connections (default 4, at most 64)\n"
	"  --max-connections  open connections at most, in any state (default 64, at most 4096); more\n"
	"                     wait in the backlog\n"
	"  --max-per-client   connections of one client address at most (default 8; an IPv6 client is its /64);\n"
	"                     more are refused at once (503 Service Unavailable, Retry-After: 10)\n"
	"  --glance    also serve the OpenStack image API (Glance v2, SPEC §19) on this listener:\n"
	"                     every path but /d/...; --glance-region R: the region the root serves\n"
	"                     (default: the first; /region/R/ serves R), --glance-workers N: task\n"
	"                     runners for its uploads and imports (default 2, at most 16; 0: a mount's\n"
	"                     run them), --glance-peer URL: another server of the state, in the\n"
	"                     catalogue as image_remote, --glance-hash-algo: the os_hash_algo of the\n"
	"                     uploads through the API (default sha256, the image's sha256; sha512:\n"
	"                     Glance's default, hashed beside it)\n"
	"  --metrics-listen   serve GET /metrics (Prometheus text format: requests, bytes, connections,\n"
	"                     refusals, stopped transfers) on a listener of its own; PORT alone is on\n"
	"                     127.0.0.1 (the metrics are the operator's, never on the download port)\n"
	"  Every client is bounded: a connection that sends nothing for 10 s is closed, a request must be\n"
	"  complete 10 s after its first byte (a keep-alive connection's next one 10 s after the last\n"
	"  response), bytes that do not start an HTTP request (a TLS hello on the plain port, plain text\n"
	"  on the TLS port) get 400 and a close, a response the client takes fewer than 1024 bytes/s of\n"
	"  over 10 s ends.  When --max-connections are held, the slowest (fewest bytes a second of its\n"
	"  age, past 0.5 s) is closed to make room for the next; up to 64 wait meanwhile, the room going\n"
	"  first to the address that holds the fewest connections, then to a request already sent whole;\n"
	"  a request whose framing reads two ways (two Content-Lengths, Transfer-Encoding beside one) is\n"
	"  400 and closed.\n"
	"  A download under way stops (a short transfer) when its link is revoked or its image deleted,\n"
	"  destroyed or moved out of private/ or iso/; one that began before its link expired completes,\n"
	"  and a resume after the expiry gets 410.\n";

#define OPT(name, kind, field) {name, 0, kind, offsetof(struct serve_opts, field), 0, 0}
#define UINT(name, field, lo, hi) {name, 0, FS_OPT_UINT, offsetof(struct serve_opts, field), lo, hi}
static const struct fs_opt serve_opt_rows[] = {
	{"help", 'h', FS_OPT_HELP, 0, 0, 0},
	OPT("state", FS_OPT_STR, state),
	OPT("db", FS_OPT_STR, db),
	OPT("listen", FS_OPT_STR, listen_at),
	OPT("tls-cert", FS_OPT_STR, cert_path),
	OPT("cert", FS_OPT_STR, cert_path), /* the first spelling, kept */
	OPT("tls-key", FS_OPT_STR, key_path),
	OPT("key", FS_OPT_STR, key_path),
	OPT("log", FS_OPT_STR, log_path),
	UINT("threads", threads, 1, SERVE_THREADS_MAX),
	UINT("max-connections", max_conns, 1, SERVE_CONNECTIONS_MAX),
	UINT("max-per-client", per_client, 1, SERVE_CONNECTIONS_MAX),
	OPT("metrics-listen", FS_OPT_STR, metrics_at),
	OPT("keyfile", FS_OPT_STR, keyfile),
	OPT("keycmd", FS_OPT_STR, keycmd),
	OPT("glance", FS_OPT_FLAG, glance),
	OPT("glance-region", FS_OPT_STR, glance_region),
	UINT("glance-workers", glance_workers, 0, 16),
	OPT("glance-peer", FS_OPT_STR, glance_peer),
	OPT("glance-hash-algo", FS_OPT_STR, glance_hash_algo),
	{NULL, 0, 0, 0, 0, 0},
};

static int usage_error(const char *why)
{
	fprintf(stderr, "imgfs serve: %s\n%s", why, serve_usage);
	return 2;
}

int serve_parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len, bool *v6)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host))
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(close - spec - 1), spec + 1);
		port = close + 2;
	} else {
		const char *colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
		port = colon + 1;
	}
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	*v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	return 0;
}

/* A port alone (digits, 0 to 65535), or -1. */
static long port_alone(const char *s)
{
	char *end;
	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	return errno || *end || v > 65535 ? -1 : (long)v;
}

int serve_opts_parse(struct serve_opts *o, int argc, char **argv)
{
	*o = (struct serve_opts){.listen_at = "127.0.0.1:8080", .threads = SERVE_THREADS,
	                         .max_conns = SERVE_MAX_CONNECTIONS, .per_client = SERVE_PER_CLIENT,
	                         .glance_workers = 2};
	int rc = fs_opts_parse("imgfs serve", serve_opt_rows, o, FS_ARGS_NONE, argc, argv, NULL);
	if (rc == 1) {
		fputs(serve_usage, stdout);
		return 1;
	}
	if (rc != 0) {
		fputs(serve_usage, stderr);
		return 2;
	}
	if (!o->cert_path != !o->key_path)
		return usage_error("--tls-cert and --tls-key go together");
	if (!o->glance && (o->glance_region || o->glance_peer || o->glance_hash_algo))
		return usage_error("--glance-region, --glance-peer and --glance-hash-algo go with --glance");
	if (o->glance_hash_algo && strcmp(o->glance_hash_algo, "sha256") != 0 && strcmp(o->glance_hash_algo, "sha512") != 0)
		return usage_error("--glance-hash-algo takes sha256 or sha512");
	if (o->glance_peer && strncmp(o->glance_peer, "http://", 7) != 0 && strncmp(o->glance_peer, "https://", 8) != 0)
		return usage_error("--glance-peer takes http://HOST:PORT or https://HOST:PORT");
	if (serve_parse_listen(o->listen_at, &o->ss, &o->sslen, &o->v6) < 0)
		return usage_error("--listen takes ADDR:PORT with a numeric address (127.0.0.1:8080, [::1]:8080)");
	if (o->metrics_at) {
		/* PORT alone: loopback (metrics.c's header says why). */
		long p = port_alone(o->metrics_at);
		if (p >= 0)
			snprintf(o->metrics_spec, sizeof(o->metrics_spec), "127.0.0.1:%ld", p);
		else
			snprintf(o->metrics_spec, sizeof(o->metrics_spec), "%.*s", (int)sizeof(o->metrics_spec) - 1,
			         o->metrics_at);
		if (serve_parse_listen(o->metrics_spec, &o->mss, &o->msslen, &o->mv6) < 0)
			return usage_error("--metrics-listen takes PORT or ADDR:PORT with a numeric address");
	}
	if (o->state)
		snprintf(o->state_dir, sizeof(o->state_dir), "%s", o->state);
	else if (model_default_state_dir(o->state_dir, sizeof(o->state_dir)) < 0)
		return usage_error("no default state directory; use --state DIR");
	return 0;
}
