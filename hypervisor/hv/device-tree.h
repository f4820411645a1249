/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's device tree: the machine's own nodes, then one written by each device on the bus. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "mmio-bus.h"

#define FDT_MAX_SIZE (64u * 1024u)
#define FDT_CPUS_MAX 8u

typedef struct FdtLayout {
        unsigned n_cpus;
        uint64_t ram_base, ram_size;
        uint64_t gic_dist_base, gic_dist_size;
        uint64_t gic_redist_base, gic_redist_size;
        const char *bootargs;
        uint64_t initrd_start, initrd_end; /* 0, 0: none */
        const char *stdout_path;           /* e.g. "/pl011@9000000" */
        uint8_t rng_seed[64];              /* seeds the kernel's RNG before it has any other source */
        uint64_t kaslr_seed;
        const MmioBus *bus;
} FdtLayout;

/* Writes the blob into buf (at most size bytes, packed): -ENOSPC if it does not fit, -EINVAL for a layout
 * that cannot be described. */
int device_tree_build(const FdtLayout *l, void *buf, size_t size);
