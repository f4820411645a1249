/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The internal snapshots of a qcow2 file, read straight from its snapshot table: the file is the one truth
 * about which snapshots exist (a crash between QEMU writing one and vmmd noting it cannot disagree with
 * it), and reading the table costs two preads, no qemu-img. */
#pragma once

#include <stdint.h>
#include <stdlib.h>

typedef struct Qcow2Snapshot {
        char *name;             /* as stored: any bytes but NUL */
        uint64_t created_usec;  /* CLOCK_REALTIME */
        uint64_t vm_state_size; /* bytes of saved RAM and device state; 0: a disk-only snapshot */
} Qcow2Snapshot;

void qcow2_snapshots_free(Qcow2Snapshot *s, size_t n);

/* Reads the snapshot table of the qcow2 file open at fd, in table order. -EBADMSG: not a qcow2 file, or
 * its header or table is damaged (offsets out of the file, sizes beyond QEMU's own limits). */
int qcow2_read_snapshots(int fd, Qcow2Snapshot **ret, size_t *ret_n);
int qcow2_read_snapshots_at(const char *path, Qcow2Snapshot **ret, size_t *ret_n);

/* The entry named name, or NULL. */
const Qcow2Snapshot *qcow2_snapshot_find(const Qcow2Snapshot *s, size_t n, const char *name);
