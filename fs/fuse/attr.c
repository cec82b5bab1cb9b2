/*
 * attr.c — the generated files of image, snapshot and instance
 * directories, declared as tables (the cgroup cftype pattern): a name, the
 * views it appears in, a show and an optional store.  Generic lookup,
 * getattr, readdir, read and write in node.c / ops.c walk these tables;
 * adding a file is one line here and one or two small functions.
 *
 * Content rules (SPEC §2.1): a value is followed by a newline; an empty
 * value is an empty file; lists are one item a line.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "attr.h"
#include "buf.h"
#include "common.h"
#include "disk.h"
#include "fs.h"
#include "log.h"
#include "stats.h"
#include "watch.h"

const char *const fs_class_names[FS_CLASS_COUNT] = {
	[FS_CLASS_PUBLIC] = "public",       [FS_CLASS_MARKETPLACE] = "marketplace",
	[FS_CLASS_PRIVATE] = "private",     [FS_CLASS_SHARED] = "shared",
	[FS_CLASS_ISO] = "iso",             [FS_CLASS_RECYCLE] = "recycle-bin",
	[FS_CLASS_SNAPSHOTS] = "snapshots", [FS_CLASS_INSTANCES] = "instances",
};

/* ---- image files --------------------------------------------------------- */

static void show_text(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	fs_buf_value(out, (const char *)&n->img + n->attr->field);
}

/* Multi-line values (tags): every line newline-terminated. */
static void show_lines(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	const char *v = (const char *)&n->img + n->attr->field;
	fs_buf_puts(out, v);
	if (v[0] && v[strlen(v) - 1] != '\n')
		fs_buf_put(out, "\n", 1);
}

static void show_status(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	fs_buf_value(out, model_image_status_name(n->img.status));
}

static void show_progress(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	int p = n->img.status == MODEL_IMG_AVAILABLE ? 100 : n->img.status == MODEL_IMG_QUEUED ? 0 : n->img.progress;
	fs_buf_printf(out, "%d\n", p);
}

static void show_type(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	unsigned t = n->img.type;
	fs_buf_value(out, t == (MODEL_TYPE_LOCAL | MODEL_TYPE_CLOUD) ? "local cloud"
	                  : t == MODEL_TYPE_LOCAL                    ? "local"
	                  : t == MODEL_TYPE_CLOUD                    ? "cloud"
	                                                             : "");
}

static void show_encrypted(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	fs_buf_value(out, n->img.encrypted ? "yes" : "no");
}

/* encrypted (§17): yes or no while the image is queued. */
static int store_encrypted(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
		return model_fail(err, -EINVAL, "encrypted is yes or no");
	return model_image_set_encrypted(ctx->m, n->img.id, strcmp(v, "yes") == 0, err);
}

/* sha256 (§2.1, §16): the system disk's, once the image is available (in
 * the recycle bin too); empty while it is made, and for an image made
 * before the checksum pass reached it. */
static void show_sha256(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	char sha[65];
	enum model_image_status s = n->img.status;
	if ((s == MODEL_IMG_AVAILABLE || s == MODEL_IMG_DELETED || s == MODEL_IMG_DELETING) &&
	    model_image_sha256(ctx->m, n->img.id, sha) == 0 && sha[0])
		fs_buf_value(out, sha);
}

/* properties (SPEC §19): the image API's free-form key=value pairs, one a
 * line in key order; at most MODEL_PROPS_MAX lines of 511 bytes. */
static int prop_line(void *arg, const char *key, const char *value)
{
	fs_buf_printf(arg, "%s=%s\n", key, value);
	return 0;
}

static void show_props(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	if (n->img.nprops > 0) /* the row counted them: none, no statement */
		model_image_props(ctx->m, n->img.id, prop_line, out);
}

static void show_size(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	fs_buf_printf(out, "%llu\n", (unsigned long long)n->img.size);
}

static void show_created(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	char t[21];
	model_fmt_time(t, n->img.created);
	fs_buf_value(out, t);
}

static void show_expires(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	char t[21];
	if (!n->img.deleted_at)
		return;
	model_fmt_time(t, n->img.deleted_at + model_retention(ctx->m));
	fs_buf_value(out, t);
}

static void show_device_mapping(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	struct model_device devs[MODEL_MAX_DEVICES];
	int count = n->img.refs & MODEL_REF_DEVICES ? model_device_list(ctx->m, n->img.id, devs) : 0;
	fs_buf_error(out, count);
	for (int i = 0; i < count; i++) {
		if (devs[i].kind == MODEL_DEV_SNAPSHOT)
			fs_buf_printf(out, "%s\tsnapshot\t%s\t%llu\n", devs[i].name, devs[i].snapshot_ext_id,
			              (unsigned long long)devs[i].size);
		else /* a QCOW2 image file is a disk of its virtual size, not of its length (§2.2) */
			fs_buf_printf(out, "%s\timage\tdisks/%s\t%llu\n", devs[i].name, devs[i].name,
			              (unsigned long long)(strcmp(n->img.format, "qcow2") == 0 && n->img.status ==
			                                   MODEL_IMG_AVAILABLE ? n->img.size : devs[i].size));
	}
}

static void show_instances(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	char buf[MODEL_TEXT_MAX];
	int rc;
	if (n->caller.account_id && (n->img.refs & MODEL_REF_INSTANCES) &&
	    (rc = model_image_instances(ctx->m, n->img.id, n->caller.account_id, buf, sizeof(buf))) != 0) {
		fs_buf_error(out, rc);
		if (rc > 0)
			fs_buf_puts(out, buf);
	}
}

/* Control files read empty. */
static void show_empty(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
}

/* The task working on the image (§2.1): "key value" lines; host when one
 * runs it (or it waits for one), orphaned-since when nobody can (state
 * orphaned: model_task_orphaned), position only while queued, `waits
 * key-encryption-key` while it waits for a host that can open the image's
 * data key (§17: this mount cannot), rate and
 * eta once measurable, started once started; empty when no task works on
 * the image. */
static void show_task(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	struct model_task t;
	char when[21];
	/* The owner's tasks are not part of the image as shared (§8). */
	if (n->view == FS_VIEW_SHARED || !(n->img.refs & MODEL_REF_TASK) || model_task_of_image(ctx->m, n->img.id, &t) < 0)
		return;
	/* An upload's task is 'open' while the file is: it runs (upload.c). */
	fs_buf_printf(out, "op %s\nstate %s\n", t.kind, strcmp(t.state, "open") == 0 ? "running" : t.state);
	/* Who runs it (§13), and since when nobody does. */
	if (t.host[0])
		fs_buf_printf(out, "host %s\n", t.host);
	if (t.orphaned_since) {
		model_fmt_time(when, t.orphaned_since);
		fs_buf_printf(out, "orphaned-since %s\n", when);
	}
	if (t.position > 0)
		fs_buf_printf(out, "position %d\n", t.position);
	/* SPEC §17: it waits for a host that has the key-encryption key. */
	if (t.waits_key)
		fs_buf_puts(out, "waits key-encryption-key\n");
	/* bytes-total empty: not known while bytes come (an upload whose
	 * size was not given ahead, §4): a rate and no eta. */
	bool total_known = t.bytes_total > 0 || t.bytes_done == 0;
	fs_buf_printf(out, "bytes-done %llu\n", (unsigned long long)t.bytes_done);
	if (total_known)
		fs_buf_printf(out, "bytes-total %llu\n", (unsigned long long)t.bytes_total);
	else
		fs_buf_puts(out, "bytes-total\n");
	if (t.rate > 0)
		fs_buf_printf(out, "rate %.0f\n", t.rate);
	if (t.rate > 0 && total_known) {
		uint64_t left = t.bytes_total > t.bytes_done ? t.bytes_total - t.bytes_done : 0;
		fs_buf_printf(out, "eta %.0f\n", (double)left / t.rate);
	}
	if (t.started) {
		model_fmt_time(when, t.started);
		fs_buf_printf(out, "started %s\n", when);
	}
	if (t.updated) {
		model_fmt_time(when, t.updated);
		fs_buf_printf(out, "updated %s\n", when);
	}
}

/* What a receiver sees of a shared image is the image as shared (§8): not
 * the owner's refusal reasons (only the reason of an image in status
 * error), not the owner's objects named in source (only its kind:
 * instance, upload, url, convert, copy). */
static void show_error(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	/* A reason may quote a server's or a caller's bytes: escaped (§9). */
	char v[4 * sizeof(n->img.error)];
	if (n->view != FS_VIEW_SHARED || n->img.status == MODEL_IMG_ERROR) {
		fs_escape(v, sizeof(v), n->img.error);
		fs_buf_value(out, v);
	}
}

static void show_source(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	const char *v = n->img.source;
	if (n->view != FS_VIEW_SHARED) {
		fs_buf_value(out, v);
		return;
	}
	size_t kind = strcspn(v, " \t\n");
	if (kind) {
		fs_buf_put(out, v, kind);
		fs_buf_put(out, "\n", 1);
	}
}

static bool owner_view(const struct fs_node *n)
{
	return n->view == FS_VIEW_PRIVATE || n->view == FS_VIEW_ISO;
}

/* description, tags and project: the owner's remarks, which the recycle bin
 * keeps editable too (§16, seed 004 §4.6: "at any state"). */
static bool remark_view(const struct fs_node *n)
{
	return owner_view(n) || n->view == FS_VIEW_RECYCLE;
}

static int store_description(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	return model_image_set(ctx->m, n->img.id, MODEL_FIELD_DESCRIPTION, v, err);
}

static int store_tags(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	return model_image_set(ctx->m, n->img.id, MODEL_FIELD_TAGS, v, err);
}

static int store_project(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	return model_image_set(ctx->m, n->img.id, MODEL_FIELD_PROJECT, v, err);
}

/* Splits v at blanks into at most cap words (v is modified); returns the count. */
static int split_words(char *v, char **words, int cap)
{
	int count = 0;
	for (char *save = NULL, *w = strtok_r(v, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (count == cap)
			return cap + 1;
		words[count++] = w;
	}
	return count;
}

/* An instance named in a command, by name or id, in the caller's view of
 * the node's region (§12). */
static int find_instance(struct fs_ctx *ctx, const struct fs_node *n, const char *ref, struct model_instance *vm,
                         struct model_err *err)
{
	enum model_ext_kind kind;
	int64_t id;
	int rc = -ENOENT;
	if (strncmp(ref, "i-", 2) == 0 && model_find_ext_id(ctx->m, ref, &kind, &id) == 0)
		rc = model_instance_get(ctx->m, id, vm);
	if (rc < 0)
		rc = model_instance_lookup(ctx->m, n->region.id, n->caller.account_id, ref, vm);
	if (rc == 0 && (vm->account_id != n->caller.account_id || vm->region_id != n->region.id))
		rc = -ENOENT;
	if (rc < 0)
		return model_fail(err, rc, "no instance %s in %s", ref, n->region.name);
	return 0;
}

/* source: "url <URL>" imports the URL (§5.2, model/task/import.c). */
static int store_source_url(const struct fs_node *n, struct fs_ctx *ctx, char **w, int count, struct model_err *err)
{
	int rc;
	if (count != 2)
		return model_fail(err, -EINVAL, "source takes \"url <URL>\" (http://, https:// or ftp://)");
	if ((rc = model_image_import_url(ctx->m, n->img.id, w[1], err)) < 0)
		return rc;
	fs_workers_kick(ctx);
	return 0;
}

/* source (§5.1): "instance <vm> [<data-device> ...]" captures the instance. */
static int store_source(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	char buf[MODEL_TEXT_MAX + 1];
	char *w[MODEL_VM_MAX_DISKS + 2];
	int devs[MODEL_VM_MAX_DISKS], ndevs = 0;
	struct model_instance vm;
	int count, rc;
	snprintf(buf, sizeof(buf), "%s", v);
	count = split_words(buf, w, MODEL_VM_MAX_DISKS + 1);
	if (count >= 1 && strcmp(w[0], "url") == 0)
		return store_source_url(n, ctx, w, count, err);
	if (count < 2 || strcmp(w[0], "instance") != 0 || count > MODEL_VM_MAX_DISKS + 1)
		return model_fail(err, -EINVAL, "source takes \"instance <vm> [<data-device> ...]\" or \"url <URL>\"");
	if ((rc = find_instance(ctx, n, w[1], &vm, err)) < 0)
		return rc;
	for (int i = 2; i < count; i++) {
		int idx = model_device_index(w[i]);
		if (idx < 1 || idx >= MODEL_VM_MAX_DISKS)
			return model_fail(err, -EINVAL, "%s is not a data disk (vdb .. vdz; vda is always captured)", w[i]);
		devs[ndevs++] = idx;
	}
	if (fs_disk_vm_writing(ctx, vm.id))
		return model_fail(err, -EBUSY, "a disk of instance %s is open for writing", vm.name);
	if ((rc = model_image_capture(ctx->m, n->img.id, vm.id, devs, ndevs, err)) < 0)
		return rc;
	fs_workers_kick(ctx);
	return 0;
}

/* convert (§6.2): the new cloud image's name; empty: "<name>-cloud". */
static int store_convert(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	int rc = model_image_convert(ctx->m, n->img.id, v, NULL, err);
	if (rc == 0)
		fs_workers_kick(ctx);
	return rc;
}

/* ---- uploads (§5.3) and the import attributes (§5.4) ---- */

static bool queued_own(const struct fs_node *n)
{
	return owner_view(n) && n->img.status == MODEL_IMG_QUEUED;
}

/* os-type, platform, version, arch, boot-mode, features: the attribute a
 * table entry stores, by its field. */
static enum model_import_attr import_attr(const struct fs_attr *a)
{
	static const struct {
		size_t field;
		enum model_import_attr which;
	} map[] = {
		{offsetof(struct model_image, os_type), MODEL_IMPORT_OS_TYPE},
		{offsetof(struct model_image, platform), MODEL_IMPORT_PLATFORM},
		{offsetof(struct model_image, version), MODEL_IMPORT_VERSION},
		{offsetof(struct model_image, arch), MODEL_IMPORT_ARCH},
		{offsetof(struct model_image, boot_mode), MODEL_IMPORT_BOOT_MODE},
		{offsetof(struct model_image, features), MODEL_IMPORT_FEATURES},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].field == a->field)
			return map[i].which;
	return MODEL_IMPORT_INVALID;
}

static int store_import(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	return model_image_set_import_attr(ctx->m, n->img.id, import_attr(n->attr), v, err);
}

/* cancel: any write stops the upload in progress. */
static int store_cancel(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	return fs_upload_cancel(ctx, n, err);
}

/* ---- download links (§14) ---- */

struct link_list {
	struct fs_ctx *ctx;
	struct fs_buf *out;
	const char *name;
	bool have_base; /* read with the first link: most images have none */
	char base[512];
};

static int show_link(void *arg, const struct model_link *l)
{
	struct link_list *a = arg;
	char url[4096], t[21];
	if (!a->have_base)
		model_download_url(a->ctx->m, a->base, sizeof(a->base));
	a->have_base = true;
	model_link_url(url, sizeof(url), a->base, l, a->name);
	model_fmt_time(t, l->expires);
	fs_buf_printf(a->out, "%s %s %s\n", url, l->format, t);
	return 0;
}

/* download: "<URL> <format> <expires>" per live link. */
static void show_download(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	struct link_list a = {ctx, out, n->img.name, false, ""};
	if (n->img.refs & MODEL_REF_LINKS)
		model_link_list(ctx->m, n->img.id, time(NULL), show_link, &a);
}

static int store_download(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	return model_link_command(ctx->m, n->img.id, v, err);
}

#define ALL (FS_VIEW_BIT(FS_VIEW_PUBLIC) | FS_VIEW_BIT(FS_VIEW_MARKETPLACE) | FS_VIEW_BIT(FS_VIEW_PRIVATE) | \
	     FS_VIEW_BIT(FS_VIEW_SHARED) | FS_VIEW_BIT(FS_VIEW_ISO) | FS_VIEW_BIT(FS_VIEW_RECYCLE))
#define PRIV FS_VIEW_BIT(FS_VIEW_PRIVATE)
#define PRIV_ISO (FS_VIEW_BIT(FS_VIEW_PRIVATE) | FS_VIEW_BIT(FS_VIEW_ISO))
#define RECYCLE FS_VIEW_BIT(FS_VIEW_RECYCLE)
#define F(i, n, v, sh) .id = i, .name = n, .views = v, .show = sh
#define TEXT(i, n, f) {F(i, n, ALL, show_text), .field = offsetof(struct model_image, f)}
/* Writable while queued, checked against §5.4 (SPEC §2.1, §5.4). */
#define QUEUED_TEXT(i, n, f)                                                                      \
	{F(i, n, ALL, show_text), .store = store_import, .writable = queued_own,                        \
	 .readonly_why = "cannot change after upload: " n " is written while the image is queued", \
	 .field = offsetof(struct model_image, f)}
/* description, tags, project and error keep times of their own, so that backup
 * tools re-read only what changed. */
#define OWN_TIME(f) .mtime = offsetof(struct model_image, f)

/*
 * Inode numbers (SPEC §2: stable across versions; fs.h).  A file's inode
 * number is the id written in its line, never its position: lines may move
 * and new ones go anywhere, the numbers stay.  A directory (disks, copies,
 * shares) has id 0 and its fixed FS_SUB_* number.  Ids are never reused:
 * one removed stays reserved, listed here.  tests/unit/fs/fuse/test_node.c
 * freezes every number (test_attr_inos_frozen).
 *
 * Adding an attribute: take the next free id (fs_*_attr_next_id below),
 * raise that by one, and add the attribute's line to the test's frozen list.
 *
 *   images     next free 34; reserved 20, 24, 25 (positions of disks,
 *              copies and shares before ids: never an inode number)
 *   snapshots  next free 12
 *   instances  next free 11; reserved 5 (position of disks)
 */
const unsigned fs_image_attr_next_id = 38;
const unsigned fs_snap_attr_next_id = 12;
const unsigned fs_vm_attr_next_id = 11;

const struct fs_attr fs_image_attrs[] = {
	TEXT(1, "id", ext_id),
	TEXT(32, "uuid", uuid),
	{F(2, "description", ALL, show_text), .store = store_description, .writable = remark_view,
	 .flags = FS_ATTR_MULTILINE | FS_ATTR_REMARK, .field = offsetof(struct model_image, description), OWN_TIME(description_ns)},
	{F(3, "status", ALL, show_status)},
	{F(4, "progress", ALL, show_progress)},
	{F(5, "type", ALL, show_type)},
	TEXT(6, "format", format),
	QUEUED_TEXT(7, "os-type", os_type),
	QUEUED_TEXT(8, "platform", platform),
	QUEUED_TEXT(9, "version", version),
	QUEUED_TEXT(10, "arch", arch),
	QUEUED_TEXT(11, "boot-mode", boot_mode),
	QUEUED_TEXT(12, "features", features),
	{F(13, "tags", ALL, show_lines), .store = store_tags, .writable = remark_view,
	 .flags = FS_ATTR_MULTILINE | FS_ATTR_REMARK,
	 .field = offsetof(struct model_image, tags), OWN_TIME(tags_ns)},
	{F(33, "properties", ALL, show_props)},
	{F(14, "encrypted", ALL, show_encrypted), .store = store_encrypted, .writable = queued_own,
	 .readonly_why = "cannot change after upload: encrypted is written while the image is queued"},
	{F(30, "project", ALL, show_text), .store = store_project, .writable = remark_view, .flags = FS_ATTR_REMARK,
	 .field = offsetof(struct model_image, project), OWN_TIME(project_ns)},
	{F(31, "sha256", ALL, show_sha256)},
	{F(15, "size", ALL, show_size)},
	{F(16, "created", ALL, show_created)},
	TEXT(17, "owner", owner),
	{F(18, "source", ALL, show_source), .store = store_source, .writable = queued_own,
	 .readonly_why = "source is written only while the image is queued", .field = offsetof(struct model_image, source)},
	{F(19, "device-mapping", ALL, show_device_mapping), .refs = MODEL_REF_DEVICES},
	{F(0, "disks", ALL, NULL), .sub = FS_SUB_DISKS, .refs = MODEL_REF_DEVICES},
	{F(0, "files", ALL, NULL), .sub = FS_SUB_FILES, .refs = MODEL_REF_DEVICES}, /* §18, inside.c */
	{F(21, "instances", ALL, show_instances), .refs = MODEL_REF_INSTANCES},
	{F(22, "convert", PRIV, show_empty), .store = store_convert},
	{F(23, "cancel", PRIV_ISO, show_empty), .store = store_cancel},
	{F(0, "copies", PRIV, NULL), .sub = FS_SUB_COPIES, .refs = MODEL_REF_COPIES},
	{F(0, "shares", PRIV, NULL), .sub = FS_SUB_SHARES, .refs = MODEL_REF_SHARES},
	{F(26, "task", ALL, show_task), .refs = MODEL_REF_TASK},
	{F(27, "expires", RECYCLE, show_expires)},
	{F(28, "download", PRIV_ISO, show_download), .store = store_download, .refs = MODEL_REF_LINKS},
	{F(29, "error", ALL, show_error), .flags = FS_ATTR_OWNER_TIME, OWN_TIME(error_ns)},
	/* What is inside it (§20, inspect.c). */
	{F(34, "inspection", ALL, fs_show_inspection)},
	{F(35, "inspection.json", ALL, fs_show_inspection_json)},
	{F(36, "packages", ALL, fs_show_packages)},
	{F(37, "inspect", PRIV_ISO, show_empty), .store = fs_store_inspect},
};
const size_t fs_image_attr_count = sizeof(fs_image_attrs) / sizeof(fs_image_attrs[0]);

bool fs_attr_visible(const struct fs_attr *a, const struct fs_node *n)
{
	return (a->views & FS_VIEW_BIT(n->view)) != 0;
}

bool fs_attr_is_writable(const struct fs_node *n)
{
	if (n->what != FS_W_ATTR || !n->attr->store)
		return false;
	/* Through tenants/, remarks only (§16). */
	if (n->actor_id && !(n->attr->flags & FS_ATTR_REMARK))
		return false;
	/* Platform and shared images never change (§3); in the recycle bin
	 * only what says so (remark_view). */
	if (fs_ino_kind(n->ino) == FS_K_IMAGE && !owner_view(n) &&
	    (n->view != FS_VIEW_RECYCLE || n->attr->writable != remark_view))
		return false;
	return !n->attr->writable || n->attr->writable(n);
}

/* ---- snapshot and instance files ----------------------------------------- */

static void show_snap_name(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	fs_buf_value(out, n->snap.name);
}

static void show_snap_description(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	fs_buf_value(out, n->snap.description);
}

static void show_snap_size(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	fs_buf_printf(out, "%llu\n", (unsigned long long)n->snap.size);
}

static void show_snap_status(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	fs_buf_value(out, model_snap_status_name(n->snap.status));
}

static void show_snap_created(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	char t[21];
	model_fmt_time(t, n->snap.created);
	fs_buf_value(out, t);
}

static void show_snap_images(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	char buf[MODEL_TEXT_MAX];
	if (model_snapshot_images(ctx->m, n->snap.id, buf, sizeof(buf)) > 0)
		fs_buf_puts(out, buf);
}

static int store_snap_description(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	return model_snapshot_set_description(ctx->m, n->snap.id, v, err);
}

const struct fs_attr fs_snap_attrs[] = {
	{F(1, "name", 0, show_snap_name)},
	{F(2, "description", 0, show_snap_description), .store = store_snap_description,
	 .flags = FS_ATTR_MULTILINE | FS_ATTR_REMARK},
	{F(3, "size", 0, show_snap_size)},
	{F(4, "status", 0, show_snap_status)},
	{F(5, "created", 0, show_snap_created)},
	{F(6, "images", 0, show_snap_images)},
	{F(7, "data", 0, NULL), .flags = FS_ATTR_BLOB},
	{F(0, "files", 0, NULL), .sub = FS_SUB_FILES}, /* the files inside data (§18, inside.c) */
	/* What is inside data (§20, inspect.c), as an image's. */
	{F(8, "inspection", 0, fs_show_inspection)},
	{F(9, "inspection.json", 0, fs_show_inspection_json)},
	{F(10, "packages", 0, fs_show_packages)},
	{F(11, "inspect", 0, show_empty), .store = fs_store_inspect},
};
const size_t fs_snap_attr_count = sizeof(fs_snap_attrs) / sizeof(fs_snap_attrs[0]);

static void show_vm_id(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	fs_buf_value(out, n->vm.ext_id);
}

/* status: running or stopped; an instance whose host was removed with a
 * disk it cannot run without says so, with the reason (§13). */
static void show_vm_status(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	char why[160], line[200];
	if (model_instance_lost(ctx->m, &n->vm, why, sizeof(why)) == 1) {
		snprintf(line, sizeof(line), "lost: %s", why);
		fs_buf_value(out, line);
		return;
	}
	uint64_t got, total;
	bool early = model_instance_arrived(ctx->m, &n->vm, &got, &total) == 0 && got < total;
	snprintf(line, sizeof(line), "%s%s", model_vm_status_name(n->vm.status), early ? " early" : "");
	fs_buf_value(out, line);
}

/* arrived (§6.5 "Early"): bytes of its image arrived and its size, while
 * the instance is early; empty otherwise. */
static void show_vm_arrived(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	uint64_t got, total;
	if (model_instance_arrived(ctx->m, &n->vm, &got, &total) == 0)
		fs_buf_printf(out, "%llu %llu\n", (unsigned long long)got, (unsigned long long)total);
}

static void show_vm_system_disk(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	fs_buf_value(out, n->vm.system_disk == MODEL_TYPE_CLOUD ? "cloud" : "local");
}

static void show_vm_image(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	struct model_image img;
	if (n->vm.image_id && model_image_get(ctx->m, n->vm.image_id, &img) == 0)
		fs_buf_value(out, img.ext_id);
}

/* host (§2.4, §13): where it runs; an instance made before hosts existed
 * runs wherever the state is mounted. */
static void show_vm_host(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	fs_buf_value(out, n->vm.host[0] ? n->vm.host : model_host(ctx->m));
}

static int store_vm_status(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	enum model_vm_status to = strcmp(v, "start") == 0  ? MODEL_VM_RUNNING
	                          : strcmp(v, "stop") == 0 ? MODEL_VM_STOPPED
	                                                   : MODEL_VM_INVALID;
	if (to == MODEL_VM_INVALID)
		return model_fail(err, -EINVAL, "status takes start or stop");
	return model_instance_set_status(ctx->m, n->vm.id, to, err);
}

static bool vm_disk_type_open(const struct fs_node *n)
{
	return !n->vm.image_id && !n->vm.has_run;
}

static int store_vm_system_disk(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	unsigned type = strcmp(v, "local") == 0 ? MODEL_TYPE_LOCAL : strcmp(v, "cloud") == 0 ? MODEL_TYPE_CLOUD : 0;
	if (!type)
		return model_fail(err, -EINVAL, "system-disk takes local or cloud");
	return model_instance_set_system_disk(ctx->m, n->vm.id, type, err);
}

/* An image named by id or by its path in the region ("private/golden",
 * "public/centos-7.4", "shared/golden@alice"), in the caller's view (§6.5,
 * §12). */
static int find_image(struct fs_ctx *ctx, const struct fs_node *n, const char *ref, struct fs_node *out,
                      struct model_err *err)
{
	enum model_ext_kind kind;
	struct fs_node region;
	int64_t id;
	int rc = -ENOENT;
	const char *slash = strchr(ref, '/');
	if (!slash && model_find_ext_id(ctx->m, ref, &kind, &id) == 0 && kind == MODEL_EXT_IMAGE &&
	    fs_node_resolve(ctx, &n->caller, fs_ino(FS_K_IMAGE, id, 0), out) == 0)
		rc = out->img.region_id == n->region.id ? 0 : -ENOENT;
	if (slash && !strchr(slash + 1, '/') &&
	    fs_node_resolve(ctx, &n->caller, fs_ino(FS_K_REGION, n->region.id, 0), &region) == 0) {
		char cls[32];
		snprintf(cls, sizeof(cls), "%.*s", (int)(slash - ref), ref);
		struct fs_node c;
		if (fs_node_lookup(ctx, &region, cls, &c) == 0 && c.what == FS_W_CLASS &&
		    fs_node_lookup(ctx, &c, slash + 1, out) == 0 && out->what == FS_W_IMAGE)
			rc = 0;
	}
	if (rc < 0)
		return model_fail(err, -ENOENT, "no image %s in %s", ref, n->region.name);
	return 0;
}

/* image (§6.5): rebuilds the instance from an image; an ISO image (§16)
 * goes in as its cdrom; "early REF" from one whose import runs. */
static int store_vm_image(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	bool early = strncmp(v, "early ", 6) == 0;
	struct fs_node img;
	int rc;
	if ((rc = find_image(ctx, n, v + (early ? 6 : 0), &img, err)) < 0)
		return rc;
	if (fs_disk_vm_writing(ctx, n->vm.id))
		return model_fail(err, -EBUSY, "a disk of the instance is open for writing");
	if ((rc = early ? model_instance_rebuild_early(ctx->m, n->vm.id, img.img.id, n->caller.account_id, err)
	                : model_instance_rebuild(ctx->m, n->vm.id, img.img.id, n->caller.account_id, err)) < 0)
		return rc;
	fs_image_changed(ctx, &img.img, false); /* its instances file */
	if (n->vm.image_id != img.img.id)
		fs_vm_image_changed(ctx, &n->vm); /* the one it was built from lists it no more */
	return 0;
}

/* boot (§16): cdrom while a cdrom is in, else disk. */
static void show_vm_boot(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	int rc = model_instance_boot(ctx->m, n->vm.id);
	if (rc >= 0)
		fs_buf_value(out, rc ? "cdrom" : "disk");
}

static int store_vm_boot(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	bool cdrom = strcmp(v, "cdrom") == 0;
	int rc;
	if (!cdrom && strcmp(v, "disk") != 0)
		return model_fail(err, -EINVAL, "boot takes cdrom or disk");
	if ((rc = model_instance_set_boot(ctx->m, n->vm.id, cdrom, err)) == 0)
		fs_vm_image_changed(ctx, &n->vm); /* an eject: the ISO's instances file */
	return rc;
}

/* system-disk-size (§16): bytes. */
static void show_vm_disk_size(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	fs_buf_printf(out, "%llu\n", (unsigned long long)n->vm.system_disk_size);
}

static int store_vm_disk_size(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	uint64_t size;
	if (model_size_parse(v, &size) < 0)
		return model_fail(err, -EINVAL, "system-disk-size takes a number of bytes, or one with K, M, G, T or P "
		                                "(powers of 1024: 40G)");
	/* vda would be resized under the handles of this mount (which keep
	 * its size) otherwise. */
	if (fs_disk_vm_open(ctx, n->vm.id))
		return model_fail(err, -EBUSY, "a disk of the instance is open; close it first");
	return model_instance_set_disk_size(ctx->m, n->vm.id, size, err);
}

/* password (§16): write-only; what is written never reaches the log (its
 * reasons are the model's rule, never the value) nor any file. */
static int store_vm_password(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err)
{
	int rc = model_instance_set_password(ctx->m, n->vm.id, v, err);
	if (rc == 0)
		fs_inspect_password_note(ctx, n); /* an image without cloud-init (§20) */
	return rc;
}

const struct fs_attr fs_vm_attrs[] = {
	{F(1, "id", 0, show_vm_id)},
	{F(2, "status", 0, show_vm_status), .store = store_vm_status},
	{F(3, "system-disk", 0, show_vm_system_disk), .store = store_vm_system_disk, .writable = vm_disk_type_open,
	 .readonly_why = "the system disk type is fixed once the instance has an image or has run"},
	{F(4, "image", 0, show_vm_image), .store = store_vm_image},
	{F(0, "disks", 0, NULL), .sub = FS_SUB_DISKS},
	{F(6, "host", 0, show_vm_host)},
	{F(7, "boot", 0, show_vm_boot), .store = store_vm_boot},
	{F(8, "system-disk-size", 0, show_vm_disk_size), .store = store_vm_disk_size, .writable = vm_disk_type_open,
	 .readonly_why = "the system disk size is fixed once the instance has an image or has run"},
	{F(9, "password", 0, show_empty), .store = store_vm_password, .flags = FS_ATTR_SECRET},
	{F(10, "arrived", 0, show_vm_arrived)},
};
const size_t fs_vm_attr_count = sizeof(fs_vm_attrs) / sizeof(fs_vm_attrs[0]);

/* ---- region files -------------------------------------------------------- */

void fs_show_quota(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out)
{
	struct model_quota q[MODEL_QUOTA_COUNT];
	if (!n->caller.account_id)
		return;
	int count = model_quota_list(ctx->m, n->caller.account_id, n->region.id, q);
	fs_buf_error(out, count);
	for (int i = 0; i < count; i++)
		fs_buf_printf(out, "%s %lld %lld\n", model_quota_name(q[i].key), (long long)q[i].used,
		              (long long)q[i].limit);
}

/* Whether a spreadsheet would take v as a formula (OWASP's CSV-injection
 * rule): it begins with '=', '+', '-', '@', a tab or a CR.  Gnumeric and
 * LibreOffice Calc turn "=HYPERLINK(...)" into a live link (issue 70). */
static bool csv_formula(const char *v)
{
	return *v && strchr("=+-@\t\r", *v);
}

/* RFC 4180: a field holding a comma, quote, CR or LF is quoted, quotes
 * doubled.  A field a spreadsheet would take as a formula is quoted too
 * and begins with a single quote, which spreadsheets take as "text"
 * (SPEC §7). */
static void csv_field(struct fs_buf *out, const char *v, bool last)
{
	bool formula = csv_formula(v);
	if (formula || strpbrk(v, ",\"\r\n")) {
		fs_buf_put(out, "\"", 1);
		if (formula)
			fs_buf_put(out, "'", 1);
		for (const char *p = v; *p; p++) {
			if (*p == '"')
				fs_buf_put(out, "\"", 1);
			fs_buf_put(out, p, 1);
		}
		fs_buf_put(out, "\"", 1);
	} else {
		fs_buf_puts(out, v);
	}
	fs_buf_puts(out, last ? "\r\n" : ",");
}

/* The columns of images.csv (SPEC §7), and of images.json's objects (§15). */
static const char *const image_columns[] = {
	"id",        "name", "class",     "type",     "status",  "os-type",     "platform", "version",
	"arch",      "boot-mode", "size", "encrypted", "features", "created", "description",
	/* §16's, after the first ones: scripts that index columns keep working */
	"project",   "format", "owner",
};
#define IMAGE_COLUMNS (sizeof(image_columns) / sizeof(image_columns[0]))
#define IMAGE_COLUMN_SIZE 10 /* the one numeric column: a JSON number */

struct csv_ctx {
	struct fs_buf *out;
	const char *cls;
	bool shared;
	bool json;  /* images.json: objects, not CSV rows */
	size_t rows;
	int64_t mtime_ns;
};

/* Whether a listing's rendering can stop: it failed (over a budget), or
 * it is past the largest file an open takes — a stat's count included,
 * whose size then says "too large" (an open is ENOMEM either way).  So
 * what one open or stat of images.csv/json reads and renders is bounded
 * by 16 MiB of output, not by the rows an account has (issue 36: iso/ and
 * the recycle bin have no quota). */
static bool listing_full(const struct fs_buf *b)
{
	return b->failed || b->len >= FS_RENDER_ONE_MAX;
}

static int csv_row(void *arg, const struct model_image *img)
{
	struct csv_ctx *c = arg;
	if (listing_full(c->out))
		return 1; /* stops the listing: nothing more would be shown */
	struct fs_node n = {.img = *img};
	struct fs_buf type = {0};
	char name[2 * MODEL_NAME_MAX + 2], size[24], created[21];
	show_type(&n, NULL, &type);
	if (type.len)
		type.p[type.len - 1] = '\0'; /* drop the newline */
	if (c->shared)
		snprintf(name, sizeof(name), "%s@%s", img->name, img->owner);
	else
		snprintf(name, sizeof(name), "%s", img->name);
	snprintf(size, sizeof(size), "%llu", (unsigned long long)img->size);
	model_fmt_time(created, img->created);
	const char *fields[IMAGE_COLUMNS] = {img->ext_id, name, c->cls, type.p ? type.p : "",
	                                     model_image_status_name(img->status), img->os_type, img->platform,
	                                     img->version, img->arch, img->boot_mode, size,
	                                     img->encrypted ? "yes" : "no", img->features, created, img->description,
	                                     img->project, img->format, img->owner};
	if (c->json) {
		/* One object a line, keys in the CSV's column order. */
		fs_buf_puts(c->out, c->rows ? ",\n{" : "\n{");
		for (size_t i = 0; i < IMAGE_COLUMNS; i++) {
			if (i)
				fs_buf_put(c->out, ",", 1);
			fs_buf_json_string(c->out, image_columns[i]);
			fs_buf_put(c->out, ":", 1);
			if (i == IMAGE_COLUMN_SIZE)
				fs_buf_puts(c->out, fields[i]);
			else
				fs_buf_json_string(c->out, fields[i]);
		}
		fs_buf_put(c->out, "}", 1);
	} else {
		for (size_t i = 0; i < IMAGE_COLUMNS; i++)
			csv_field(c->out, fields[i], i == IMAGE_COLUMNS - 1);
	}
	c->rows++;
	fs_buf_release(&type);
	if (img->mtime_ns > c->mtime_ns)
		c->mtime_ns = img->mtime_ns;
	if (img->ctime_ns > c->mtime_ns)
		c->mtime_ns = img->ctime_ns;
	return 0;
}

/* images.csv and images.json list the same rows: the caller's view of every
 * class, in one order, rendered by csv_row. */
static void show_images(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out, int64_t *mtime_ns,
                        bool json)
{
	static const struct {
		enum model_folder folder;
		const char *cls;
		bool own;
	} parts[] = {
		{MODEL_FOLDER_PUBLIC, "public", false},   {MODEL_FOLDER_MARKETPLACE, "marketplace", false},
		{MODEL_FOLDER_PRIVATE, "private", true},  {MODEL_FOLDER_ISO, "iso", true},
		{MODEL_FOLDER_RECYCLE, "recycle-bin", true},
	};
	struct csv_ctx c = {out, NULL, false, json, 0, model_region_mtime(ctx->m, n->region.id)};
	if (json) {
		fs_buf_put(out, "[", 1);
	} else {
		for (size_t i = 0; i < IMAGE_COLUMNS; i++)
			csv_field(out, image_columns[i], i == IMAGE_COLUMNS - 1);
	}
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		if (parts[i].own && !n->caller.account_id)
			continue;
		if (listing_full(out))
			break;
		c.cls = parts[i].cls;
		fs_buf_error(out, model_image_list(ctx->m, n->region.id, parts[i].own ? n->caller.account_id : 0,
		                                   parts[i].folder, 0, csv_row, &c));
	}
	if (n->caller.account_id && !listing_full(out)) {
		c.cls = "shared";
		c.shared = true;
		fs_buf_error(out, model_image_list_shared(ctx->m, n->region.id, n->caller.account_id, 0, csv_row, &c));
	}
	if (json)
		fs_buf_puts(out, c.rows ? "\n]\n" : "]\n");
	if (mtime_ns)
		*mtime_ns = c.mtime_ns;
}

void fs_show_csv(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out, int64_t *mtime_ns)
{
	show_images(n, ctx, out, mtime_ns, false);
}

void fs_show_json(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out, int64_t *mtime_ns)
{
	show_images(n, ctx, out, mtime_ns, true);
}

/* ---- every generated file's content (files.c at open, node.c's size) ---- */

/* Here and not in files.c: node.c sizes a generated file by rendering it
 * (generated_size), and node.c calling files.c tied the open-file handlers
 * into the resolver's circle (issue 48 step 4). */
int fs_render(struct fs_ctx *ctx, const struct fs_node *n, struct fs_buf *b, int64_t *mtime_ns)
{
	if (n->what == FS_W_QUOTA)
		fs_show_quota(n, ctx, b);
	else if (n->what == FS_W_CSV)
		fs_show_csv(n, ctx, b, mtime_ns);
	else if (n->what == FS_W_JSON)
		fs_show_json(n, ctx, b, mtime_ns);
	else if (n->what == FS_W_GUIDE)
		fs_show_guide(b);
	else if (n->what == FS_W_STATS)
		fs_show_stats(ctx, b);
	else if (n->what == FS_W_ERRORS)
		fs_show_errors(ctx, &n->caller, b); /* the caller's own lines (SPEC §9) */
	else
		n->attr->show(n, ctx, b);
	if (b->err) {
		/* Empty or half a file would be served as if true: EIO, said. */
		char path[1024];
		fs_node_path(ctx, n, path, sizeof(path));
		fs_log(ctx, "read %s: %s the database did not answer (%s): its content is not shown", path,
		       fs_errno_name(-b->err), strerror(-b->err));
		return b->err == -ENOENT ? -ENOENT : -EIO;
	}
	return b->failed ? -ENOMEM : 0;
}
