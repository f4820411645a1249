/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmctl's commands for guest kernels that panic and for kernel debugging: crashes, crash show|gdb|keep|
 * unkeep|delete, crash-test and debug. Their entries are in vmctl.c's verb table. */
#pragma once

/* Crash bundle IDs as vmmd makes them ("work-20241126-100000") stay far below this. */
#define CRASH_ID_MAX 127

/* NULL when id may name a crash bundle, else a phrase naming the rule it breaks ("contains '/'"). */
const char *crash_id_invalid_reason(const char *id);

/* Each takes its operands after argv[0], the verb's last word, and returns an exit status. */
int verb_crashes(int argc, char *argv[]);
int verb_crash(int argc, char *argv[]);
int verb_crash_show(int argc, char *argv[]);
int verb_crash_gdb(int argc, char *argv[]);
int verb_crash_keep(int argc, char *argv[]); /* keep, unkeep and delete */
int verb_crash_test(int argc, char *argv[]);
int verb_debug(int argc, char *argv[]);
