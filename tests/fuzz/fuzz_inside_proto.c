/*
 * fuzz_inside_proto.c — libFuzzer target for fs/inside/proto.c, the
 * daemon's reading of what a file-system helper answers (SPEC §18): a
 * helper parses a tenant's file system and may have been made to say
 * anything.
 *
 * Input: a page of directory entries as INS_T_LIST's answer carries them
 * (after its u64 next).  Checked: the parser ends (each entry moves the
 * page's offset forward, never past the page), the directory positions it
 * gives increase (issue 47: a page a helper was made to send cannot make
 * a listing loop), and every entry it lets be listed has a name of 1..255
 * bytes without '/' or NUL, not "." or "..", and a stat of a known file
 * type with an inode number and times whose nanoseconds are under a
 * second (seconds any: times are carried as seconds and nanoseconds
 * apart, past 2262 too).  The same bytes read as INS_T_XATTRS's
 * answer: every attribute it lets be shown has a name of 1..255 bytes
 * without NUL in a namespace Linux passes to a file system (user.,
 * trusted., security., the two ACLs) and a value of at most 64 KiB inside
 * the answer.  And the same bytes as a volume's first 4 KiB (ident.c):
 * its type, UUID and label end in a NUL within their fields and hold
 * printable ASCII only.  And the same bytes (after a first u64, a
 * volume's size) as a helper's INS_H_READ and INS_H_READV (ins_reads_check):
 * every read let through is inside the bounds, a READV's pieces inside the
 * volume, the answer's size the sum of the pieces' cut lengths.
 *
 * Built by -DIMGFS_FUZZ=ON with clang and run by scripts/fuzz-parsers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ins_ident.h"
#include "ins_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0, steps = 0;
	uint64_t after = 0;
	for (;;) {
		struct ins_stat st;
		char name[INS_NAME_MAX + 1];
		bool ok = false;
		size_t before = pos;
		uint64_t was = after;
		int rc = ins_list_entry(data, size, &pos, &st, name, &after, &ok);
		must(rc == 0 || rc == 1 || rc < 0);
		if (rc <= 0)
			break;
		must(pos > before && pos <= size);
		must(after > was && after <= INS_POS_MAX);
		must(++steps <= size);
		if (!ok)
			continue;
		size_t len = strlen(name);
		must(len >= 1 && len <= INS_NAME_MAX);
		must(!strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
		must(ins_stat_valid(&st) && st.ino != 0);
		must(st.atime.nsec < 1000000000u && st.mtime.nsec < 1000000000u && st.ctime.nsec < 1000000000u);
		mode_t t = st.mode & S_IFMT;
		must(t == S_IFREG || t == S_IFDIR || t == S_IFLNK || t == S_IFCHR || t == S_IFBLK || t == S_IFIFO ||
		     t == S_IFSOCK);
	}
	for (pos = 0, steps = 0, after = 0;;) { /* the same bytes as a READDIR's page (SPEC §18.7) */
		struct ins_stat st;
		char name[INS_NAME_MAX + 1];
		bool ok = false;
		size_t before = pos;
		uint64_t was = after;
		int rc = ins_names_entry(data, size, &pos, &st, name, &after, &ok);
		if (rc <= 0)
			break;
		must(pos > before && pos <= size && ++steps <= size);
		must(after > was && after <= INS_POS_MAX);
		if (!ok)
			continue;
		size_t len = strlen(name);
		must(len >= 1 && len <= INS_NAME_MAX && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
		mode_t t = st.mode;
		must(st.ino != 0 && (t == 0 || t == S_IFREG || t == S_IFDIR || t == S_IFLNK || t == S_IFCHR || t == S_IFBLK ||
		                     t == S_IFIFO || t == S_IFSOCK));
	}
	for (pos = 0, steps = 0;;) {
		char name[INS_XATTR_NAME_MAX + 1];
		const void *value = NULL;
		size_t vlen = 0, before = pos;
		bool ok = false;
		int rc = ins_xattr_entry(data, size, &pos, name, &value, &vlen, &ok);
		if (rc <= 0)
			break;
		must(pos > before && pos <= size && ++steps <= size);
		if (!ok)
			continue;
		size_t len = strlen(name);
		must(len >= 1 && len <= INS_XATTR_NAME_MAX && vlen <= (rc == 2 ? INS_XATTR_WHY_MAX : INS_XATTR_VALUE_MAX));
		must((const uint8_t *)value >= data && (const uint8_t *)value + vlen <= data + size);
		must(strncmp(name, "user.", 5) == 0 || strncmp(name, "trusted.", 8) == 0 ||
		     strncmp(name, "security.", 9) == 0 || strcmp(name, "system.posix_acl_access") == 0 ||
		     strcmp(name, "system.posix_acl_default") == 0);
	}
	if (size >= 8) { /* the rest as a helper's read of a volume of the first 8 bytes' size */
		uint64_t vol, total = 0;
		char why[160];
		memcpy(&vol, data, 8);
		for (uint32_t type = INS_H_READ; type <= INS_H_READV; type += INS_H_READV - INS_H_READ)
			if (size - 8 <= UINT32_MAX && ins_reads_check(type, data + 8, (uint32_t)(size - 8), vol, &total, why,
			                                             sizeof why) == 0) {
				uint64_t sum = 0;
				struct ins_req_blk r;
				for (size_t i = 0; i < (size - 8) / sizeof(r); i++) {
					memcpy(&r, data + 8 + i * sizeof(r), sizeof(r));
					must(r.len <= INS_MAX_PAYLOAD && ins_read_clip(&r, vol) <= r.len);
					must(type == INS_H_READ || ins_read_clip(&r, vol) == r.len);
					sum += ins_read_clip(&r, vol);
				}
				must(sum == total && total <= INS_MAX_PAYLOAD && (size - 8) / sizeof(r) <= INS_READV_MAX);
			}
	}
	struct ins_ident id;
	ins_ident(data, size > 4096 ? 4096 : size, &id);
	const char *fields[] = {id.type, id.uuid, id.label};
	size_t caps[] = {sizeof(id.type), sizeof(id.uuid), sizeof(id.label)};
	for (size_t f = 0; f < 3; f++) {
		must(memchr(fields[f], '\0', caps[f]) != NULL);
		for (const char *c = fields[f]; *c; c++)
			must(*c >= 0x20 && *c < 0x7f);
	}
	return 0;
}
