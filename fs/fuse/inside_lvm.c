/*
 * inside_lvm.c — LVM2 logical volumes inside an image (SPEC §18): a
 * physical volume's linear logical volumes become volumes of their own,
 * `files/<disk><n>-<vg>-<lv>/`, read through the same helpers and the same
 * verified block reads as a partition.
 *
 * Who calls it: inside.c, when it loads a disk (one thread, the disk not
 * yet in the table: nothing else sees its volumes), for each volume whose
 * first sectors carry LVM2's label.  The metadata is a tenant's text: it
 * is parsed by a helper (fs/inside/lvm.c), under its sandbox, which
 * answers a table of segments; this file checks each line of it (names of
 * LVM's own characters, every run inside the physical volume, runs in
 * order) before a byte is read through it.
 *
 * Numbers: a logical volume takes a partition number no partition of its
 * disk has, from 31 down, in the metadata's order — what its inode
 * numbers carry (SPEC §18: 5 bits), the same for the same bytes after a
 * remount.  One without a free number is not shown (README says so).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inside_int.h"

#define LV_NAME_MAX 63

/* LVM's names: letters, digits and "+_.-", not starting with '-'. */
static bool lvm_name(const char *s, size_t max)
{
	size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_.-");
	return n && n <= max && s[n] == '\0' && s[0] != '-';
}

static bool number_used(const struct ins_disk *d, unsigned number)
{
	for (unsigned i = 0; i < d->nvols; i++)
		if (d->vols[i].number == number)
			return true;
	return false;
}

/* Appends to the physical volume's README line; what does not fit is
 * counted, and the line ends saying how many (no silent cut). */
static void note_add(struct ins_vol *pv, unsigned long long *cut, unsigned long long volumes, const char *fmt,
                     const char *a, const char *b, const char *c)
{
	size_t n = strlen(pv->note);
	int w = snprintf(pv->note + n, sizeof(pv->note) - n, fmt, a, b, c);
	if (w < 0 || (size_t)w >= sizeof(pv->note) - n - 40) {
		pv->note[n] = '\0'; /* (room kept for the count) */
		*cut += volumes;
	}
}

/* A reason of the helper's, for README: printable ASCII, at most 80. */
static void reason(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	for (; *in == ' '; in++)
		;
	for (; *in && n + 1 < cap && n < 80; in++)
		out[n++] = *in >= 0x20 && *in < 0x7f ? *in : '?';
	out[n] = '\0';
}

/* The table's lines into logical volumes of d; pv: the physical volume. */
static void take_table(struct ins_disk *d, struct ins_vol *pv, char *table, void (*probe)(struct ins_disk *, struct ins_vol *))
{
	char vg[LV_NAME_MAX + 1] = "";
	unsigned long long extent = 0, pe_start = 0;
	unsigned next_number = PT_MAX_NUMBER;
	struct ins_vol *cur = NULL;
	unsigned long long cut = 0; /* volumes not named: no room on the line */
	snprintf(pv->note, sizeof(pv->note), "an LVM2 physical volume");
	/* (the next line found first: a 'continue' below goes on to it — it
	 * went round the same line for good, the disk's load holding its
	 * lock, when a volume had no free number or a run out of bounds) */
	for (char *line = table, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		char name[LV_NAME_MAX + 2];
		unsigned long long a, b, c;
		if ((nl = strchr(line, '\n')))
			*nl = '\0';
		if (sscanf(line, "vg\t%64s %llu %llu", name, &a, &b) == 3 && !vg[0] && lvm_name(name, LV_NAME_MAX) &&
		    a && a <= (1ull << 32) && b < pv->size / 512) {
			snprintf(vg, sizeof(vg), "%.63s", name);
			extent = a * 512, pe_start = b * 512;
			note_add(pv, &cut, 0, " of volume group %s%s%s", vg, "", "");
		} else if (vg[0] && sscanf(line, "seg\t%64s %llu %llu %llu", name, &a, &b, &c) == 4 &&
		           lvm_name(name, LV_NAME_MAX)) {
			char full[sizeof(cur->lvname)];
			snprintf(full, sizeof(full), "%s-%s", vg, name);
			if (!cur || strcmp(cur->lvname, full) != 0) {
				/* A new volume: its first segment starts at extent 0. */
				while (next_number && number_used(d, next_number))
					next_number--;
				if (a != 0 || !next_number || d->nvols >= PT_MAX_PARTS) {
					if (a == 0)
						note_add(pv, &cut, 1, "; %s not shown (%s%s)", full, "no partition number is free", "");
					cur = NULL;
					continue;
				}
				cur = &d->vols[d->nvols];
				memset(cur, 0, sizeof(*cur));
				pthread_mutex_init(&cur->lock, NULL);
				pthread_mutex_init(&cur->sc_lock, NULL);
				cur->fd = -1;
				cur->err_fd = -1; /* its helper's stderr, once started */
				cur->ctx = pv->ctx;
				cur->number = next_number;
				cur->pv_number = pv->number;
				snprintf(cur->lvname, sizeof(cur->lvname), "%s", full);
				d->nvols++;
			}
			/* Runs in order, inside the physical volume, no overflow. */
			uint64_t off = pe_start + c * extent, len = b * extent;
			if (!b || c > pv->size / extent || b > pv->size / extent || off > pv->size || len > pv->size - off ||
			    a != cur->size / extent || cur->nsegs >= INS_LV_SEGS) {
				cur->nsegs = 0; /* malformed: the volume is not shown */
				cur->size = 0;
				cur = NULL;
				continue;
			}
			cur->segs[cur->nsegs++] = (struct ins_seg){cur->size, len, pv->start + off};
			cur->size += len;
		} else if (vg[0] && sscanf(line, "skip\t%64s", name) == 1 && lvm_name(name, LV_NAME_MAX)) {
			/* (its segments before the one that is not linear: dropped) */
			char full[sizeof(cur->lvname)], why[96];
			snprintf(full, sizeof(full), "%s-%s", vg, name);
			for (unsigned i = 0; i < d->nvols; i++)
				if (d->vols[i].pv_number == pv->number && strcmp(d->vols[i].lvname, full) == 0)
					d->vols[i].nsegs = 0, d->vols[i].size = 0;
			if (cur && strcmp(cur->lvname, full) == 0)
				cur = NULL;
			reason(line + 5 + strlen(name), why, sizeof(why));
			note_add(pv, &cut, 1, "; %s-%s not shown (%s)", vg, name, why[0] ? why : "its metadata says so");
		} else if (vg[0] && sscanf(line, "more\t%llu", &a) == 1 && a) {
			char n[24];
			snprintf(n, sizeof(n), "%llu", a);
			note_add(pv, &cut, a, "; %s more logical volumes not shown (past %s%s)", n, "64 in the metadata", "");
		}
	}
	if (cut) {
		size_t n = strlen(pv->note);
		snprintf(pv->note + n, sizeof(pv->note) - n, "; and %llu more not shown (no room on this line)", cut);
	}
	/* Each volume that took its place: what it holds, by its first bytes. */
	for (unsigned i = 0; i < d->nvols; i++) {
		struct ins_vol *v = &d->vols[i];
		if (v->lvname[0] && v->pv_number == pv->number) {
			if (v->nsegs == 0 || v->size == 0) {
				v->fs = VOL_OTHER;
				snprintf(v->note, sizeof(v->note), "its segments in the metadata are out of bounds");
			} else {
				probe(d, v);
			}
		}
	}
}

void ins_lvm_expand(struct ins_disk *d, struct ins_vol *pv, void (*probe)(struct ins_disk *, struct ins_vol *))
{
	char why[256] = "";
	struct ins_req_open open = {pv->size, INS_FS_LVM, 0};
	void *a = NULL;
	size_t al = 0;
	IMGFS_LOCK(&pv->lock, ins_vol_lock); /* a conversation (inside_int.h) */
	int rc = ins_helper_start(pv, why, sizeof(why));
	if (rc == 0)
		rc = ins_converse(d, pv, INS_T_OPEN, &open, sizeof(open), &a, &al, why, sizeof(why));
	free(a);
	a = NULL;
	if (rc == 0)
		rc = ins_converse(d, pv, INS_T_LVM, NULL, 0, &a, &al, why, sizeof(why));
	ins_helper_end(pv, NULL, 0);
	IMGFS_UNLOCK(&pv->lock, ins_vol_lock);
	if (rc < 0) {
		snprintf(pv->note, sizeof(pv->note), "an LVM2 physical volume whose metadata is not read: %.100s", why);
		free(a);
		return;
	}
	char *table = realloc(a, al + 1);
	if (!table) {
		free(a);
		return;
	}
	table[al] = '\0';
	take_table(d, pv, table, probe);
	free(table);
}
