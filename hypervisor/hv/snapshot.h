/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-hv's snapshot file: a header page, the machine's state as tagged sections, and guest RAM at a page-
 * aligned offset, zero pages left as holes. A clone maps that RAM copy-on-write (MAP_PRIVATE), so it starts
 * without copying memory and clones of one snapshot share every page none of them wrote. An incremental
 * snapshot (a delta) holds only the RAM pages written since its base, a full snapshot named by the delta's
 * base_id: the same layout, the other pages holes, and a section that says which pages it holds. The file
 * is input when it is read back: every size and offset is checked before it is used. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define SNAPSHOT_MAGIC "VMMHVSN1"
#define SNAPSHOT_VERSION 2u /* 2: the ids, and deltas */
#define SNAPSHOT_HEADER_SIZE 4096u
#define SNAPSHOT_RAM_ALIGN (64u * 1024u) /* any host page size up to 64 KiB */
#define SNAPSHOT_STATE_MAX (16u * 1024u * 1024u)
#define SNAPSHOT_SECTIONS_MAX 4096u

/* What a section holds; index tells instances apart (a vCPU's number, a device's base address). */
typedef enum SnapshotTag {
        SNAPSHOT_TAG_MACHINE = 1, /* vCPUs, RAM base and size, the machine's configuration */
        SNAPSHOT_TAG_VCPU_REGS,   /* (id, value) of every register KVM_GET_REG_LIST names */
        SNAPSHOT_TAG_VCPU_MISC,   /* MP state and pending events */
        SNAPSHOT_TAG_GIC_DIST,    /* (offset, value) of the distributor's registers */
        SNAPSHOT_TAG_GIC_REDIST,  /* per vCPU: (offset, value) */
        SNAPSHOT_TAG_GIC_CPU,     /* per vCPU: (system register, value) */
        SNAPSHOT_TAG_DEVICE,      /* per device, by its MMIO base */
        SNAPSHOT_TAG_RAM_PAGES, /* a delta's only: SnapshotRamPages, then the bitmap of the pages it holds */
        _SNAPSHOT_TAG_MAX,
} SnapshotTag;

/* 128 random bits that name a snapshot; all zero names none. */
typedef struct SnapshotId {
        uint8_t bytes[16];
} SnapshotId;

#define SNAPSHOT_ID_STRING_MAX (2 * sizeof(SnapshotId) + 1)

typedef struct SnapshotHeader {
        char magic[8];
        uint32_t version;
        uint32_t n_sections;
        uint64_t state_offset, state_size; /* the sections, one after the other */
        uint64_t ram_base, ram_size;
        uint64_t ram_offset; /* SNAPSHOT_RAM_ALIGN aligned, after the state */
        SnapshotId id;       /* this snapshot's, never zero */
        SnapshotId base_id;  /* a delta's base (a full snapshot); zero: this is a full snapshot */
} SnapshotHeader;

/* A set of guest RAM pages: bit i of bitmap[i / 64] is the page at i · page_size. */
typedef struct SnapshotPages {
        uint64_t page_size; /* a power of two, from 4 KiB to SNAPSHOT_RAM_ALIGN */
        uint64_t n_pages;   /* ram_size / page_size; no bit past it is set */
        const uint64_t *bitmap;
} SnapshotPages;

/* The SNAPSHOT_TAG_RAM_PAGES section: this, then the bitmap's (n_pages + 63) / 64 words. */
typedef struct SnapshotRamPages {
        uint64_t page_size, n_pages;
} SnapshotRamPages;

typedef struct SnapshotSection {
        uint32_t tag;
        uint32_t reserved;
        uint64_t index;
        uint64_t size; /* of the payload that follows, padded to 8 bytes in the file */
} SnapshotSection;

/* Collects sections in memory; snapshot_write() then writes the file. */
typedef struct SnapshotWriter {
        uint8_t *state;
        size_t state_size, state_allocated;
        unsigned n_sections;
        int error;          /* the first failure; later calls do nothing */
        SnapshotId id;      /* the caller's, for the header */
        SnapshotId base_id; /* for a delta: its base's */
} SnapshotWriter;

void snapshot_writer_done(SnapshotWriter *w);
void snapshot_add(SnapshotWriter *w, SnapshotTag tag, uint64_t index, const void *payload, size_t size);
/* Writes header, state and RAM (zero pages as holes where the file allows them) to fd from offset 0. With
 * pages (base_id set: a delta), only those pages of RAM, and the section that names them. */
int snapshot_write(
        SnapshotWriter *w,
        int fd,
        uint64_t ram_base,
        const void *ram,
        uint64_t ram_size,
        const SnapshotPages *pages);

/* A snapshot read back: its state is in memory, its RAM is at ram_offset in the file. */
typedef struct Snapshot {
        SnapshotHeader header;
        uint8_t *state;
        SnapshotPages pages; /* a delta's, checked (bitmap points into state); a full snapshot's: NULL */
} Snapshot;

void snapshot_done(Snapshot *s);
/* -EBADMSG: not a snapshot, or one whose header or sections do not add up (a delta's pages among them);
 * -EPROTONOSUPPORT: another version. file_size: the file's (RAM must lie inside it). */
int snapshot_read(int fd, Snapshot *ret);
int snapshot_parse(
        const void *header_page, size_t header_size, const void *state, uint64_t file_size, Snapshot *ret);
/* The payload of the section (tag, index), or NULL. */
const void *snapshot_find(const Snapshot *s, SnapshotTag tag, uint64_t index, size_t *ret_size);

static inline bool snapshot_is_delta(const Snapshot *s) {
        return s->pages.bitmap != NULL;
}

bool snapshot_id_is_null(const SnapshotId *id);
bool snapshot_id_equal(const SnapshotId *a, const SnapshotId *b);
/* 32 lowercase hex digits, for messages. */
const char *snapshot_id_to_string(const SnapshotId *id, char buf[static SNAPSHOT_ID_STRING_MAX]);
/* Reads the pages a delta holds from its file (fd) into ram, its base's RAM mapped: ram_size bytes. */
int snapshot_read_pages(int fd, const Snapshot *s, void *ram);
