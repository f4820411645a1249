/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's device tree, built with libfdt in sequential-write mode, shaped like QEMU virt's so that the
 * same kernel boots on either. */
#include <assert.h>
#include <errno.h>
#include <libfdt.h>
#include <stdio.h>

#include "device-tree.h"
#include "fdt-util.h"
#include "util.h"

#define PHANDLE_GIC 1
#define PHANDLE_CLOCK 2

/* The arch timer's PPIs (Documentation/devicetree/bindings/timer/arm,arch_timer.yaml): secure and
 * non-secure physical, virtual, hypervisor. */
static const uint32_t timer_ppis[] = { 13, 14, 11, 10 };
/* The GIC's maintenance interrupt, PPI 9. */
#define GIC_MAINTENANCE_PPI 9

static int prop_u32(void *fdt, const char *name, uint32_t v) {
        return fdt_property_u32(fdt, name, v);
}

static int prop_reg(void *fdt, uint64_t base, uint64_t size) {
        fdt64_t reg[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };

        return fdt_property(fdt, "reg", reg, sizeof(reg));
}

static int prop_irq(void *fdt, uint32_t type, uint32_t number, uint32_t flags) {
        fdt32_t cells[3] = { cpu_to_fdt32(type), cpu_to_fdt32(number), cpu_to_fdt32(flags) };

        return fdt_property(fdt, "interrupts", cells, sizeof(cells));
}

int fdt_begin_device_node(void *fdt, const char *name, uint64_t base, uint64_t size, int spi) {
        char node[64];
        int r;

        (void) snprintf(node, sizeof(node), "%s@%" PRIx64, name, base);
        r = fdt_begin_node(fdt, node);
        if (r >= 0)
                r = prop_reg(fdt, base, size);
        if (r >= 0 && spi >= 0)
                r = prop_irq(fdt, GIC_FDT_IRQ_TYPE_SPI, (uint32_t) spi, IRQ_TYPE_LEVEL_HIGH);
        return r < 0 ? -ENOSPC : 0;
}

static int add_cpus(void *fdt, const FdtLayout *l) {
        int r;

        r = fdt_begin_node(fdt, "cpus");
        if (r >= 0)
                r = prop_u32(fdt, "#address-cells", 1);
        if (r >= 0)
                r = prop_u32(fdt, "#size-cells", 0);
        for (unsigned i = 0; r >= 0 && i < l->n_cpus; i++) {
                char node[16];

                (void) snprintf(node, sizeof(node), "cpu@%u", i);
                r = fdt_begin_node(fdt, node);
                if (r >= 0)
                        r = fdt_property_string(fdt, "device_type", "cpu");
                if (r >= 0)
                        r = fdt_property_string(fdt, "compatible", "arm,arm-v8");
                if (r >= 0)
                        r = fdt_property_string(fdt, "enable-method", "psci");
                /* KVM gives vCPU i the MPIDR affinity i (Aff0) for i < 16. */
                if (r >= 0)
                        r = prop_u32(fdt, "reg", i);
                if (r >= 0)
                        r = fdt_end_node(fdt);
        }
        if (r >= 0)
                r = fdt_end_node(fdt);
        return r;
}

static int add_psci(void *fdt) {
        static const char compatible[] = "arm,psci-1.0\0arm,psci-0.2\0arm,psci";
        int r;

        r = fdt_begin_node(fdt, "psci");
        if (r >= 0)
                r = fdt_property(fdt, "compatible", compatible, sizeof(compatible));
        if (r >= 0)
                r = fdt_property_string(fdt, "method", "hvc");
        if (r >= 0)
                r = fdt_end_node(fdt);
        return r;
}

static int add_timer(void *fdt) {
        fdt32_t cells[3 * ELEMENTSOF(timer_ppis)];
        int r;

        for (size_t i = 0; i < ELEMENTSOF(timer_ppis); i++) {
                cells[3 * i] = cpu_to_fdt32(GIC_FDT_IRQ_TYPE_PPI);
                cells[3 * i + 1] = cpu_to_fdt32(timer_ppis[i]);
                cells[3 * i + 2] = cpu_to_fdt32(IRQ_TYPE_LEVEL_HIGH);
        }
        r = fdt_begin_node(fdt, "timer");
        if (r >= 0)
                r = fdt_property_string(fdt, "compatible", "arm,armv8-timer");
        if (r >= 0)
                r = fdt_property(fdt, "interrupts", cells, sizeof(cells));
        if (r >= 0)
                r = fdt_property(fdt, "always-on", NULL, 0);
        if (r >= 0)
                r = fdt_end_node(fdt);
        return r;
}

static int add_gic(void *fdt, const FdtLayout *l) {
        fdt64_t reg[4] = { cpu_to_fdt64(l->gic_dist_base),
                           cpu_to_fdt64(l->gic_dist_size),
                           cpu_to_fdt64(l->gic_redist_base),
                           cpu_to_fdt64(l->gic_redist_size) };
        char node[32];
        int r;

        (void) snprintf(node, sizeof(node), "intc@%" PRIx64, l->gic_dist_base);
        r = fdt_begin_node(fdt, node);
        if (r >= 0)
                r = fdt_property_string(fdt, "compatible", "arm,gic-v3");
        if (r >= 0)
                r = prop_u32(fdt, "#interrupt-cells", 3);
        if (r >= 0)
                r = fdt_property(fdt, "interrupt-controller", NULL, 0);
        if (r >= 0)
                r = prop_u32(fdt, "#redistributor-regions", 1);
        if (r >= 0)
                r = fdt_property(fdt, "reg", reg, sizeof(reg));
        if (r >= 0)
                r = prop_irq(fdt, GIC_FDT_IRQ_TYPE_PPI, GIC_MAINTENANCE_PPI, IRQ_TYPE_LEVEL_HIGH);
        if (r >= 0)
                r = prop_u32(fdt, "phandle", PHANDLE_GIC);
        if (r >= 0)
                r = fdt_end_node(fdt);
        return r;
}

static int add_clock(void *fdt) {
        int r;

        r = fdt_begin_node(fdt, "apb-pclk");
        if (r >= 0)
                r = fdt_property_string(fdt, "compatible", "fixed-clock");
        if (r >= 0)
                r = prop_u32(fdt, "#clock-cells", 0);
        if (r >= 0)
                r = prop_u32(fdt, "clock-frequency", 24000000);
        if (r >= 0)
                r = fdt_property_string(fdt, "clock-output-names", "clk24mhz");
        if (r >= 0)
                r = prop_u32(fdt, "phandle", PHANDLE_CLOCK);
        if (r >= 0)
                r = fdt_end_node(fdt);
        return r;
}

static int add_memory(void *fdt, const FdtLayout *l) {
        char node[32];
        int r;

        (void) snprintf(node, sizeof(node), "memory@%" PRIx64, l->ram_base);
        r = fdt_begin_node(fdt, node);
        if (r >= 0)
                r = fdt_property_string(fdt, "device_type", "memory");
        if (r >= 0)
                r = prop_reg(fdt, l->ram_base, l->ram_size);
        if (r >= 0)
                r = fdt_end_node(fdt);
        return r;
}

static int add_chosen(void *fdt, const FdtLayout *l) {
        int r;

        r = fdt_begin_node(fdt, "chosen");
        if (r >= 0 && l->bootargs)
                r = fdt_property_string(fdt, "bootargs", l->bootargs);
        if (r >= 0 && l->stdout_path)
                r = fdt_property_string(fdt, "stdout-path", l->stdout_path);
        if (r >= 0 && l->initrd_end > l->initrd_start) {
                r = fdt_property_u64(fdt, "linux,initrd-start", l->initrd_start);
                if (r >= 0)
                        r = fdt_property_u64(fdt, "linux,initrd-end", l->initrd_end);
        }
        if (r >= 0)
                r = fdt_property(fdt, "rng-seed", l->rng_seed, sizeof(l->rng_seed));
        if (r >= 0)
                r = fdt_property_u64(fdt, "kaslr-seed", l->kaslr_seed);
        if (r >= 0)
                r = fdt_end_node(fdt);
        return r;
}

int device_tree_build(const FdtLayout *l, void *buf, size_t size) {
        const FdtContext ctx = { .clock_phandle = PHANDLE_CLOCK };
        int r;

        assert(l);
        assert(buf);

        if (l->n_cpus == 0 || l->n_cpus > FDT_CPUS_MAX || l->ram_size == 0 || size > INT_MAX)
                return -EINVAL;
        r = fdt_create(buf, (int) size);
        if (r >= 0)
                r = fdt_finish_reservemap(buf);
        if (r >= 0)
                r = fdt_begin_node(buf, "");
        if (r >= 0)
                r = prop_u32(buf, "#address-cells", 2);
        if (r >= 0)
                r = prop_u32(buf, "#size-cells", 2);
        if (r >= 0)
                r = fdt_property_string(buf, "compatible", "linux,dummy-virt");
        if (r >= 0)
                r = fdt_property_string(buf, "model", "vmm-hv");
        if (r >= 0)
                r = prop_u32(buf, "interrupt-parent", PHANDLE_GIC);
        if (r >= 0)
                r = add_chosen(buf, l);
        if (r >= 0)
                r = add_memory(buf, l);
        if (r >= 0)
                r = add_cpus(buf, l);
        if (r >= 0)
                r = add_psci(buf);
        if (r >= 0)
                r = add_timer(buf);
        if (r >= 0)
                r = add_gic(buf, l);
        if (r >= 0)
                r = add_clock(buf);
        if (r < 0)
                return -ENOSPC;
        for (unsigned i = 0; l->bus && i < l->bus->n_regions; i++) {
                const MmioRegion *region = l->bus->regions + i;

                if (!region->ops->fdt_node)
                        continue;
                r = region->ops->fdt_node(region->dev, buf, &ctx);
                if (r < 0)
                        return r;
        }
        r = fdt_end_node(buf);
        if (r >= 0)
                r = fdt_finish(buf);
        if (r >= 0)
                r = fdt_pack(buf);
        return r < 0 ? -ENOSPC : 0;
}
