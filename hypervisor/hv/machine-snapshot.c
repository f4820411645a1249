/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A paused machine's state into a snapshot file (snapshot.h) and back: every register KVM lists for each
 * vCPU (the architected timers' among them: the virtual counter goes on where it stood), MP state and
 * pending events, the vGICv3's distributor, redistributors and CPU interfaces, each device's own state, and
 * guest RAM: all of it, or for an incremental snapshot the pages written since the machine's base. */
#include <assert.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/random.h>

#include "log.h"
#include "machine-internal.h"

#define REG_VALUE_MAX 256u /* bytes of one register (SVE's would be bigger; vmm-hv does not enable SVE) */

typedef struct MachineState {
        uint32_t n_vcpus, nr_irqs;
        uint64_t ram_base, ram_size;
} MachineState;

typedef struct VcpuMisc {
        struct kvm_mp_state mp_state;
        struct kvm_vcpu_events events;
} VcpuMisc;

/* One register or GIC register in a section: its id (or offset, or encoding) and value. */
typedef struct RegEntry {
        uint64_t id;
        uint64_t value;
} RegEntry;

/* The GICv3 registers kept (Arm IHI 0069). Distributor, 32-bit each: per-interrupt registers of the
 * SPIs (the first 32 interrupts are the redistributors'), then GICD_IROUTER<n> as two halves. */
#define GICD_CTLR 0x0000
#define GICD_IGROUPR 0x0080
#define GICD_ISENABLER 0x0100
#define GICD_ISPENDR 0x0200
#define GICD_ISACTIVER 0x0300
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR 0x0c00
#define GICD_IGRPMODR 0x0d00
#define GICD_IROUTER 0x6000
/* Redistributor, SGI frame (64 KiB in): the private interrupts. */
#define GICR_SGI 0x10000
#define GICR_CTLR 0x0000

/* ICC_*_EL1 as KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS encodes them (op0, op1, CRn, CRm, op2). */
#define ICC_SYSREG(op0, op1, crn, crm, op2) \
        (((uint64_t) (op0) << 14) | ((uint64_t) (op1) << 11) | ((uint64_t) (crn) << 7) | \
         ((uint64_t) (crm) << 3) | (uint64_t) (op2))
/* SRE first, then CTLR: what the others mean depends on them. */
static const uint64_t icc_regs[] = {
        ICC_SYSREG(3, 0, 12, 12, 5), /* ICC_SRE_EL1 */
        ICC_SYSREG(3, 0, 12, 12, 4), /* ICC_CTLR_EL1 */
        ICC_SYSREG(3, 0, 4, 6, 0),   /* ICC_PMR_EL1 */
        ICC_SYSREG(3, 0, 12, 8, 3),  /* ICC_BPR0_EL1 */
        ICC_SYSREG(3, 0, 12, 12, 3), /* ICC_BPR1_EL1 */
        ICC_SYSREG(3, 0, 12, 8, 4),  /* ICC_AP0R0_EL1 */
        ICC_SYSREG(3, 0, 12, 9, 0),  /* ICC_AP1R0_EL1 */
        ICC_SYSREG(3, 0, 12, 12, 6), /* ICC_IGRPEN0_EL1 */
        ICC_SYSREG(3, 0, 12, 12, 7), /* ICC_IGRPEN1_EL1 */
};

static uint64_t mpidr_attr(unsigned vcpu) {
        /* KVM gives vCPU i affinity Aff0 = i (i < 16), in the attribute's bits 63:32. */
        return (uint64_t) vcpu << KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT;
}

/* The distributor's offsets, in the order they are written back. */
static size_t gicd_offsets(uint64_t *ret, size_t max) {
        const uint32_t nr_irqs = MACHINE_GIC_NR_IRQS;
        static const struct {
                uint32_t base, bits;
        } per_irq[] = {
                { GICD_IGROUPR, 1 },   { GICD_IGRPMODR, 1 }, { GICD_ICFGR, 2 },     { GICD_IPRIORITYR, 8 },
                { GICD_ISENABLER, 1 }, { GICD_ISPENDR, 1 },  { GICD_ISACTIVER, 1 },
        };
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(per_irq); i++)
                for (uint32_t irq = 32; irq < nr_irqs; irq += 32 / per_irq[i].bits)
                        if (n < max)
                                ret[n++] = per_irq[i].base + irq * per_irq[i].bits / 8;
        for (uint32_t irq = 32; irq < nr_irqs; irq++)
                for (uint32_t half = 0; half < 2; half++)
                        if (n < max)
                                ret[n++] = GICD_IROUTER + 8 * irq + 4 * half;
        if (n < max)
                ret[n++] = GICD_CTLR; /* last: the distributor is enabled once all is in place */
        return n;
}

static size_t gicr_offsets(uint64_t *ret, size_t max) {
        static const uint32_t sgi[] = { GICD_IGROUPR, GICD_IGRPMODR, GICD_ICFGR, GICD_ICFGR + 4 };
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(sgi); i++)
                ret[n++] = GICR_SGI + sgi[i];
        for (uint32_t i = 0; i < 8; i++)
                ret[n++] = GICR_SGI + GICD_IPRIORITYR + 4 * i;
        ret[n++] = GICR_SGI + GICD_ISENABLER;
        ret[n++] = GICR_SGI + GICD_ISPENDR;
        ret[n++] = GICR_SGI + GICD_ISACTIVER;
        ret[n++] = GICR_CTLR;
        assert(n <= max);
        return n;
}

static size_t icc_offsets(uint64_t *ret, size_t max) {
        assert(ELEMENTSOF(icc_regs) <= max);
        memcpy(ret, icc_regs, sizeof(icc_regs));
        return ELEMENTSOF(icc_regs);
}

/* The vGIC's state by groups of KVM_DEV_ARM_VGIC_GRP_*, in the order they are restored: the CPU interfaces
 * and redistributors, then the distributor (its CTLR last). */
static const struct {
        SnapshotTag tag;
        uint32_t group;
        bool per_vcpu;
        bool wide; /* 64-bit values (the ICC_* system registers); the others are 32-bit */
        size_t (*offsets)(uint64_t *ret, size_t max);
} gic_groups[] = {
        { SNAPSHOT_TAG_GIC_CPU, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, true, true, icc_offsets },
        { SNAPSHOT_TAG_GIC_REDIST, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, true, false, gicr_offsets },
        { SNAPSHOT_TAG_GIC_DIST, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, false, false, gicd_offsets },
};

#define GIC_OFFSETS_MAX 1024

static int save_attrs(
        Machine *m,
        SnapshotWriter *w,
        SnapshotTag tag,
        uint64_t index,
        uint32_t group,
        uint64_t attr_base,
        const uint64_t *offsets,
        size_t n,
        bool wide) {
        _cleanup_free_ RegEntry *e = calloc(n, sizeof(RegEntry));
        int r;

        if (!e)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                uint32_t v32 = 0;

                e[i].id = offsets[i];
                r = kvm_get_attr(m->gic_fd, group, attr_base | offsets[i], wide ? (void *) &e[i].value : &v32);
                if (r < 0)
                        return r;
                if (!wide)
                        e[i].value = v32;
        }
        snapshot_add(w, tag, index, e, n * sizeof(RegEntry));
        return 0;
}

static int save_gic(Machine *m, SnapshotWriter *w) {
        uint64_t offsets[GIC_OFFSETS_MAX];

        for (size_t g = 0; g < ELEMENTSOF(gic_groups); g++) {
                size_t n = gic_groups[g].offsets(offsets, ELEMENTSOF(offsets));

                for (unsigned i = 0; i < (gic_groups[g].per_vcpu ? m->n_vcpus : 1); i++) {
                        int r = save_attrs(
                                m,
                                w,
                                gic_groups[g].tag,
                                i,
                                gic_groups[g].group,
                                gic_groups[g].per_vcpu ? mpidr_attr(i) : 0,
                                offsets,
                                n,
                                gic_groups[g].wide);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int save_vcpu(Vcpu *v, SnapshotWriter *w) {
        _cleanup_free_ struct kvm_reg_list *list = NULL;
        _cleanup_free_ uint8_t *regs = NULL;
        struct kvm_reg_list probe = { .n = 0 };
        size_t size = 0;
        VcpuMisc misc = {};
        int r;

        /* The first call says how many. */
        if (ioctl(v->fd, KVM_GET_REG_LIST, &probe) >= 0 || errno != E2BIG)
                return -EIO;
        list = calloc(1, sizeof(*list) + probe.n * sizeof(uint64_t));
        if (!list)
                return -ENOMEM;
        list->n = probe.n;
        if (ioctl(v->fd, KVM_GET_REG_LIST, list) < 0)
                return -errno;
        regs = calloc(list->n, sizeof(uint64_t) + REG_VALUE_MAX);
        if (!regs)
                return -ENOMEM;
        for (uint64_t i = 0; i < list->n; i++) {
                uint64_t id = list->reg[i];
                uint32_t bytes = KVM_REG_SIZE(id);

                if (bytes > REG_VALUE_MAX)
                        return -E2BIG;
                memcpy(regs + size, &id, sizeof(id));
                r = vcpu_get_reg(v, id, regs + size + sizeof(id));
                if (r < 0)
                        return log_error_errno(
                                r, "vCPU %u: cannot read register 0x%" PRIx64 ": %m", v->index, id);
                size += sizeof(id) + ((bytes + 7) & ~7u);
        }
        snapshot_add(w, SNAPSHOT_TAG_VCPU_REGS, v->index, regs, size);

        if (ioctl(v->fd, KVM_GET_MP_STATE, &misc.mp_state) < 0 ||
            ioctl(v->fd, KVM_GET_VCPU_EVENTS, &misc.events) < 0)
                return -errno;
        snapshot_add(w, SNAPSHOT_TAG_VCPU_MISC, v->index, &misc, sizeof(misc));
        return 0;
}

int machine_snapshot_save(Machine *m, int fd, bool incremental) {
        _cleanup_(snapshot_writer_done) SnapshotWriter w = {};
        MachineState ms = {
                .n_vcpus = m->n_vcpus,
                .nr_irqs = MACHINE_GIC_NR_IRQS,
                .ram_base = m->ram.base,
                .ram_size = m->ram.size,
        };
        SnapshotPages pages = { .page_size = m->page_size, .n_pages = m->n_pages, .bitmap = m->since_base };
        char id[SNAPSHOT_ID_STRING_MAX], base_id[SNAPSHOT_ID_STRING_MAX];
        uint64_t n_held = 0;
        int r;

        if (incremental && snapshot_id_is_null(&m->base_id))
                return log_error_errno(
                        ENOENT,
                        "No base for an incremental snapshot: the machine booted and wrote no full one.");
        /* The machine is paused: nothing writes its RAM now. What the guest and the VMM wrote since the last
         * snapshot goes into since_base, and KVM logs from here on (a booted machine's first snapshot turns
         * it on), so that the next snapshot can be a delta. */
        r = machine_dirty_log_start(m);
        if (r >= 0)
                r = machine_dirty_collect(m);
        if (r < 0)
                return log_error_errno(r, "Cannot read the dirty log of guest RAM: %m");
        if (getrandom(&w.id, sizeof(w.id), 0) != sizeof(w.id))
                return log_error_errno(errno, "Cannot get randomness for the snapshot's id: %m");
        if (incremental)
                w.base_id = m->base_id;

        snapshot_add(&w, SNAPSHOT_TAG_MACHINE, 0, &ms, sizeof(ms));
        for (unsigned i = 0; i < m->n_vcpus; i++) {
                r = save_vcpu(m->vcpus + i, &w);
                if (r < 0)
                        return r;
        }
        r = save_gic(m, &w);
        if (r < 0)
                return log_error_errno(r, "Cannot read the vGIC's state: %m");
        for (unsigned i = 0; i < m->bus.n_regions; i++) {
                const MmioRegion *region = m->bus.regions + i;
                _cleanup_free_ void *state = NULL;
                size_t size;

                if (!region->ops->save)
                        continue;
                r = region->ops->save(region->dev, &state, &size);
                if (r < 0)
                        return log_error_errno(r, "Cannot save the state of %s: %m", region->name);
                snapshot_add(&w, SNAPSHOT_TAG_DEVICE, region->base, state, size);
        }
        r = snapshot_write(&w, fd, m->ram.base, m->ram.host, m->ram.size, incremental ? &pages : NULL);
        if (r < 0)
                return log_error_errno(r, "Cannot write the snapshot: %m");
        if (!incremental) {
                /* The new base: a delta from now on goes over this snapshot. A delta keeps the base, and the
                 * next one holds its pages too, so that every delta needs only its full snapshot. */
                m->base_id = w.id;
                memset(m->since_base, 0, (m->n_pages + 63) / 64 * sizeof(uint64_t));
                log_info("Wrote snapshot %s.", snapshot_id_to_string(&w.id, id));
                return 0;
        }
        for (uint64_t i = 0; i < (m->n_pages + 63) / 64; i++)
                n_held += (uint64_t) __builtin_popcountll(m->since_base[i]);
        log_info(
                "Wrote snapshot %s, a delta of %s: %" PRIu64 " of %" PRIu64 " pages.",
                snapshot_id_to_string(&w.id, id),
                snapshot_id_to_string(&w.base_id, base_id),
                n_held,
                m->n_pages);
        return 0;
}

static int restore_vcpu(Vcpu *v, const Snapshot *s) {
        const uint8_t *regs;
        const VcpuMisc *misc;
        size_t size, misc_size;
        VcpuMisc m;

        regs = snapshot_find(s, SNAPSHOT_TAG_VCPU_REGS, v->index, &size);
        misc = snapshot_find(s, SNAPSHOT_TAG_VCPU_MISC, v->index, &misc_size);
        if (!regs || !misc || misc_size != sizeof(VcpuMisc))
                return -EBADMSG;
        for (size_t off = 0; off < size;) {
                uint64_t id;
                uint32_t bytes;
                struct kvm_one_reg reg;

                if (size - off < sizeof(id))
                        return -EBADMSG;
                memcpy(&id, regs + off, sizeof(id));
                bytes = KVM_REG_SIZE(id);
                if (bytes > REG_VALUE_MAX || size - off - sizeof(id) < ((bytes + 7) & ~7u))
                        return -EBADMSG;
                reg = (struct kvm_one_reg){ .id = id,
                                            .addr = (uint64_t) (uintptr_t) (regs + off + sizeof(id)) };
                if (ioctl(v->fd, KVM_SET_ONE_REG, &reg) < 0)
                        return log_error_errno(
                                errno, "vCPU %u: cannot restore register 0x%" PRIx64 ": %m", v->index, id);
                off += sizeof(id) + ((bytes + 7) & ~7u);
        }
        memcpy(&m, misc, sizeof(m));
        if (ioctl(v->fd, KVM_SET_MP_STATE, &m.mp_state) < 0 || ioctl(v->fd, KVM_SET_VCPU_EVENTS, &m.events) < 0)
                return -errno;
        return 0;
}

static int restore_attrs(
        Machine *m,
        const Snapshot *s,
        SnapshotTag tag,
        uint64_t index,
        uint32_t group,
        uint64_t attr_base,
        const uint64_t *offsets,
        size_t n,
        bool wide) {
        const RegEntry *e;
        size_t size;
        int r;

        e = snapshot_find(s, tag, index, &size);
        if (!e || size != n * sizeof(RegEntry))
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                RegEntry x;
                uint32_t v32;

                memcpy(&x, e + i, sizeof(x));
                /* Only the registers this machine keeps, in its order. */
                if (x.id != offsets[i])
                        return -EBADMSG;
                v32 = (uint32_t) x.value;
                r = kvm_set_attr(m->gic_fd, group, attr_base | offsets[i], wide ? (void *) &x.value : &v32);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The snapshot's devices and this machine's must be the same set: a guest whose driver finds its device
 * gone faults on its registers. Each device of the machine needs its state (checked as it is loaded); here,
 * every virtio device of the snapshot needs its device. The disk is the caller's to give, so it gets words
 * of its own. */
static int check_devices(Machine *m, const Snapshot *s) {
        bool had_disk = snapshot_find(
                s, SNAPSHOT_TAG_DEVICE, MACHINE_VIRTIO_SLOT_BASE(MACHINE_VIRTIO_SLOT_DISK), NULL);

        if (had_disk && !m->blk)
                return log_error_errno(
                        ENODEV,
                        "The snapshot is of a machine with a disk: restore it with --disk (the disk as it was "
                        "when the snapshot was taken, or a copy of it).");
        if (!had_disk && m->blk)
                return log_error_errno(
                        ENODEV, "The snapshot is of a machine without a disk: restore it without --disk.");
        for (unsigned slot = 0; slot < MACHINE_VIRTIO_MAX; slot++) {
                uint64_t base = MACHINE_VIRTIO_SLOT_BASE(slot);

                if (snapshot_find(s, SNAPSHOT_TAG_DEVICE, base, NULL) && !mmio_bus_find(&m->bus, base, 4))
                        return log_error_errno(
                                ENODEV,
                                "The snapshot has a virtio device at 0x%" PRIx64
                                " that this machine lacks (the agent's console needs --agent-fd).",
                                base);
        }
        return 0;
}

int machine_snapshot_restore(Machine *m, const Snapshot *s) {
        uint64_t offsets[GIC_OFFSETS_MAX];
        const MachineState *ms;
        MachineState st;
        size_t size, n;
        int r;

        ms = snapshot_find(s, SNAPSHOT_TAG_MACHINE, 0, &size);
        if (!ms || size != sizeof(st))
                return -EBADMSG;
        memcpy(&st, ms, sizeof(st));
        if (st.n_vcpus != m->n_vcpus || st.nr_irqs != MACHINE_GIC_NR_IRQS || st.ram_base != m->ram.base ||
            st.ram_size != m->ram.size)
                return -EBADMSG;

        for (unsigned i = 0; i < m->n_vcpus; i++) {
                r = restore_vcpu(m->vcpus + i, s);
                if (r < 0)
                        return r;
        }
        for (size_t g = 0; g < ELEMENTSOF(gic_groups); g++) {
                n = gic_groups[g].offsets(offsets, ELEMENTSOF(offsets));
                for (unsigned i = 0; i < (gic_groups[g].per_vcpu ? m->n_vcpus : 1); i++) {
                        r = restore_attrs(
                                m,
                                s,
                                gic_groups[g].tag,
                                i,
                                gic_groups[g].group,
                                gic_groups[g].per_vcpu ? mpidr_attr(i) : 0,
                                offsets,
                                n,
                                gic_groups[g].wide);
                        if (r < 0)
                                return log_error_errno(
                                        r,
                                        "Cannot restore the vGIC (group %" PRIu32 ", %u): %m",
                                        gic_groups[g].group,
                                        i);
                }
        }

        r = check_devices(m, s);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < m->bus.n_regions; i++) {
                const MmioRegion *region = m->bus.regions + i;
                const void *state;

                if (!region->ops->load)
                        continue;
                state = snapshot_find(s, SNAPSHOT_TAG_DEVICE, region->base, &size);
                if (!state)
                        return log_error_errno(EBADMSG, "The snapshot has no state for %s.", region->name);
                r = region->ops->load(region->dev, state, size);
                if (r < 0)
                        return log_error_errno(r, "Cannot restore the state of %s: %m", region->name);
        }
        return 0;
}
