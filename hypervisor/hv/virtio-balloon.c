/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virtio-balloon. */
#include <assert.h>
#include <errno.h>

#include "util.h"
#include "virtio-balloon.h"

#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_REPORTING 5
#define BALLOON_PAGE 4096u /* the balloon's unit, whatever the page size of guest or host */

enum {
        QUEUE_INFLATE,
        QUEUE_DEFLATE,
        QUEUE_REPORTING, /* the third queue when only REPORTING of the optional ones is offered */
        _QUEUE_MAX,
};

struct VirtioBalloon {
        VirtioMmio transport;
        BalloonOps ops;
        /* Under the transport lock. */
        uint32_t num_pages; /* the host's target: pages the balloon is to hold */
        uint32_t actual;    /* pages it holds, as the driver says */
};

/* Discards the runs of adjacent pages among the PFNs of one inflate chain (4-byte little-endian each). */
static void inflate(VirtioBalloon *b, const VirtChain *c) {
        const GuestMemory *m = b->transport.mem;
        uint64_t run_start = 0, run_len = 0;

        for (uint64_t off = 0; off + 4 <= c->out_len; off += 4) {
                uint32_t pfn;
                uint64_t gpa;

                (void) virtchain_read(c, off, &pfn, sizeof(pfn));
                gpa = (uint64_t) pfn * BALLOON_PAGE;
                if (!guest_mem_contains(m, gpa, BALLOON_PAGE))
                        continue; /* not RAM: nothing to give back */
                if (run_len > 0 && gpa == run_start + run_len) {
                        run_len += BALLOON_PAGE;
                        continue;
                }
                if (run_len > 0)
                        b->ops.discard(b->ops.userdata, run_start, run_len);
                run_start = gpa;
                run_len = BALLOON_PAGE;
        }
        if (run_len > 0)
                b->ops.discard(b->ops.userdata, run_start, run_len);
}

/* A free page report: each of the chain's buffers is a free block of guest RAM (5.5.6.7), page-aligned.
 * The buffers were checked to lie inside RAM when the chain was taken. */
static void report(VirtioBalloon *b, const VirtChain *c) {
        const GuestMemory *m = b->transport.mem;

        for (unsigned i = 0; i < c->n_out + c->n_in; i++) {
                uint64_t gpa = m->base + (uint64_t) ((uint8_t *) c->iov[i].iov_base - m->host),
                         len = c->iov[i].iov_len;
                uint64_t start = (gpa + BALLOON_PAGE - 1) & ~(uint64_t) (BALLOON_PAGE - 1),
                         end = (gpa + len) & ~(uint64_t) (BALLOON_PAGE - 1);

                if (end > start)
                        b->ops.discard(b->ops.userdata, start, end - start);
        }
}

static void balloon_notify(VirtioMmio *t, unsigned queue) {
        VirtioBalloon *b = t->dev;
        VirtChain c;

        while (virtio_mmio_pop(t, queue, &c) > 0) {
                if (queue == QUEUE_INFLATE)
                        inflate(b, &c);
                else if (queue == QUEUE_REPORTING && virtio_mmio_has_feature(t, VIRTIO_BALLOON_F_REPORTING))
                        report(b, &c);
                /* Deflated pages need nothing: the guest's next touch brings them back. */
                (void) virtio_mmio_push(t, queue, c.head, 0);
        }
}

/* num_pages (le32, the host's), actual (le32, the driver's). */
static void balloon_config(VirtioMmio *t, uint32_t offset, uint8_t *data, unsigned len, bool is_write) {
        VirtioBalloon *b = t->dev;
        uint8_t config[8];
        uint32_t actual;

        memcpy(config, &b->num_pages, 4);
        memcpy(config + 4, &b->actual, 4);
        if (!is_write) {
                memcpy(data, config + offset, len);
                return;
        }
        if (offset < 4) /* num_pages is the device's */
                return;
        memcpy(config + offset, data, len);
        memcpy(&actual, config + 4, 4);
        /* The driver's own count, but never more than the guest has. */
        actual = (uint32_t) MIN((uint64_t) actual, t->mem->size / BALLOON_PAGE);
        if (actual != b->actual) {
                b->actual = actual;
                if (b->ops.actual_changed)
                        b->ops.actual_changed(b->ops.userdata);
        }
}

static void balloon_reset(VirtioMmio *t) {
        VirtioBalloon *b = t->dev;

        /* A driver that starts anew has given everything back (its balloon is empty). */
        if (b->actual != 0) {
                b->actual = 0;
                if (b->ops.actual_changed)
                        b->ops.actual_changed(b->ops.userdata);
        }
}

typedef struct BalloonState {
        uint32_t num_pages, actual;
} BalloonState;

static int balloon_save(VirtioMmio *t, void **ret, size_t *ret_size) {
        VirtioBalloon *b = t->dev;
        BalloonState *st = malloc(sizeof(*st));

        if (!st)
                return -ENOMEM;
        *st = (BalloonState){ b->num_pages, b->actual };
        *ret = st;
        *ret_size = sizeof(*st);
        return 0;
}

static int balloon_load(VirtioMmio *t, const void *state, size_t size) {
        VirtioBalloon *b = t->dev;
        BalloonState st;

        if (size != sizeof(st))
                return -EBADMSG;
        memcpy(&st, state, sizeof(st));
        if ((uint64_t) st.num_pages > t->mem->size / BALLOON_PAGE ||
            (uint64_t) st.actual > t->mem->size / BALLOON_PAGE)
                return -EBADMSG;
        b->num_pages = st.num_pages;
        b->actual = st.actual;
        return 0;
}

static const VirtioDeviceOps balloon_ops = {
        .name = "virtio-balloon",
        .device_id = VIRTIO_ID_BALLOON,
        .features = (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM) | (1ull << VIRTIO_BALLOON_F_REPORTING),
        .n_queues = _QUEUE_MAX,
        .queue_size_max = 128,
        .config_size = 8,
        .config_access = balloon_config,
        .notify = balloon_notify,
        .reset = balloon_reset,
        .save = balloon_save,
        .load = balloon_load,
};

VirtioBalloon *virtio_balloon_free(VirtioBalloon *b) {
        if (!b)
                return NULL;
        virtio_mmio_done(&b->transport);
        return mfree(b);
}

int virtio_balloon_new(const GuestMemory *mem, IrqLine irq, const BalloonOps *ops, VirtioBalloon **ret) {
        VirtioBalloon *b;
        int r;

        assert(mem);
        assert(ops && ops->discard);
        assert(ret);

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->ops = *ops;
        r = virtio_mmio_init(&b->transport, &balloon_ops, b, mem, irq);
        if (r < 0) {
                free(b);
                return r;
        }
        *ret = b;
        return 0;
}

VirtioMmio *virtio_balloon_transport(VirtioBalloon *b) {
        return &b->transport;
}

void virtio_balloon_set_target(VirtioBalloon *b, uint64_t bytes) {
        uint64_t total = b->transport.mem->size / BALLOON_PAGE;
        uint32_t pages = (uint32_t) (total - MIN(bytes / BALLOON_PAGE, total));

        virtio_mmio_lock(&b->transport);
        if (pages != b->num_pages) {
                b->num_pages = pages;
                virtio_mmio_config_changed(&b->transport);
        }
        virtio_mmio_unlock(&b->transport);
}

uint64_t virtio_balloon_actual(VirtioBalloon *b) {
        uint64_t held;

        virtio_mmio_lock(&b->transport);
        held = b->actual;
        virtio_mmio_unlock(&b->transport);
        return b->transport.mem->size - held * BALLOON_PAGE;
}
