/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The MMIO bus: a table of guest physical ranges, each owned by one device. The vCPU run loop hands every
 * MMIO exit here and knows no device by name; a device sees an offset into its range, never an address. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MMIO_BUS_MAX 64

typedef struct FdtContext FdtContext;

typedef struct MmioOps {
        /* One access of len 1, 2, 4 or 8 bytes, little-endian in data. A read fills data. A register that
         * does not exist reads as zero and ignores writes (what real hardware does); < 0 only when the
         * device cannot go on (the guest then gets an external abort). */
        int (*access)(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write);
        /* Writes the device's node into the device tree (libfdt, sequential write mode). */
        int (*fdt_node)(void *dev, void *fdt, const FdtContext *ctx);
        /* The device's state for a snapshot (a new buffer), while no vCPU runs; and back into a device that
         * was set up the same way but never ran: -EBADMSG for state that is not the device's own. */
        int (*save)(void *dev, void **ret, size_t *ret_size);
        int (*load)(void *dev, const void *state, size_t size);
} MmioOps;

typedef struct MmioRegion {
        const char *name;
        uint64_t base, size;
        const MmioOps *ops;
        void *dev;
} MmioRegion;

typedef struct MmioBus {
        MmioRegion regions[MMIO_BUS_MAX]; /* sorted by base, never overlapping */
        unsigned n_regions;
} MmioBus;

/* -EEXIST if the range overlaps one already there, -EINVAL for an empty or wrapping range, -E2BIG when the
 * table is full. Registration happens before the vCPUs run; the table is read-only afterwards. */
int mmio_bus_register(
        MmioBus *bus, const char *name, uint64_t base, uint64_t size, const MmioOps *ops, void *dev);
const MmioRegion *mmio_bus_find(const MmioBus *bus, uint64_t addr, unsigned len);
/* -ENXIO if no device owns all of [addr, addr + len), -EINVAL for a length other than 1, 2, 4, 8. */
int mmio_bus_access(const MmioBus *bus, uint64_t addr, uint8_t *data, unsigned len, bool is_write);

/* Little-endian register values in an access's data. */
uint64_t mmio_data_get(const uint8_t *data, unsigned len);
void mmio_data_set(uint8_t *data, unsigned len, uint64_t v);
