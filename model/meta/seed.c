/*
 * seed.c — an instance's administrator password (SPEC §16, seed 004
 * §4.2): the rules a password must meet, its SHA-512 crypt hash, and
 * disks/cidata, the cloud-init NoCloud seed made from that hash, which a
 * hypervisor attaches as one more drive (`qemu -drive file=disks/cidata`).
 *
 * Who calls it: fs/ (writes to an instance's `password`), the unit tests.
 *
 * What is kept.  The password itself never leaves this file's stack: it
 * is checked, hashed (libcrypt's crypt_rn, "$6$" with a 16-character salt
 * drawn from getrandom(2)), and the hash is the only thing stored —
 * inside the seed's bytes.  No column of the database holds the hash or
 * the password; the crypt state is wiped before it is freed.  A refusal's
 * reason is always MODEL_PASSWORD_RULE, never a piece of the password.
 *
 * The seed (ECMA-119 with Joliet names, blobstore/format/iso9660_out.c;
 * volume id "cidata", as NoCloud looks for) holds two files:
 *
 *   user-data   #cloud-config
 *               password: "<hash>"      the default user's password
 *               chpasswd:               (cc_set_passwords takes a value
 *                 expire: false          that looks like a crypt hash as
 *               ssh_pwauth: true         one: chpasswd -e)
 *   meta-data   instance-id: "<i-xxxxxxxx>-<when>"
 *               local-hostname: "<name>"
 *
 * expire false: the administrator logs in with the password set, not one
 * to change at once; ssh_pwauth true: and may do so over SSH.  The
 * instance id is the instance's external id and the seed's time:
 * cloud-init runs its per-instance modules, the password's among them,
 * once per id, so a seed that kept the id of the one before would leave
 * a new password unapplied in a guest that booted once already (seen
 * with Debian 12's cloud image); a new seed is a new id, and the next
 * boot applies it (and, like any new instance, makes new SSH host keys).
 * The host
 * name is the instance's name when that is a valid host name (RFC 1123
 * labels: letters, digits and '-', dots between labels, at most 63 per
 * label), else the instance id.  Both are double-quoted: a name like
 * "yes" or "1.5" stays a string to YAML.
 *
 * Where the bytes live.  The seed is a sealed blob in the instance's
 * region's store (blob_store_put_buf, before the transaction; chunks
 * durable first, as everywhere), with a blobs row of its own and the
 * instance_disks row MODEL_VM_CIDATA: reads, the page cache rules, RADOS
 * regions and other hosts (§13: listed, EREMOTE to open) are those of
 * every other disk.  Its bytes are made once, when the password is
 * written, and dated then (`when`, the only time in them): every read and
 * every remount gives the same bytes.  Writing the password again makes a
 * new seed and drops the old blob row (gc frees its chunk); rm
 * disks/cidata drops it.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "instance_int.h"
#include "iso9660_out.h"

int model_password_check(const char *pw, struct model_err *err)
{
	size_t n = strlen(pw);
	bool upper = false, lower = false, digit = false, symbol = false;
	if (n < MODEL_PASSWORD_MIN || n > MODEL_PASSWORD_MAX)
		return model_fail(err, -EINVAL, MODEL_PASSWORD_RULE);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pw[i];
		if (c < 0x21 || c > 0x7e) /* space, controls, DEL, anything not ASCII */
			return model_fail(err, -EINVAL, MODEL_PASSWORD_RULE);
		if (c >= 'A' && c <= 'Z')
			upper = true;
		else if (c >= 'a' && c <= 'z')
			lower = true;
		else if (c >= '0' && c <= '9')
			digit = true;
		else
			symbol = true;
	}
	if (upper + lower + digit + symbol < 3)
		return model_fail(err, -EINVAL, MODEL_PASSWORD_RULE);
	return 0;
}

/* n random bytes, or -EIO. */
static int random_bytes(void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom((char *)buf + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		got += (size_t)r;
	}
	return 0;
}

int model_password_hash(const char *pw, char out[MODEL_PASSWORD_HASH_MAX])
{
	char rbytes[16], setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data;
	const char *h;
	int rc = -EIO;

	out[0] = '\0';
	if (!(data = calloc(1, sizeof(*data))))
		return -ENOMEM;
	/* "$6$": SHA-512, 5000 rounds (the default, written in no "rounds="
	 * field: what `openssl passwd -6 -salt S` computes too). */
	if (random_bytes(rbytes, sizeof(rbytes)) < 0 ||
	    !crypt_gensalt_rn("$6$", 0, rbytes, (int)sizeof(rbytes), setting, (int)sizeof(setting)))
		goto out;
	h = crypt_rn(pw, setting, data, (int)sizeof(*data));
	if (!h || strncmp(h, "$6$", 3) != 0 || strlen(h) >= MODEL_PASSWORD_HASH_MAX)
		goto out;
	memcpy(out, h, strlen(h) + 1);
	rc = 0;
out:
	explicit_bzero(data, sizeof(*data)); /* it held the password while hashing */
	free(data);
	explicit_bzero(rbytes, sizeof(rbytes));
	return rc;
}

/* Whether s is a host name cloud-init may give the guest (the top). */
static bool host_name_ok(const char *s)
{
	size_t label = 0;
	for (const char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-')
				return false;
			if (*p == '\0')
				return true;
			label = 0;
			continue;
		}
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
		if (!alnum && (*p != '-' || label == 0))
			return false;
		label++;
	}
}

/* A crypt hash as the seed may quote it: "$6$", then only the characters
 * crypt's encoding uses. */
static bool hash_ok(const char *h)
{
	if (strncmp(h, "$6$", 3) != 0 || strlen(h) >= MODEL_PASSWORD_HASH_MAX)
		return false;
	return strspn(h, "$./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == strlen(h);
}

int model_seed_build(const struct model_instance *vm, const char *hash, int64_t when, void **out, size_t *len)
{
	char user[512], meta[512];
	int un, mn;

	*out = NULL;
	*len = 0;
	if (!hash_ok(hash))
		return -EINVAL;
	un = snprintf(user, sizeof(user),
	              "#cloud-config\n"
	              "# Made by imgfs from the instance's password file: the default user's\n"
	              "# password, as its SHA-512 crypt hash.\n"
	              "password: \"%s\"\n"
	              "chpasswd:\n"
	              "  expire: false\n"
	              "ssh_pwauth: true\n",
	              hash);
	mn = snprintf(meta, sizeof(meta), "instance-id: \"%s-%lld\"\nlocal-hostname: \"%s\"\n", vm->ext_id,
	              (long long)when, host_name_ok(vm->name) ? vm->name : vm->ext_id);
	if (un < 0 || (size_t)un >= sizeof(user) || mn < 0 || (size_t)mn >= sizeof(meta))
		return -EINVAL;
	const struct iso9660_file files[] = {
		{"user-data", user, (size_t)un},
		{"meta-data", meta, (size_t)mn},
	};
	return iso9660_build(out, len, "cidata", files, 2, when);
}

/* The seed of vm for hash stored in s: *out its manifest.  An encrypted
 * instance's seed is sealed under its key (SPEC §17: the password's hash
 * and its name are as much its data as its disks). */
static int seed_store(model *m, blob_store *s, const struct model_instance *vm, const char *hash, blob_manifest **out,
                      struct model_err *err)
{
	blob_key *key = NULL;
	void *iso = NULL;
	size_t len = 0;
	int rc;
	if ((rc = model_key_get(m, vm->key_id, &key, err)) < 0)
		return rc;
	if ((rc = model_seed_build(vm, hash, (int64_t)time(NULL), &iso, &len)) == 0)
		rc = blob_store_put_buf_key(s, key, out, iso, len);
	if (rc < 0)
		model_fail(err, rc, "cannot store disks/cidata: %s", strerror(-rc));
	if (iso)
		explicit_bzero(iso, len);
	free(iso);
	blob_key_unref(key);
	return rc;
}

int model_instance_set_password(model *m, int64_t vm_id, const char *password, struct model_err *err)
{
	struct model_vm_disk disks[MODEL_VM_SLOTS];
	const struct model_vm_disk *old;
	struct wblob_set none = {0}; /* sealed blobs have no files */
	struct model_instance vm;
	struct model_conn *c;
	blob_manifest *man = NULL;
	blob_store *s;
	char hash[MODEL_PASSWORD_HASH_MAX];
	int64_t blob_id;
	int n, rc;

	if ((rc = model_password_check(password, err)) < 0)
		return rc;
	/* The slow parts first, outside the write transaction: the hash, the
	 * seed's chunk (durable before any row names it).  The seed depends on
	 * the instance's id and name, which never change. */
	if ((rc = instance_get_here(m, vm_id, &vm, err)) < 0 || (rc = instance_store(m, vm.region_id, &s, err)) < 0)
		return rc;
	if ((rc = instance_idle(m, &vm, err)) < 0)
		return rc;
	if ((rc = model_password_hash(password, hash)) < 0)
		return model_fail(err, rc, "cannot hash the password: %s", strerror(-rc));
	rc = seed_store(m, s, &vm, hash, &man, err);
	explicit_bzero(hash, sizeof(hash));
	if (rc < 0)
		return rc;
	if ((rc = model_write_begin(m, &c, err)) < 0)
		goto done;
	/* Again inside it: started or taken by a capture meanwhile. */
	if ((rc = instance_get_here(m, vm_id, &vm, err)) < 0 || (rc = instance_idle(m, &vm, err)) < 0 ||
	    (rc = n = model_instance_disks(m, vm_id, disks)) < 0)
		goto out;
	if ((old = instance_disk_at(disks, n, MODEL_VM_CIDATA)) && (rc = instance_disk_drop(c, vm_id, old, &none)) < 0)
		goto out;
	if ((rc = model_blob_insert_sealed(c, vm.region_id, man, NULL, vm.key_id, &blob_id)) < 0 ||
	    (rc = instance_disk_link(c, vm_id, MODEL_VM_CIDATA, blob_id)) < 0 || (rc = instance_dir_changed(c, &vm)) < 0)
		goto out;
out:
	rc = model_write_end(c, rc, err);
done:
	blob_manifest_free(man);
	return rc;
}
