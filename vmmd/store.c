/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SQLite state store. Every change is one transaction; the schema is versioned by user_version. */
#include <sqlite3.h>

#include "store.h"

struct Store {
        sqlite3 *db;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize);
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

/* Migration i takes the schema from version i to i + 1. Never edit a released step: append one. */
static const char *const migrations[] = {
        "CREATE TABLE vms ("
        "  name TEXT PRIMARY KEY NOT NULL,"
        "  persona TEXT NOT NULL,"
        "  image TEXT NOT NULL,"
        "  state TEXT NOT NULL,"
        "  failure_reason TEXT,"
        "  ephemeral INTEGER NOT NULL,"
        "  memory_mib INTEGER NOT NULL,"
        "  vcpus INTEGER NOT NULL,"
        "  accel TEXT NOT NULL,"
        "  disk_path TEXT,"
        "  created_usec INTEGER NOT NULL,"
        "  pid INTEGER NOT NULL DEFAULT 0"
        ");",
        /* Who created the VM; those of earlier versions were root's to make. */
        "ALTER TABLE vms ADD COLUMN owner_uid INTEGER NOT NULL DEFAULT 0;",
        /* The VM's own uid (and gid); 0: none yet, one is given at its next start. */
        "ALTER TABLE vms ADD COLUMN uid INTEGER NOT NULL DEFAULT 0;",
        /* The guest's /etc/machine-id (32 hex digits); NULL: one is made when the VM is next loaded. */
        "ALTER TABLE vms ADD COLUMN machine_id TEXT;",
        /* The golden snapshot a clone was made from (its disk's backing file lives there), and the id of the
         * VMM instance that runs; NULL: a cold boot, none. */
        "ALTER TABLE vms ADD COLUMN golden TEXT; ALTER TABLE vms ADD COLUMN instance_id TEXT;",
        /* The VMM it runs in (persona.h's vmm_kind: "qemu" or "hv"); all ran in QEMU before. */
        "ALTER TABLE vms ADD COLUMN vmm TEXT NOT NULL DEFAULT 'qemu';",
};

static int sqlite_to_errno(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_DONE:
        case SQLITE_ROW:
                return 0;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_NOTADB:
        case SQLITE_CORRUPT:
                return -EBADMSG;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_READONLY:
        case SQLITE_PERM:
                return -EACCES;
        case SQLITE_FULL:
                return -ENOSPC;
        default:
                return -EIO;
        }
}

static int exec_sql(Store *s, const char *sql) {
        return sqlite_to_errno(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

static void set_error(char **ret_error, sqlite3 *db, const char *what) {
        if (ret_error)
                (void) asprintf(ret_error, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

int store_schema_version(Store *s, int *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version;", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return sqlite_to_errno(rc) ?: -EIO;
        *ret = sqlite3_column_int(st, 0);
        return 0;
}

static int migrate(Store *s, char **ret_error) {
        int version, r;

        r = store_schema_version(s, &version);
        if (r < 0) {
                set_error(ret_error, s->db, "Failed to read the schema version");
                return r;
        }
        if (version > (int) ELEMENTSOF(migrations)) {
                if (ret_error)
                        (void) asprintf(
                                ret_error,
                                "Database schema version %d is newer than this vmmd knows (%zu)",
                                version,
                                ELEMENTSOF(migrations));
                return -EPROTONOSUPPORT;
        }
        for (; version < (int) ELEMENTSOF(migrations); version++) {
                char pragma[64];

                /* Each step and its version bump are one transaction: a crash leaves either. */
                r = exec_sql(s, "BEGIN IMMEDIATE;");
                if (r >= 0)
                        r = exec_sql(s, migrations[version]);
                if (r >= 0) {
                        (void) snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d;", version + 1);
                        r = exec_sql(s, pragma);
                }
                if (r >= 0)
                        r = exec_sql(s, "COMMIT;");
                if (r < 0) {
                        set_error(ret_error, s->db, "Failed to migrate the database");
                        (void) exec_sql(s, "ROLLBACK;");
                        return r;
                }
        }
        return 0;
}

int store_open(const char *path, Store **ret, char **ret_error) {
        _cleanup_(store_freep) Store *s = NULL;
        int rc, r;

        s = calloc(1, sizeof(Store));
        if (!s)
                return -ENOMEM;
        rc = sqlite3_open_v2(
                path,
                &s->db,
                SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                NULL);
        if (rc != SQLITE_OK) {
                set_error(ret_error, s->db, "Failed to open the database");
                return sqlite_to_errno(rc);
        }
        (void) sqlite3_busy_timeout(s->db, 5000);
        /* WAL with synchronous=FULL: a committed state change survives a crash of vmmd or the host. */
        r = exec_sql(s, "PRAGMA journal_mode = WAL;");
        if (r >= 0)
                r = exec_sql(s, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;");
        if (r < 0) {
                set_error(ret_error, s->db, "Failed to set up the database");
                return r;
        }
        r = migrate(s, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

Store *store_free(Store *s) {
        if (!s)
                return NULL;
        (void) sqlite3_close_v2(s->db);
        free(s);
        return NULL;
}

void vm_record_done(VMRecord *r) {
        if (!r)
                return;
        free(r->name);
        free(r->persona);
        free(r->image);
        free(r->state);
        free(r->failure_reason);
        free(r->accel);
        free(r->disk_path);
        free(r->machine_id);
        free(r->golden);
        free(r->instance_id);
        free(r->vmm);
        *r = (VMRecord){};
}

void vm_record_array_free(VMRecord *r, size_t n) {
        for (size_t i = 0; i < n; i++)
                vm_record_done(r + i);
        free(r);
}

static int vm_write(Store *s, const VMRecord *r, const char *sql) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, k;

        rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        k = 1;
        rc = sqlite3_bind_text(st, k++, r->name, -1, SQLITE_STATIC);
        rc = rc ?: sqlite3_bind_text(st, k++, r->persona, -1, SQLITE_STATIC);
        rc = rc ?: sqlite3_bind_text(st, k++, r->image, -1, SQLITE_STATIC);
        rc = rc ?: sqlite3_bind_text(st, k++, r->state, -1, SQLITE_STATIC);
        rc = rc ?: sqlite3_bind_text(st, k++, r->failure_reason, -1, SQLITE_STATIC);
        rc = rc ?: sqlite3_bind_int(st, k++, r->ephemeral);
        rc = rc ?: sqlite3_bind_int64(st, k++, (sqlite3_int64) r->memory_mib);
        rc = rc ?: sqlite3_bind_int64(st, k++, r->vcpus);
        rc = rc ?: sqlite3_bind_text(st, k++, r->accel, -1, SQLITE_STATIC);
        rc = rc ?: sqlite3_bind_text(st, k++, r->disk_path, -1, SQLITE_STATIC);
        rc = rc ?: sqlite3_bind_int64(st, k++, (sqlite3_int64) r->created_usec);
        rc = rc ?: sqlite3_bind_int64(st, k++, r->pid);
        rc = rc ?: sqlite3_bind_int64(st, k++, r->owner_uid);
        rc = rc ?: sqlite3_bind_int64(st, k++, r->uid);
        rc = rc ?: sqlite3_bind_text(st, k++, r->machine_id, -1, SQLITE_STATIC);
        rc = rc ?: sqlite3_bind_text(st, k++, r->golden, -1, SQLITE_STATIC);
        rc = rc ?: sqlite3_bind_text(st, k++, r->instance_id, -1, SQLITE_STATIC);
        rc = rc ?: sqlite3_bind_text(st, k++, r->vmm, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return sqlite_to_errno(rc) ?: -EIO;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

#define VM_COLUMNS \
        "name, persona, image, state, failure_reason, ephemeral, memory_mib, vcpus, accel, disk_path, " \
        "created_usec, pid, owner_uid, uid, machine_id, golden, instance_id, vmm"

int store_vm_insert(Store *s, const VMRecord *r) {
        /* A single statement is its own transaction in SQLite. */
        return vm_write(
                s,
                r,
                "INSERT INTO vms (" VM_COLUMNS
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);");
}

int store_vm_update(Store *s, const VMRecord *r) {
        return vm_write(
                s,
                r,
                "UPDATE vms SET name = ?1, persona = ?2, image = ?3, state = ?4, failure_reason = ?5,"
                " ephemeral = ?6, memory_mib = ?7, vcpus = ?8, accel = ?9, disk_path = ?10,"
                " created_usec = ?11, pid = ?12, owner_uid = ?13, uid = ?14, machine_id = ?15,"
                " golden = ?16, instance_id = ?17, vmm = ?18 WHERE name = ?1;");
}

int store_vm_delete(Store *s, const char *name) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(s->db, "DELETE FROM vms WHERE name = ?;", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return sqlite_to_errno(rc) ?: -EIO;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

static int column_strdup(sqlite3_stmt *st, int i, char **ret) {
        const unsigned char *t = sqlite3_column_text(st, i);

        if (!t) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup((const char *) t);
        return *ret ? 0 : -ENOMEM;
}

int store_vm_load_all(Store *s, VMRecord **ret, size_t *ret_n) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        VMRecord *list = NULL;
        size_t n = 0;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(
                s->db, "SELECT " VM_COLUMNS " FROM vms ORDER BY created_usec, name;", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                VMRecord *t = reallocarray(list, n + 1, sizeof(VMRecord)), *v;

                if (!t) {
                        r = -ENOMEM;
                        break;
                }
                list = t;
                v = list + n++;
                *v = (VMRecord){
                        .ephemeral = sqlite3_column_int(st, 5),
                        .memory_mib = (uint64_t) sqlite3_column_int64(st, 6),
                        .vcpus = (uint32_t) sqlite3_column_int64(st, 7),
                        .created_usec = (uint64_t) sqlite3_column_int64(st, 10),
                        .pid = sqlite3_column_int64(st, 11),
                        .owner_uid = (uid_t) sqlite3_column_int64(st, 12),
                        .uid = (uid_t) sqlite3_column_int64(st, 13),
                };
                r = column_strdup(st, 0, &v->name);
                r = r ?: column_strdup(st, 1, &v->persona);
                r = r ?: column_strdup(st, 2, &v->image);
                r = r ?: column_strdup(st, 3, &v->state);
                r = r ?: column_strdup(st, 4, &v->failure_reason);
                r = r ?: column_strdup(st, 8, &v->accel);
                r = r ?: column_strdup(st, 9, &v->disk_path);
                r = r ?: column_strdup(st, 14, &v->machine_id);
                r = r ?: column_strdup(st, 15, &v->golden);
                r = r ?: column_strdup(st, 16, &v->instance_id);
                r = r ?: column_strdup(st, 17, &v->vmm);
                if (r < 0)
                        break;
                if (!v->name || !v->persona || !v->image || !v->state || !v->accel || !v->vmm) {
                        r = -EBADMSG;
                        break;
                }
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = sqlite_to_errno(rc) ?: -EIO;
        if (r < 0) {
                vm_record_array_free(list, n);
                return r;
        }
        *ret = list;
        *ret_n = n;
        return 0;
}
