/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmctl display, and the relay of a socket vmmd hands out (the screen's, the debugger's) on stdin/stdout. */
#pragma once

/* Calls method (OpenDisplay, OpenDebugger) of VM vm, then relays what the socket it returns carries between
 * stdin/stdout and it until either side ends; nothing else goes to stdout. what names the socket in
 * messages ("screen", "debugger"). Returns an exit status. */
int relay_vm_socket(const char *vm, const char *method, const char *what);

int verb_display(int argc, char *argv[]);
