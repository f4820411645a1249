/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmm-hv machine on KVM/ARM. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "a64.h"
#include "boot.h"
#include "log.h"
#include "machine-internal.h"
#include "mmio-bus.h"
#include "pl011.h"
#include "util.h"
#include "virtio-console.h"

int kvm_set_attr(int fd, uint32_t group, uint64_t attr, const void *value) {
        struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t) (uintptr_t) value };

        return ioctl(fd, KVM_SET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

int kvm_get_attr(int fd, uint32_t group, uint64_t attr, void *ret) {
        struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t) (uintptr_t) ret };

        return ioctl(fd, KVM_GET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

int vcpu_set_reg(Vcpu *v, uint64_t id, uint64_t value) {
        struct kvm_one_reg reg = { .id = id, .addr = (uint64_t) (uintptr_t) &value };

        return ioctl(v->fd, KVM_SET_ONE_REG, &reg) < 0 ? -errno : 0;
}

int vcpu_get_reg(Vcpu *v, uint64_t id, void *ret) {
        struct kvm_one_reg reg = { .id = id, .addr = (uint64_t) (uintptr_t) ret };

        return ioctl(v->fd, KVM_GET_ONE_REG, &reg) < 0 ? -errno : 0;
}

static int irq_set(void *userdata, unsigned spi, bool level) {
        Machine *m = userdata;
        struct kvm_irq_level irq = {
                .irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | (32 + spi),
                .level = level,
        };

        return ioctl(m->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

static IrqLine machine_irq(Machine *m, unsigned spi) {
        return (IrqLine){ .set = irq_set, .userdata = m, .spi = spi };
}

static void uart_output(void *userdata, const uint8_t *buf, size_t len) {
        Machine *m = userdata;

        (void) pthread_mutex_lock(&m->console_lock);
        for (size_t i = 0; i < len; i++) {
                m->console_ring[(m->console_start + m->console_size) % MACHINE_CONSOLE_RING_SIZE] = buf[i];
                if (m->console_size < MACHINE_CONSOLE_RING_SIZE)
                        m->console_size++;
                else
                        m->console_start = (m->console_start + 1) % MACHINE_CONSOLE_RING_SIZE;
        }
        (void) pthread_mutex_unlock(&m->console_lock);

        /* A console nobody reads must not stop the guest: the fd is non-blocking and what does not fit
         * is dropped. */
        if (m->console_fd >= 0)
                (void) !write(m->console_fd, buf, len);
}

static int set_memslot(Machine *m, bool log_dirty) {
        struct kvm_userspace_memory_region region = {
                .slot = 0,
                .flags = log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
                .guest_phys_addr = m->ram.base,
                .memory_size = m->ram.size,
                .userspace_addr = (uint64_t) (uintptr_t) m->ram.host,
        };

        return ioctl(m->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0 ? -errno : 0;
}

/* The bitmaps of dirty tracking, for RAM as mapped now. A restore's base is the full snapshot it came from:
 * a delta's base, the delta's pages already different from it. */
static int setup_dirty_tracking(Machine *m, const Snapshot *s) {
        long page_size = sysconf(_SC_PAGESIZE);
        size_t words;

        if (page_size < 4096 || (page_size & (page_size - 1)) != 0 || m->ram.size % (uint64_t) page_size != 0)
                return -EINVAL;
        m->page_size = (uint64_t) page_size;
        m->n_pages = m->ram.size / m->page_size;
        words = (m->n_pages + 63) / 64;
        m->dirty_vmm = calloc(words, sizeof(uint64_t));
        m->dirty_kvm = calloc(words, sizeof(uint64_t));
        m->since_base = calloc(words, sizeof(uint64_t));
        if (!m->dirty_vmm || !m->dirty_kvm || !m->since_base)
                return -ENOMEM;
        m->ram.dirty = m->dirty_vmm;
        m->ram.dirty_shift = (unsigned) __builtin_ctzll(m->page_size);
        if (!s)
                return 0;
        m->base_id = snapshot_is_delta(s) ? s->header.base_id : s->header.id;
        /* The delta's pages in this host's page size, which may not be the one that wrote it. */
        for (uint64_t i = 0; snapshot_is_delta(s) && i < s->pages.n_pages; i++)
                if (s->pages.bitmap[i / 64] & (1ull << (i % 64)))
                        dirty_bitmap_mark(
                                m->since_base, m->ram.dirty_shift, i * s->pages.page_size, s->pages.page_size);
        return 0;
}

static int add_memslot(Machine *m, const Snapshot *s) {
        int r;

        (void) madvise(m->ram.host, m->ram.size, MADV_DONTDUMP);
        r = setup_dirty_tracking(m, s);
        if (r < 0)
                return r;
        /* A clone logs from the start: its next snapshot may be a delta of the one it came from. */
        m->dirty_logging = s != NULL;
        return set_memslot(m, m->dirty_logging);
}

int machine_dirty_log_start(Machine *m) {
        int r;

        if (m->dirty_logging)
                return 0;
        r = set_memslot(m, true);
        if (r < 0)
                return r;
        m->dirty_logging = true;
        return 0;
}

int machine_dirty_collect(Machine *m) {
        struct kvm_dirty_log log = { .slot = 0, .dirty_bitmap = m->dirty_kvm };

        /* KVM's bitmap is one bit per host page of the slot, in longs (64-bit here), and reading it
         * resets it. */
        if (m->dirty_logging && ioctl(m->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
                return -errno;
        for (uint64_t i = 0; i < (m->n_pages + 63) / 64; i++) {
                m->since_base[i] |= __atomic_exchange_n(m->dirty_vmm + i, 0, __ATOMIC_RELAXED);
                if (m->dirty_logging)
                        m->since_base[i] |= m->dirty_kvm[i];
        }
        return 0;
}

static int setup_ram(Machine *m, uint64_t mib) {
        void *p;

        m->ram_fd = memfd_create("vmm-hv-ram", MFD_CLOEXEC);
        if (m->ram_fd < 0)
                return -errno;
        if (ftruncate(m->ram_fd, (off_t) (mib << 20)) < 0)
                return -errno;
        /* Shared and not locked: the host may reclaim and swap it; KVM's MMU notifiers keep stage 2 in
         * step. */
        p = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, m->ram_fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        m->ram = (GuestMemory){ .base = MACHINE_RAM_BASE, .size = mib << 20, .host = p };
        /* Huge pages where the host allows them for shared memory (shmem_enabled "advise" or more): stage 2
         * then maps 2 MiB blocks, and a boot takes a fraction of the stage-2 faults. */
        (void) madvise(p, mib << 20, MADV_HUGEPAGE);
        return add_memslot(m, NULL);
}

/* A clone's RAM: the snapshot's, mapped copy-on-write. Nothing is copied to start; a page the guest writes
 * becomes its own, the others stay shared with every clone of that snapshot (in the page cache). A delta's
 * RAM is its base's, mapped so, with the delta's pages read over it: those become the clone's own. */
static int setup_ram_from_snapshot(Machine *m, const MachineConfig *c, const Snapshot *s, const Snapshot *base) {
        const Snapshot *full = snapshot_is_delta(s) ? base : s;
        void *p;
        int r;

        p = mmap(
                NULL,
                full->header.ram_size,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_NORESERVE,
                snapshot_is_delta(s) ? c->restore_base_fd : c->restore_fd,
                (off_t) full->header.ram_offset);
        if (p == MAP_FAILED)
                return -errno;
        m->ram = (GuestMemory){ .base = full->header.ram_base, .size = full->header.ram_size, .host = p };
        if (snapshot_is_delta(s)) {
                r = snapshot_read_pages(c->restore_fd, s, p);
                if (r < 0)
                        return r;
        }
        return add_memslot(m, s);
}

static int read_snapshot(int fd, const char *what, Snapshot *ret) {
        int r;

        r = snapshot_read(fd, ret);
        if (r == -EPROTONOSUPPORT)
                return log_error_errno(r, "The %s is of another version of vmm-hv.", what);
        if (r < 0)
                return log_error_errno(r, "The %s is damaged or none: %m", what);
        return 0;
}

/* The snapshot to restore, and a delta's base: each checked, and that they belong together (one level: a
 * delta of a full snapshot) and fit this machine. */
static int read_snapshots(const MachineConfig *c, Snapshot *s, Snapshot *base) {
        char a[SNAPSHOT_ID_STRING_MAX], b[SNAPSHOT_ID_STRING_MAX];
        int r;

        r = read_snapshot(c->restore_fd, "snapshot to restore", s);
        if (r < 0)
                return r;
        if (!snapshot_is_delta(s) && c->restore_base_fd >= 0)
                return log_error_errno(
                        EINVAL,
                        "The snapshot %s is a full snapshot, not a delta: restore it without --restore-base.",
                        snapshot_id_to_string(&s->header.id, a));
        if (snapshot_is_delta(s)) {
                if (c->restore_base_fd < 0)
                        return log_error_errno(
                                EINVAL,
                                "The snapshot %s is incremental, a delta of snapshot %s: restore it with "
                                "--restore-base naming that one.",
                                snapshot_id_to_string(&s->header.id, a),
                                snapshot_id_to_string(&s->header.base_id, b));
                r = read_snapshot(c->restore_base_fd, "base snapshot", base);
                if (r < 0)
                        return r;
                if (snapshot_is_delta(base))
                        return log_error_errno(
                                EINVAL,
                                "The base snapshot %s is a delta itself (of %s): a delta's base must be a full "
                                "snapshot.",
                                snapshot_id_to_string(&base->header.id, a),
                                snapshot_id_to_string(&base->header.base_id, b));
                if (!snapshot_id_equal(&s->header.base_id, &base->header.id))
                        return log_error_errno(
                                EINVAL,
                                "The snapshot is a delta of snapshot %s, but the base given is snapshot %s.",
                                snapshot_id_to_string(&s->header.base_id, a),
                                snapshot_id_to_string(&base->header.id, b));
                if (base->header.ram_base != s->header.ram_base || base->header.ram_size != s->header.ram_size)
                        return log_error_errno(
                                EINVAL,
                                "The base snapshot has %" PRIu64 " MiB of RAM at 0x%" PRIx64
                                ", its delta %" PRIu64 " MiB at 0x%" PRIx64 ".",
                                base->header.ram_size >> 20,
                                base->header.ram_base,
                                s->header.ram_size >> 20,
                                s->header.ram_base);
        }
        if (s->header.ram_base != MACHINE_RAM_BASE || s->header.ram_size != c->ram_mib << 20)
                return log_error_errno(
                        EINVAL,
                        "The snapshot has %" PRIu64 " MiB of RAM at 0x%" PRIx64 ", this machine %" PRIu64
                        " MiB at 0x%llx.",
                        s->header.ram_size >> 20,
                        s->header.ram_base,
                        c->ram_mib,
                        MACHINE_RAM_BASE);
        return 0;
}

static int setup_vcpu(Machine *m, unsigned index) {
        Vcpu *v = m->vcpus + index;
        struct kvm_vcpu_init init;
        int size;

        *v = (Vcpu){ .machine = m, .index = index, .fd = -EBADF };
        v->fd = ioctl(m->vm_fd, KVM_CREATE_VCPU, (unsigned long) index);
        if (v->fd < 0)
                return -errno;
        size = ioctl(m->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (size < (int) sizeof(struct kvm_run))
                return size < 0 ? -errno : -EIO;
        v->run = mmap(NULL, (size_t) size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
        if (v->run == MAP_FAILED) {
                v->run = NULL;
                return -errno;
        }
        v->run_size = (size_t) size;

        if (ioctl(m->vm_fd, KVM_ARM_PREFERRED_TARGET, &init) < 0)
                return -errno;
        init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
        if (index > 0) /* secondaries wait for PSCI CPU_ON */
                init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
        if (ioctl(v->fd, KVM_ARM_VCPU_INIT, &init) < 0)
                return -errno;
        return 0;
}

static int setup_gic(Machine *m) {
        struct kvm_create_device dev = { .type = KVM_DEV_TYPE_ARM_VGIC_V3 };
        uint64_t dist = MACHINE_GIC_DIST_BASE, redist = MACHINE_GIC_REDIST_BASE;
        uint32_t nr_irqs = MACHINE_GIC_NR_IRQS;
        int r;

        if (ioctl(m->vm_fd, KVM_CREATE_DEVICE, &dev) < 0)
                return -errno;
        m->gic_fd = (int) dev.fd;
        r = kvm_set_attr(m->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist);
        if (r >= 0)
                r = kvm_set_attr(m->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist);
        if (r >= 0)
                r = kvm_set_attr(m->gic_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs);
        if (r >= 0)
                r = kvm_set_attr(m->gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
        return r;
}

/* Guest RAM the balloon or free page reporting gives back: a hole in the memfd (the pages go, reading
 * zeros), or for a clone's copy-on-write RAM its own copies dropped (reading the snapshot's again, its
 * base's for a delta). Neither is a write that KVM's dirty log sees, so a delta taken later may not hold the
 * page, and a restore of it finds the page as the base had it, not as it reads here. That is right: the
 * guest gave the page away, and its content is undefined for the guest when it takes it back (the balloon
 * offers no PAGE_POISON, so a driver expects nothing of it; Linux does not even report free pages it needs
 * zeroed or poisoned then). The guest's next write to it is logged as any. For the same reason the VMM's
 * own marks go for the whole pages discarded: a free page report hands them over as buffers the device
 * may write, which marked them when the chain was taken. */
static void ram_discard(void *userdata, uint64_t gpa, uint64_t len) {
        Machine *m = userdata;
        uint64_t off = gpa - m->ram.base;

        if (m->ram_fd >= 0)
                (void) fallocate(
                        m->ram_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) off, (off_t) len);
        else
                (void) madvise(m->ram.host + off, len, MADV_DONTNEED);
        for (uint64_t p = (off + m->page_size - 1) / m->page_size; p < (off + len) / m->page_size; p++)
                (void) __atomic_fetch_and(m->dirty_vmm + p / 64, ~(1ull << (p % 64)), __ATOMIC_RELAXED);
}

static void balloon_changed(void *userdata) {
        Machine *m = userdata;
        uint64_t one = 1;

        (void) !write(m->balloon_fd, &one, sizeof(one));
}

static int on_balloon_fd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Machine *m = userdata;
        uint64_t n;

        (void) !read(fd, &n, sizeof(n));
        if (m->on_balloon)
                m->on_balloon(m, virtio_balloon_actual(m->balloon), m->on_balloon_userdata);
        return 0;
}

void machine_set_balloon_handler(Machine *m, machine_balloon_t handler, void *userdata) {
        m->on_balloon = handler;
        m->on_balloon_userdata = userdata;
}

void machine_balloon_set_target(Machine *m, uint64_t bytes) {
        virtio_balloon_set_target(m->balloon, bytes);
}

uint64_t machine_balloon_actual(Machine *m) {
        return virtio_balloon_actual(m->balloon);
}

uint64_t machine_ram_size(Machine *m) {
        return m->ram.size;
}

static int setup_devices(Machine *m, const MachineConfig *c) {
        int r;

        r = pl011_init(&m->uart, machine_irq(m, MACHINE_UART_SPI), uart_output, m);
        if (r >= 0)
                r = pl011_register(&m->uart, &m->bus, MACHINE_UART_BASE);
        if (r < 0)
                return r;
        if (c->agent_listen_fd >= 0) {
                r = virtio_console_new(
                        m->event,
                        &m->ram,
                        machine_irq(m, MACHINE_VIRTIO_SLOT_SPI(MACHINE_VIRTIO_SLOT_CONSOLE)),
                        "org.vmmd1.agent",
                        c->agent_listen_fd,
                        &m->console);
                if (r < 0)
                        return r;
                r = virtio_mmio_register(
                        virtio_console_transport(m->console),
                        &m->bus,
                        MACHINE_VIRTIO_SLOT_BASE(MACHINE_VIRTIO_SLOT_CONSOLE));
                if (r < 0)
                        return r;
        }
        /* Always there (a snapshot has the devices of the machine it restores into). */
        r = virtio_balloon_new(
                &m->ram,
                machine_irq(m, MACHINE_VIRTIO_SLOT_SPI(MACHINE_VIRTIO_SLOT_BALLOON)),
                &(BalloonOps){ .discard = ram_discard, .actual_changed = balloon_changed, .userdata = m },
                &m->balloon);
        if (r < 0)
                return r;
        return virtio_mmio_register(
                virtio_balloon_transport(m->balloon),
                &m->bus,
                MACHINE_VIRTIO_SLOT_BASE(MACHINE_VIRTIO_SLOT_BALLOON));
}

/* The disk behind virtio-blk, with the machine's name as its ID (the guest finds it in
 * /sys/block/vda/serial). */
static int setup_disk(Machine *m, const MachineConfig *c) {
        _cleanup_free_ char *error = NULL;
        Disk *disk;
        int r;

        if (c->disk_backing)
                r = disk_open_overlay(c->disk, c->disk_backing, c->disk_read_only, &disk, &error);
        else
                r = disk_open_raw(c->disk, c->disk_read_only, &disk, &error);
        if (r < 0 && error)
                return log_error_errno(r, "%s", error);
        if (r < 0)
                return log_error_errno(r, "Cannot open disk '%s': %m", c->disk);
        r = virtio_blk_new(
                &m->ram,
                machine_irq(m, MACHINE_VIRTIO_SLOT_SPI(MACHINE_VIRTIO_SLOT_DISK)),
                disk,
                m->name,
                &m->blk);
        if (r < 0) {
                disk_free(disk);
                return log_error_errno(r, "Cannot set up the disk: %m");
        }
        r = virtio_mmio_register(
                virtio_blk_transport(m->blk), &m->bus, MACHINE_VIRTIO_SLOT_BASE(MACHINE_VIRTIO_SLOT_DISK));
        if (r < 0)
                return log_error_errno(r, "Cannot place the disk on the bus: %m");
        log_info(
                "Disk: %s%s%s (%" PRIu64 " MiB%s).",
                c->disk,
                c->disk_backing ? " over " : "",
                strempty(c->disk_backing),
                disk_size(disk) >> 20,
                c->disk_read_only ? ", read-only" : "");
        return 0;
}

int machine_flush_disk(Machine *m) {
        return m->blk ? virtio_blk_flush(m->blk) : 0;
}

static int load_guest(Machine *m, const MachineConfig *c) {
        _cleanup_close_ int kernel_fd = -EBADF, initrd_fd = -EBADF;
        uint8_t fdt[FDT_MAX_SIZE];
        BootLayout boot;
        FdtLayout layout;
        int r;

        kernel_fd = open(c->kernel, O_RDONLY | O_CLOEXEC);
        if (kernel_fd < 0)
                return log_error_errno(errno, "Cannot open kernel '%s': %m", c->kernel);
        if (c->initrd) {
                initrd_fd = open(c->initrd, O_RDONLY | O_CLOEXEC);
                if (initrd_fd < 0)
                        return log_error_errno(errno, "Cannot open initrd '%s': %m", c->initrd);
        }
        r = boot_load(&m->ram, kernel_fd, initrd_fd, &boot);
        if (r == -ENOEXEC)
                return log_error_errno(
                        r, "Kernel '%s' is not an arm64 Linux Image (or one compressed with gzip).", c->kernel);
        if (r == -E2BIG)
                return log_error_errno(
                        r, "Kernel and initrd do not fit into %" PRIu64 " MiB of guest RAM.", c->ram_mib);
        if (r < 0)
                return log_error_errno(r, "Cannot load the kernel: %m");

        layout = (FdtLayout){
                .n_cpus = m->n_vcpus,
                .ram_base = m->ram.base,
                .ram_size = m->ram.size,
                .gic_dist_base = MACHINE_GIC_DIST_BASE,
                .gic_dist_size = MACHINE_GIC_DIST_SIZE,
                .gic_redist_base = MACHINE_GIC_REDIST_BASE,
                .gic_redist_size = MACHINE_GIC_REDIST_STRIDE * m->n_vcpus,
                .bootargs = c->cmdline,
                .initrd_start = boot.initrd_start,
                .initrd_end = boot.initrd_end,
                .stdout_path = "/pl011@9000000",
                .bus = &m->bus,
        };
        if (getrandom(layout.rng_seed, sizeof(layout.rng_seed), 0) != sizeof(layout.rng_seed) ||
            getrandom(&layout.kaslr_seed, sizeof(layout.kaslr_seed), 0) != sizeof(layout.kaslr_seed))
                return log_error_errno(errno, "Cannot get randomness for the guest: %m");
        r = device_tree_build(&layout, fdt, sizeof(fdt));
        if (r < 0)
                return log_error_errno(r, "Cannot build the device tree: %m");
        r = guest_mem_write(&m->ram, boot.fdt_addr, fdt, sizeof(fdt));
        if (r < 0)
                return log_error_errno(r, "Cannot place the device tree: %m");

        /* The boot CPU's registers (booting.rst): x0 the device tree, x1-x3 zero, at the Image's start. */
        r = vcpu_set_reg(m->vcpus, CORE_REG(regs.pc), boot.kernel_entry);
        if (r >= 0)
                r = vcpu_set_reg(m->vcpus, CORE_REG(regs.regs[0]), boot.fdt_addr);
        if (r >= 0)
                r = vcpu_set_reg(m->vcpus, CORE_REG(regs.pstate), PSTATE_EL1H_MASKED);
        if (r < 0)
                return log_error_errno(r, "Cannot set the boot vCPU's registers: %m");
        return 0;
}

static void notify_loop(Machine *m) {
        uint64_t one = 1;

        (void) !write(m->exit_fd, &one, sizeof(one));
}

/* A vCPU cannot go on: the machine ends with an error. */
static void machine_fail(Machine *m) {
        atomic_store(&m->failed, true);
        notify_loop(m);
}

/* The guest powered off or asked for a reset: no vCPU runs it any more (each parks at its next turn), and
 * the event loop decides what follows. */
static void guest_stop(Machine *m, MachineExit how) {
        int none = -1;

        (void) pthread_mutex_lock(&m->run_lock);
        m->pause_requested = true;
        (void) pthread_mutex_unlock(&m->run_lock);
        if (atomic_compare_exchange_strong(&m->guest_stopped, &none, (int) how))
                notify_loop(m);
}

static int inject_abort(Vcpu *v) {
        struct kvm_vcpu_events events = {};

        /* An access nothing answers is an external abort, as on hardware (KVM_CAP_ARM_INJECT_EXT_DABT). */
        events.exception.ext_dabt_pending = 1;
        return ioctl(v->fd, KVM_SET_VCPU_EVENTS, &events) < 0 ? -errno : 0;
}

static int handle_mmio(Vcpu *v) {
        struct kvm_run *run = v->run;
        int r;

        r = mmio_bus_access(
                &v->machine->bus, run->mmio.phys_addr, run->mmio.data, run->mmio.len, run->mmio.is_write);
        if (r == -ENXIO || r == -EINVAL) {
                log_debug(
                        "vCPU %u: %s of %u bytes at 0x%" PRIx64 " reaches no device: external abort.",
                        v->index,
                        run->mmio.is_write ? "write" : "read",
                        run->mmio.len,
                        (uint64_t) run->mmio.phys_addr);
                return inject_abort(v);
        }
        if (r < 0)
                return log_error_errno(
                        r,
                        "vCPU %u: device at 0x%" PRIx64 " failed: %m",
                        v->index,
                        (uint64_t) run->mmio.phys_addr);
        return 0;
}

/* The A64 emulator's view of a vCPU (a64.h): registers through KVM_GET/SET_ONE_REG, RAM, the MMIO bus. */
static uint64_t sp_reg(Vcpu *v, int *r) {
        uint64_t pstate = 0;

        *r = vcpu_get_reg(v, CORE_REG(regs.pstate), &pstate);
        return (pstate & PSTATE_MODE_MASK) == PSTATE_MODE_EL1H ? CORE_REG(sp_el1) : CORE_REG(regs.sp);
}

static int a64_get_reg(void *userdata, unsigned reg, uint64_t *ret) {
        Vcpu *v = userdata;
        uint64_t id;
        int r = 0;

        id = reg < 31 ? CORE_REG(regs.regs[reg]) : reg == A64_REG_PC ? CORE_REG(regs.pc) : sp_reg(v, &r);
        return r < 0 ? r : vcpu_get_reg(v, id, ret);
}

static int a64_set_reg(void *userdata, unsigned reg, uint64_t value) {
        Vcpu *v = userdata;
        uint64_t id;
        int r = 0;

        id = reg < 31 ? CORE_REG(regs.regs[reg]) : reg == A64_REG_PC ? CORE_REG(regs.pc) : sp_reg(v, &r);
        return r < 0 ? r : vcpu_set_reg(v, id, value);
}

static uint64_t vreg_id(unsigned reg) {
        return KVM_REG_ARM64 | KVM_REG_SIZE_U128 | KVM_REG_ARM_CORE |
                (offsetof(struct kvm_regs, fp_regs.vregs[reg]) / sizeof(uint32_t));
}

static int a64_get_vreg(void *userdata, unsigned reg, uint8_t ret[16]) {
        return reg < 32 ? vcpu_get_reg(userdata, vreg_id(reg), ret) : -EINVAL;
}

static int a64_set_vreg(void *userdata, unsigned reg, const uint8_t value[16]) {
        Vcpu *v = userdata;
        struct kvm_one_reg r = { .id = vreg_id(reg), .addr = (uint64_t) (uintptr_t) value };

        if (reg >= 32)
                return -EINVAL;
        return ioctl(v->fd, KVM_SET_ONE_REG, &r) < 0 ? -errno : 0;
}

static int a64_read_phys(void *userdata, uint64_t ipa, void *buf, size_t len) {
        Vcpu *v = userdata;

        return guest_mem_read(&v->machine->ram, ipa, buf, len);
}

/* An element of up to 16 bytes, as the bus's accesses of at most 8. */
static int a64_mmio(Vcpu *v, uint64_t ipa, uint8_t *buf, size_t len, bool is_write) {
        for (size_t done = 0; done < len;) {
                unsigned n = len - done >= 8 ? 8 : (unsigned) (len - done);
                int r;

                r = mmio_bus_access(&v->machine->bus, ipa + done, buf + done, n, is_write);
                if (r < 0)
                        return r;
                done += n;
        }
        return 0;
}

static int a64_mmio_read(void *userdata, uint64_t ipa, void *buf, size_t len) {
        return a64_mmio(userdata, ipa, buf, len, false);
}

static int a64_mmio_write(void *userdata, uint64_t ipa, const void *buf, size_t len) {
        return a64_mmio(userdata, ipa, (uint8_t *) buf, len, true);
}

/* A data abort without a valid syndrome (KVM_CAP_ARM_NISV_TO_USER): a load/store pair, writeback, or a SIMD
 * register to a device. The instruction is decoded and done here; what cannot be emulated gets the external
 * abort a bus nobody answers would give. */
static int handle_nisv(Vcpu *v) {
        uint64_t ipa = v->run->arm_nisv.fault_ipa;
        A64Vcpu a = {
                .userdata = v,
                .get_reg = a64_get_reg,
                .set_reg = a64_set_reg,
                .get_vreg = a64_get_vreg,
                .set_vreg = a64_set_vreg,
                .read_phys = a64_read_phys,
                .mmio_read = a64_mmio_read,
                .mmio_write = a64_mmio_write,
        };
        int r;

        r = vcpu_get_reg(v, REG_SCTLR_EL1, &a.mmu.sctlr);
        if (r >= 0)
                r = vcpu_get_reg(v, REG_TCR_EL1, &a.mmu.tcr);
        if (r >= 0)
                r = vcpu_get_reg(v, REG_TTBR0_EL1, &a.mmu.ttbr0);
        if (r >= 0)
                r = vcpu_get_reg(v, REG_TTBR1_EL1, &a.mmu.ttbr1);
        if (r >= 0)
                r = vcpu_get_reg(v, CORE_REG(regs.pstate), &a.pstate);
        if (r < 0)
                return log_error_errno(r, "vCPU %u: cannot read its registers: %m", v->index);
        r = a64_emulate(&a, ipa);
        if (r >= 0)
                return 0;
        log_debug_errno(
                r,
                "vCPU %u: access without syndrome at 0x%" PRIx64 " not emulated (%m): external abort.",
                v->index,
                ipa);
        return inject_abort(v);
}

static int handle_exit(Vcpu *v) {
        struct kvm_run *run = v->run;

        switch (run->exit_reason) {
        case KVM_EXIT_MMIO:
                v->mmio_pending = true;
                return handle_mmio(v);
        case KVM_EXIT_ARM_NISV:
                return handle_nisv(v);
        case KVM_EXIT_SYSTEM_EVENT:
                switch (run->system_event.type) {
                case KVM_SYSTEM_EVENT_SHUTDOWN:
                        log_info("The guest powered off.");
                        guest_stop(v->machine, MACHINE_EXIT_POWEROFF);
                        return 0;
                case KVM_SYSTEM_EVENT_RESET:
                        log_info("The guest asked for a reset.");
                        guest_stop(v->machine, MACHINE_EXIT_RESET);
                        return 0;
                default:
                        log_error("vCPU %u: system event %u.", v->index, run->system_event.type);
                        return -EIO;
                }
        case KVM_EXIT_INTR:
                return 0;
        case KVM_EXIT_FAIL_ENTRY:
                log_error(
                        "vCPU %u: entry failed, hardware reason 0x%llx.",
                        v->index,
                        (unsigned long long) run->fail_entry.hardware_entry_failure_reason);
                return -EIO;
        case KVM_EXIT_INTERNAL_ERROR:
                log_error("vCPU %u: KVM internal error %u.", v->index, run->internal.suberror);
                return -EIO;
        default:
                log_error("vCPU %u: unexpected exit reason %u.", v->index, run->exit_reason);
                return -EIO;
        }
}

static void on_kick_signal(int sig) {
        /* Only interrupts KVM_RUN. */
}

/* Waits while the vCPUs are to be parked; false once the machine stops. */
static bool vcpu_park(Vcpu *v) {
        Machine *m = v->machine;

        (void) pthread_mutex_lock(&m->run_lock);
        if (m->pause_requested && v->mmio_pending) {
                /* The MMIO read just answered is done by KVM on the next KVM_RUN (the register loaded, PC
                 * past the instruction): that happens now, with immediate_exit, before a snapshot could
                 * see the vCPU half way through it. */
                v->run->immediate_exit = 1;
                (void) ioctl(v->fd, KVM_RUN, 0);
        }
        v->mmio_pending = false;
        while (m->pause_requested && !atomic_load(&m->stopping)) {
                m->n_parked++;
                (void) pthread_cond_broadcast(&m->run_cond);
                (void) pthread_cond_wait(&m->run_cond, &m->run_lock);
                m->n_parked--;
        }
        /* Set by whoever kicked it out of KVM_RUN; it runs again now. */
        v->run->immediate_exit = 0;
        (void) pthread_mutex_unlock(&m->run_lock);
        return !atomic_load(&m->stopping);
}

static void *vcpu_thread(void *userdata) {
        Vcpu *v = userdata;
        Machine *m = v->machine;
        sigset_t mask;
        char name[16];

        (void) snprintf(name, sizeof(name), "vcpu%u", v->index);
        (void) pthread_setname_np(pthread_self(), name);
        sigemptyset(&mask);
        sigaddset(&mask, VCPU_KICK_SIGNAL);
        (void) pthread_sigmask(SIG_UNBLOCK, &mask, NULL);

        while (vcpu_park(v)) {
                if (ioctl(v->fd, KVM_RUN, 0) < 0) {
                        if (IN_SET(errno, EINTR, EAGAIN))
                                continue;
                        log_error_errno(errno, "vCPU %u: KVM_RUN failed: %m", v->index);
                        machine_fail(m);
                        break;
                }
                if (handle_exit(v) < 0) {
                        machine_fail(m);
                        break;
                }
        }

        (void) pthread_mutex_lock(&m->run_lock);
        m->n_running--;
        (void) pthread_cond_broadcast(&m->run_cond);
        (void) pthread_mutex_unlock(&m->run_lock);
        return NULL;
}

/* Takes every vCPU out of KVM_RUN (with the lock held). */
static void kick_vcpus(Machine *m) {
        for (unsigned i = 0; i < m->n_vcpus; i++) {
                Vcpu *v = m->vcpus + i;

                if (!v->thread_started)
                        continue;
                /* immediate_exit catches a vCPU between its last look at the flags and KVM_RUN. */
                v->run->immediate_exit = 1;
                (void) pthread_kill(v->thread, VCPU_KICK_SIGNAL);
        }
}

int machine_pause(Machine *m) {
        (void) pthread_mutex_lock(&m->run_lock);
        m->pause_requested = true;
        kick_vcpus(m);
        while (m->n_parked < m->n_running && !atomic_load(&m->stopping))
                (void) pthread_cond_wait(&m->run_cond, &m->run_lock);
        (void) pthread_mutex_unlock(&m->run_lock);
        return atomic_load(&m->stopping) ? -ESHUTDOWN : 0;
}

int machine_resume(Machine *m) {
        if (atomic_load(&m->guest_stopped) >= 0)
                return -ESHUTDOWN; /* the guest stopped itself: it starts only anew */
        (void) pthread_mutex_lock(&m->run_lock);
        m->pause_requested = false;
        (void) pthread_cond_broadcast(&m->run_cond);
        (void) pthread_mutex_unlock(&m->run_lock);
        return 0;
}

void machine_set_guest_stop_handler(Machine *m, machine_guest_stop_t handler, void *userdata) {
        m->on_guest_stop = handler;
        m->on_guest_stop_userdata = userdata;
}

void machine_exit(Machine *m, MachineExit how) {
        machine_stop(m);
        (void) sd_event_exit(m->event, (int) how);
}

static int on_exit_fd(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Machine *m = userdata;
        int how = atomic_load(&m->guest_stopped);
        uint64_t n;

        (void) !read(fd, &n, sizeof(n));
        if (atomic_load(&m->failed)) {
                machine_exit(m, MACHINE_EXIT_ERROR);
                return 0;
        }
        if (how < 0)
                return 0;
        if (!m->on_guest_stop) {
                machine_exit(m, (MachineExit) how);
                return 0;
        }
        /* The guest's RAM stays as it was; the handler decides (vmmd reads the console, then quits). */
        (void) machine_pause(m);
        m->on_guest_stop(m, (MachineExit) how, m->on_guest_stop_userdata);
        return 0;
}

int machine_new(sd_event *event, const MachineConfig *c, Machine **ret) {
        _cleanup_(machine_freep) Machine *m = NULL;
        _cleanup_(snapshot_done) Snapshot snapshot = {}, base = {};
        int r;

        assert(event);
        assert(c);
        assert(ret);

        if (c->n_cpus == 0 || c->n_cpus > FDT_CPUS_MAX)
                return log_error_errno(EINVAL, "%u vCPUs: vmm-hv runs 1 to %u.", c->n_cpus, FDT_CPUS_MAX);
        if (c->ram_mib < MACHINE_RAM_MIB_MIN || c->ram_mib > MACHINE_RAM_MIB_MAX)
                return log_error_errno(
                        EINVAL,
                        "%" PRIu64 " MiB of RAM: vmm-hv runs %u to %u MiB.",
                        c->ram_mib,
                        MACHINE_RAM_MIB_MIN,
                        MACHINE_RAM_MIB_MAX);
        m = calloc(1, sizeof(*m));
        if (!m)
                return log_oom();
        m->kvm_fd = m->vm_fd = m->gic_fd = m->ram_fd = m->exit_fd = m->console_fd = m->balloon_fd = -EBADF;
        m->event = sd_event_ref(event);
        m->n_vcpus = c->n_cpus;
        m->guest_stopped = -1;
        m->console_ring = malloc(MACHINE_CONSOLE_RING_SIZE);
        if (!m->console_ring || pthread_mutex_init(&m->console_lock, NULL) != 0 ||
            pthread_mutex_init(&m->run_lock, NULL) != 0 || pthread_cond_init(&m->run_cond, NULL) != 0)
                return log_oom();
        for (unsigned i = 0; i < m->n_vcpus; i++)
                m->vcpus[i].fd = -EBADF;
        m->name = strdup(c->name ?: "vmm-hv");
        if (!m->name)
                return log_oom();

        m->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (m->kvm_fd < 0)
                return log_error_errno(errno, "Cannot open /dev/kvm: %m");
        r = ioctl(m->kvm_fd, KVM_GET_API_VERSION, 0);
        if (r != KVM_API_VERSION_EXPECTED)
                return log_error_errno(
                        ENOTSUP, "/dev/kvm speaks API version %d, not %d.", r, KVM_API_VERSION_EXPECTED);
        m->vm_fd = ioctl(m->kvm_fd, KVM_CREATE_VM, 0UL);
        if (m->vm_fd < 0)
                return log_error_errno(errno, "KVM_CREATE_VM failed: %m");
        if (ioctl(m->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_INJECT_EXT_DABT) <= 0)
                return log_error_errno(
                        ENOTSUP, "KVM cannot inject external aborts (KVM_CAP_ARM_INJECT_EXT_DABT).");
        if (ioctl(m->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_NISV_TO_USER) > 0) {
                struct kvm_enable_cap cap = { .cap = KVM_CAP_ARM_NISV_TO_USER };

                if (ioctl(m->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
                        return log_error_errno(errno, "Cannot enable KVM_CAP_ARM_NISV_TO_USER: %m");
        }
        if (c->restore_fd >= 0) {
                r = read_snapshots(c, &snapshot, &base);
                if (r < 0)
                        return r;
                r = setup_ram_from_snapshot(m, c, &snapshot, &base);
        } else
                r = setup_ram(m, c->ram_mib);
        if (r < 0)
                return log_error_errno(r, "Cannot set up %" PRIu64 " MiB of guest RAM: %m", c->ram_mib);
        for (unsigned i = 0; i < m->n_vcpus; i++) {
                r = setup_vcpu(m, i);
                if (r < 0)
                        return log_error_errno(r, "Cannot set up vCPU %u: %m", i);
        }
        r = setup_gic(m);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the vGICv3: %m");

        m->balloon_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->balloon_fd < 0)
                return log_error_errno(errno, "eventfd() failed: %m");
        r = sd_event_add_io(event, &m->balloon_source, m->balloon_fd, EPOLLIN, on_balloon_fd, m);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the balloon: %m");
        m->console_fd = c->console_fd >= 0 ? fcntl(c->console_fd, F_DUPFD_CLOEXEC, 3) : -EBADF;
        if (m->console_fd >= 0)
                (void) fd_nonblock(m->console_fd, true);
        r = setup_devices(m, c);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the devices: %m");
        if (c->disk) {
                r = setup_disk(m, c);
                if (r < 0)
                        return r;
        }
        if (c->restore_fd >= 0) {
                r = machine_snapshot_restore(m, &snapshot);
                if (r == -ENODEV) /* a device missing on one side: said already */
                        return r;
                if (r == -EBADMSG)
                        return log_error_errno(r, "The snapshot does not fit this machine (vCPUs, devices).");
                if (r < 0)
                        return log_error_errno(r, "Cannot restore the snapshot: %m");
        } else {
                r = load_guest(m, c);
                if (r < 0)
                        return r;
        }

        m->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->exit_fd < 0)
                return log_error_errno(errno, "eventfd() failed: %m");
        r = sd_event_add_io(event, &m->exit_source, m->exit_fd, EPOLLIN, on_exit_fd, m);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the vCPUs: %m");
        *ret = TAKE_PTR(m);
        return 0;
}

int machine_save(Machine *m, int fd, bool incremental) {
        return machine_snapshot_save(m, fd, incremental);
}

bool machine_has_base(Machine *m) {
        return !snapshot_id_is_null(&m->base_id);
}

int machine_start(Machine *m) {
        struct sigaction sa = { .sa_handler = on_kick_signal };
        sigset_t mask;
        int r;

        if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
                return log_error_errno(errno, "sigaction() failed: %m");
        /* The vCPU threads inherit this mask and unblock only the kick signal. */
        sigfillset(&mask);
        sigdelset(&mask, SIGSEGV);
        sigdelset(&mask, SIGBUS);
        sigdelset(&mask, SIGABRT);
        for (unsigned i = 0; i < m->n_vcpus; i++) {
                sigset_t old;

                (void) pthread_sigmask(SIG_BLOCK, &mask, &old);
                r = -pthread_create(&m->vcpus[i].thread, NULL, vcpu_thread, m->vcpus + i);
                (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
                if (r < 0)
                        return log_error_errno(r, "Cannot start vCPU %u: %m", i);
                m->vcpus[i].thread_started = true;
                (void) pthread_mutex_lock(&m->run_lock);
                m->n_running++;
                (void) pthread_mutex_unlock(&m->run_lock);
        }
        log_info(
                "%s runs: %u vCPU%s, %" PRIu64 " MiB.",
                m->name,
                m->n_vcpus,
                m->n_vcpus > 1 ? "s" : "",
                m->ram.size >> 20);
        return 0;
}

void machine_stop(Machine *m) {
        (void) pthread_mutex_lock(&m->run_lock);
        atomic_store(&m->stopping, true);
        kick_vcpus(m);
        (void) pthread_cond_broadcast(&m->run_cond);
        (void) pthread_mutex_unlock(&m->run_lock);
        for (unsigned i = 0; i < m->n_vcpus; i++)
                if (m->vcpus[i].thread_started) {
                        (void) pthread_join(m->vcpus[i].thread, NULL);
                        m->vcpus[i].thread_started = false;
                }
}

size_t machine_console_read(Machine *m, void *buf, size_t size) {
        size_t n;

        (void) pthread_mutex_lock(&m->console_lock);
        n = MIN(size, m->console_size);
        for (size_t i = 0; i < n; i++)
                ((uint8_t *) buf)[i] = m->console_ring[(m->console_start + i) % MACHINE_CONSOLE_RING_SIZE];
        m->console_start = (m->console_start + n) % MACHINE_CONSOLE_RING_SIZE;
        m->console_size -= n;
        (void) pthread_mutex_unlock(&m->console_lock);
        return n;
}

const char *machine_name(Machine *m) {
        return m->name;
}

Machine *machine_free(Machine *m) {
        if (!m)
                return NULL;
        machine_stop(m);
        m->console = virtio_console_free(m->console);
        m->balloon = virtio_balloon_free(m->balloon);
        m->blk = virtio_blk_free(m->blk);
        sd_event_source_disable_unref(m->balloon_source);
        safe_close(m->balloon_fd);
        free(m->console_ring);
        (void) pthread_mutex_destroy(&m->console_lock);
        (void) pthread_mutex_destroy(&m->run_lock);
        (void) pthread_cond_destroy(&m->run_cond);
        for (unsigned i = 0; i < m->n_vcpus; i++) {
                if (m->vcpus[i].run)
                        (void) munmap(m->vcpus[i].run, m->vcpus[i].run_size);
                safe_close(m->vcpus[i].fd);
        }
        if (m->ram.host)
                (void) munmap(m->ram.host, m->ram.size);
        free(m->dirty_vmm);
        free(m->dirty_kvm);
        free(m->since_base);
        sd_event_source_disable_unref(m->exit_source);
        safe_close(m->exit_fd);
        safe_close(m->console_fd);
        safe_close(m->gic_fd);
        safe_close(m->ram_fd);
        safe_close(m->vm_fd);
        safe_close(m->kvm_fd);
        sd_event_unref(m->event);
        free(m->name);
        return mfree(m);
}
