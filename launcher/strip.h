/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The strip of the launcher: one tile per phone (work, home, then the others by name) and a last tile that
 * makes a new throwaway phone. */
#pragma once

#include <gtk/gtk.h>
#include <stdbool.h>

#include "client.h"

typedef struct Strip Strip;
typedef struct Tile Tile;

typedef struct StripCallbacks {
        /* A phone's tile was tapped. */
        void (*tap)(Strip *s, Phone *p, void *userdata);
        /* A throwaway's close button was tapped. */
        void (*close)(Strip *s, Phone *p, void *userdata);
        /* "New throwaway" was tapped. */
        void (*create)(Strip *s, void *userdata);
} StripCallbacks;

Strip *strip_new(const StripCallbacks *callbacks, void *userdata);
Strip *strip_free(Strip *s);
GtkWidget *strip_get_widget(Strip *s);

Tile *strip_add(Strip *s, Phone *p);
void strip_remove(Strip *s, Tile *t);
/* The phone's properties changed (changes: PhoneChange bits). */
void strip_update(Strip *s, Tile *t, unsigned changes);
/* Highlights t (NULL: none) and scrolls it into sight. */
void strip_set_foreground(Strip *s, Tile *t);
/* The phone delta places after (or before) the one called name in the strip, wrapping around; NULL when
 * the strip has none. name NULL or unknown: the first or the last. */
Phone *strip_get_neighbour(Strip *s, const char *name, int delta);
/* What went wrong with the tile's phone (a failed call); NULL clears it. Shown on the tile and as its
 * tooltip until the phone's state changes. */
void strip_set_error(Strip *s, Tile *t, const char *message);
/* The "New throwaway" tile: busy shows a spinner; error (NULL: none) goes on its label and tooltip. */
void strip_set_creating(Strip *s, bool busy, const char *error);
