/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One phone's page of the launcher: its screen (a VncDisplay on the socket of VM.OpenDisplay), or what it is
 * doing while there is none to show. */
#pragma once

#include <gtk/gtk.h>
#include <stdbool.h>

#include "client.h"

typedef struct Page Page;

Page *page_new(Client *c, Phone *p);
Page *page_free(Page *page);

/* The page's widget, for the launcher's stack. */
GtkWidget *page_get_widget(Page *page);

/* The phone's properties changed (changes: PhoneChange bits). */
void page_update(Page *page, unsigned changes);

/* The page became the visible one, the foreground phone's, or stopped being it. A page connects its screen
 * the first time it is visible and stays connected in the background (read-only) from then on; the visible
 * one takes touch, pointer and keyboard input. */
void page_set_visible(Page *page, bool visible);
