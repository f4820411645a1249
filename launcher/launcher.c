/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The launcher's window: the foreground phone's page above, the strip of phones below, kept in step with
 * vmmd's signals.
 *
 * Taps only ask vmmd (SwitchTo, CreateVM, Stop); what the window shows follows what vmmd then says
 * (ForegroundChanged, VMNew, VMRemoved, PropertiesChanged), so a switch made elsewhere (vmctl switch)
 * moves the launcher too. */
#include <gtk/gtk.h>

#include "client.h"
#include "launcher.h"
#include "page.h"
#include "strip.h"
#include "trace.h"
#include "util.h"

#define THROWAWAY_PERSONA "throwaway"

/* A phone's widgets: its tile in the strip and its page in the stack. */
typedef struct PhoneView {
        Tile *tile;
        Page *page;
        /* What --trace said last: "state" and "failure" lines come once per change. */
        char *traced_state;
        char *traced_failure;
} PhoneView;

static PhoneView *phone_view_free(PhoneView *v) {
        if (!v)
                return NULL;
        page_free(v->page);
        g_free(v->traced_state);
        g_free(v->traced_failure);
        g_free(v);
        return NULL;
}

struct Launcher {
        Client *client;
        Strip *strip;

        GtkWidget *window;
        GtkWidget *stack;
        GtkWidget *error_bar;
        GtkWidget *error_label;
        guint error_timeout_id;
        GtkWidget *waiting_label;
        GtkWidget *empty_label;
        GtkAccelGroup *accel;

        bool up;
        char *foreground;
        Page *visible_page;

        /* Made by "New throwaway" and not running yet: switched to once they run. */
        GHashTable *pending_switch;
        /* CreateVM calls on their way. */
        unsigned creating;

        int exit_status;
};

static void trace_error(const char *subject, const char *call, const GError *error) {
        g_autofree char *message = NULL;
        g_autofree char *text = NULL;

        if (!trace_enabled())
                return;
        message = client_error_message(error);
        text = trace_text(message);
        trace("error %s: %s: %s", subject, call, text);
}

/* The "failure" line: a failure reason is in front of the user (on the tile, or instead of a refused
 * switch). */
static void trace_failure(Phone *p, bool again) {
        PhoneView *v = p->userdata;
        g_autofree char *text = NULL;

        if (!trace_enabled() || !v || !g_str_equal(p->state, "failed"))
                return;
        if (!again && g_strcmp0(v->traced_failure, p->failure_reason) == 0)
                return;
        g_free(v->traced_failure);
        v->traced_failure = g_strdup(p->failure_reason);
        text = trace_text(p->failure_reason);
        trace("failure %s %s", p->name, text);
}

static void trace_state(Phone *p) {
        PhoneView *v = p->userdata;

        if (!v || !*p->state || g_strcmp0(v->traced_state, p->state) == 0)
                return;
        g_free(v->traced_state);
        v->traced_state = g_strdup(p->state);
        trace("state %s %s", p->name, p->state);
}

static gboolean on_error_timeout(gpointer userdata) {
        Launcher *l = userdata;

        l->error_timeout_id = 0;
        gtk_info_bar_set_revealed(GTK_INFO_BAR(l->error_bar), FALSE);
        return G_SOURCE_REMOVE;
}

static void on_error_response(GtkInfoBar *bar, int response, gpointer userdata) {
        Launcher *l = userdata;

        g_clear_handle_id(&l->error_timeout_id, g_source_remove);
        gtk_info_bar_set_revealed(bar, FALSE);
}

/* A call failed: says so over the top of the screen for a while, besides the tile's label. */
static void show_error(Launcher *l, const char *what, const GError *error) {
        g_autofree char *message = client_error_message(error);
        g_autofree char *text = g_strdup_printf("%s: %s", what, message);

        gtk_label_set_text(GTK_LABEL(l->error_label), text);
        gtk_info_bar_set_revealed(GTK_INFO_BAR(l->error_bar), TRUE);
        g_clear_handle_id(&l->error_timeout_id, g_source_remove);
        l->error_timeout_id = g_timeout_add_seconds(10, on_error_timeout, l);
}

static PhoneView *view_of(Launcher *l, const char *name) {
        Phone *p = client_get_phone(l->client, name);

        return p ? p->userdata : NULL;
}

static void update_creating(Launcher *l, const char *error) {
        strip_set_creating(l->strip, l->creating > 0 || g_hash_table_size(l->pending_switch) > 0, error);
}

static void update_visible(Launcher *l) {
        PhoneView *v = l->up ? view_of(l, l->foreground) : NULL;
        Page *want = v ? v->page : NULL;

        if (!l->up) {
                g_autofree char *text = g_strdup_printf(
                        "vmmd is not running.\n\nWaiting for org.vmmd1 on the %s…",
                        client_bus_description(l->client));

                gtk_label_set_text(GTK_LABEL(l->waiting_label), text);
                gtk_stack_set_visible_child_name(GTK_STACK(l->stack), "waiting");
        } else if (!want) {
                g_autofree char *text = NULL;

                if (!l->foreground || !*l->foreground)
                        text = g_strdup("No phone is in the foreground.\n\nTap one below.");
                else
                        text = g_strdup_printf("%s is in the foreground.", l->foreground);
                gtk_label_set_text(GTK_LABEL(l->empty_label), text);
                gtk_stack_set_visible_child_name(GTK_STACK(l->stack), "empty");
        } else
                gtk_stack_set_visible_child(GTK_STACK(l->stack), page_get_widget(want));

        if (l->visible_page != want) {
                if (l->visible_page)
                        page_set_visible(l->visible_page, false);
                l->visible_page = want;
                if (want)
                        page_set_visible(want, true);
        }
        strip_set_foreground(l->strip, v ? v->tile : NULL);
        gtk_widget_set_sensitive(strip_get_widget(l->strip), l->up);
}

static void on_switch_reply(Client *c, const char *name, const GError *error, void *userdata) {
        Launcher *l = userdata;
        g_autofree char *message = NULL;
        g_autofree char *what = NULL;
        Phone *p;

        if (!error)
                return;
        trace_error(name, "SwitchTo", error);
        p = client_get_phone(c, name);
        if (!p || !p->userdata)
                return;
        if (g_str_equal(p->state, "failed")) {
                /* vmmd refuses a failed phone; why it failed says more than that. */
                trace_failure(p, true);
                strip_set_error(l->strip, ((PhoneView *) p->userdata)->tile, NULL);
                return;
        }
        what = g_strdup_printf("Cannot show %s", name);
        show_error(l, what, error);
        message = client_error_message(error);
        strip_set_error(l->strip, ((PhoneView *) p->userdata)->tile, message);
}

static void switch_to(Launcher *l, const char *name) {
        client_switch_to(l->client, name, on_switch_reply, l);
}

/* A phone made by "New throwaway" changed: switch to it once it runs. */
static void follow_pending(Launcher *l, Phone *p) {
        if (!g_hash_table_contains(l->pending_switch, p->name))
                return;
        if (g_str_equal(p->state, "running"))
                switch_to(l, p->name);
        else if (!g_strv_contains((const char *const[]){ "failed", "stopping", "stopped", NULL }, p->state))
                return;
        /* Running, or it will not run: its tile says why. */
        g_hash_table_remove(l->pending_switch, p->name);
        update_creating(l, NULL);
}

static void on_service(Client *c, bool up, void *userdata) {
        Launcher *l = userdata;

        l->up = up;
        trace_at("service %s", up ? "up" : "down");
        if (!up) {
                g_printerr("vmmd (org.vmmd1) is not on the %s; waiting for it.\n", client_bus_description(c));
                g_hash_table_remove_all(l->pending_switch);
                update_creating(l, NULL);
        }
        update_visible(l);
}

static void on_phone_new(Client *c, Phone *p, void *userdata) {
        g_autofree char *page_name = g_strconcat("phone:", p->name, NULL);
        Launcher *l = userdata;
        PhoneView *v = g_new0(PhoneView, 1);

        v->tile = strip_add(l->strip, p);
        v->page = page_new(c, p);
        /* Named: GTK 3 takes two unnamed children for duplicates. A phone's name is unique among them. */
        gtk_stack_add_named(GTK_STACK(l->stack), page_get_widget(v->page), page_name);
        p->userdata = v;
        trace_at("new %s", p->name);
        trace_state(p);
        update_visible(l);
}

static void on_phone_changed(Client *c, Phone *p, unsigned changes, void *userdata) {
        Launcher *l = userdata;
        PhoneView *v = p->userdata;

        if (!v)
                return;
        trace_state(p);
        strip_update(l->strip, v->tile, changes);
        trace_failure(p, false);
        page_update(v->page, changes);
        if (changes & PHONE_CHANGE_STATE)
                follow_pending(l, p);
}

static void on_phone_removed(Client *c, Phone *p, void *userdata) {
        Launcher *l = userdata;
        PhoneView *v = g_steal_pointer(&p->userdata);

        trace("removed %s", p->name);
        if (g_hash_table_remove(l->pending_switch, p->name))
                update_creating(l, NULL);
        if (!v)
                return;
        if (l->visible_page == v->page)
                l->visible_page = NULL;
        strip_remove(l->strip, v->tile);
        phone_view_free(v);
        update_visible(l);
}

static void on_foreground(Client *c, const char *name, void *userdata) {
        Launcher *l = userdata;

        trace_at("foreground %s", *name ? name : "-");
        g_free(l->foreground);
        l->foreground = g_strdup(name);
        update_visible(l);
}

static void on_closed(Client *c, const char *message, void *userdata) {
        Launcher *l = userdata;

        g_printerr("vmm-launcher: The connection to the %s closed: %s\n", client_bus_description(c), message);
        trace_at("closed");
        l->exit_status = 1;
        gtk_main_quit();
}

static const ClientCallbacks client_callbacks = {
        .service = on_service,
        .phone_new = on_phone_new,
        .phone_changed = on_phone_changed,
        .phone_removed = on_phone_removed,
        .foreground = on_foreground,
        .closed = on_closed,
};

static void on_tap(Strip *s, Phone *p, void *userdata) {
        Launcher *l = userdata;
        PhoneView *v = p->userdata;

        if (v)
                strip_set_error(s, v->tile, NULL);
        switch_to(l, p->name);
}

static void on_close_reply(Client *c, const char *name, const GError *error, void *userdata) {
        Launcher *l = userdata;
        g_autofree char *message = NULL;
        g_autofree char *what = NULL;
        PhoneView *v;

        if (!error)
                return;
        trace_error(name, "Close", error);
        what = g_strdup_printf("Cannot close %s", name);
        show_error(l, what, error);
        message = client_error_message(error);
        v = view_of(l, name);
        if (v)
                strip_set_error(l->strip, v->tile, message);
}

static void on_close(Strip *s, Phone *p, void *userdata) {
        Launcher *l = userdata;

        /* VMRemoved takes the tile away: a throwaway that stops is destroyed. One that failed (or never
         * ran) stays until destroyed, so that its user could see why; closing it is that. */
        if (g_strv_contains((const char *const[]){ "failed", "stopped", "created", NULL }, p->state))
                client_destroy(l->client, p, on_close_reply, l);
        else
                client_stop(l->client, p, false, on_close_reply, l);
}

static void on_create_reply(Client *c, const char *name, const GError *error, void *userdata) {
        Launcher *l = userdata;
        g_autofree char *message = NULL;
        Phone *p;

        l->creating--;
        if (error) {
                trace_error("+new", "CreateVM", error);
                show_error(l, "Cannot make a throwaway phone", error);
                message = client_error_message(error);
                update_creating(l, message);
                return;
        }
        trace_at("created %s", name);
        p = client_get_phone(c, name);
        if (p) {
                g_hash_table_add(l->pending_switch, g_strdup(name));
                follow_pending(l, p);
        }
        update_creating(l, NULL);
}

static void create_throwaway(Launcher *l) {
        l->creating++;
        update_creating(l, NULL);
        client_create_vm(l->client, THROWAWAY_PERSONA, on_create_reply, l);
}

static void on_create(Strip *s, void *userdata) {
        create_throwaway(userdata);
}

static const StripCallbacks strip_callbacks = {
        .tap = on_tap,
        .close = on_close,
        .create = on_create,
};

static gboolean on_key_next(GtkAccelGroup *g, GObject *o, guint key, GdkModifierType mods, gpointer userdata) {
        Launcher *l = userdata;
        Phone *p = strip_get_neighbour(l->strip, l->foreground, key == GDK_KEY_Page_Up ? -1 : 1);

        if (p && l->up) {
                trace_at("key %s", p->name);
                switch_to(l, p->name);
        }
        return TRUE;
}

static gboolean on_key_new(GtkAccelGroup *g, GObject *o, guint key, GdkModifierType mods, gpointer userdata) {
        Launcher *l = userdata;

        if (l->up) {
                trace_at("key +new");
                create_throwaway(l);
        }
        return TRUE;
}

static gboolean on_delete(GtkWidget *w, GdkEvent *event, gpointer userdata) {
        /* main() frees the launcher, window and all, once the loop ends. */
        gtk_main_quit();
        return TRUE;
}

static GtkWidget *message_page(GtkWidget **ret_label, bool spinner) {
        GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);

        gtk_widget_set_valign(box, GTK_ALIGN_CENTER);
        gtk_widget_set_halign(box, GTK_ALIGN_CENTER);
        gtk_widget_set_margin_start(box, 24);
        gtk_widget_set_margin_end(box, 24);
        if (spinner) {
                GtkWidget *s = gtk_spinner_new();

                gtk_widget_set_size_request(s, 48, 48);
                gtk_spinner_start(GTK_SPINNER(s));
                gtk_container_add(GTK_CONTAINER(box), s);
        }
        *ret_label = gtk_label_new(NULL);
        gtk_label_set_line_wrap(GTK_LABEL(*ret_label), TRUE);
        gtk_label_set_justify(GTK_LABEL(*ret_label), GTK_JUSTIFY_CENTER);
        gtk_label_set_max_width_chars(GTK_LABEL(*ret_label), 40);
        gtk_container_add(GTK_CONTAINER(box), *ret_label);
        return box;
}

int launcher_new(bool user, Launcher **ret, GError **error) {
        GtkWidget *box, *overlay;
        Launcher *l;
        int r;

        g_assert(ret);

        l = g_new0(Launcher, 1);
        l->foreground = g_strdup("");
        l->pending_switch = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        l->window = gtk_window_new(GTK_WINDOW_TOPLEVEL);
        gtk_window_set_title(GTK_WINDOW(l->window), "Phones");
        gtk_window_set_icon_name(GTK_WINDOW(l->window), "phone");
        gtk_window_set_default_size(GTK_WINDOW(l->window), 400, 820);
        g_signal_connect(l->window, "delete-event", G_CALLBACK(on_delete), l);

        box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
        l->stack = gtk_stack_new();
        gtk_stack_set_transition_type(GTK_STACK(l->stack), GTK_STACK_TRANSITION_TYPE_NONE);
        gtk_stack_add_named(GTK_STACK(l->stack), message_page(&l->waiting_label, true), "waiting");
        gtk_stack_add_named(GTK_STACK(l->stack), message_page(&l->empty_label, false), "empty");
        /* Over the screen, not above it: an error does not make the screen smaller. */
        overlay = gtk_overlay_new();
        gtk_widget_set_vexpand(overlay, TRUE);
        gtk_container_add(GTK_CONTAINER(overlay), l->stack);
        l->error_bar = gtk_info_bar_new();
        gtk_info_bar_set_message_type(GTK_INFO_BAR(l->error_bar), GTK_MESSAGE_ERROR);
        gtk_info_bar_set_show_close_button(GTK_INFO_BAR(l->error_bar), TRUE);
        gtk_widget_set_valign(l->error_bar, GTK_ALIGN_START);
        g_signal_connect(l->error_bar, "response", G_CALLBACK(on_error_response), l);
        l->error_label = gtk_label_new(NULL);
        gtk_label_set_line_wrap(GTK_LABEL(l->error_label), TRUE);
        gtk_label_set_xalign(GTK_LABEL(l->error_label), 0);
        gtk_container_add(
                GTK_CONTAINER(gtk_info_bar_get_content_area(GTK_INFO_BAR(l->error_bar))), l->error_label);
        gtk_overlay_add_overlay(GTK_OVERLAY(overlay), l->error_bar);
        gtk_container_add(GTK_CONTAINER(box), overlay);
        gtk_container_add(GTK_CONTAINER(box), gtk_separator_new(GTK_ORIENTATION_HORIZONTAL));

        l->strip = strip_new(&strip_callbacks, l);
        gtk_container_add(GTK_CONTAINER(box), strip_get_widget(l->strip));
        gtk_container_add(GTK_CONTAINER(l->window), box);

        /* Window-wide keys come before the phone's screen sees them. */
        l->accel = gtk_accel_group_new();
        gtk_accel_group_connect(
                l->accel,
                GDK_KEY_Page_Down,
                GDK_CONTROL_MASK | GDK_MOD1_MASK,
                0,
                g_cclosure_new(G_CALLBACK(on_key_next), l, NULL));
        gtk_accel_group_connect(
                l->accel,
                GDK_KEY_Page_Up,
                GDK_CONTROL_MASK | GDK_MOD1_MASK,
                0,
                g_cclosure_new(G_CALLBACK(on_key_next), l, NULL));
        gtk_accel_group_connect(
                l->accel,
                GDK_KEY_n,
                GDK_CONTROL_MASK | GDK_MOD1_MASK,
                0,
                g_cclosure_new(G_CALLBACK(on_key_new), l, NULL));
        gtk_window_add_accel_group(GTK_WINDOW(l->window), l->accel);

        gtk_widget_show_all(box);
        gtk_info_bar_set_revealed(GTK_INFO_BAR(l->error_bar), FALSE);
        gtk_stack_set_visible_child_name(GTK_STACK(l->stack), "waiting");

        r = client_new(user, &client_callbacks, l, &l->client, error);
        if (r < 0) {
                launcher_free(l);
                return r;
        }
        /* Until the name watcher reports, as if vmmd were not there. */
        update_visible(l);
        gtk_widget_show(l->window);
        *ret = l;
        return 0;
}

int launcher_exit_status(Launcher *l) {
        return l->exit_status;
}

Launcher *launcher_free(Launcher *l) {
        if (!l)
                return NULL;
        if (l->client) {
                GList *phones = client_get_phones(l->client);

                for (GList *i = phones; i; i = i->next) {
                        Phone *p = i->data;

                        phone_view_free(g_steal_pointer(&p->userdata));
                }
                g_list_free(phones);
        }
        l->visible_page = NULL;
        g_clear_handle_id(&l->error_timeout_id, g_source_remove);
        strip_free(l->strip);
        if (l->accel) {
                gtk_window_remove_accel_group(GTK_WINDOW(l->window), l->accel);
                g_object_unref(l->accel);
        }
        gtk_widget_destroy(l->window);
        client_free(l->client);
        g_hash_table_destroy(l->pending_switch);
        g_free(l->foreground);
        g_free(l);
        return NULL;
}
