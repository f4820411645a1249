/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What vmctl.c shares with the verbs it keeps in files of their own (crash.c): the options as parsed, and
 * the helpers every verb uses to reach vmmd and print, as systemctl.h does for systemctl's verbs. */
#pragma once

#include <systemd/sd-bus.h>

#include "json-util.h"
#include "output.h"

extern bool arg_user;
extern bool arg_json;
extern bool arg_legend;
extern bool arg_wait;
extern uint64_t arg_timeout; /* UINT64_MAX: never */
extern bool arg_force;
extern bool arg_console;        /* crash show: all of the console */
extern bool arg_stdio;          /* debug: relay the debugger on stdin/stdout */
extern bool arg_end_of_options; /* "--" was given: the operands after the verb's may be another program's */

/* The bus to talk to vmmd on: 0, or the exit status to end with (the failure logged). */
int acquire_bus(sd_bus **ret);
/* The VM name checked, the bus and the VM's object path: 0, or the exit status once "vmctl: <what>: <why>"
 * was logged. */
int acquire_vm(const char *name, sd_bus **ret_bus, char **ret_path, const char *what_fmt, ...) _printf_(4, 5);
/* 0 when name keeps vmmd's rules for VM names, else the failure logged and VMCTL_EXIT_USAGE. */
int check_vm_name(const char *name);

int json_add(json_object *o, const char *key, json_object *v);
int compare_member(json_object *const *x, json_object *const *y, const char *key);

typedef enum ColumnFormat {
        COLUMN_STRING,
        COLUMN_MIB,      /* an amount of MiB, printed as 512M, 2G */
        COLUMN_BYTES,    /* an amount of bytes, printed as 60.0M */
        COLUMN_DATETIME, /* µs since the epoch, printed in local time as 2024-11-26 10:00:00 */
        COLUMN_BOOLEAN,  /* yes or no */
} ColumnFormat;

#define FORMAT_CELL_MAX MAX(FORMAT_SIZE_MAX, FORMAT_TIMESTAMP_MAX)

typedef struct Column {
        const char *header;
        const char *key; /* member of the row objects */
        ColumnFormat format;
        const char *zero; /* what the column prints for 0 or ""; NULL: the value, formatted */
        /* Set: makes the cell from the whole row instead (into buf, or a string of the row). */
        const char *(*cell)(json_object *row, char buf[static FORMAT_CELL_MAX]);
} Column;

/* Prints rows (a JSON array of objects), sorted by compare, as JSON or as a table of columns with a legend
 * that counts them ("3 VMs listed."). Returns an exit status. */
int print_rows(
        json_object *rows,
        const Column *columns,
        size_t n_columns,
        int (*compare)(const void *, const void *),
        const char *singular,
        const char *plural);

/* Calls member with the arguments of the D-Bus signature types (NULL: none), which returns an array of
 * structs, and turns the reply into rows: an object per struct with its members named by keys, in order.
 * what names the list in errors ("personas"). 0, or the exit status once the failure was logged. */
int call_rows(
        sd_bus *bus,
        const char *path,
        const char *interface,
        const char *member,
        const char *const *keys,
        const char *what,
        json_object **ret,
        const char *types,
        ...);

/* Prints value alone on a line (escaped), for scripts; with --json an object of the string members given as
 * key, value, ..., NULL. Returns an exit status. */
int print_value(const char *value, ...) _sentinel_;
