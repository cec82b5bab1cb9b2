/*
 * format_test.h — crafted disk files for the upload tests: the first bytes
 * of a QCOW2 file (version 2 header), an ISO 9660 image (primary volume
 * descriptor at 32768), a raw disk with an MBR or a GPT.
 *
 * Included by tests/unit/blobstore/format/test_format.c and
 * tests/unit/model/test_upload.c (header-only, static inline).  The
 * buffers are built byte by byte from the formats' specifications, not by
 * the code under test.
 */
#ifndef IMGFS_FORMAT_TEST_H
#define IMGFS_FORMAT_TEST_H

#include <stdint.h>
#include <string.h>

#define FT_KiB 1024u
#define FT_QCOW2_CLUSTER_BITS 16
#define FT_QCOW2_L1_OFFSET (3u * 65536u) /* cluster aligned */
#define FT_QCOW2_FILE_SIZE (4u * 65536u) /* holds the L1 table */
#define FT_ISO_BLOCKS 40u                /* 80 KiB of 2048-byte blocks */

static inline void ft_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void ft_be64(uint8_t *p, uint64_t v)
{
	ft_be32(p, (uint32_t)(v >> 32));
	ft_be32(p + 4, (uint32_t)v);
}

/* A QCOW2 version 2 header of a disk of vsize bytes (at most 512 MiB: one
 * L1 entry) into buf (>= 72 bytes zeroed by the caller): no backing file,
 * no encryption, cluster 64 KiB, L1 at FT_QCOW2_L1_OFFSET. */
static inline void ft_qcow2(uint8_t *buf, uint64_t vsize)
{
	memcpy(buf, "QFI\xfb", 4);
	ft_be32(buf + 4, 2);                       /* version */
	ft_be32(buf + 20, FT_QCOW2_CLUSTER_BITS);  /* cluster_bits */
	ft_be64(buf + 24, vsize);                  /* size */
	ft_be32(buf + 36, 1);                      /* l1_size */
	ft_be64(buf + 40, FT_QCOW2_L1_OFFSET);     /* l1_table_offset */
	ft_be64(buf + 48, 65536);                  /* refcount_table_offset */
	ft_be32(buf + 56, 1);                      /* refcount_table_clusters */
}

/* An MBR boot signature (0x55 0xAA at 510). */
static inline void ft_mbr(uint8_t *buf)
{
	buf[0] = 0xeb; /* a jump, as boot code starts */
	buf[510] = 0x55;
	buf[511] = 0xaa;
}

/* A GPT header at LBA 1 without a protective MBR signature. */
static inline void ft_gpt(uint8_t *buf)
{
	memcpy(buf + 512, "EFI PART", 8);
}

static inline void ft_both32_le_be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
	ft_be32(p + 4, v);
}

/* An ISO 9660 image's primary volume descriptor at 32768 (buf >= 34816
 * bytes, zeroed): blocks of 2048 bytes, volume of `blocks` blocks. */
static inline void ft_iso(uint8_t *buf, uint32_t blocks)
{
	uint8_t *d = buf + 32768;
	d[0] = 1; /* primary */
	memcpy(d + 1, "CD001", 5);
	d[6] = 1;
	memcpy(d + 40, "TESTVOL", 7);
	ft_both32_le_be(d + 80, blocks);
	d[128] = 0x00; /* 2048, both-endian 16 bits */
	d[129] = 0x08;
	d[130] = 0x08;
	d[131] = 0x00;
}

#endif
