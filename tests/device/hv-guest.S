/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A bare-metal arm64 guest for vmm-hv's device cases, booted as a Linux Image: it does on purpose what a
 * hostile or odd guest does (loads and stores without a valid syndrome, an access where no device is) and
 * says on the UART what it saw, then powers off with PSCI. Lines: "hv-guest: <check> ok" or "... bad ...";
 * "hv-guest: done" last. Runs with the MMU off: every address is physical, all PC-relative. */

#define UART 0x09000000            /* PL011 data register */
#define VIRTIO 0x0a000000          /* the first virtio-mmio transport: MagicValue, Version, DeviceID */
#define VIRTIO_MAGIC 0x74726976
#define NOTHING 0x0c000000         /* no device */
#define PSCI_SYSTEM_OFF 0x84000008

        .text
        .global _start
_start:                            /* The Image header (Documentation/arch/arm64/booting.rst). */
        b       main
        .long   0
        .quad   0                  /* text_offset */
        .quad   image_end - _start /* image_size */
        .quad   0                  /* flags: little-endian */
        .quad   0, 0, 0
        .ascii  "ARM\x64"
        .long   0

/* puts(x0 = NUL-terminated string); clobbers x0, x1. */
puts:
        ldr     x1, =UART
1:      ldrb    w2, [x0], #1
        cbz     w2, 2f
        strb    w2, [x1]
        b       1b
2:      ret

/* puthex(x0): "0x" and 16 hex digits; clobbers x0 to x4. */
puthex:
        ldr     x1, =UART
        mov     w2, #'0'
        strb    w2, [x1]
        mov     w2, #'x'
        strb    w2, [x1]
        mov     x3, #60
1:      lsr     x2, x0, x3
        and     x2, x2, #0xf
        cmp     x2, #10
        add     x4, x2, #'0'
        add     x2, x2, #('a' - 10)
        csel    x2, x4, x2, lo
        strb    w2, [x1]
        subs    x3, x3, #4
        b.pl    1b
        ret

.macro say label
        adr     x0, \label
        bl      puts
.endm

main:
        adr     x0, vectors
        msr     vbar_el1, x0
        isb

        /* A pair from device registers: no syndrome (ESR.ISV = 0), so vmm-hv decodes the LDP itself. */
        ldr     x20, =VIRTIO
        ldp     w21, w22, [x20]
        ldr     w23, =VIRTIO_MAGIC
        cmp     w21, w23
        ccmp    w22, #2, #0, eq
        b.ne    1f
        say     s_ldp_ok
        b       2f
1:      say     s_ldp_bad
        mov     x0, x21
        bl      puthex
        say     s_nl

        /* A load with post-index writeback: the base register moves too. */
2:      ldr     x20, =VIRTIO
        ldr     w21, [x20], #8
        ldr     x24, =(VIRTIO + 8)
        cmp     w21, w23
        ccmp    x20, x24, #0, eq
        b.ne    1f
        say     s_post_ok
        b       2f
1:      say     s_post_bad

        /* A pair stored to the UART: 'S' into UARTDR, 0 into UARTRSR (a write clears errors); the line
         * ends with what reached the UART. */
2:      say     s_stp
        ldr     x20, =UART
        mov     w21, #'S'
        mov     w22, #0
        stp     w21, w22, [x20]
        say     s_nl

        /* A load from where no device is: an external abort, taken at the vector below. */
        mov     x25, #0
        ldr     x20, =NOTHING
        ldr     w21, [x20]
        cbz     x25, 1f
        say     s_abort_ok
        b       2f
1:      say     s_abort_none

2:      say     s_done
        ldr     x0, =PSCI_SYSTEM_OFF
        hvc     #0
        b       .

/* Synchronous exception at EL1 on SP_EL1: a data abort (EC 0x25) that is external (DFSC 0x10) is what the
 * test wants; it is noted in x25 and the faulting load skipped. Anything else stops the test. */
sync_handler:
        mrs     x26, esr_el1
        ubfx    x27, x26, #26, #6  /* EC; bits 63:32 are not looked at (nested KVM may leave them set) */
        cmp     x27, #0x25
        b.ne    1f
        and     x27, x26, #0x3f
        cmp     x27, #0x10
        b.ne    1f
        mov     x25, #1
        mrs     x27, elr_el1
        add     x27, x27, #4
        msr     elr_el1, x27
        eret
1:      say     s_unexpected
        mov     x0, x26
        bl      puthex
        say     s_nl
        ldr     x0, =PSCI_SYSTEM_OFF
        hvc     #0
        b       .

        .balign 2048
vectors:
        .rept   8                  /* current EL with SP_EL0, then the first of SP_ELx: none expected */
        b       sync_handler
        .balign 128
        .endr
        .rept   8
        b       sync_handler
        .balign 128
        .endr

s_ldp_ok:       .asciz "hv-guest: ldp from a device ok\n"
s_ldp_bad:      .asciz "hv-guest: ldp from a device bad: "
s_post_ok:      .asciz "hv-guest: post-index load from a device ok\n"
s_post_bad:     .asciz "hv-guest: post-index load from a device bad\n"
s_stp:          .asciz "hv-guest: stp to the uart: "
s_abort_ok:     .asciz "hv-guest: access where no device is: external abort ok\n"
s_abort_none:   .asciz "hv-guest: access where no device is: no abort bad\n"
s_unexpected:   .asciz "hv-guest: unexpected exception bad, esr="
s_done:         .asciz "hv-guest: done\n"
s_nl:           .asciz "\n"
        .balign 8
        .ltorg
image_end:
