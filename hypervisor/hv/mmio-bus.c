/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The MMIO bus of vmm-hv. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "mmio-bus.h"

int mmio_bus_register(
        MmioBus *bus, const char *name, uint64_t base, uint64_t size, const MmioOps *ops, void *dev) {
        unsigned i;

        assert(bus);
        assert(ops && ops->access);
        if (size == 0 || base + size < base)
                return -EINVAL;
        if (bus->n_regions >= MMIO_BUS_MAX)
                return -E2BIG;
        for (i = 0; i < bus->n_regions && bus->regions[i].base < base; i++)
                ;
        if (i > 0 && bus->regions[i - 1].base + bus->regions[i - 1].size > base)
                return -EEXIST;
        if (i < bus->n_regions && base + size > bus->regions[i].base)
                return -EEXIST;
        memmove(bus->regions + i + 1, bus->regions + i, (bus->n_regions - i) * sizeof(MmioRegion));
        bus->regions[i] = (MmioRegion){ .name = name, .base = base, .size = size, .ops = ops, .dev = dev };
        bus->n_regions++;
        return 0;
}

const MmioRegion *mmio_bus_find(const MmioBus *bus, uint64_t addr, unsigned len) {
        unsigned lo = 0, hi = bus->n_regions;

        while (lo < hi) {
                unsigned mid = (lo + hi) / 2;
                const MmioRegion *r = bus->regions + mid;

                if (addr < r->base)
                        hi = mid;
                else if (addr - r->base >= r->size)
                        lo = mid + 1;
                else
                        return len <= r->size - (addr - r->base) ? r : NULL;
        }
        return NULL;
}

int mmio_bus_access(const MmioBus *bus, uint64_t addr, uint8_t *data, unsigned len, bool is_write) {
        const MmioRegion *r;

        if (len != 1 && len != 2 && len != 4 && len != 8)
                return -EINVAL;
        r = mmio_bus_find(bus, addr, len);
        if (!r)
                return -ENXIO;
        if (!is_write)
                memset(data, 0, len);
        return r->ops->access(r->dev, addr - r->base, data, len, is_write);
}

uint64_t mmio_data_get(const uint8_t *data, unsigned len) {
        uint64_t v = 0;

        for (unsigned i = 0; i < len && i < 8; i++)
                v |= (uint64_t) data[i] << (8 * i);
        return v;
}

void mmio_data_set(uint8_t *data, unsigned len, uint64_t v) {
        for (unsigned i = 0; i < len && i < 8; i++)
                data[i] = (uint8_t) (v >> (8 * i));
}
