/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a device needs to write its own node into the device tree. */
#pragma once

#include <stdint.h>

#include "mmio-bus.h"

/* GIC interrupt specifier cells (Documentation/devicetree/bindings/interrupt-controller/arm,gic-v3.yaml). */
#define GIC_FDT_IRQ_TYPE_SPI 0
#define GIC_FDT_IRQ_TYPE_PPI 1
#define IRQ_TYPE_EDGE_RISING 1
#define IRQ_TYPE_LEVEL_HIGH 4
#define IRQ_TYPE_LEVEL_LOW 8

struct FdtContext {
        uint32_t clock_phandle; /* the fixed APB clock the PrimeCell devices name */
};

/* A node "<name>@<base>" with reg = <base size> and one level-high SPI (when spi >= 0); the caller adds
 * the rest of its properties and ends it with fdt_end_node(). */
int fdt_begin_device_node(void *fdt, const char *name, uint64_t base, uint64_t size, int spi);
