/*
 * attr.h — generated files (SPEC §2, §6): the tables of what each
 * directory kind holds (attr.c, like the kernel's struct cftype), the
 * region's listings (images.csv, images.json, quota) and the rendering of
 * a file's content (files.c).  Who includes it: attr.c, files.c, node.c,
 * ops.c and the providers that show files (copies.c, tenants.c).
 */
#ifndef IMGFS_ATTR_H
#define IMGFS_ATTR_H

#include "buf.h"
#include "fs.h"

/* One generated file or subdirectory of a directory kind (docs/style.md: behaviour as tables). */
struct fs_attr {
	unsigned id;        /* a file's inode sub number, fixed in the table (attr.c); 0 for directories */
	const char *name;
	unsigned views;     /* FS_VIEW_BIT mask of image views it appears in (images only) */
	unsigned sub;       /* fixed sub number for directories (FS_SUB_*), 0 for files */
	/* Renders the content; NULL for directories. */
	void (*show)(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out);
	/* Applies a written value (already stripped of one trailing newline);
	 * NULL: read-only.  Returns 0 or -errno with the reason in err. */
	int (*store)(const struct fs_node *n, struct fs_ctx *ctx, const char *value, struct model_err *err);
	/* When store exists: whether it is writable for this node now (NULL: always). */
	bool (*writable)(const struct fs_node *n);
	const char *readonly_why; /* the refusal's reason when writable says no */
	unsigned flags;
	size_t field; /* offsetof the text in struct model_image, for show_text */
	size_t mtime; /* offsetof the file's own int64 time in struct model_image
	                 (ns, 0 = not set yet); 0: the image's mtime_ns */
	unsigned refs; /* the model_image.refs its content or listing needs read */
};
enum {
	FS_ATTR_MULTILINE = 1, /* a value may hold newlines (description, tags) */
	FS_ATTR_BLOB = 2,      /* a blob, not a generated file (snapshot data) */
	FS_ATTR_OWNER_TIME = 8,/* its own time tells of the owner's activity: a
	                          shared view shows the image's mtime instead (§8) */
	FS_ATTR_REMARK = 16,   /* a remark (description, tags, project): what is
	                          written through tenants/ too (§16) */
	FS_ATTR_SECRET = 32,   /* write-only (mode 0200): opening it for reading
	                          is EACCES for everyone, root too; what is
	                          written is wiped from memory once applied
	                          (an instance's password, §16) */
};

/* Tables (attr.c). */
extern const struct fs_attr fs_image_attrs[];
extern const size_t fs_image_attr_count;
extern const struct fs_attr fs_snap_attrs[];
extern const size_t fs_snap_attr_count;
extern const struct fs_attr fs_vm_attrs[];
extern const size_t fs_vm_attr_count;
/* The id the next attribute of each table takes (attr.c: never reused). */
extern const unsigned fs_image_attr_next_id, fs_snap_attr_next_id, fs_vm_attr_next_id;
/* The inode sub number of entry a of a table: its id, or a directory's sub. */
static inline unsigned fs_attr_ino_sub(const struct fs_attr *a) { return a->sub ? a->sub : a->id; }
extern const char *const fs_class_names[FS_CLASS_COUNT];

/* Whether attribute a of an image appears for node n's view. */
bool fs_attr_visible(const struct fs_attr *a, const struct fs_node *n);
/* Renders images.csv / images.json / quota of a region for the caller.
 * images.json is an array of objects, one per row of images.csv, keys its
 * header's column names, size a number, every other value a string. */
void fs_show_csv(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out, int64_t *mtime_ns);
void fs_show_json(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out, int64_t *mtime_ns);
void fs_show_quota(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out);
/* /regions/<r>/GUIDE: making and converting one's own images (guide.c). */
void fs_show_guide(struct fs_buf *out);
/* A generated file's content now, into b (files.c, node.c): 0, -ENOMEM when b
 * could not hold it, or the error of a model call behind it (-EIO: the
 * database did not answer), with a log line naming the file.  mtime_ns
 * (may be NULL): images.csv's and images.json's newest row's time. */
int fs_render(struct fs_ctx *ctx, const struct fs_node *n, struct fs_buf *b, int64_t *mtime_ns);
/* An image's inspection (SPEC §20, inspect.c): its files, and the control
 * file whose write queues a new one. */
void fs_show_inspection(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out);
void fs_show_inspection_json(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out);
void fs_show_packages(const struct fs_node *n, struct fs_ctx *ctx, struct fs_buf *out);
int fs_store_inspect(const struct fs_node *n, struct fs_ctx *ctx, const char *v, struct model_err *err);
/* After instance n's password was written: when the image it was built
 * from has no cloud-init (its inspection says so), the log says the
 * password is not applied (§20: it still succeeds). */
void fs_inspect_password_note(struct fs_ctx *ctx, const struct fs_node *n);
/* Writes into a generated file: whether n accepts writes now. */
bool fs_attr_is_writable(const struct fs_node *n);

#endif
