/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SQLite store: creation, migrations, newer schemas, garbage files, round trips. */
#include <assert.h>
#include <sqlite3.h>

#include "store.h"

static char dir[] = "/tmp/test-store-XXXXXX";

static char *db_path(const char *name) {
        char *p;

        assert(asprintf(&p, "%s/%s", dir, name) >= 0);
        return p;
}

static void exec_raw(const char *path, const char *sql) {
        sqlite3 *db;

        assert(sqlite3_open(path, &db) == SQLITE_OK);
        assert(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
        sqlite3_close(db);
}

static void test_fresh_and_roundtrip(void) {
        _cleanup_free_ char *path = db_path("fresh.db");
        _cleanup_(store_freep) Store *s = NULL;
        VMRecord r = {
                .name = (char *) "work",
                .persona = (char *) "work",
                .image = (char *) "reference",
                .state = (char *) "running",
                .ephemeral = false,
                .memory_mib = 512,
                .vcpus = 2,
                .accel = (char *) "tcg",
                .disk_path = (char *) "/var/lib/vmmd/vms/work/disk.qcow2",
                .created_usec = 1234567,
                .pid = 42,
                .owner_uid = 1000,
                .vmm = (char *) "hv",
        };
        VMRecord *all = NULL;
        size_t n = 0;
        int version;

        assert(store_open(path, &s, NULL) >= 0);
        assert(store_schema_version(s, &version) >= 0);
        assert(version == STORE_SCHEMA_VERSION);
        assert(store_vm_load_all(s, &all, &n) >= 0 && n == 0);
        free(all);

        assert(store_vm_insert(s, &r) >= 0);
        assert(store_vm_insert(s, &r) == -EEXIST);
        r.state = (char *) "failed";
        r.failure_reason = (char *) "QEMU was killed by signal 9 (KILL)";
        r.pid = 0;
        assert(store_vm_update(s, &r) >= 0);

        /* What was written is what a new process reads. */
        s = store_free(s);
        assert(store_open(path, &s, NULL) >= 0);
        assert(store_vm_load_all(s, &all, &n) >= 0 && n == 1);
        assert(streq(all[0].name, "work") && streq(all[0].state, "failed"));
        assert(streq(all[0].failure_reason, "QEMU was killed by signal 9 (KILL)"));
        assert(all[0].memory_mib == 512 && all[0].vcpus == 2 && all[0].pid == 0 && !all[0].ephemeral);
        assert(all[0].owner_uid == 1000);
        assert(streq(all[0].disk_path, "/var/lib/vmmd/vms/work/disk.qcow2"));
        assert(all[0].created_usec == 1234567);
        assert(streq(all[0].vmm, "hv"));
        vm_record_array_free(all, n);

        assert(store_vm_delete(s, "work") >= 0);
        assert(store_vm_delete(s, "work") == -ENOENT);
        r.name = (char *) "nope";
        assert(store_vm_update(s, &r) == -ENOENT);
}

/* A VM recorded before the VMM was a choice ran in QEMU, and still does. */
static void test_migration_keeps_rows(void) {
        _cleanup_free_ char *path = db_path("v5.db");
        _cleanup_(store_freep) Store *s = NULL;
        VMRecord *all = NULL;
        size_t n = 0;

        exec_raw(
                path,
                "CREATE TABLE vms (name TEXT PRIMARY KEY NOT NULL, persona TEXT NOT NULL, image TEXT NOT NULL,"
                " state TEXT NOT NULL, failure_reason TEXT, ephemeral INTEGER NOT NULL,"
                " memory_mib INTEGER NOT NULL, vcpus INTEGER NOT NULL, accel TEXT NOT NULL, disk_path TEXT,"
                " created_usec INTEGER NOT NULL, pid INTEGER NOT NULL DEFAULT 0,"
                " owner_uid INTEGER NOT NULL DEFAULT 0, uid INTEGER NOT NULL DEFAULT 0, machine_id TEXT,"
                " golden TEXT, instance_id TEXT);"
                "INSERT INTO vms (name, persona, image, state, ephemeral, memory_mib, vcpus, accel, created_usec)"
                " VALUES ('home', 'home', 'reference', 'stopped', 0, 512, 2, 'kvm', 1);"
                "PRAGMA user_version = 5;");
        assert(store_open(path, &s, NULL) >= 0);
        assert(store_vm_load_all(s, &all, &n) >= 0 && n == 1);
        assert(streq(all[0].name, "home") && streq(all[0].vmm, "qemu"));
        vm_record_array_free(all, n);
}

static void test_newer_schema_refused(void) {
        _cleanup_free_ char *path = db_path("newer.db"), *error = NULL;
        Store *s = NULL;

        exec_raw(path, "PRAGMA user_version = 99;");
        assert(store_open(path, &s, &error) == -EPROTONOSUPPORT);
        assert(!s);
        assert(strstr(error, "99"));
}

static void test_garbage_refused(void) {
        _cleanup_free_ char *path = db_path("garbage.db"), *error = NULL, *junk = NULL;
        Store *s = NULL;

        junk = calloc(1, 8192);
        memset(junk, 'x', 8191);
        assert(write_file_atomic(path, junk) >= 0);
        assert(store_open(path, &s, &error) == -EBADMSG);
        assert(!s && error);
}

static void test_migration_is_atomic(void) {
        /* A database where version 0's table already exists (a migration that half ran without its
         * transaction) must fail cleanly and keep its version. */
        _cleanup_free_ char *path = db_path("half.db"), *error = NULL;
        Store *s = NULL;
        sqlite3 *db;
        sqlite3_stmt *st;

        exec_raw(path, "CREATE TABLE vms (x INTEGER);");
        assert(store_open(path, &s, &error) < 0);
        assert(error && strstr(error, "migrate"));
        assert(sqlite3_open(path, &db) == SQLITE_OK);
        assert(sqlite3_prepare_v2(db, "PRAGMA user_version;", -1, &st, NULL) == SQLITE_OK);
        assert(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
}

int main(void) {
        assert(mkdtemp(dir));
        test_fresh_and_roundtrip();
        test_newer_schema_refused();
        test_garbage_refused();
        test_migration_is_atomic();
        test_migration_keeps_rows();
        assert(rm_rf(dir) >= 0);
        return 0;
}
