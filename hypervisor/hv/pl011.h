/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An Arm PrimeCell PL011 UART, transmit only: the kernel's console (console=ttyAMA0). */
#pragma once

#include <pthread.h>

#include "irq.h"
#include "mmio-bus.h"

#define PL011_SIZE 0x1000

typedef struct Pl011 {
        IrqLine irq;
        uint64_t base;
        /* Where the guest's bytes go. */
        void (*output)(void *userdata, const uint8_t *buf, size_t len);
        void *output_userdata;

        pthread_mutex_t lock;
        uint32_t cr, lcr, ibrd, fbrd, ifls, imsc, ris, dmacr;
} Pl011;

int pl011_init(
        Pl011 *u, IrqLine irq, void (*output)(void *userdata, const uint8_t *buf, size_t len), void *userdata);
int pl011_register(Pl011 *u, MmioBus *bus, uint64_t base);
