/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virtio-console, multiport, one port (virtio 1.2, 5.3). */
#include <assert.h>
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "util.h"
#include "virtio-console.h"

#define VIRTIO_CONSOLE_F_MULTIPORT 1

enum {
        QUEUE_RX = 0, /* port 0, host to guest */
        QUEUE_TX = 1, /* port 0, guest to host */
        QUEUE_CTRL_RX = 2,
        QUEUE_CTRL_TX = 3,
        _QUEUE_MAX,
};

/* Control events (5.3.6.2). */
enum {
        EVENT_DEVICE_READY = 0,
        EVENT_DEVICE_ADD = 1,
        EVENT_DEVICE_REMOVE = 2,
        EVENT_PORT_READY = 3,
        EVENT_CONSOLE_PORT = 4,
        EVENT_RESIZE = 5,
        EVENT_PORT_OPEN = 6,
        EVENT_PORT_NAME = 7,
};

typedef struct ControlHeader {
        uint32_t id;
        uint16_t event;
        uint16_t value;
} ControlHeader;

#define PORT_NAME_MAX 64
#define CONTROL_PENDING_MAX 8

typedef struct ControlMessage {
        ControlHeader header;
        bool with_name;
} ControlMessage;

struct VirtioConsole {
        VirtioMmio transport;
        sd_event *event;
        char name[PORT_NAME_MAX + 1];

        int listen_fd, conn_fd, kick_fd;
        sd_event_source *listen_source, *conn_source, *kick_source;

        /* Guest side, under the transport lock. */
        bool port_ready; /* the guest added the port */
        ControlMessage pending[CONTROL_PENDING_MAX];
        unsigned n_pending;
        bool tx_pending; /* tx_chain is popped, tx_done bytes of it went to the host */
        VirtChain tx_chain;
        uint64_t tx_done;
};

static void kick(VirtioConsole *c) {
        uint64_t one = 1;

        (void) !write(c->kick_fd, &one, sizeof(one));
}

static void control_queue(VirtioConsole *c, uint16_t event, uint16_t value, bool with_name) {
        if (c->n_pending >= CONTROL_PENDING_MAX) /* a driver that takes no control messages: drop the oldest */
                memmove(c->pending, c->pending + 1, --c->n_pending * sizeof(ControlMessage));
        c->pending[c->n_pending++] = (ControlMessage){
                .header = { .id = 0, .event = event, .value = value },
                .with_name = with_name,
        };
}

static void control_flush(VirtioConsole *c) {
        VirtChain chain;

        while (c->n_pending > 0) {
                const ControlMessage *m = c->pending;
                size_t n;

                if (virtio_mmio_pop(&c->transport, QUEUE_CTRL_RX, &chain) <= 0)
                        return;
                n = virtchain_write(&chain, 0, &m->header, sizeof(m->header));
                if (m->with_name)
                        n += virtchain_write(&chain, n, c->name, strlen(c->name));
                (void) virtio_mmio_push(&c->transport, QUEUE_CTRL_RX, chain.head, (uint32_t) n);
                memmove(c->pending, c->pending + 1, --c->n_pending * sizeof(ControlMessage));
        }
}

static void control_receive(VirtioConsole *c, const ControlHeader *h) {
        switch (h->event) {
        case EVENT_DEVICE_READY:
                if (h->value == 1)
                        control_queue(c, EVENT_DEVICE_ADD, 1, false);
                break;
        case EVENT_PORT_READY:
                if (h->id != 0 || h->value != 1)
                        break;
                c->port_ready = true;
                control_queue(c, EVENT_PORT_NAME, 1, true);
                control_queue(c, EVENT_PORT_OPEN, c->conn_fd >= 0, false);
                break;
        default:
                /* PORT_OPEN from the guest (an opener came or went) needs nothing: the host end reads
                 * whatever comes. Anything else is not for a device. */
                break;
        }
}

static void control_process(VirtioConsole *c) {
        VirtChain chain;
        ControlHeader h;

        while (virtio_mmio_pop(&c->transport, QUEUE_CTRL_TX, &chain) > 0) {
                if (virtchain_read(&chain, 0, &h, sizeof(h)) == sizeof(h))
                        control_receive(c, &h);
                (void) virtio_mmio_push(&c->transport, QUEUE_CTRL_TX, chain.head, 0);
        }
        control_flush(c);
}

/* Guest to host: as much as the socket takes without blocking; the rest waits for EPOLLOUT. */
static void tx_process(VirtioConsole *c) {
        for (;;) {
                if (!c->tx_pending) {
                        if (virtio_mmio_pop(&c->transport, QUEUE_TX, &c->tx_chain) <= 0)
                                return;
                        c->tx_pending = true;
                        c->tx_done = 0;
                }
                while (c->conn_fd >= 0 && c->tx_done < c->tx_chain.out_len) {
                        struct iovec iov[VIRTQ_SEG_MAX];
                        unsigned n = 0;
                        uint64_t skip = c->tx_done;
                        ssize_t k;

                        for (unsigned i = 0; i < c->tx_chain.n_out; i++) {
                                struct iovec v = c->tx_chain.iov[i];

                                if (skip >= v.iov_len) {
                                        skip -= v.iov_len;
                                        continue;
                                }
                                iov[n++] = (struct iovec){ (uint8_t *) v.iov_base + skip, v.iov_len - skip };
                                skip = 0;
                        }
                        k = sendmsg(
                                c->conn_fd,
                                &(struct msghdr){ .msg_iov = iov, .msg_iovlen = n },
                                MSG_DONTWAIT | MSG_NOSIGNAL);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0 && errno == EAGAIN) {
                                kick(c); /* the main loop waits for room */
                                return;
                        }
                        if (k < 0) {
                                /* The host went away; its end is closed by the main loop. */
                                kick(c);
                                break;
                        }
                        c->tx_done += (uint64_t) k;
                }
                /* Written, or no host to take it: a port without a host end drops what the guest sends. */
                (void) virtio_mmio_push(&c->transport, QUEUE_TX, c->tx_chain.head, 0);
                c->tx_pending = false;
        }
}

/* Host to guest: into the buffers the guest gave, never more than they hold. */
static int rx_process(VirtioConsole *c) {
        VirtChain chain;

        while (c->conn_fd >= 0) {
                ssize_t k;
                int r;

                r = virtio_mmio_pop(&c->transport, QUEUE_RX, &chain);
                if (r <= 0)
                        return 0;
                if (chain.in_len == 0) {
                        /* Nothing to write into: handed back as it came (reading 0 bytes would look like
                         * the host's EOF). */
                        (void) virtio_mmio_push(&c->transport, QUEUE_RX, chain.head, 0);
                        continue;
                }
                k = recvmsg(
                        c->conn_fd,
                        &(struct msghdr){ .msg_iov = chain.iov + chain.n_out, .msg_iovlen = chain.n_in },
                        MSG_DONTWAIT);
                if (k <= 0) {
                        virtqueue_unpop(virtio_mmio_queue(&c->transport, QUEUE_RX));
                        if (k < 0 && IN_SET(errno, EAGAIN, EINTR))
                                return 0;
                        return k == 0 ? -ECONNRESET : -errno;
                }
                (void) virtio_mmio_push(&c->transport, QUEUE_RX, chain.head, (uint32_t) k);
        }
        return 0;
}

static void update_sources(VirtioConsole *c) {
        VirtQueue *rx;
        uint32_t events = 0;

        if (c->conn_fd < 0)
                return;
        rx = virtio_mmio_queue(&c->transport, QUEUE_RX);
        if (rx && virtio_mmio_driver_ok(&c->transport) && virtqueue_available(rx, c->transport.mem))
                events |= EPOLLIN;
        if (c->tx_pending)
                events |= EPOLLOUT;
        /* EPOLLRDHUP alone still tells a host that left. */
        (void) sd_event_source_set_io_events(c->conn_source, events | EPOLLRDHUP);
}

static void disconnect(VirtioConsole *c) {
        c->conn_source = sd_event_source_disable_unref(c->conn_source);
        c->conn_fd = safe_close(c->conn_fd);
        if (c->port_ready)
                control_queue(c, EVENT_PORT_OPEN, 0, false);
        control_flush(c);
        tx_process(c); /* what the guest still sends is dropped until the next host comes */
        (void) sd_event_source_set_enabled(c->listen_source, SD_EVENT_ON);
}

static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        VirtioConsole *c = userdata;
        int r = 0;

        virtio_mmio_lock(&c->transport);
        if (revents & EPOLLIN)
                r = rx_process(c);
        if (r >= 0 && (revents & EPOLLOUT))
                tx_process(c);
        if (r < 0 || (revents & (EPOLLHUP | EPOLLERR)) || ((revents & EPOLLRDHUP) && !(revents & EPOLLIN)))
                disconnect(c);
        else
                update_sources(c);
        virtio_mmio_unlock(&c->transport);
        return 0;
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        VirtioConsole *c = userdata;
        int conn, r;

        conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (conn < 0)
                return 0; /* EAGAIN, or a client that left before it was taken */
        virtio_mmio_lock(&c->transport);
        r = sd_event_add_io(c->event, &c->conn_source, conn, EPOLLRDHUP, on_conn, c);
        if (r < 0) {
                safe_close(conn);
        } else {
                c->conn_fd = conn;
                /* One host at a time: the next waits in the backlog until this one leaves. */
                (void) sd_event_source_set_enabled(c->listen_source, SD_EVENT_OFF);
                if (c->port_ready)
                        control_queue(c, EVENT_PORT_OPEN, 1, false);
                control_flush(c);
                tx_process(c);
                update_sources(c);
        }
        virtio_mmio_unlock(&c->transport);
        return 0;
}

static int on_kick(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        VirtioConsole *c = userdata;
        uint64_t n;

        (void) !read(fd, &n, sizeof(n));
        virtio_mmio_lock(&c->transport);
        update_sources(c);
        virtio_mmio_unlock(&c->transport);
        return 0;
}

/* Transport callbacks, in a vCPU thread with the lock held. */

static void console_config(VirtioMmio *t, uint32_t offset, uint8_t *data, unsigned len, bool is_write) {
        /* cols, rows (le16 each), max_nr_ports (le32), emerg_wr (le32): one port, no emergency writes. */
        uint8_t config[12] = { [4] = 1 };

        if (!is_write)
                memcpy(data, config + offset, len);
}

static void console_notify(VirtioMmio *t, unsigned queue) {
        VirtioConsole *c = t->dev;

        switch (queue) {
        case QUEUE_CTRL_TX:
        case QUEUE_CTRL_RX:
                control_process(c);
                break;
        case QUEUE_TX:
                tx_process(c);
                break;
        case QUEUE_RX:
                kick(c); /* buffers for the host's bytes: the main loop reads again */
                break;
        }
}

static void console_driver_ok(VirtioMmio *t) {
        kick(t->dev);
}

static void console_reset(VirtioMmio *t) {
        VirtioConsole *c = t->dev;

        c->port_ready = false;
        c->n_pending = 0;
        c->tx_pending = false;
        kick(c);
}

typedef struct ConsoleState {
        uint32_t port_ready, n_pending;
        ControlMessage pending[CONTROL_PENDING_MAX];
} ConsoleState;

static int console_save(VirtioMmio *t, void **ret, size_t *ret_size) {
        VirtioConsole *c = t->dev;
        ConsoleState *st;

        /* A chain half sent to the host is done with: the rest of it is dropped, as if the host had left. */
        if (c->tx_pending) {
                (void) virtio_mmio_push(t, QUEUE_TX, c->tx_chain.head, 0);
                c->tx_pending = false;
        }
        st = calloc(1, sizeof(*st));
        if (!st)
                return -ENOMEM;
        st->port_ready = c->port_ready;
        st->n_pending = c->n_pending;
        memcpy(st->pending, c->pending, sizeof(st->pending));
        *ret = st;
        *ret_size = sizeof(*st);
        return 0;
}

static int console_load(VirtioMmio *t, const void *state, size_t size) {
        VirtioConsole *c = t->dev;
        ConsoleState st;

        if (size != sizeof(st))
                return -EBADMSG;
        memcpy(&st, state, sizeof(st));
        if (st.n_pending > CONTROL_PENDING_MAX)
                return -EBADMSG;
        c->port_ready = st.port_ready;
        c->n_pending = st.n_pending;
        memcpy(c->pending, st.pending, sizeof(c->pending));
        /* The host that was connected then is not now: the guest hears so, and of the next one. */
        if (c->port_ready && c->conn_fd < 0)
                control_queue(c, EVENT_PORT_OPEN, 0, false);
        kick(c);
        return 0;
}

static const VirtioDeviceOps console_ops = {
        .name = "virtio-console",
        .device_id = VIRTIO_ID_CONSOLE,
        .features = 1ull << VIRTIO_CONSOLE_F_MULTIPORT,
        .n_queues = _QUEUE_MAX,
        .queue_size_max = 64,
        .config_size = 12,
        .config_access = console_config,
        .notify = console_notify,
        .driver_ok = console_driver_ok,
        .reset = console_reset,
        .save = console_save,
        .load = console_load,
};

VirtioConsole *virtio_console_free(VirtioConsole *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->listen_source);
        sd_event_source_disable_unref(c->conn_source);
        sd_event_source_disable_unref(c->kick_source);
        safe_close(c->listen_fd);
        safe_close(c->conn_fd);
        safe_close(c->kick_fd);
        virtio_mmio_done(&c->transport);
        sd_event_unref(c->event);
        return mfree(c);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(VirtioConsole *, virtio_console_free);

int virtio_console_new(
        sd_event *event, const GuestMemory *mem, IrqLine irq, const char *name, int listen_fd, VirtioConsole **ret) {
        _cleanup_(virtio_console_freep) VirtioConsole *c = NULL;
        int r;

        assert(event);
        assert(name);
        assert(ret);

        if (strlen(name) > PORT_NAME_MAX)
                return -ENAMETOOLONG;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->listen_fd = c->conn_fd = c->kick_fd = -EBADF;
        r = virtio_mmio_init(&c->transport, &console_ops, c, mem, irq);
        if (r < 0)
                return r;
        c->event = sd_event_ref(event);
        strcpy(c->name, name);
        c->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->kick_fd < 0)
                return -errno;
        r = sd_event_add_io(event, &c->kick_source, c->kick_fd, EPOLLIN, on_kick, c);
        if (r < 0)
                return r;
        r = fd_nonblock(listen_fd, true);
        if (r < 0)
                return r;
        r = sd_event_add_io(event, &c->listen_source, listen_fd, EPOLLIN, on_listen, c);
        if (r < 0)
                return r;
        c->listen_fd = listen_fd;
        *ret = TAKE_PTR(c);
        return 0;
}

VirtioMmio *virtio_console_transport(VirtioConsole *c) {
        return &c->transport;
}
