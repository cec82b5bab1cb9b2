/*
 * inspect_judge.c — from the facts each volume's helper told to what an
 * image's inspection says (SPEC §20): the OS, its version and product,
 * arch, boot mode, agents, packages; the seeds' warnings (seed 001's
 * fstab, seed 004's supported versions, an image without cloud-init whose
 * instances get a password); the contradictions with what the uploader
 * wrote; and the attributes to fill where the uploader wrote none.
 * Renders the three files: inspection (text, "key: value" lines in a
 * fixed order), inspection.json (its twin) and packages.
 *
 * Who calls it: inspect.c's inspector, on a background worker.  Every
 * fact is a tenant's file system speaking through a helper that may have
 * been made to say anything: a line of an unknown key is ignored, a value
 * is cut at its bound, and every byte that reaches a file is valid UTF-8
 * without control or bidirectional-override characters (sanitize), as
 * descriptions are (§2.1: other tenants read these files too).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "inspect_int.h"

#define VALUE_MAX 1024

/* ---- reading facts ------------------------------------------------------------ */

/* Calls fn for each fact of v named key (value NUL-terminated, at most
 * VALUE_MAX bytes); fn's nonzero return stops. */
static int each(const struct inspect_vol *v, const char *key, int (*fn)(void *arg, const char *value), void *arg)
{
	size_t klen = strlen(key);
	for (const char *p = v->facts; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '\t') {
			char val[VALUE_MAX + 1];
			size_t vl = len - klen - 1 > VALUE_MAX ? VALUE_MAX : len - klen - 1;
			memcpy(val, p + klen + 1, vl);
			val[vl] = '\0';
			int rc = fn(arg, val);
			if (rc)
				return rc;
		}
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

struct first {
	char *out;
	size_t cap;
};
static int take_first(void *arg, const char *value)
{
	struct first *f = arg;
	snprintf(f->out, f->cap, "%s", value);
	return 1;
}

/* The first fact of v named key into out ("" when none): whether found. */
static bool fact(const struct inspect_vol *v, const char *key, char *out, size_t cap)
{
	struct first f = {out, cap};
	out[0] = '\0';
	return v && each(v, key, take_first, &f) != 0;
}

/* s made safe for a file other tenants read: valid UTF-8, no C0 or C1
 * control, no DEL, no bidirectional embedding, override or isolate (each
 * such byte or character becomes '?'). */
static void sanitize(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p && n + 4 < cap) {
		unsigned c = *p, len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		unsigned cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
		bool ok = len > 0;
		for (unsigned i = 1; ok && i < len; i++) {
			ok = (p[i] & 0xc0) == 0x80;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		           (cp >= 0xd800 && cp <= 0xdfff)))
			ok = false; /* overlong, surrogate or past Unicode */
		if (ok && (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
		           (cp >= 0x2066 && cp <= 0x2069)))
			ok = false;
		if (!ok) {
			out[n++] = '?';
			p++;
			continue;
		}
		memcpy(out + n, p, len);
		n += len;
		p += len;
	}
	out[n] = '\0';
}

/* ---- concluding -------------------------------------------------------------- */

struct judged {
	const struct inspect_vol *root;
	char id[64], os_type[16], platform[32], version[32], product[256], arch[16], boot[16], features[64];
	char hostname[256];
	bool windows, cloud_init, cloud_init_on, qga, qga_on, uefi, bios;
	char pkgdb[64];
};

/* The first version in s ("CentOS Linux release 7.9.2009 (Core)"): its
 * first two numbers into mm ("7.9"), all of it into full ("7.9.2009"). */
static void version_in(const char *s, char *mm, size_t mcap, char *full, size_t fcap)
{
	const char *p = strstr(s, "release ");
	p = p ? p + 8 : s;
	while (*p && !isdigit((unsigned char)*p))
		p++;
	size_t len = strspn(p, "0123456789."), dots = 0, cut = len;
	while (len && p[len - 1] == '.')
		len--, cut = len;
	for (size_t i = 0; i < len; i++)
		if (p[i] == '.' && ++dots == 2)
			cut = i;
	snprintf(mm, mcap, "%.*s", (int)(cut < len ? cut : len), p);
	snprintf(full, fcap, "%.*s", (int)len, p);
}

static const char *platform_of(const char *id)
{
	static const char *const map[][2] = {
		{"centos", "centos"},   {"ubuntu", "ubuntu"},      {"debian", "debian"},         {"rocky", "rocky"},
		{"almalinux", "almalinux"}, {"fedora", "fedora"},  {"opensuse-leap", "opensuse"}, {"opensuse", "opensuse"},
		{"opensuse-tumbleweed", "opensuse"}, {"kylin", "kylin"}, {"uos", "uos"},          {"freebsd", "freebsd"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(id, map[i][0]) == 0)
			return map[i][1];
	return "";
}

static int agent(void *arg, const char *v)
{
	struct judged *j = arg;
	bool on = strstr(v, " enabled") != NULL;
	if (strncmp(v, "cloud-init ", 11) == 0)
		j->cloud_init = true, j->cloud_init_on = on;
	else if (strncmp(v, "qemu-ga ", 8) == 0)
		j->qga = true, j->qga_on = on;
	return 0;
}

static void windows(const struct inspect_vol *v, struct judged *j)
{
	char product[256], build[32], type[32];
	fact(v, "win.product", product, sizeof(product));
	fact(v, "win.build", build, sizeof(build));
	fact(v, "win.type", type, sizeof(type));
	j->windows = true;
	snprintf(j->os_type, sizeof(j->os_type), "windows");
	snprintf(j->platform, sizeof(j->platform), "windows");
	/* "Windows Server 2012 R2 Standard" -> "2012 R2"; "Windows 10 Pro" ->
	 * "10" (11 when the build says so: Windows 11 still calls itself 10). */
	const char *s = strstr(product, "Server ");
	if (s && isdigit((unsigned char)s[7])) {
		size_t n = strspn(s + 7, "0123456789");
		bool r2 = strncasecmp(s + 7 + n, " R2", 3) == 0;
		snprintf(j->version, sizeof(j->version), "%.*s%s", (int)n, s + 7, r2 ? " R2" : "");
	} else if ((s = strstr(product, "Windows ")) && isdigit((unsigned char)s[8])) {
		size_t n = strspn(s + 8, "0123456789");
		snprintf(j->version, sizeof(j->version), "%.*s", (int)n, s + 8);
		if (strcmp(j->version, "10") == 0 && atoi(build) >= 22000)
			snprintf(j->version, sizeof(j->version), "11");
	}
	snprintf(j->product, sizeof(j->product), "%.200s%s%.20s%s", product, build[0] ? " (build " : "", build,
	         build[0] ? ")" : "");
	fact(v, "win.arch", j->arch, sizeof(j->arch));
	fact(v, "pkgdb", j->pkgdb, sizeof(j->pkgdb));
}

static void linux_root(const struct inspect_vol *v, struct judged *j)
{
	char name[128], pretty[256], vid[64], rel[256], deb[64], mm[32], full[64];
	fact(v, "os.id", j->id, sizeof(j->id));
	fact(v, "os.name", name, sizeof(name));
	fact(v, "os.pretty", pretty, sizeof(pretty));
	fact(v, "os.version_id", vid, sizeof(vid));
	if (!fact(v, "centos-release", rel, sizeof(rel)))
		fact(v, "redhat-release", rel, sizeof(rel));
	fact(v, "debian-version", deb, sizeof(deb));
	if (!j->id[0] && rel[0]) {
		/* No os-release (EL6 and before): the release file's name. */
		static const char *const names[][2] = {{"CentOS", "centos"}, {"Rocky", "rocky"}, {"AlmaLinux", "almalinux"},
		                                      {"Fedora", "fedora"}, {"Red Hat", "rhel"}};
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !j->id[0]; i++)
			if (strncmp(rel, names[i][0], strlen(names[i][0])) == 0)
				snprintf(j->id, sizeof(j->id), "%s", names[i][1]);
	}
	snprintf(j->os_type, sizeof(j->os_type), "%s", strcmp(j->id, "freebsd") == 0 ? "other" : "linux");
	snprintf(j->platform, sizeof(j->platform), "%s", platform_of(j->id));
	snprintf(j->version, sizeof(j->version), "%.31s", vid);
	snprintf(j->product, sizeof(j->product), "%s", pretty[0] ? pretty : name);
	if (rel[0]) {
		/* The release file has the minor version (and the build) that
		 * os-release's VERSION_ID leaves out (CentOS 7: "7"). */
		version_in(rel, mm, sizeof(mm), full, sizeof(full));
		if (mm[0])
			snprintf(j->version, sizeof(j->version), "%s", mm);
		if (full[0] && name[0])
			snprintf(j->product, sizeof(j->product), "%s %s", name, full);
		else if (!j->product[0])
			snprintf(j->product, sizeof(j->product), "%s", rel);
	} else if (strcmp(j->id, "debian") == 0 && deb[0] && isdigit((unsigned char)deb[0])) {
		version_in(deb, mm, sizeof(mm), full, sizeof(full));
		if (mm[0])
			snprintf(j->version, sizeof(j->version), "%s", mm);
	}
	char arch[64];
	if (fact(v, "arch", arch, sizeof(arch)))
		snprintf(j->arch, sizeof(j->arch), "%.*s", (int)strcspn(arch, " "), arch);
	each(v, "agent", agent, j);
	fact(v, "pkgdb", j->pkgdb, sizeof(j->pkgdb));
}

bool inspect_is_root(const struct inspect_vol *v)
{
	char tmp[64];
	return fact(v, "win.product", tmp, sizeof(tmp)) || fact(v, "win.hive", tmp, sizeof(tmp)) ||
	       fact(v, "os.id", tmp, sizeof(tmp)) || fact(v, "redhat-release", tmp, sizeof(tmp));
}

void inspect_drop_packages(struct inspect_vol *v)
{
	size_t w = 0;
	for (size_t r = 0; v->facts && r < v->facts_len;) {
		const char *nl = memchr(v->facts + r, '\n', v->facts_len - r);
		size_t len = nl ? (size_t)(nl - (v->facts + r)) + 1 : v->facts_len - r;
		if (!(len >= 4 && memcmp(v->facts + r, "pkg\t", 4) == 0)) {
			memmove(v->facts + w, v->facts + r, len);
			w += len;
		}
		r += len;
	}
	if (v->facts) {
		v->facts[w] = '\0';
		v->facts_len = w;
	}
}

static void judge(const struct inspect_in *in, struct judged *j)
{
	char tmp[64];
	memset(j, 0, sizeof(*j));
	for (unsigned i = 0; i < in->nvols && !j->root; i++) {
		const struct inspect_vol *v = &in->vols[i];
		if (!v->read)
			continue;
		if (fact(v, "win.product", tmp, sizeof(tmp)) || fact(v, "win.hive", tmp, sizeof(tmp))) {
			j->root = v;
			windows(v, j);
		} else if (inspect_is_root(v)) {
			j->root = v;
			linux_root(v, j);
		}
	}
	if (j->root)
		fact(j->root, "hostname", j->hostname, sizeof(j->hostname));
	for (unsigned i = 0; i < in->nvols; i++) {
		j->uefi |= in->vols[i].read && fact(&in->vols[i], "efi", tmp, sizeof(tmp));
		j->bios |= in->vols[i].read && fact(&in->vols[i], "grub-bios", tmp, sizeof(tmp));
	}
	/* No EFI system partition with a loader: BIOS (seed 004's default). */
	if (j->root && !j->uefi)
		j->bios = true;
	snprintf(j->boot, sizeof(j->boot), "%s%s%s", j->bios ? "bios" : "", j->bios && j->uefi ? " " : "",
	         j->uefi ? "uefi" : "");
	snprintf(j->features, sizeof(j->features), "%s%s%s", j->cloud_init_on ? "cloud-init" : "",
	         j->cloud_init_on && j->qga_on ? " " : "", j->qga_on ? "qemu-ga" : "");
}

/* ---- warnings and contradictions ------------------------------------------------- */

/* A list of the inspection (fstab, warnings, notes, volumes, ...): at
 * most LINES_MAX lines, more than any guest within the other bounds makes
 * (a 64 KiB fstab holds at most 32,768 lines); past it a line is counted,
 * not kept, and a note says how many (never a silent cut). */
#define LINES_MAX 65536

struct lines {
	char **text;
	unsigned n, cap, dropped;
};

static void put_line(struct lines *l, const char *clean)
{
	if (l->n == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 16;
		char **t = realloc(l->text, cap * sizeof(*t));
		if (!t) {
			l->dropped++;
			return;
		}
		l->text = t;
		l->cap = cap;
	}
	if ((l->text[l->n] = strdup(clean)))
		l->n++;
	else
		l->dropped++;
}

static void add(struct lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct lines *l, const char *fmt, ...)
{
	char raw[VALUE_MAX + 512], clean[sizeof(raw) * 4];
	va_list ap;
	if (l->n >= LINES_MAX) {
		l->dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	sanitize(raw, clean, sizeof(clean));
	put_line(l, clean);
}

static void lines_free(struct lines *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->text[i]);
	free(l->text);
}

/* Volume v's label as blkid names it, into out (VALUE_MAX + 1 bytes): the
 * daemon's probe's (ext, XFS, FAT, swap: a superblock's field), else its
 * helper's (NTFS keeps its label in $Volume, a file of the volume). */
static const char *label_of(const struct inspect_vol *v, char *out)
{
	if (v->ident.label[0] || !fact(v, "label", out, VALUE_MAX + 1))
		return v->ident.label;
	return out;
}

/* Whether an fstab device names a volume of the image: 1 yes, 0 no, -1
 * not a name imgfs can judge (PARTUUID=, /dev/mapper/..., a network or
 * pseudo file system). */
static int held(const struct inspect_in *in, const char *spec)
{
	const char *u = strncmp(spec, "UUID=", 5) == 0 ? spec + 5
	                : strncmp(spec, "/dev/disk/by-uuid/", 18) == 0 ? spec + 18 : NULL;
	const char *l = strncmp(spec, "LABEL=", 6) == 0 ? spec + 6
	                : strncmp(spec, "/dev/disk/by-label/", 19) == 0 ? spec + 19 : NULL;
	char q[128], label[VALUE_MAX + 1];
	if (u || l) {
		const char *want = u ? u : l;
		size_t n = strlen(want);
		if (n >= 2 && (want[0] == '"' || want[0] == '\'') && want[n - 1] == want[0])
			snprintf(q, sizeof(q), "%.*s", (int)(n - 2), want + 1), want = q;
		for (unsigned i = 0; i < in->nvols; i++)
			if (u ? strcasecmp(in->vols[i].ident.uuid, want) == 0 && want[0]
			      : strcmp(label_of(&in->vols[i], label), want) == 0 && want[0])
				return 1;
		return 0;
	}
	/* An LVM2 logical volume: /dev/mapper/<vg>-<lv> (a '-' of either name
	 * doubled) or /dev/<vg>/<lv>. */
	if (strncmp(spec, "/dev/mapper/", 12) == 0 || (strncmp(spec, "/dev/", 5) == 0 && strchr(spec + 5, '/'))) {
		char lv[130];
		for (unsigned i = 0; i < in->nvols; i++) {
			const char *name = in->vols[i].lvname, *dash;
			if (!name[0] || !(dash = strchr(name, '-')))
				continue;
			snprintf(lv, sizeof(lv), "/dev/%.*s/%s", (int)(dash - name), name, dash + 1);
			if (strcmp(spec, lv) == 0)
				return 1;
			size_t k = 0;
			for (const char *c = name; *c && k + 3 < sizeof(lv); c++) {
				lv[k++] = *c;
				if (*c == '-' && c != dash)
					lv[k++] = '-';
			}
			lv[k] = '\0';
			if (strcmp(spec + 12, lv) == 0 && strncmp(spec, "/dev/mapper/", 12) == 0)
				return 1;
		}
		return strncmp(spec, "/dev/mapper/", 12) == 0 ? 0 : -1;
	}
	/* /dev/vdb1, /dev/sdb1, /dev/xvdb1, /dev/hdb1: the letter is the
	 * device's index whatever the prefix (an image's disks are vda, vdb...). */
	const char *d = strncmp(spec, "/dev/", 5) == 0 ? spec + 5 : NULL;
	if (d && (strncmp(d, "vd", 2) == 0 || strncmp(d, "sd", 2) == 0 || strncmp(d, "hd", 2) == 0 ||
	          strncmp(d, "xvd", 3) == 0)) {
		d += d[0] == 'x' ? 3 : 2;
		if (*d < 'a' || *d > 'z' || (d[1] && !isdigit((unsigned char)d[1])))
			return -1;
		unsigned idx = (unsigned)(*d - 'a'), num = (unsigned)atoi(d + 1);
		for (unsigned i = 0; i < in->nvols; i++)
			if (in->vols[i].dev_index == idx && in->vols[i].number == num)
				return 1;
		return 0;
	}
	return -1;
}

struct fstab_walk {
	const struct inspect_in *in;
	struct lines *warnings, *lines;
};

static int fstab_line(void *arg, const char *v)
{
	struct fstab_walk *w = arg;
	char spec[256] = "", file[256] = "", type[64] = "", opts[512] = "";
	unsigned line = 0;
	add(w->lines, "%s", v);
	if (sscanf(v, "%u %255s %255s %63s %511s", &line, spec, file, type, opts) < 4)
		return 0;
	/* nofail (or noauto: not mounted at boot at all) makes it harmless. */
	char o[sizeof(opts) + 2];
	snprintf(o, sizeof(o), ",%s,", opts);
	if (strstr(o, ",nofail,") || strstr(o, ",noauto,"))
		return 0;
	if (held(w->in, spec) != 0)
		return 0;
	add(w->warnings,
	    "fstab line %u mounts %s on %s without nofail, and no disk of this image holds it: an instance made from "
	    "it may not start (seed 001: remove the line or add nofail before capturing)",
	    line, spec, file);
	return 0;
}

/* Whether written version w agrees with found f: w's numbers are f's
 * first ones ("7" and "7.9", "12" and "12.5"; "2012 R2" as a whole). */
static bool version_agrees(const char *w, const char *f)
{
	size_t n = strlen(w);
	if (strcasecmp(w, f) == 0)
		return true;
	return strncasecmp(w, f, n) == 0 && f[n] == '.';
}

static void contradictions(const struct model_image *img, const struct judged *j, struct lines *c)
{
	const char *holds = j->product[0] ? j->product : j->id;
	if (img->os_type[0] && j->os_type[0] && strcmp(img->os_type, j->os_type) != 0)
		add(c, "os-type says %s; the image holds %s", img->os_type, holds);
	if (img->platform[0] && j->root && strcmp(img->platform, j->platform) != 0)
		add(c, "platform says %s; the image holds %s", img->platform, holds);
	if (img->version[0] && j->version[0] && !version_agrees(img->version, j->version))
		add(c, "version says %s; the image holds %s", img->version, holds);
	if (img->arch[0] && j->arch[0] && strcmp(img->arch, j->arch) != 0)
		add(c, "arch says %s; the image holds %s programs", img->arch, j->arch);
	if (img->boot_mode[0] && j->boot[0] && !strstr(j->boot, img->boot_mode))
		add(c, "boot-mode says %s; the image boots %s", img->boot_mode, j->boot);
	if (j->root && !j->windows) {
		if (strstr(img->features, "cloud-init") && !j->cloud_init_on)
			add(c, "features says cloud-init; the image holds %s", j->cloud_init ? "cloud-init, not enabled"
			                                                                     : "no cloud-init");
		if (strstr(img->features, "qemu-ga") && !j->qga_on)
			add(c, "features says qemu-ga; the image holds %s", j->qga ? "qemu-guest-agent, not enabled"
			                                                          : "no qemu-guest-agent");
	}
}

/* The attributes to fill: each found value the uploader left empty, kept
 * only if §5.4's rules accept it with the others (one at a time, in the
 * table's order); and the supported-versions warning. */
static void fill(const struct model_image *img, const struct judged *j, struct model_inspection *out,
                 struct lines *warnings)
{
	char os[16], pf[32], ver[32], arch[16], boot[8], feat[64];
	struct model_import_attrs a;
	struct model_err err = {0};
	snprintf(os, sizeof(os), "%s", img->os_type);
	snprintf(pf, sizeof(pf), "%s", img->platform);
	snprintf(ver, sizeof(ver), "%s", img->version);
	snprintf(arch, sizeof(arch), "%s", img->arch);
	snprintf(boot, sizeof(boot), "%s", img->boot_mode);
	snprintf(feat, sizeof(feat), "%s", img->features);
	/* Both firmwares boot it: the attribute takes one word (aarch64: uefi). */
	const char *one = strcmp(j->boot, "bios uefi") == 0 ? (strcmp(j->arch, "aarch64") == 0 ? "uefi" : "bios")
	                                                    : j->boot;
	struct {
		char *have;
		size_t cap;
		const char *found;
		char *give;
		size_t gcap;
	} t[] = {{os, sizeof(os), j->os_type, out->os_type, sizeof(out->os_type)},
	         {pf, sizeof(pf), j->platform, out->platform, sizeof(out->platform)},
	         {ver, sizeof(ver), j->version, out->version, sizeof(out->version)},
	         {arch, sizeof(arch), strcmp(j->arch, "x86_64") == 0 || strcmp(j->arch, "aarch64") == 0 ? j->arch : "",
	          out->arch, sizeof(out->arch)},
	         {boot, sizeof(boot), j->root ? one : "", out->boot_mode, sizeof(out->boot_mode)},
	         {feat, sizeof(feat), j->features, out->features, sizeof(out->features)}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].have[0] || !t[i].found[0])
			continue;
		snprintf(t[i].have, t[i].cap, "%s", t[i].found);
		a = (struct model_import_attrs){os, pf, ver, arch, boot, feat};
		if (model_import_check(&a, NULL) == 0)
			snprintf(t[i].give, t[i].gcap, "%s", t[i].found);
		else
			t[i].have[0] = '\0';
	}
	/* Seed 004's lists (§4.3, §5.4) for what the image holds. */
	if (j->platform[0] && j->version[0]) {
		a = (struct model_import_attrs){j->os_type, j->platform, j->version, t[3].found[0] ? j->arch : NULL,
		                                NULL, NULL};
		if (model_import_check(&a, &err) < 0 && strstr(err.msg, "not importable"))
			add(warnings, "the image holds %s, outside the supported versions: %s", j->product[0] ? j->product
			                                                                                     : j->platform,
			    err.msg);
	}
}

/* ---- rendering ---------------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct pkglist {
	char **p;
	size_t n, cap, bytes;
	bool over; /* the helper told more than its bounds allow: the rest dropped */
};
static int pkg(void *arg, const char *v)
{
	struct pkglist *l = arg;
	char clean[VALUE_MAX * 4 + 1];
	if (l->n >= INSPECT_PACKAGES_MAX || l->bytes + strlen(v) + 1 > INSPECT_PKG_BYTES_MAX) {
		l->over = true;
		return 1;
	}
	l->bytes += strlen(v) + 1;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		char **p = realloc(l->p, cap * sizeof(*p));
		if (!p)
			return 1;
		l->p = p;
		l->cap = cap;
	}
	sanitize(v, clean, sizeof(clean));
	if ((l->p[l->n] = strdup(clean)))
		l->n++;
	return 0;
}

static void text_line(struct fs_buf *t, const char *key, const char *value)
{
	char clean[VALUE_MAX * 4 + 1];
	sanitize(value, clean, sizeof(clean));
	fs_buf_printf(t, "%s: %s\n", key, clean);
}

static void json_field(struct fs_buf *b, const char *key, const char *value, bool *first)
{
	char clean[VALUE_MAX * 4 + 1];
	sanitize(value, clean, sizeof(clean));
	fs_buf_puts(b, *first ? "{" : ", ");
	*first = false;
	fs_buf_json_string(b, key);
	fs_buf_puts(b, ": ");
	fs_buf_json_string(b, clean);
}

static void json_list(struct fs_buf *b, const char *key, const struct lines *l)
{
	fs_buf_puts(b, ", ");
	fs_buf_json_string(b, key);
	fs_buf_puts(b, ": [");
	for (unsigned i = 0; i < l->n; i++) {
		if (i)
			fs_buf_puts(b, ", ");
		fs_buf_json_string(b, l->text[i]);
	}
	fs_buf_puts(b, "]");
}

/* A helper's note ("more than 65536 packages: ..."), named by its volume. */
struct vol_notes {
	struct lines *l;
	const char *name;
};
static int vol_note(void *arg, const char *v)
{
	struct vol_notes *n = arg;
	add(n->l, "%s: %s", n->name, v);
	return 0;
}

struct nul_lines {
	unsigned count, first;
};
static int nul_line(void *arg, const char *v)
{
	struct nul_lines *n = arg;
	if (!n->count++)
		n->first = (unsigned)strtoul(v, NULL, 10);
	return 0;
}

static char *take(struct fs_buf *b)
{
	char *s = b->failed ? NULL : strndup(b->p ? b->p : "", b->len);
	fs_buf_release(b);
	return s;
}

int inspect_judge(const struct inspect_in *in, struct model_inspection *out)
{
	struct judged j;
	struct lines warnings = {0}, contra = {0}, notes = {0}, fstab = {0}, vols = {0}, agents = {0}, unchecked = {0};
	struct pkglist pk = {0};
	struct fs_buf t = {0}, js = {0}, pkgs = {0};
	char when[32], filled[96] = "", note[VALUE_MAX + 1];
	int rc = 0;
	judge(in, &j);
	/* The volumes, and what could not be read. */
	unsigned readable = 0, read = 0;
	for (unsigned i = 0; i < in->nvols; i++) {
		const struct inspect_vol *v = &in->vols[i];
		char lbuf[VALUE_MAX + 1];
		const char *label = label_of(v, lbuf);
		readable += v->read || v->note[0];
		read += v->read;
		add(&vols, "%s %s%s%s%s%s%s%s", v->name, v->ident.type[0] ? v->ident.type : "unknown",
		    v->ident.uuid[0] ? " uuid=" : "", v->ident.uuid, label[0] ? " label=" : "", label, v->note[0] ? " " : "",
		    v->note);
	}
	for (const char *p = in->disk_notes; *p;) {
		const char *nl = strchr(p, '\n');
		snprintf(note, sizeof(note), "%.*s", (int)(nl ? nl - p : (long)strlen(p)), p);
		add(&notes, "%s", note);
		p = nl ? nl + 1 : p + strlen(p);
	}
	/* Failed: no volume read, of those there were or of a damaged disk. */
	bool failed = (readable || in->damaged) && !read;
	if (j.root) {
		struct fstab_walk fw = {in, &warnings, &fstab};
		each(j.root, "fstab", fstab_line, &fw);
		each(j.root, "pkg", pkg, &pk);
		if (!in->snapshot)
			fill(in->img, &j, out, &warnings); /* (a snapshot has no attributes) */
		contradictions(in->img, &j, &contra);
		if (!j.windows && !j.cloud_init_on)
			add(&warnings, "no cloud-init %s: a password written to an instance made from this image is not "
			               "applied (nothing in the guest reads disks/cidata)",
			    j.cloud_init ? "enabled" : "installed");
		if (j.cloud_init)
			add(&agents, "cloud-init installed %s", j.cloud_init_on ? "enabled" : "disabled");
		if (j.qga)
			add(&agents, "qemu-ga installed %s", j.qga_on ? "enabled" : "disabled");
		/* What this version does not look for, said rather than left out. */
		if (j.windows)
			add(&unchecked, "agents: cloudbase-init and QEMU-GA's Windows service are not looked for");
		add(&unchecked, "hot-upgrade: nothing in a guest says it");
	} else if (!failed) {
		add(&notes, "no operating system found (no /etc/os-release, release file or Windows registry)");
	}
	for (unsigned i = 0; i < in->nvols; i++) {
		const struct inspect_vol *v = &in->vols[i];
		struct vol_notes vn = {&notes, v->name};
		if (!v->read)
			continue;
		each(v, "note", vol_note, &vn);
		/* The helper's last line: an answer without it was cut at its
		 * bound (or the helper broke off): said, not left out. */
		if (v->facts_len < 6 || memcmp(v->facts + v->facts_len - 6, "end\t1\n", 6) != 0)
			add(&notes, "%s: what its helper found is more than an inspection holds (%u MiB a volume, %u MiB in all): "
			            "the rest is not shown",
			    v->name, (unsigned)(INSPECT_ANSWER_MAX >> 20), (unsigned)(INSPECT_FACTS_MAX >> 20));
	}
	if (j.root) {
		struct nul_lines nl = {0, 0};
		each(j.root, "fstab-nul", nul_line, &nl);
		if (nl.count)
			add(&notes, "%s: /etc/fstab has %u line%s holding a NUL byte (the first: line %u): mount ignores such a "
			            "line (a parse error), and so does this inspection",
			    j.root->name, nl.count, nl.count == 1 ? "" : "s", nl.first);
		if (pk.over)
			add(&notes, "%s: its helper told more than %u packages or %u MiB of them: the rest are not shown",
			    j.root->name, INSPECT_PACKAGES_MAX, INSPECT_PKG_BYTES_MAX >> 20);
	}
	/* Each list cut at LINES_MAX says so (the notes' own after them). */
	static const char *const names[] = {"warning", "contradiction", "fstab", "volume", "agent", "not-checked", "note"};
	struct lines *cut[] = {&warnings, &contra, &fstab, &vols, &agents, &unchecked, &notes};
	for (size_t k = 0; k < sizeof(cut) / sizeof(cut[0]); k++)
		if (cut[k]->dropped) {
			char line[160];
			snprintf(line, sizeof(line), "%u more %s lines than the %u a list shows: not shown", cut[k]->dropped,
			         names[k], LINES_MAX);
			put_line(&notes, line);
		}
	if (pk.n)
		qsort(pk.p, pk.n, sizeof(*pk.p), by_name);
	filled[0] = '\0';
	snprintf(filled, sizeof(filled), "%s%s%s%s%s%s", out->os_type[0] ? "os-type " : "",
	         out->platform[0] ? "platform " : "", out->version[0] ? "version " : "", out->arch[0] ? "arch " : "",
	         out->boot_mode[0] ? "boot-mode " : "", out->features[0] ? "features " : "");
	if (filled[0])
		filled[strlen(filled) - 1] = '\0';
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&(time_t){(time_t)in->now}));
	out->failed = failed;

	/* inspection */
	text_line(&t, "status", failed ? "failed" : "done");
	text_line(&t, "inspected", when);
	text_line(&t, "os-type", j.os_type);
	text_line(&t, "platform", j.platform);
	text_line(&t, "version", j.version);
	text_line(&t, "product", j.product);
	text_line(&t, "hostname", j.hostname);
	text_line(&t, "arch", j.arch);
	text_line(&t, "boot-mode", j.boot);
	text_line(&t, "features", j.features);
	for (unsigned i = 0; i < agents.n; i++)
		text_line(&t, "agent", agents.text[i]);
	for (unsigned i = 0; i < unchecked.n; i++)
		text_line(&t, "not-checked", unchecked.text[i]);
	if (j.pkgdb[0])
		fs_buf_printf(&t, "packages: %zu %.*s\n", pk.n, (int)strcspn(j.pkgdb, " "), j.pkgdb);
	text_line(&t, "root", j.root ? j.root->name : "");
	for (unsigned i = 0; i < vols.n; i++)
		text_line(&t, "volume", vols.text[i]);
	for (unsigned i = 0; i < fstab.n; i++)
		text_line(&t, "fstab", fstab.text[i]);
	text_line(&t, "filled", filled);
	for (unsigned i = 0; i < notes.n; i++)
		text_line(&t, "note", notes.text[i]);
	for (unsigned i = 0; i < warnings.n; i++)
		text_line(&t, "warning", warnings.text[i]);
	for (unsigned i = 0; i < contra.n; i++)
		text_line(&t, "contradiction", contra.text[i]);

	/* inspection.json: the same, keyed as the text */
	bool first = true;
	json_field(&js, "status", failed ? "failed" : "done", &first);
	json_field(&js, "inspected", when, &first);
	json_field(&js, "os-type", j.os_type, &first);
	json_field(&js, "platform", j.platform, &first);
	json_field(&js, "version", j.version, &first);
	json_field(&js, "product", j.product, &first);
	json_field(&js, "hostname", j.hostname, &first);
	json_field(&js, "arch", j.arch, &first);
	json_field(&js, "boot-mode", j.boot, &first);
	json_field(&js, "features", j.features, &first);
	json_list(&js, "agents", &agents);
	json_list(&js, "not-checked", &unchecked);
	fs_buf_printf(&js, ", \"packages\": %zu", pk.n);
	char db[64];
	snprintf(db, sizeof(db), "%.*s", (int)strcspn(j.pkgdb, " "), j.pkgdb);
	json_field(&js, "package-database", db, &first);
	json_field(&js, "root", j.root ? j.root->name : "", &first);
	json_list(&js, "volumes", &vols);
	json_list(&js, "fstab", &fstab);
	json_field(&js, "filled", filled, &first);
	json_list(&js, "notes", &notes);
	json_list(&js, "warnings", &warnings);
	json_list(&js, "contradictions", &contra);
	fs_buf_puts(&js, "}\n");

	/* packages */
	for (size_t i = 0; i < pk.n; i++)
		fs_buf_printf(&pkgs, "%s\n", pk.p[i]);

	out->text = take(&t);
	out->json = take(&js);
	out->packages = take(&pkgs);
	if (!out->text || !out->json || !out->packages)
		rc = -ENOMEM;
	for (size_t i = 0; i < pk.n; i++)
		free(pk.p[i]);
	free(pk.p);
	struct lines *all[] = {&warnings, &contra, &notes, &fstab, &vols, &agents, &unchecked};
	for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
		lines_free(all[k]);
	return rc;
}
