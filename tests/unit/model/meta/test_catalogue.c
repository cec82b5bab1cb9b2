/*
 * test_catalogue.c — unit tests for model/meta/catalogue.c (with model/meta/blob.c):
 * the platform catalogue of SPEC §3 that every region gets: its attributes,
 * its real, small, sparse raw disks (an MBR at the start, holes, a Linux
 * image's ext2 with its os-release in the partition), whole-blob
 * hashes checked against an independent XXH3-128 of the bytes read back
 * (§2.3), and content that deduplicates across regions.
 */
#define OPENSSL_API_COMPAT 0x10100000L /* SHA256_Init and friends: a reference independent of EVP */
#include <openssl/sha.h>
#include <xxhash.h>

#include "test_util.h"

#define READ_BUF (256u << 10) /* small enough to stay in cache while hashing */

/* The vda device, blob row and manifest of an image. */
struct disk {
	struct model_device dev;
	struct model_blob blob;
	blob_manifest *man;
	blob_store *store;
};

static void get_disk(struct ut_fx *fx, const struct model_image *img, struct disk *d)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int n = model_device_list(fx->m, img->id, devs);

	if (n != 1)
		fail_msg("%s: %d devices, want 1", img->name, n);
	d->dev = devs[0];
	assert_string_equal(d->dev.name, "vda");
	assert_int_equal(d->dev.index, 0);
	assert_int_equal(d->dev.kind, MODEL_DEV_IMAGE);
	assert_int_equal(d->dev.snapshot_id, 0);
	assert_int_equal(model_blob_get(fx->m, d->dev.blob_id, &d->blob), 0);
	assert_int_equal(model_blob_manifest(fx->m, d->dev.blob_id, &d->man), 0);
	assert_int_equal(model_store(fx->m, img->region_id, &d->store), 0);
}

/* XXH3-128 of the whole blob read through blob_store_read, as canonical
 * (big-endian) lowercase hex. */
/* The XXH3-128 and the SHA-256 (OpenSSL's own, not blobstore/digest.c)
 * of every byte of the blob, read through blob_store_read. */
static void independent_hash(blob_store *s, const blob_manifest *man, char out[33], char sha[65])
{
	XXH3_state_t *x = XXH3_createState();
	uint8_t *buf = malloc(READ_BUF);
	XXH128_canonical_t c;
	SHA256_CTX h;
	unsigned char md[32];
	uint64_t off = 0;

	assert_non_null(x);
	assert_non_null(buf);
	assert_int_equal(XXH3_128bits_reset(x), XXH_OK);
	SHA256_Init(&h);
	while (off < man->size) {
		size_t want = man->size - off < READ_BUF ? (size_t)(man->size - off) : READ_BUF;
		ssize_t n = blob_store_read(s, man, buf, want, off);
		if (n != (ssize_t)want)
			fail_msg("blob_store_read at %llu: %zd, want %zu", (unsigned long long)off, n, want);
		assert_int_equal(XXH3_128bits_update(x, buf, want), XXH_OK);
		SHA256_Update(&h, buf, want);
		off += want;
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(x));
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", c.digest[i]);
	SHA256_Final(md, &h);
	for (int i = 0; i < 32; i++)
		snprintf(sha + 2 * i, 3, "%02x", md[i]);
	XXH3_freeState(x);
	free(buf);
}

/* The attributes §3 and §2.1 fix for every platform image. */
static void check_platform_attrs(const struct model_image *img)
{
	assert_int_equal(img->status, MODEL_IMG_AVAILABLE);
	assert_int_equal(img->progress, 100);
	assert_int_equal(img->account_id, 0);
	assert_int_equal(img->type, MODEL_TYPE_LOCAL | MODEL_TYPE_CLOUD); /* both types at once */
	assert_string_equal(img->format, "raw");
	assert_string_equal(img->arch, "x86_64"); /* all 64-bit */
	assert_true(strcmp(img->boot_mode, "bios") == 0 || strcmp(img->boot_mode, "uefi") == 0);
	assert_false(img->encrypted);
	assert_true(img->size > 0);
	assert_true(img->created > 0);
	assert_string_equal(img->error, "");
	assert_int_equal(img->deleted_at, 0);
	assert_true(img->description[0] != '\0');
	if (strncmp(img->name, "windows-", 8) == 0) {
		assert_string_equal(img->os_type, "windows");
		assert_string_equal(img->platform, "windows");
	} else {
		assert_string_equal(img->os_type, "linux");
		assert_true(strcmp(img->platform, "centos") == 0 || strcmp(img->platform, "ubuntu") == 0);
	}
	/* The version is the one in the name (7.4, 16.04, 2016 ...), said as
	 * the product says it (SPEC §16: "2012 R2" for ...-2012r2-...). */
	static const struct {
		const char *name, *version;
	} windows[] = {
		{"windows-server-2016-datacenter", "2016"},
		{"windows-server-2012r2-standard", "2012 R2"},
		{"windows-server-2008r2-datacenter", "2008 R2"},
	};
	assert_true(img->version[0] != '\0');
	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++)
		if (strcmp(img->name, windows[i].name) == 0) {
			assert_string_equal(img->version, windows[i].version);
			return;
		}
	if (!strstr(img->name, img->version))
		fail_msg("%s: version %s", img->name, img->version);
}

/* Sizes, sealing, sparseness and the MBR of a platform image's disk. */
static void check_disk(const struct model_image *img, const struct disk *d)
{
	uint64_t stored = 0;
	uint32_t data = 0, holes = 0;
	uint8_t mbr[512];

	assert_true(d->blob.sealed);
	assert_string_equal(d->blob.wblob, "");
	assert_int_equal(d->blob.region_id, img->region_id);
	assert_int_equal(d->blob.size, img->size);
	assert_int_equal(d->dev.size, img->size);
	assert_int_equal(d->man->size, img->size);
	assert_int_equal(d->man->nchunks, (img->size + BLOB_CHUNK_SIZE - 1) / BLOB_CHUNK_SIZE);
	for (uint32_t i = 0; i < d->man->nchunks; i++) {
		if (chunk_id_is_null(mf_id(d->man, i))) {
			holes++;
			continue;
		}
		data++;
		stored += blob_chunk_len(d->man->size, i);
		assert_int_equal(blob_store_has_chunk(d->store, mf_id(d->man, i)), 1);
	}
	/* Real content and holes (§3: small, sparse). */
	if (data == 0 || holes == 0)
		fail_msg("%s: %u data chunks, %u holes", img->name, data, holes);
	assert_false(chunk_id_is_null(mf_id(d->man, 0)));
	assert_int_equal(d->man->stored, stored);
	assert_int_equal(d->blob.stored, stored);
	assert_true(stored < img->size);
	/* A raw disk with an MBR: the boot signature ends sector 0. */
	assert_int_equal(blob_store_read(d->store, d->man, mbr, sizeof mbr, 0), (ssize_t)sizeof mbr);
	if (mbr[510] != 0x55 || mbr[511] != 0xaa)
		fail_msg("%s: sector 0 ends %02x %02x, not 55 aa", img->name, mbr[510], mbr[511]);
	/* A partition in the table, its type non-zero. */
	assert_int_not_equal(mbr[446 + 4], 0);
	/* A Linux image's partition holds an ext2 (SPEC §3, §18: files/vda1):
	 * its superblock's magic, volume name and os-release's ID. */
	uint8_t sb[1024];
	assert_int_equal(blob_store_read(d->store, d->man, sb, sizeof sb, (1u << 20) + 1024), (ssize_t)sizeof sb);
	bool ext2 = sb[56] == 0x53 && sb[57] == 0xef;
	if (ext2 != (strcmp(img->os_type, "linux") == 0))
		fail_msg("%s (%s): %s ext2 superblock in its partition", img->name, img->os_type, ext2 ? "an" : "no");
	if (ext2) {
		char want[64];
		static uint8_t fs[BLOB_CHUNK_SIZE];
		assert_memory_equal(sb + 120, "rootfs", 6);
		assert_int_equal(blob_store_read(d->store, d->man, fs, sizeof fs, 1u << 20), (ssize_t)sizeof fs);
		snprintf(want, sizeof want, "\nID=\"%s\"\nID_LIKE=", img->platform);
		if (!memmem(fs, sizeof fs, want, strlen(want)))
			fail_msg("%s: no os-release with ID \"%s\" in its file system", img->name, img->platform);
		snprintf(want, sizeof want, "\nVERSION_ID=\"%s\"\n", img->version);
		if (!memmem(fs, sizeof fs, want, strlen(want)))
			fail_msg("%s: no os-release with VERSION_ID \"%s\" in its file system", img->name, img->version);
	}
}

static void free_disk(struct disk *d)
{
	blob_manifest_free(d->man);
	d->man = NULL;
}

static void test_public_images(void **state)
{
	struct ut_fx *fx = *state;

	for (int r = 0; r < UT_REGIONS; r++) {
		for (int i = 0; i < UT_PUBLIC_COUNT; i++) {
			struct model_image img = ut_platform(fx, fx->region[r].id, MODEL_FOLDER_PUBLIC, ut_public_names[i]);
			struct disk d;
			check_platform_attrs(&img);
			get_disk(fx, &img, &d);
			check_disk(&img, &d);
			free_disk(&d);
		}
	}
}

static int collect_ids(void *arg, const struct model_image *img)
{
	int64_t *ids = arg;

	for (int i = 0; i < 8; i++) {
		if (!ids[i]) {
			ids[i] = img->id;
			return 0;
		}
	}
	return -E2BIG;
}

static void test_marketplace_images(void **state)
{
	struct ut_fx *fx = *state;

	for (int r = 0; r < UT_REGIONS; r++) {
		int64_t ids[8] = {0};
		assert_int_equal(model_image_list(fx->m, fx->region[r].id, 0, MODEL_FOLDER_MARKETPLACE, 0, collect_ids, ids),
		                 0);
		for (int i = 0; i < UT_MARKETPLACE_COUNT; i++) {
			struct model_image img = ut_get(fx, ids[i]);
			struct disk d;
			assert_int_equal(img.folder, MODEL_FOLDER_MARKETPLACE);
			check_platform_attrs(&img);
			get_disk(fx, &img, &d);
			check_disk(&img, &d);
			free_disk(&d);
		}
		assert_int_equal(ids[UT_MARKETPLACE_COUNT], 0);
	}
}

/* §2.3: user.imgfs.xxh128 is the XXH3-128 of the whole blob.  §2.1:
 * sha256 is the SHA-256 of the system disk — catalogue.c's table, which a
 * change to the disks' bytes would make wrong (the message names the new
 * value).  Marketplace images' too (their blobs cannot be read through
 * the mount, their sha256 can). */
static void test_hashes(void **state)
{
	struct ut_fx *fx = *state;
	char seen[UT_PUBLIC_COUNT][33];

	int64_t market[8] = {0};
	assert_int_equal(model_image_list(fx->m, fx->r1, 0, MODEL_FOLDER_MARKETPLACE, 0, collect_ids, market), 0);
	for (int i = 0; i < UT_MARKETPLACE_COUNT; i++) {
		struct model_image img = ut_get(fx, market[i]);
		struct disk d;
		char xxh[33], sha[65], shown[65];
		get_disk(fx, &img, &d);
		independent_hash(d.store, d.man, xxh, sha);
		assert_int_equal(model_image_sha256(fx->m, img.id, shown), 0);
		if (strcmp(shown, sha) != 0)
			fail_msg("%s: sha256 %s, the bytes hash to %s (catalogue.c's table)", img.name, shown, sha);
		char kept[33];
		assert_int_equal(model_blob_hash(fx->m, d.dev.blob_id, kept), 0);
		if (strcmp(kept, xxh) != 0)
			fail_msg("%s: xxh128 %s, the bytes hash to %s (catalogue.c's table)", img.name, kept, xxh);
		free_disk(&d);
	}
	for (int i = 0; i < UT_PUBLIC_COUNT; i++) {
		struct model_image img = ut_platform(fx, fx->r1, MODEL_FOLDER_PUBLIC, ut_public_names[i]);
		struct model_blob b;
		struct disk d;
		char want[33], got[33], again[33], sha[65], shown[65];

		get_disk(fx, &img, &d);
		independent_hash(d.store, d.man, want, sha);
		fprintf(stderr, "XXH {\"%s\", \"%s\"},\n", img.name, want);
		assert_int_equal(model_image_sha256(fx->m, img.id, shown), 0);
		if (strcmp(shown, sha) != 0)
			fail_msg("%s: sha256 %s, the bytes hash to %s (catalogue.c's table)", img.name, shown, sha);
		/* Kept from catalogue.c's table at publish: never hashed here. */
		assert_int_equal(model_blob_hash(fx->m, d.dev.blob_id, got), 0);
		if (strcmp(got, want) != 0)
			fail_msg("%s: model_blob_hash %s, the bytes hash to %s (catalogue.c's table)", img.name, got, want);
		/* Recorded, and the same the next time. */
		assert_int_equal(model_blob_get(fx->m, d.dev.blob_id, &b), 0);
		assert_string_equal(b.xxh128, want);
		assert_int_equal(model_blob_hash(fx->m, d.dev.blob_id, again), 0);
		assert_string_equal(again, want);
		/* Different images, different content. */
		for (int j = 0; j < i; j++)
			assert_string_not_equal(seen[j], want);
		memcpy(seen[i], want, 33);
		free_disk(&d);
	}
	char out[33];
	assert_true(model_blob_hash(fx->m, 987654321, out) < 0);
}

/* Every region's copy of an image is the same content: equal chunk ids
 * (dedupe-able), each region's store holding its own copy. */
static void test_same_content_across_regions(void **state)
{
	struct ut_fx *fx = *state;

	for (int i = 0; i < UT_PUBLIC_COUNT; i++) {
		struct model_image a = ut_platform(fx, fx->region[0].id, MODEL_FOLDER_PUBLIC, ut_public_names[i]);
		struct disk da;
		get_disk(fx, &a, &da);
		for (int r = 1; r < UT_REGIONS; r++) {
			struct model_image b = ut_platform(fx, fx->region[r].id, MODEL_FOLDER_PUBLIC, ut_public_names[i]);
			struct disk db;
			get_disk(fx, &b, &db);
			assert_int_not_equal(a.id, b.id);
			assert_string_not_equal(a.ext_id, b.ext_id);
			assert_int_not_equal(da.dev.blob_id, db.dev.blob_id);
			assert_ptr_not_equal(da.store, db.store);
			assert_int_equal(a.size, b.size);
			assert_int_equal(da.man->size, db.man->size);
			assert_int_equal(da.man->nchunks, db.man->nchunks);
			assert_int_equal(da.man->stored, db.man->stored);
			for (uint32_t c = 0; c < da.man->nchunks; c++) {
				if (!chunk_id_equal(mf_id(da.man, c), mf_id(db.man, c)))
					fail_msg("%s: chunk %u differs between %s and %s", a.name, c, ut_region_names[0],
					         ut_region_names[r]);
				if (!chunk_id_is_null(mf_id(db.man, c)))
					assert_int_equal(blob_store_has_chunk(db.store, mf_id(db.man, c)), 1);
			}
			/* The bytes read back agree too (the data chunks). */
			for (uint32_t c = 0; c < da.man->nchunks; c++) {
				if (chunk_id_is_null(mf_id(da.man, c)))
					continue;
				static uint8_t ba[BLOB_CHUNK_SIZE], bb[BLOB_CHUNK_SIZE];
				size_t len = blob_chunk_len(da.man->size, c);
				uint64_t off = (uint64_t)c * BLOB_CHUNK_SIZE;
				assert_int_equal(blob_store_read(da.store, da.man, ba, len, off), (ssize_t)len);
				assert_int_equal(blob_store_read(db.store, db.man, bb, len, off), (ssize_t)len);
				assert_memory_equal(ba, bb, len);
			}
			free_disk(&db);
		}
		free_disk(&da);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_public_images, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_marketplace_images, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_hashes, ut_setup, ut_teardown),
		cmocka_unit_test_setup_teardown(test_same_content_across_regions, ut_setup, ut_teardown),
	};
	return cmocka_run_group_tests(tests, ut_group_setup, ut_group_teardown);
}
