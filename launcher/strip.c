/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The strip of the launcher: one tile per phone (work, home, then the others by name) and a last tile that
 * makes a new throwaway phone. */
#include <string.h>

#include "strip.h"
#include "trace.h"
#include "util.h"

#define TILE_WIDTH 84
#define TILE_HEIGHT 68

static const char strip_css[] =
        ".phone-strip { padding: 2px; }\n"
        "button.tile { padding: 4px; border-radius: 10px; border: 3px solid transparent;"
        " box-shadow: none; text-shadow: none; opacity: 0.8; }\n"
        "button.tile:disabled { opacity: 0.4; }\n"
        "button.tile.foreground { border-color: #ffffff; box-shadow: 0 0 0 2px #1a1a1a; opacity: 1; }\n"
        "button.tile label.tile-persona { font-size: smaller; }\n"
        "button.tile label.tile-name { font-weight: bold; }\n"
        "button.tile label.tile-state { font-size: smaller; font-style: italic; }\n"
        "button.tile-close { min-width: 18px; min-height: 18px; padding: 0; margin: 3px; border-radius: 9px;"
        " background-image: none; background-color: rgba(0,0,0,0.55); color: #ffffff; border: none;"
        " box-shadow: none; text-shadow: none; }\n"
        "button.tile-close:hover { background-color: rgba(0,0,0,0.8); }\n"
        "button.new-tile { background-image: none; background-color: transparent; opacity: 1;"
        " border: 2px dashed alpha(currentColor, 0.5); }\n"
        "button.new-tile label.tile-plus { font-size: x-large; font-weight: bold; }\n";

/* The widgets of one tile: a button with labels, in an overlay that holds a throwaway's close button. */
typedef struct TileWidgets {
        GtkWidget *overlay;
        GtkWidget *button;
        GtkWidget *top;
        GtkWidget *middle;
        GtkWidget *state;
        GtkWidget *spinner;
} TileWidgets;

struct Tile {
        Strip *strip;
        Phone *phone;
        TileWidgets w;
        GtkWidget *close;
        GtkCssProvider *css;
        char *css_color;
        char *error;
};

struct Strip {
        GtkWidget *scrolled;
        GtkWidget *box;
        GPtrArray *tiles; /* Tile, in the strip's order */
        TileWidgets new_tile;
        GtkCssProvider *screen_css;

        Tile *foreground;
        bool scroll_to_foreground;
        bool dying;
        /* A look at the layout is due after the next frame's painting (GTK lays out in the frame before
         * it paints), once all allocations of that frame are made. */
        GdkFrameClock *frame_clock;
        gulong after_paint_id;
        char *last_layout;
        gulong configure_id;
        GtkWidget *toplevel;

        const StripCallbacks *callbacks;
        void *userdata;
};

static void queue_layout(Strip *s);

static void on_layout_changed(GtkWidget *w, gpointer userdata) {
        queue_layout(userdata);
}

static void on_size_allocate(GtkWidget *w, GdkRectangle *allocation, gpointer userdata) {
        queue_layout(userdata);
}

static void build_tile(Strip *s, TileWidgets *w) {
        GtkWidget *box, *row, *labels[3];

        w->overlay = gtk_overlay_new();
        w->button = gtk_button_new();
        /* A tap must leave the keyboard with the phone's screen. */
        gtk_widget_set_focus_on_click(w->button, FALSE);
        gtk_widget_set_size_request(w->button, TILE_WIDTH, TILE_HEIGHT);
        gtk_style_context_add_class(gtk_widget_get_style_context(w->button), "tile");

        box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 1);
        gtk_widget_set_valign(box, GTK_ALIGN_CENTER);
        labels[0] = w->top = gtk_label_new(NULL);
        labels[1] = w->middle = gtk_label_new(NULL);
        labels[2] = w->state = gtk_label_new(NULL);
        for (size_t i = 0; i < G_N_ELEMENTS(labels); i++) {
                gtk_label_set_ellipsize(GTK_LABEL(labels[i]), PANGO_ELLIPSIZE_END);
                gtk_label_set_max_width_chars(GTK_LABEL(labels[i]), 8);
                gtk_label_set_width_chars(GTK_LABEL(labels[i]), 8);
        }
        /* Generated names differ at their end (throwaway-3fa9c1). */
        gtk_label_set_ellipsize(GTK_LABEL(w->middle), PANGO_ELLIPSIZE_MIDDLE);
        gtk_style_context_add_class(gtk_widget_get_style_context(w->top), "tile-persona");
        gtk_style_context_add_class(gtk_widget_get_style_context(w->middle), "tile-name");
        gtk_style_context_add_class(gtk_widget_get_style_context(w->state), "tile-state");
        w->spinner = gtk_spinner_new();
        gtk_widget_set_size_request(w->spinner, 12, 12);
        gtk_widget_set_no_show_all(w->spinner, TRUE);
        /* Three rows whatever the tile says, so that the strip keeps its height: a spinner and the state
         * share the last one, which is there (empty) while the phone runs. */
        row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 3);
        gtk_widget_set_halign(row, GTK_ALIGN_CENTER);
        gtk_widget_set_size_request(row, -1, 16);
        gtk_label_set_width_chars(GTK_LABEL(w->state), 1);
        gtk_label_set_max_width_chars(GTK_LABEL(w->state), 8);
        gtk_box_pack_start(GTK_BOX(row), w->spinner, FALSE, FALSE, 0);
        gtk_box_pack_start(GTK_BOX(row), w->state, TRUE, TRUE, 0);
        gtk_container_add(GTK_CONTAINER(box), w->top);
        gtk_container_add(GTK_CONTAINER(box), w->middle);
        gtk_container_add(GTK_CONTAINER(box), row);
        gtk_container_add(GTK_CONTAINER(w->button), box);
        gtk_container_add(GTK_CONTAINER(w->overlay), w->button);
        gtk_widget_show_all(w->overlay);

        g_signal_connect(w->overlay, "size-allocate", G_CALLBACK(on_size_allocate), s);
        g_signal_connect(w->overlay, "map", G_CALLBACK(on_layout_changed), s);
}

static void set_spinning(TileWidgets *w, bool spin) {
        gtk_widget_set_visible(w->spinner, spin);
        if (spin)
                gtk_spinner_start(GTK_SPINNER(w->spinner));
        else
                gtk_spinner_stop(GTK_SPINNER(w->spinner));
}

static void set_state_text(TileWidgets *w, const char *text) {
        gtk_label_set_text(GTK_LABEL(w->state), text ?: "");
}

static void tile_apply_color(Tile *t) {
        g_autofree char *css = NULL;
        char hex[8];
        Rgb rgb;

        if (!t->phone->color || color_parse(t->phone->color, &rgb) < 0)
                rgb = COLOR_UNKNOWN;
        color_format(rgb, hex);
        if (g_strcmp0(t->css_color, hex) == 0)
                return;
        g_free(t->css_color);
        t->css_color = g_strdup(hex);

        css = g_strdup_printf(
                "button { background-image: none; background-color: %s; color: %s; }\n"
                "button:hover { background-color: shade(%s, 1.12); }\n"
                "button:active { background-color: shade(%s, 0.85); }\n",
                hex,
                color_is_dark(rgb) ? "#ffffff" : "#000000",
                hex,
                hex);
        gtk_css_provider_load_from_data(t->css, css, -1, NULL);
}

static void tile_refresh(Tile *t) {
        Phone *p = t->phone;
        bool running = g_strcmp0(p->state, "running") == 0;
        bool failed = g_strcmp0(p->state, "failed") == 0;
        g_autofree char *state = NULL;
        g_autofree char *tooltip = NULL;

        gtk_label_set_text(GTK_LABEL(t->w.top), *p->persona ? p->persona : "…");
        gtk_label_set_text(GTK_LABEL(t->w.middle), p->name);

        if (t->error) {
                state = g_strdup_printf("⚠ %s", t->error);
                tooltip = g_strdup(t->error);
        } else if (failed) {
                state = g_strdup_printf("⚠ %s", *p->failure_reason ? p->failure_reason : "failed");
                tooltip = g_strdup_printf(
                        "%s failed: %s",
                        p->name,
                        *p->failure_reason ? p->failure_reason : "vmmd gave no reason.");
        } else {
                if (!running)
                        state = g_strdup(p->state);
                tooltip = g_strdup_printf(
                        "%s (%s): %s", p->name, *p->persona ? p->persona : "…", *p->state ? p->state : "…");
        }
        set_state_text(&t->w, state);
        gtk_widget_set_tooltip_text(t->w.button, tooltip);
        set_spinning(
                &t->w, !*p->state || g_str_equal(p->state, "starting") || g_str_equal(p->state, "stopping"));

        gtk_widget_set_visible(t->close, p->ephemeral);
        tile_apply_color(t);
}

static void on_tile_clicked(GtkButton *button, gpointer userdata) {
        Tile *t = userdata;

        trace_at("tap %s", t->phone->name);
        if (t->strip->callbacks->tap)
                t->strip->callbacks->tap(t->strip, t->phone, t->strip->userdata);
}

static void on_close_clicked(GtkButton *button, gpointer userdata) {
        Tile *t = userdata;

        trace_at("tap-close %s", t->phone->name);
        if (t->strip->callbacks->close)
                t->strip->callbacks->close(t->strip, t->phone, t->strip->userdata);
}

static void on_new_clicked(GtkButton *button, gpointer userdata) {
        Strip *s = userdata;

        trace_at("tap +new");
        if (s->callbacks->create)
                s->callbacks->create(s, s->userdata);
}

static int tile_compare(const Tile *a, const Tile *b) {
        return phone_order(a->phone->persona, a->phone->name, b->phone->persona, b->phone->name);
}

/* Puts t where the order says, among the others. */
static void place_tile(Strip *s, Tile *t) {
        unsigned i = 0;

        (void) g_ptr_array_remove(s->tiles, t);
        while (i < s->tiles->len && tile_compare(s->tiles->pdata[i], t) <= 0)
                i++;
        g_ptr_array_insert(s->tiles, (int) i, t);
        gtk_box_reorder_child(GTK_BOX(s->box), t->w.overlay, (int) i);
}

Tile *strip_add(Strip *s, Phone *p) {
        Tile *t = g_new0(Tile, 1);

        t->strip = s;
        t->phone = p;
        build_tile(s, &t->w);
        t->css = gtk_css_provider_new();
        gtk_style_context_add_provider(
                gtk_widget_get_style_context(t->w.button),
                GTK_STYLE_PROVIDER(t->css),
                GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
        g_signal_connect(t->w.button, "clicked", G_CALLBACK(on_tile_clicked), t);

        t->close = gtk_button_new_with_label("×");
        gtk_widget_set_focus_on_click(t->close, FALSE);
        gtk_widget_set_halign(t->close, GTK_ALIGN_END);
        gtk_widget_set_valign(t->close, GTK_ALIGN_START);
        gtk_widget_set_tooltip_text(t->close, "Close this throwaway phone: nothing of it remains");
        gtk_style_context_add_class(gtk_widget_get_style_context(t->close), "tile-close");
        gtk_widget_set_no_show_all(t->close, TRUE);
        g_signal_connect(t->close, "clicked", G_CALLBACK(on_close_clicked), t);
        g_signal_connect(t->close, "size-allocate", G_CALLBACK(on_size_allocate), s);
        gtk_overlay_add_overlay(GTK_OVERLAY(t->w.overlay), t->close);

        gtk_container_add(GTK_CONTAINER(s->box), t->w.overlay);
        place_tile(s, t);
        tile_refresh(t);
        queue_layout(s);
        return t;
}

static void tile_free(Tile *t) {
        if (!t)
                return;
        gtk_widget_destroy(t->w.overlay);
        g_object_unref(t->css);
        g_free(t->css_color);
        g_free(t->error);
        g_free(t);
}

void strip_remove(Strip *s, Tile *t) {
        if (!t)
                return;
        if (s->foreground == t)
                s->foreground = NULL;
        (void) g_ptr_array_remove(s->tiles, t);
        tile_free(t);
        queue_layout(s);
}

void strip_update(Strip *s, Tile *t, unsigned changes) {
        if (changes & (PHONE_CHANGE_STATE | PHONE_CHANGE_FAILURE_REASON))
                /* An error was about what the phone did then; its new state says what it does now. */
                g_clear_pointer(&t->error, g_free);
        if (changes & PHONE_CHANGE_PERSONA)
                place_tile(s, t);
        tile_refresh(t);
}

void strip_set_foreground(Strip *s, Tile *t) {
        if (s->foreground == t)
                return;
        if (s->foreground)
                gtk_style_context_remove_class(
                        gtk_widget_get_style_context(s->foreground->w.button), "foreground");
        s->foreground = t;
        if (t) {
                gtk_style_context_add_class(gtk_widget_get_style_context(t->w.button), "foreground");
                s->scroll_to_foreground = true;
                queue_layout(s);
        }
}

Phone *strip_get_neighbour(Strip *s, const char *name, int delta) {
        int n = (int) s->tiles->len, i;

        if (n == 0)
                return NULL;
        for (i = 0; i < n; i++)
                if (g_strcmp0(((Tile *) s->tiles->pdata[i])->phone->name, name) == 0)
                        break;
        if (i == n)
                i = delta > 0 ? n - 1 : 0;
        i = ((i + delta) % n + n) % n;
        return ((Tile *) s->tiles->pdata[i])->phone;
}

void strip_set_error(Strip *s, Tile *t, const char *message) {
        g_free(t->error);
        t->error = g_strdup(message);
        tile_refresh(t);
}

void strip_set_creating(Strip *s, bool busy, const char *error) {
        set_spinning(&s->new_tile, busy);
        if (error) {
                g_autofree char *text = g_strdup_printf("⚠ %s", error);

                set_state_text(&s->new_tile, text);
                gtk_widget_set_tooltip_text(s->new_tile.button, error);
        } else {
                set_state_text(&s->new_tile, NULL);
                gtk_widget_set_tooltip_text(
                        s->new_tile.button, "Make a new throwaway phone: it leaves no trace when closed");
        }
}

/* Where w is on the screen (root window coordinates), clipped to what the strip shows of it. */
static bool root_rect(Strip *s, GtkWidget *w, GdkRectangle *ret) {
        GtkWidget *top = gtk_widget_get_toplevel(w);
        GdkRectangle r, view;
        GtkAllocation a;
        int ox, oy, x, y;

        if (!gtk_widget_get_mapped(w) || !gtk_widget_is_toplevel(top) || !gtk_widget_get_window(top))
                return false;
        gdk_window_get_origin(gtk_widget_get_window(top), &ox, &oy);

        if (!gtk_widget_translate_coordinates(w, top, 0, 0, &x, &y))
                return false;
        gtk_widget_get_allocation(w, &a);
        r = (GdkRectangle){ .x = ox + x, .y = oy + y, .width = a.width, .height = a.height };

        if (!gtk_widget_translate_coordinates(s->scrolled, top, 0, 0, &x, &y))
                return false;
        gtk_widget_get_allocation(s->scrolled, &a);
        view = (GdkRectangle){ .x = ox + x, .y = oy + y, .width = a.width, .height = a.height };
        return gdk_rectangle_intersect(&r, &view, ret);
}

static void append_rect(Strip *s, GString *out, const char *kind, const char *name, GtkWidget *w) {
        GdkRectangle r;

        if (root_rect(s, w, &r))
                g_string_append_printf(out, "%s %s %d %d %d %d\n", kind, name, r.x, r.y, r.width, r.height);
}

static void scroll_to(Strip *s, Tile *t) {
        GtkAdjustment *adj = gtk_scrolled_window_get_hadjustment(GTK_SCROLLED_WINDOW(s->scrolled));
        double value = gtk_adjustment_get_value(adj), page = gtk_adjustment_get_page_size(adj);
        GtkAllocation a;

        gtk_widget_get_allocation(t->w.overlay, &a);
        if (a.x < value)
                gtk_adjustment_set_value(adj, a.x);
        else if (a.x + a.width > value + page)
                gtk_adjustment_set_value(adj, a.x + a.width - page);
}

static void cancel_layout(Strip *s) {
        if (s->frame_clock && s->after_paint_id)
                g_signal_handler_disconnect(s->frame_clock, s->after_paint_id);
        s->after_paint_id = 0;
        g_clear_object(&s->frame_clock);
}

static void on_after_paint(GdkFrameClock *clock, gpointer userdata) {
        Strip *s = userdata;
        g_autoptr(GString) out = g_string_new(NULL);
        g_auto(GStrv) lines = NULL;

        cancel_layout(s);
        if (s->scroll_to_foreground && s->foreground && gtk_widget_get_mapped(s->foreground->w.overlay)) {
                s->scroll_to_foreground = false;
                scroll_to(s, s->foreground);
        }
        if (!trace_enabled())
                return;

        for (unsigned i = 0; i < s->tiles->len; i++) {
                Tile *t = s->tiles->pdata[i];

                append_rect(s, out, "tile", t->phone->name, t->w.button);
                if (gtk_widget_get_visible(t->close))
                        append_rect(s, out, "close", t->phone->name, t->close);
        }
        append_rect(s, out, "tile", "+new", s->new_tile.button);
        if (g_strcmp0(out->str, s->last_layout) == 0)
                return;
        g_free(s->last_layout);
        s->last_layout = g_strdup(out->str);

        lines = g_strsplit(out->str, "\n", -1);
        for (char **l = lines; *l; l++)
                if (**l)
                        trace("%s", *l);
        trace_at("layout-done");
}

static void queue_layout(Strip *s) {
        GdkFrameClock *clock;

        if (s->after_paint_id || s->dying)
                return;
        /* None before the window is realized: its mapping queues a look again. */
        clock = gtk_widget_get_frame_clock(s->scrolled);
        if (!clock)
                return;
        s->frame_clock = g_object_ref(clock);
        s->after_paint_id = g_signal_connect(clock, "after-paint", G_CALLBACK(on_after_paint), s);
        gdk_frame_clock_request_phase(clock, GDK_FRAME_CLOCK_PHASE_AFTER_PAINT);
}

static gboolean on_configure(GtkWidget *w, GdkEvent *event, gpointer userdata) {
        /* The window moved: so did the tiles, on the screen. */
        queue_layout(userdata);
        return FALSE;
}

static void on_hierarchy_changed(GtkWidget *w, GtkWidget *previous, gpointer userdata) {
        Strip *s = userdata;
        GtkWidget *top = gtk_widget_get_toplevel(w);

        if (s->toplevel && s->configure_id)
                g_signal_handler_disconnect(s->toplevel, s->configure_id);
        s->toplevel = NULL;
        s->configure_id = 0;
        if (gtk_widget_is_toplevel(top)) {
                s->toplevel = top;
                s->configure_id = g_signal_connect(top, "configure-event", G_CALLBACK(on_configure), s);
        }
}

Strip *strip_new(const StripCallbacks *callbacks, void *userdata) {
        Strip *s = g_new0(Strip, 1);
        GtkAdjustment *adj;

        s->callbacks = callbacks;
        s->userdata = userdata;
        s->tiles = g_ptr_array_new();

        s->screen_css = gtk_css_provider_new();
        gtk_css_provider_load_from_data(s->screen_css, strip_css, -1, NULL);
        gtk_style_context_add_provider_for_screen(
                gdk_screen_get_default(),
                GTK_STYLE_PROVIDER(s->screen_css),
                GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);

        s->scrolled = gtk_scrolled_window_new(NULL, NULL);
        g_object_ref_sink(s->scrolled);
        gtk_scrolled_window_set_policy(
                GTK_SCROLLED_WINDOW(s->scrolled), GTK_POLICY_AUTOMATIC, GTK_POLICY_NEVER);
        gtk_scrolled_window_set_overlay_scrolling(GTK_SCROLLED_WINDOW(s->scrolled), TRUE);
        s->box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 4);
        gtk_style_context_add_class(gtk_widget_get_style_context(s->box), "phone-strip");
        gtk_container_add(GTK_CONTAINER(s->scrolled), s->box);

        build_tile(s, &s->new_tile);
        gtk_style_context_add_class(gtk_widget_get_style_context(s->new_tile.button), "new-tile");
        gtk_label_set_text(GTK_LABEL(s->new_tile.top), "+");
        gtk_style_context_add_class(gtk_widget_get_style_context(s->new_tile.top), "tile-plus");
        gtk_label_set_text(GTK_LABEL(s->new_tile.middle), "New throwaway");
        gtk_label_set_ellipsize(GTK_LABEL(s->new_tile.middle), PANGO_ELLIPSIZE_NONE);
        gtk_style_context_remove_class(gtk_widget_get_style_context(s->new_tile.middle), "tile-name");
        gtk_style_context_add_class(gtk_widget_get_style_context(s->new_tile.middle), "tile-persona");
        gtk_label_set_max_width_chars(GTK_LABEL(s->new_tile.state), 13);
        g_signal_connect(s->new_tile.button, "clicked", G_CALLBACK(on_new_clicked), s);
        gtk_container_add(GTK_CONTAINER(s->box), s->new_tile.overlay);
        strip_set_creating(s, false, NULL);

        g_signal_connect(s->box, "size-allocate", G_CALLBACK(on_size_allocate), s);
        g_signal_connect(s->box, "map", G_CALLBACK(on_layout_changed), s);
        g_signal_connect(s->scrolled, "hierarchy-changed", G_CALLBACK(on_hierarchy_changed), s);
        adj = gtk_scrolled_window_get_hadjustment(GTK_SCROLLED_WINDOW(s->scrolled));
        g_signal_connect(adj, "value-changed", G_CALLBACK(on_layout_changed), s);
        gtk_widget_show_all(s->scrolled);
        return s;
}

Strip *strip_free(Strip *s) {
        GtkAdjustment *adj;

        if (!s)
                return NULL;
        s->dying = true;
        cancel_layout(s);
        if (s->toplevel && s->configure_id)
                g_signal_handler_disconnect(s->toplevel, s->configure_id);
        adj = gtk_scrolled_window_get_hadjustment(GTK_SCROLLED_WINDOW(s->scrolled));
        g_signal_handlers_disconnect_by_data(adj, s);
        g_signal_handlers_disconnect_by_data(s->scrolled, s);
        for (unsigned i = 0; i < s->tiles->len; i++)
                tile_free(s->tiles->pdata[i]);
        g_ptr_array_unref(s->tiles);
        gtk_widget_destroy(s->scrolled);
        g_object_unref(s->scrolled);
        gtk_style_context_remove_provider_for_screen(
                gdk_screen_get_default(), GTK_STYLE_PROVIDER(s->screen_css));
        g_object_unref(s->screen_css);
        g_free(s->last_layout);
        g_free(s);
        return NULL;
}

GtkWidget *strip_get_widget(Strip *s) {
        return s->scrolled;
}
