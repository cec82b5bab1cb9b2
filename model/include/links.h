/*
 * links.h — download links (SPEC §14, meta/download.c): a link is a
 * token bound by a MAC to an image, a format and an expiry; the download
 * server (fs/serve) resolves a request's token and serves the image's
 * first device.
 *
 * Who calls it: fs/ (writes to an image's `download` file, its listing
 * of live links), fs/serve (resolving tokens), the admin command line
 * (the base of the URLs).  Any thread.
 *
 * Errors: -errno with the reason (-EINVAL a bad duration or format,
 * -EPERM not an available private or ISO image, -EDQUOT too many live
 * links; -EKEYEXPIRED an expired token, -ENOENT an unknown one).
 */
#ifndef IMGFS_MODEL_LINKS_H
#define IMGFS_MODEL_LINKS_H

#include "images.h"

/* ---- download links (§14, meta/download.c) -------------------------------- */

#define MODEL_LINK_DEFAULT_SECONDS 86400      /* 24 h (seed 004 §4.4) */
#define MODEL_LINK_MAX_SECONDS (7 * 86400)
#define MODEL_LINK_MAX_LIVE 32                /* live links of one image */
#define MODEL_LINK_TOKEN_LEN 64               /* hex: 16 random bytes, 16 of MAC */
#define MODEL_LINK_KEY_SIZE 32
#define MODEL_DOWNLOAD_URL_DEFAULT "http://localhost:8080"

struct model_link {
	char token[MODEL_LINK_TOKEN_LEN + 1];
	int64_t image_id;
	char format[8];  /* raw, qcow2 or iso */
	int64_t expires; /* unix seconds */
};
/* "30s", "90m", "24h", "7d" (1 s .. 7 days) into seconds; -EINVAL otherwise. */
int model_link_parse_duration(const char *s, int64_t *out);
/* The MAC key of the links, derived from the service secret. */
void model_link_key(uint8_t out[MODEL_LINK_KEY_SIZE], const uint8_t *secret, size_t len);
/* The token of a link: nonce (32 hex) and the MAC of the bound fields. */
void model_link_token(char out[MODEL_LINK_TOKEN_LEN + 1], const uint8_t key[MODEL_LINK_KEY_SIZE],
                      const char nonce[33], int64_t image_id, const char *format, int64_t expires);
/* Exactly MODEL_LINK_TOKEN_LEN lowercase hex digits. */
bool model_link_token_valid(const char *token);
/* The image's download file written (§14): "link [DURATION] [raw|qcow2]"
 * or "revoke".  -EINVAL (bad duration or format), -EPERM (not an
 * available private or ISO image), -EDQUOT (too many live links). */
int model_link_command(model *m, int64_t image_id, const char *cmd, struct model_err *err);
/* A link for seconds; format NULL: the image's default (raw; iso for ISO
 * images; qcow2 for an image whose disk is a QCOW2 file). */
int model_link_create(model *m, int64_t image_id, int64_t seconds, const char *format, struct model_link *out,
                      struct model_err *err);
/* Ends every link of the image; returns how many there were. */
int model_link_revoke(model *m, int64_t image_id, struct model_err *err);
/* The live links of the image (expires > now), soonest first. */
int model_link_list(model *m, int64_t image_id, int64_t now, int (*cb)(void *arg, const struct model_link *l),
                    void *arg);
/* A request's token: 0 and *out for a live link, -EKEYEXPIRED (and *out)
 * for an expired one, -ENOENT for an unknown or tampered token. */
int model_link_resolve(model *m, const char *token, int64_t now, struct model_link *out);
/* The device a link serves: the image's first (vda; cdrom of an ISO). */
int model_link_device(model *m, const struct model_image *img, struct model_device *out);
/* The base of the URLs (`imgfs admin download-url`; default
 * MODEL_DOWNLOAD_URL_DEFAULT), and setting it (-EINVAL unless http(s)://). */
int model_download_url(model *m, char *out, size_t cap);
int model_download_url_set(model *m, const char *url, struct model_err *err);
/* <base>/d/<token>/<name, %-escaped>.<format> */
void model_link_url(char *out, size_t cap, const char *base, const struct model_link *l, const char *name);

#endif
