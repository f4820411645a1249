/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's device tree: the machine's nodes and the devices' own, read back with libfdt. */
#include <assert.h>
#include <libfdt.h>

#include "device-tree.h"
#include "pl011.h"
#include "util.h"
#include "virtio-mmio.h"

static const void *prop(const void *fdt, const char *path, const char *name, int *ret_len) {
        int node = fdt_path_offset(fdt, path), len;
        const void *p;

        assert(node >= 0);
        p = fdt_getprop(fdt, node, name, &len);
        assert(p);
        if (ret_len)
                *ret_len = len;
        return p;
}

static uint32_t cell(const void *p, int i) {
        return fdt32_to_cpu(((const fdt32_t *) p)[i]);
}

/* Properties are only 4-byte aligned in the blob. */
static uint64_t cell64(const void *p, int i) {
        fdt64_t v;

        memcpy(&v, (const uint8_t *) p + 8 * i, sizeof(v));
        return fdt64_to_cpu(v);
}

static void check_reg(const void *fdt, const char *path, uint64_t base, uint64_t size) {
        int len;
        const void *reg = prop(fdt, path, "reg", &len);

        assert(len == 16);
        assert(cell64(reg, 0) == base && cell64(reg, 1) == size);
}

static void check_spi(const void *fdt, const char *path, uint32_t spi) {
        int len;
        const void *irq = prop(fdt, path, "interrupts", &len);

        assert(len == 12);
        assert(cell(irq, 0) == 0 && cell(irq, 1) == spi && cell(irq, 2) == 4); /* SPI, level-high */
}

static const VirtioDeviceOps fake_ops = { .name = "fake", .device_id = 42, .n_queues = 1, .queue_size_max = 8 };

static void test_build(void) {
        GuestMemory mem = { .base = 0x40000000, .size = 1 << 20 };
        static uint8_t fdt[FDT_MAX_SIZE];
        MmioBus bus = {};
        Pl011 uart;
        VirtioMmio v0, v1;
        FdtLayout l = {
                .n_cpus = 3,
                .ram_base = 0x40000000,
                .ram_size = 256ull << 20,
                .gic_dist_base = 0x08000000,
                .gic_dist_size = 0x10000,
                .gic_redist_base = 0x080a0000,
                .gic_redist_size = 3 * 0x20000,
                .bootargs = "console=ttyAMA0 quiet",
                .initrd_start = 0x4e000000,
                .initrd_end = 0x4e123456,
                .stdout_path = "/pl011@9000000",
                .kaslr_seed = 0x1122334455667788,
                .bus = &bus,
        };
        int len, node, n;

        for (size_t i = 0; i < sizeof(l.rng_seed); i++)
                l.rng_seed[i] = (uint8_t) i;
        assert(pl011_init(&uart, (IrqLine){ .spi = 1 }, NULL, NULL) == 0);
        assert(pl011_register(&uart, &bus, 0x09000000) == 0);
        assert(virtio_mmio_init(&v0, &fake_ops, NULL, &mem, (IrqLine){ .spi = 16 }) == 0);
        assert(virtio_mmio_init(&v1, &fake_ops, NULL, &mem, (IrqLine){ .spi = 17 }) == 0);
        /* Registered out of order: the tree lists them by address, as the bus does. */
        assert(virtio_mmio_register(&v1, &bus, 0x0a000200) == 0);
        assert(virtio_mmio_register(&v0, &bus, 0x0a000000) == 0);

        assert(device_tree_build(&l, fdt, sizeof(fdt)) == 0);
        assert(fdt_check_header(fdt) == 0);
        assert(fdt_totalsize(fdt) < 4096); /* packed */

        assert(cell(prop(fdt, "/", "#address-cells", NULL), 0) == 2);
        assert(cell(prop(fdt, "/", "#size-cells", NULL), 0) == 2);
        uint32_t gic_phandle = cell(prop(fdt, "/", "interrupt-parent", NULL), 0);

        assert(streq(prop(fdt, "/chosen", "bootargs", NULL), "console=ttyAMA0 quiet"));
        assert(streq(prop(fdt, "/chosen", "stdout-path", NULL), "/pl011@9000000"));
        assert(cell64(prop(fdt, "/chosen", "linux,initrd-start", NULL), 0) == 0x4e000000);
        assert(cell64(prop(fdt, "/chosen", "linux,initrd-end", NULL), 0) == 0x4e123456);
        assert(cell64(prop(fdt, "/chosen", "kaslr-seed", NULL), 0) == 0x1122334455667788);
        const uint8_t *seed = prop(fdt, "/chosen", "rng-seed", &len);
        assert(len == 64 && seed[0] == 0 && seed[63] == 63);

        assert(streq(prop(fdt, "/memory@40000000", "device_type", NULL), "memory"));
        check_reg(fdt, "/memory@40000000", 0x40000000, 256ull << 20);

        n = 0;
        fdt_for_each_subnode(node, fdt, fdt_path_offset(fdt, "/cpus")) {
                const fdt32_t *reg = fdt_getprop(fdt, node, "reg", &len);

                assert(reg && len == 4 && fdt32_to_cpu(*reg) == (uint32_t) n);
                assert(streq(fdt_getprop(fdt, node, "enable-method", NULL), "psci"));
                n++;
        }
        assert(n == 3);
        assert(streq(prop(fdt, "/psci", "method", NULL), "hvc"));
        assert(fdt_node_check_compatible(fdt, fdt_path_offset(fdt, "/psci"), "arm,psci-0.2") == 0);

        const void *timer = prop(fdt, "/timer", "interrupts", &len);
        assert(len == 4 * 12);
        assert(cell(timer, 1) == 13 && cell(timer, 4) == 14 && cell(timer, 7) == 11 && cell(timer, 10) == 10);
        assert(cell(timer, 0) == 1); /* PPIs */

        node = fdt_path_offset(fdt, "/intc@8000000");
        assert(node >= 0);
        assert(fdt_get_phandle(fdt, node) == gic_phandle);
        assert(fdt_node_check_compatible(fdt, node, "arm,gic-v3") == 0);
        const void *gic_reg = prop(fdt, "/intc@8000000", "reg", &len);
        assert(len == 32);
        assert(cell64(gic_reg, 0) == 0x08000000 && cell64(gic_reg, 1) == 0x10000);
        assert(cell64(gic_reg, 2) == 0x080a0000 && cell64(gic_reg, 3) == 3 * 0x20000);

        check_reg(fdt, "/pl011@9000000", 0x09000000, 0x1000);
        check_spi(fdt, "/pl011@9000000", 1);
        node = fdt_path_offset(fdt, "/pl011@9000000");
        assert(fdt_node_check_compatible(fdt, node, "arm,pl011") == 0);
        const void *clocks = prop(fdt, "/pl011@9000000", "clocks", &len);
        assert(len == 8);
        assert(fdt_node_offset_by_phandle(fdt, cell(clocks, 0)) == fdt_path_offset(fdt, "/apb-pclk"));

        check_reg(fdt, "/virtio_mmio@a000000", 0x0a000000, 0x200);
        check_spi(fdt, "/virtio_mmio@a000000", 16);
        check_reg(fdt, "/virtio_mmio@a000200", 0x0a000200, 0x200);
        check_spi(fdt, "/virtio_mmio@a000200", 17);
        assert(fdt_node_check_compatible(fdt, fdt_path_offset(fdt, "/virtio_mmio@a000200"), "virtio,mmio") ==
               0);

        /* Too small a buffer, and layouts that cannot be described. */
        assert(device_tree_build(&l, fdt, 512) == -ENOSPC);
        l.n_cpus = 0;
        assert(device_tree_build(&l, fdt, sizeof(fdt)) == -EINVAL);
        l.n_cpus = FDT_CPUS_MAX + 1;
        assert(device_tree_build(&l, fdt, sizeof(fdt)) == -EINVAL);

        /* Without an initramfs there are no initrd properties. */
        l.n_cpus = 1;
        l.initrd_start = l.initrd_end = 0;
        assert(device_tree_build(&l, fdt, sizeof(fdt)) == 0);
        assert(!fdt_getprop(fdt, fdt_path_offset(fdt, "/chosen"), "linux,initrd-start", NULL));
        virtio_mmio_done(&v0);
        virtio_mmio_done(&v1);
}

int main(void) {
        test_build();
        return 0;
}
