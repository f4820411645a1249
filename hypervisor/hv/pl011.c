/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PL011 UART (Arm DDI 0183): what Linux's amba-pl011 driver needs to probe it and write through it. The
 * transmit FIFO drains at once, so the TX interrupt is raised by every write and the FIFO is never full;
 * nothing is ever received. */
#include <assert.h>
#include <errno.h>
#include <libfdt.h>

#include "fdt-util.h"
#include "pl011.h"
#include "util.h"

enum {
        UARTDR = 0x000,
        UARTRSR = 0x004,
        UARTFR = 0x018,
        UARTILPR = 0x020,
        UARTIBRD = 0x024,
        UARTFBRD = 0x028,
        UARTLCR_H = 0x02c,
        UARTCR = 0x030,
        UARTIFLS = 0x034,
        UARTIMSC = 0x038,
        UARTRIS = 0x03c,
        UARTMIS = 0x040,
        UARTICR = 0x044,
        UARTDMACR = 0x048,
        UARTPERIPHID0 = 0xfe0,
};

#define FR_RXFE (1u << 4)
#define FR_TXFE (1u << 7)
#define INT_TX (1u << 5)
#define INT_ALL 0x7ffu

/* UARTPeriphID0-3 and UARTPCellID0-3: what the AMBA bus matches the driver by. */
static const uint8_t pl011_id[8] = { 0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };

static void update_irq(Pl011 *u) {
        (void) irq_line_set(&u->irq, (u->ris & u->imsc) != 0);
}

static uint32_t read_reg(Pl011 *u, uint64_t offset) {
        switch (offset) {
        case UARTFR:
                return FR_RXFE | FR_TXFE;
        case UARTIBRD:
                return u->ibrd;
        case UARTFBRD:
                return u->fbrd;
        case UARTLCR_H:
                return u->lcr;
        case UARTCR:
                return u->cr;
        case UARTIFLS:
                return u->ifls;
        case UARTIMSC:
                return u->imsc;
        case UARTRIS:
                return u->ris;
        case UARTMIS:
                return u->ris & u->imsc;
        case UARTDMACR:
                return u->dmacr;
        default:
                if (offset >= UARTPERIPHID0 && offset < UARTPERIPHID0 + 4 * sizeof(pl011_id))
                        return pl011_id[(offset - UARTPERIPHID0) / 4];
                return 0; /* UARTDR: nothing received; UARTRSR: no errors */
        }
}

static void write_reg(Pl011 *u, uint64_t offset, uint32_t v) {
        switch (offset) {
        case UARTDR: {
                uint8_t ch = (uint8_t) v;

                if (u->output)
                        u->output(u->output_userdata, &ch, 1);
                u->ris |= INT_TX;
                break;
        }
        case UARTIBRD:
                u->ibrd = v & 0xffff;
                break;
        case UARTFBRD:
                u->fbrd = v & 0x3f;
                break;
        case UARTLCR_H:
                u->lcr = v & 0xff;
                break;
        case UARTCR:
                u->cr = v & 0xffff;
                break;
        case UARTIFLS:
                u->ifls = v & 0x3f;
                break;
        case UARTIMSC:
                u->imsc = v & INT_ALL;
                break;
        case UARTICR:
                u->ris &= ~v;
                break;
        case UARTDMACR:
                u->dmacr = v & 0x7;
                break;
        default:
                break;
        }
        update_irq(u);
}

static int pl011_access(void *dev, uint64_t offset, uint8_t *data, unsigned len, bool is_write) {
        Pl011 *u = dev;

        if (offset % 4 != 0 || len > 4) /* 8- to 32-bit registers on word boundaries */
                return 0;
        (void) pthread_mutex_lock(&u->lock);
        if (is_write)
                write_reg(u, offset, (uint32_t) mmio_data_get(data, len));
        else
                mmio_data_set(data, len, read_reg(u, offset));
        (void) pthread_mutex_unlock(&u->lock);
        return 0;
}

static int pl011_fdt_node(void *dev, void *fdt, const FdtContext *ctx) {
        Pl011 *u = dev;
        static const char compatible[] = "arm,pl011\0arm,primecell";
        static const char clock_names[] = "uartclk\0apb_pclk";
        uint32_t clocks[2] = { cpu_to_fdt32(ctx->clock_phandle), cpu_to_fdt32(ctx->clock_phandle) };
        int r;

        r = fdt_begin_device_node(fdt, "pl011", u->base, PL011_SIZE, (int) u->irq.spi);
        if (r < 0)
                return r;
        r = fdt_property(fdt, "compatible", compatible, sizeof(compatible));
        if (r >= 0)
                r = fdt_property(fdt, "clocks", clocks, sizeof(clocks));
        if (r >= 0)
                r = fdt_property(fdt, "clock-names", clock_names, sizeof(clock_names));
        if (r >= 0)
                r = fdt_end_node(fdt);
        return r < 0 ? -ENOSPC : 0;
}

typedef struct Pl011State {
        uint32_t cr, lcr, ibrd, fbrd, ifls, imsc, ris, dmacr;
} Pl011State;

static int pl011_save(void *dev, void **ret, size_t *ret_size) {
        Pl011 *u = dev;
        Pl011State *st = malloc(sizeof(*st));

        if (!st)
                return -ENOMEM;
        *st = (Pl011State){ u->cr, u->lcr, u->ibrd, u->fbrd, u->ifls, u->imsc, u->ris, u->dmacr };
        *ret = st;
        *ret_size = sizeof(*st);
        return 0;
}

static int pl011_load(void *dev, const void *state, size_t size) {
        Pl011 *u = dev;
        Pl011State st;

        if (size != sizeof(st))
                return -EBADMSG;
        memcpy(&st, state, sizeof(st));
        /* The values a guest can write, masked as the registers mask them. */
        u->cr = st.cr & 0xffff;
        u->lcr = st.lcr & 0xff;
        u->ibrd = st.ibrd & 0xffff;
        u->fbrd = st.fbrd & 0x3f;
        u->ifls = st.ifls & 0x3f;
        u->imsc = st.imsc & INT_ALL;
        u->ris = st.ris & INT_ALL;
        u->dmacr = st.dmacr & 0x7;
        update_irq(u);
        return 0;
}

static const MmioOps pl011_ops = {
        .access = pl011_access,
        .fdt_node = pl011_fdt_node,
        .save = pl011_save,
        .load = pl011_load,
};

int pl011_init(
        Pl011 *u, IrqLine irq, void (*output)(void *userdata, const uint8_t *buf, size_t len), void *userdata) {
        assert(u);

        /* The reset values (3.3): enabled for TX and RX, 8 bits per character. */
        *u = (Pl011){ .irq = irq, .output = output, .output_userdata = userdata, .cr = 0x300, .ifls = 0x12 };
        return -pthread_mutex_init(&u->lock, NULL);
}

int pl011_register(Pl011 *u, MmioBus *bus, uint64_t base) {
        u->base = base;
        return mmio_bus_register(bus, "pl011", base, PL011_SIZE, &pl011_ops, u);
}
