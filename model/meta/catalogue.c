/*
 * catalogue.c — the platform catalogue (SPEC §3, seed 002's table) that
 * every new region gets, and the marketplace entries that come with it.
 *
 * The disks are real, small and sparse: raw, with an MBR whose single
 * partition starts at 1 MiB and covers the rest of the disk, a boot-sector
 * text naming the image, and two 1 MiB data chunks (the partition's first
 * chunk and one in the middle) filled deterministically from the image's
 * name — so `qemu-img info` accepts them, `cp --sparse` and `tar --sparse`
 * have holes to find, and every region's copy deduplicates to the same
 * chunk ids.  Whole-blob hashes come from the table below, so creating a
 * region stays fast and a disk's xattr is there from the start (§2.3).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_int.h"

struct catalogue_entry {
	enum model_folder folder;
	const char *name, *os_type, *platform, *version, *features, *description;
	unsigned gib; /* virtual size */
};

/* The SHA-256 (§2.1 `sha256`) and XXH3-128 (§2.3 `user.imgfs.xxh128`) of
 * each entry's disk, what catalogue_disk writes, hashed once and written
 * down here: hashing 1-2 GiB each (their holes are bytes too) would cost a
 * first mount some 30 s, and no request thread hashes a blob.
 * test_catalogue hashes every disk and compares (a change to a disk's
 * bytes — its description is in its first chunk — fails it, naming the
 * new values). */
static const struct {
	const char *name, *sha256, *xxh128;
} catalogue_sha256[] = {
	{"windows-server-2016-datacenter", "c7c143a05dfe4b36dbca8713c9b1c9c4009e1a46c4c5b5a9dd99480c20156176",
	 "772ad416ebdfae8aacb0d49845862254"},
	{"windows-server-2012r2-standard", "2be4fb464e27a5c4c83901b3e9fa087676a294cd64e52266062f48fe6db38f56",
	 "e396bfa78fb7b511d28f86486e900536"},
	{"windows-server-2008r2-datacenter", "9e8e380b547b0a726e1cea9389502a3a0b9d1e24f85f4874270d2b311afd2d38",
	 "e08d891c5ebd44844fd02f44489a4c01"},
	{"centos-7.4", "7b6f7df8a56775450424508484d0cbc14b1b777b1169d541a1a2da798319739b",
	 "65fcde18f0913dbd208272fa90b411c4"},
	{"centos-7.3", "04b13e34647ee8a18ddbb3d9c14b8a630a04904a0329cbdedf042e683f51a7bc",
	 "6b3184c9dcde6d8f635412ba426c4a1f"},
	{"centos-7.2", "c255d132ddf017b4f1adb4f82da826396b0d125b35649ea4fe33d472472a0717",
	 "47cf90fa17dff87a4c56e81c3929b374"},
	{"centos-7.1", "0f32cca6f400f087620d5a69773245206ed556457072ed978d661ed3e6810ce0",
	 "b794c3252af3a3a46ce098ff065adce4"},
	{"centos-7.2-nat-gateway", "2edf0e65840fead8e6bd438268911fcd383db0741854359fb0e0b2f9c03a155b",
	 "5da9bd8612945bf7051e8e99dd1645a0"},
	{"centos-6.9", "de8b1c65ee243341dd4d03a6b0127dc4d5c4b72e0fd901f1352ffc810ea7a300",
	 "83ddeef8cf48cf0a2aad1ec3b2eeb55e"},
	{"centos-6.8", "f7b1d14d566acfdf148cd86b4b8df365034c47a36dc0f8b1a33bdbd2ce05bbb9",
	 "934ac07ffcabdc3b2bb5ca0898011d28"},
	{"centos-6.6", "6259f853ae03bfb3557f571a669a628bc81f143dfb75b9a3ecb2975033f84ff2",
	 "f2a4de7733d223478351840684a9d138"},
	{"centos-6.5", "0178a10a3b88e5684293ed4e3c64a5389b7ed8ef45b63496f9d7717e4f41870a",
	 "155edea8a2ba8f17ffa4d0a1dcbc3df4"},
	{"ubuntu-16.04", "37dcf1781b626e46877d8d4b233c9d6fcbfa244f7228d78eedc0795d5c99d1b2",
	 "98a8e86ce7a857fd21e115238d650dd4"},
	{"ubuntu-14.04", "8c3cd4889d2c4bf17e5a2067d88be0e5b37de9e31edaced45adc83bba7c4c31d",
	 "6659446bf299bf86efa192b122d6c4aa"},
	{"lamp-centos-7.4", "0952ac8b5fbf481783fdd98744dfb82de7087852274754c79b6e1bd1bdcdface",
	 "68728d3adcc866e1fc8d1f624a9f7809"},
	{"wordpress-ubuntu-16.04", "461422e7685e8d9cc6b2cd041b74aa659e0c0d21b91bcde11d1845fb921fc336",
	 "92c0cbfd4126d8d1fe87b2ee0350dd4d"},
};

const char *model_catalogue_sha256(const char *name)
{
	for (size_t i = 0; i < sizeof(catalogue_sha256) / sizeof(catalogue_sha256[0]); i++)
		if (strcmp(catalogue_sha256[i].name, name) == 0)
			return catalogue_sha256[i].sha256;
	return NULL;
}

/* The entry's XXH3-128, NULL for a name not in the table. */
static const char *catalogue_xxh128(const char *name)
{
	for (size_t i = 0; i < sizeof(catalogue_sha256) / sizeof(catalogue_sha256[0]); i++)
		if (strcmp(catalogue_sha256[i].name, name) == 0)
			return catalogue_sha256[i].xxh128;
	return NULL;
}

static const struct catalogue_entry catalogue[] = {
#define LINUX(n, p, v, d) {MODEL_FOLDER_PUBLIC, n, "linux", p, v, "cloud-init qemu-ga", d, 1}
#define WINDOWS(n, v, d) {MODEL_FOLDER_PUBLIC, n, "windows", "windows", v, "qemu-ga", d, 2}
	/* version as the product calls it (SPEC §16: "2012 R2"); a state made
	 * before said "2012" and "2008": schema step 12 rewrites those. */
	WINDOWS("windows-server-2016-datacenter", "2016", "Windows Server 2016 Datacenter Edition, Chinese, 64-bit"),
	WINDOWS("windows-server-2012r2-standard", "2012 R2",
	        "Windows Server 2012 R2 Standard Edition, Chinese, 64-bit"),
	WINDOWS("windows-server-2008r2-datacenter", "2008 R2",
	        "Windows Server 2008 R2 Datacenter Edition, Chinese, 64-bit"),
	LINUX("centos-7.4", "centos", "7.4", "CentOS 7.4 64-bit"),
	LINUX("centos-7.3", "centos", "7.3", "CentOS 7.3 64-bit"),
	LINUX("centos-7.2", "centos", "7.2", "CentOS 7.2 64-bit"),
	LINUX("centos-7.1", "centos", "7.1", "CentOS 7.1 64-bit"),
	LINUX("centos-7.2-nat-gateway", "centos", "7.2", "CentOS 7.2 64-bit NAT Gateway"),
	LINUX("centos-6.9", "centos", "6.9", "CentOS 6.9 64-bit"),
	LINUX("centos-6.8", "centos", "6.8", "CentOS 6.8 64-bit"),
	LINUX("centos-6.6", "centos", "6.6", "CentOS 6.6 64-bit"),
	LINUX("centos-6.5", "centos", "6.5", "CentOS 6.5 64-bit"),
	LINUX("ubuntu-16.04", "ubuntu", "16.04", "Ubuntu 16.04 64-bit"),
	LINUX("ubuntu-14.04", "ubuntu", "14.04", "Ubuntu 14.04 64-bit"),
	{MODEL_FOLDER_MARKETPLACE, "lamp-centos-7.4", "linux", "centos", "7.4", "cloud-init qemu-ga",
	 "LAMP stack (Apache, MariaDB, PHP) on CentOS 7.4 64-bit", 1},
	{MODEL_FOLDER_MARKETPLACE, "wordpress-ubuntu-16.04", "linux", "ubuntu", "16.04", "cloud-init qemu-ga",
	 "WordPress on Ubuntu 16.04 64-bit", 1},
#undef LINUX
#undef WINDOWS
};

/* xorshift64*, seeded from the name: deterministic filler bytes. */
static void fill(uint8_t *buf, size_t len, const char *seed, uint64_t salt)
{
	uint64_t x = 0x9e3779b97f4a7c15ull ^ salt;
	for (const char *p = seed; *p; p++)
		x = (x ^ (uint8_t)*p) * 0x100000001b3ull;
	for (size_t i = 0; i < len; i += 8) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		uint64_t v = x * 0x2545f4914f6cdd1dull;
		memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
	}
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Builds the disk of e in store s. */
static int catalogue_disk(blob_store *s, const struct catalogue_entry *e, blob_manifest **out)
{
	uint64_t size = (uint64_t)e->gib << 30;
	uint8_t *buf = NULL;
	blob_manifest *m = NULL;
	int rc;

	if ((rc = blob_manifest_new(&m, size)) < 0)
		return rc;
	if (!(buf = calloc(1, BLOB_CHUNK_SIZE))) {
		rc = -ENOMEM;
		goto out;
	}
	/* Chunk 0: boot code area text, MBR partition table, signature. */
	snprintf((char *)buf, 440, "imgfs platform image %s: %s\n", e->name, e->description);
	uint8_t *pe = buf + 446;
	pe[0] = 0x80;                                      /* bootable */
	pe[4] = strcmp(e->os_type, "windows") == 0 ? 0x07 : 0x83; /* NTFS or Linux */
	pe[1] = pe[5] = 0xfe; pe[2] = pe[6] = 0xff; pe[3] = pe[7] = 0xff; /* CHS: use LBA */
	put_le32(pe + 8, 2048);
	put_le32(pe + 12, (uint32_t)(size / 512 - 2048));
	buf[510] = 0x55;
	buf[511] = 0xaa;
	chunk_id id;
	if ((rc = blob_store_put_chunk(s, &id, buf, BLOB_CHUNK_SIZE)) < 0 || (rc = blob_manifest_set(m, 0, &id)) < 0)
		goto out;
	/* Chunk 1 (the partition's start) and the middle chunk: filler. */
	uint32_t data[2] = {1, m->nchunks / 2};
	for (int i = 0; i < 2; i++) {
		fill(buf, BLOB_CHUNK_SIZE, e->name, data[i]);
		if ((rc = blob_store_put_chunk(s, &id, buf, BLOB_CHUNK_SIZE)) < 0 ||
		    (rc = blob_manifest_set(m, data[i], &id)) < 0)
			goto out;
	}
	*out = m;
	m = NULL;
out:
	free(buf);
	blob_manifest_free(m);
	return rc < 0 ? rc : 0;
}

int model_catalogue_install(model *m, int64_t region_id, struct model_err *err)
{
	blob_store *s;
	int rc;
	if ((rc = model_store(m, region_id, &s)) < 0)
		return model_fail(err, rc, "cannot open the region's blob store: %s", strerror(-rc));
	for (size_t i = 0; i < sizeof(catalogue) / sizeof(catalogue[0]); i++) {
		const struct catalogue_entry *e = &catalogue[i];
		blob_manifest *disk = NULL;
		if ((rc = catalogue_disk(s, e, &disk)) < 0)
			return model_fail(err, rc, "cannot write the disk of %s: %s", e->name, strerror(-rc));
		struct model_publish p = {
			.folder = e->folder, .name = e->name, .os_type = e->os_type, .platform = e->platform,
			.version = e->version, .arch = "x86_64", .boot_mode = "bios", .features = e->features,
			.description = e->description, .sha256 = model_catalogue_sha256(e->name),
		};
		rc = model_image_publish(m, region_id, &p, disk, catalogue_xxh128(e->name), NULL, err);
		blob_manifest_free(disk);
		if (rc < 0)
			return rc;
	}
	return 0;
}
