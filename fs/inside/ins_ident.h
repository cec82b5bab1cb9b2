/*
 * ins_ident.h — a volume's file-system type, UUID and label as blkid
 * names them (UUID=... and LABEL=... of /etc/fstab), read by the daemon
 * from the 4 KiB at the volume's start that its probe reads anyway
 * (fs/fuse/inside.c): fixed offsets of a superblock or a header, no
 * parsing of anything a tenant could make long or loop (ident.c).
 */
#ifndef IMGFS_INS_IDENT_H
#define IMGFS_INS_IDENT_H

#include <stddef.h>
#include <stdint.h>

struct ins_ident {
	char type[12];  /* ext2, ext3, ext4, xfs, vfat, ntfs, swap, crypto_LUKS, LVM2_member; "" unknown */
	char uuid[40];  /* as blkid prints it; "" none */
	char label[40]; /* printable ASCII only; "" none */
};

/* What head (the volume's first len bytes, at most 4096) says. */
void ins_ident(const uint8_t *head, size_t len, struct ins_ident *out);

#endif
