/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An interrupt line from a device to the machine's interrupt controller. */
#pragma once

#include <stdbool.h>

typedef struct IrqLine {
        /* Sets the line's level (all our lines are level-triggered SPIs); may be called from any thread. */
        int (*set)(void *userdata, unsigned spi, bool level);
        void *userdata;
        unsigned spi; /* shared peripheral interrupt number: INTID 32 + spi */
} IrqLine;

static inline int irq_line_set(const IrqLine *l, bool level) {
        return l->set ? l->set(l->userdata, l->spi, level) : 0;
}
