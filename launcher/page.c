/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One phone's page of the launcher: its screen (a VncDisplay on the socket of VM.OpenDisplay), or what it is
 * doing while there is none to show. */
#include <gtk-vnc.h>
#include <unistd.h>

#include "page.h"
#include "trace.h"
#include "util.h"

/* A screen whose connection closes is opened again this many times in a row, a second more each time. */
#define DISPLAY_RETRIES 3

typedef enum DisplayState {
        DISPLAY_CLOSED,     /* no connection (not asked for yet, the VM does not run, or a retry waits) */
        DISPLAY_OPENING,    /* OpenDisplay is on its way */
        DISPLAY_CONNECTING, /* the RFB handshake */
        DISPLAY_READY,      /* vnc-initialized: a framebuffer to show */
        DISPLAY_ABSENT,     /* the VM has no display, or vmmd cannot hand it out */
        DISPLAY_FAILED,     /* display_message says why; tried again when the VM restarts or is shown */
        _DISPLAY_STATE_MAX,
} DisplayState;

static const char *const display_state_table[_DISPLAY_STATE_MAX] = {
        [DISPLAY_CLOSED] = "closed", [DISPLAY_OPENING] = "opening", [DISPLAY_CONNECTING] = "connecting",
        [DISPLAY_READY] = "ready",   [DISPLAY_ABSENT] = "none",     [DISPLAY_FAILED] = "failed",
};

struct Page {
        Client *client;
        Phone *phone;

        GtkWidget *stack; /* "status" or "screen" */
        GtkWidget *status;
        GtkWidget *title;
        GtkWidget *subtitle;
        GtkWidget *spinner;
        GtkWidget *headline;
        GtkWidget *detail;
        GtkWidget *vnc;

        DisplayState display;
        char *display_message;
        char *vnc_error;
        GCancellable *open_cancellable;
        unsigned failures;
        guint retry_id;
        guint disconnected_id;

        /* Asked for once: shown at least once, so kept connected while the VM runs. */
        bool wanted;
        bool visible;
        /* The phone had a VMM (running or paused) at the last look: its screen connection can live. */
        bool had_vmm;
        /* A first framebuffer update arrived on the current connection. */
        bool has_framebuffer;
        /* Became visible: "shown" is traced at its screen's next draw. */
        bool await_shown;
};

static void page_sync(Page *page);

static bool phone_running(Phone *p) {
        return g_strcmp0(p->state, "running") == 0;
}

/* The VMM that serves the screen is the same: a paused guest keeps its connection (and its picture) for
 * when it runs on. Any other state ends that VMM or comes before it. */
static bool phone_vmm_kept(Phone *p) {
        return phone_running(p) || g_strcmp0(p->state, "paused") == 0;
}

static void set_display(Page *page, DisplayState state, const char *message) {
        if (page->display == state && g_strcmp0(page->display_message, message) == 0)
                return;
        page->display = state;
        g_free(page->display_message);
        page->display_message = g_strdup(message);
        trace_at("display %s %s", page->phone->name, display_state_table[state]);
}

/* Takes the VncDisplay off the page and closes its connection (not from one of its own signal handlers). */
static void drop_vnc(Page *page) {
        GtkWidget *vnc = g_steal_pointer(&page->vnc);
        VncConnection *conn;

        if (!vnc)
                return;
        conn = vnc_display_get_connection(VNC_DISPLAY(vnc));
        if (conn)
                g_signal_handlers_disconnect_by_data(conn, page);
        g_signal_handlers_disconnect_by_data(vnc, page);
        page->has_framebuffer = false;
        gtk_widget_destroy(vnc);
}

static void close_display(Page *page) {
        g_cancellable_cancel(page->open_cancellable);
        g_clear_object(&page->open_cancellable);
        g_clear_handle_id(&page->retry_id, g_source_remove);
        g_clear_handle_id(&page->disconnected_id, g_source_remove);
        drop_vnc(page);
        g_clear_pointer(&page->vnc_error, g_free);
        set_display(page, DISPLAY_CLOSED, NULL);
}

static void update_view(Page *page) {
        Phone *p = page->phone;
        const char *headline, *detail = NULL;
        g_autofree char *title = NULL;
        bool spin = false;

        if (phone_running(p) && page->display == DISPLAY_READY && page->vnc) {
                gtk_stack_set_visible_child_name(GTK_STACK(page->stack), "screen");
                gtk_spinner_stop(GTK_SPINNER(page->spinner));
                return;
        }

        if (!*p->state) {
                headline = "Loading…";
                spin = true;
        } else if (phone_running(p))
                switch (page->display) {
                case DISPLAY_ABSENT:
                        headline = "No display";
                        detail = page->display_message;
                        break;
                case DISPLAY_FAILED:
                        headline = "The screen is not available";
                        detail = page->display_message;
                        break;
                case DISPLAY_CLOSED:
                        if (!page->wanted) {
                                headline = "Running";
                                break;
                        }
                        G_GNUC_FALLTHROUGH;
                default:
                        headline = "Connecting to the screen…";
                        spin = true;
                }
        else if (g_str_equal(p->state, "starting")) {
                headline = "Starting…";
                spin = true;
        } else if (g_str_equal(p->state, "stopping")) {
                headline = "Stopping…";
                spin = true;
        } else if (g_str_equal(p->state, "paused"))
                headline = "Paused";
        else if (g_str_equal(p->state, "stopped"))
                headline = "Stopped";
        else if (g_str_equal(p->state, "created"))
                headline = "Not started";
        else if (g_str_equal(p->state, "failed")) {
                headline = "Failed";
                detail = *p->failure_reason ? p->failure_reason : "vmmd gave no reason.";
        } else
                headline = p->state;

        title = g_markup_printf_escaped("<span size='x-large' weight='bold'>%s</span>", p->name);
        gtk_label_set_markup(GTK_LABEL(page->title), title);
        gtk_label_set_text(GTK_LABEL(page->subtitle), p->persona);
        gtk_label_set_text(GTK_LABEL(page->headline), headline);
        gtk_label_set_text(GTK_LABEL(page->detail), detail ?: "");
        gtk_widget_set_visible(page->detail, detail && *detail);
        gtk_widget_set_visible(page->spinner, spin);
        if (spin)
                gtk_spinner_start(GTK_SPINNER(page->spinner));
        else
                gtk_spinner_stop(GTK_SPINNER(page->spinner));
        gtk_stack_set_visible_child_name(GTK_STACK(page->stack), "status");
}

static void focus_screen(Page *page) {
        if (page->visible && page->vnc && page->display == DISPLAY_READY)
                gtk_widget_grab_focus(page->vnc);
}

static void on_vnc_initialized(GtkWidget *vnc, gpointer userdata) {
        Page *page = userdata;
        g_autofree char *size = g_strdup_printf(
                "%dx%d", vnc_display_get_width(VNC_DISPLAY(vnc)), vnc_display_get_height(VNC_DISPLAY(vnc)));

        page->failures = 0;
        set_display(page, DISPLAY_READY, size);
        update_view(page);
        focus_screen(page);
}

static void on_vnc_error(GtkWidget *vnc, const char *message, gpointer userdata) {
        Page *page = userdata;
        g_autofree char *text = trace_text(message);

        g_free(page->vnc_error);
        page->vnc_error = g_strdup(message);
        trace("error %s: screen: %s", page->phone->name, text);
}

static gboolean on_retry(gpointer userdata) {
        Page *page = userdata;

        page->retry_id = 0;
        page_sync(page);
        return G_SOURCE_REMOVE;
}

static gboolean on_disconnected_idle(gpointer userdata) {
        Page *page = userdata;
        g_autofree char *message = NULL;

        page->disconnected_id = 0;
        drop_vnc(page);
        message = g_strdup_printf(
                "The screen's connection closed%s%s.", page->vnc_error ? ": " : "", page->vnc_error ?: "");
        g_clear_pointer(&page->vnc_error, g_free);

        if (!phone_running(page->phone) || !page->wanted)
                set_display(page, DISPLAY_CLOSED, NULL);
        else if (++page->failures > DISPLAY_RETRIES)
                set_display(page, DISPLAY_FAILED, message);
        else {
                /* The VM may be on its way down (State follows) or its VMM busy: try again shortly. */
                set_display(page, DISPLAY_CLOSED, message);
                page->retry_id = g_timeout_add_seconds(page->failures, on_retry, page);
        }
        update_view(page);
        return G_SOURCE_REMOVE;
}

static void on_vnc_disconnected(GtkWidget *vnc, gpointer userdata) {
        Page *page = userdata;

        /* Not from within the widget's own emission: dropping it destroys it. */
        if (!page->disconnected_id)
                page->disconnected_id = g_idle_add(on_disconnected_idle, page);
}

static void on_framebuffer_update(VncConnection *conn, int x, int y, int w, int h, gpointer userdata) {
        Page *page = userdata;

        page->has_framebuffer = true;
        g_signal_handlers_disconnect_by_func(conn, on_framebuffer_update, page);
}

/* After the page's stack drew its visible child: VncDisplay's own draw handler ends the emission of its
 * "draw", so nothing runs after it there. */
static gboolean on_page_drawn(GtkWidget *stack, cairo_t *cr, gpointer userdata) {
        Page *page = userdata;

        if (page->await_shown && page->visible && page->has_framebuffer && page->display == DISPLAY_READY &&
            page->vnc && gtk_stack_get_visible_child(GTK_STACK(page->stack)) == page->vnc) {
                page->await_shown = false;
                trace_at("shown %s", page->phone->name);
        }
        return FALSE;
}

static void on_display_opened(Phone *p, int fd, const GError *error, void *userdata) {
        Page *page = userdata;
        VncConnection *conn;

        g_clear_object(&page->open_cancellable);
        if (fd < 0) {
                g_autofree char *message = client_error_message(error);

                if (client_error_is(error, "org.freedesktop.DBus.Error.UnknownMethod") ||
                    client_error_is(error, "org.vmmd1.Error.NotSupported"))
                        set_display(page, DISPLAY_ABSENT, message);
                else {
                        g_autofree char *text = trace_text(message);

                        trace("error %s: OpenDisplay: %s", p->name, text);
                        set_display(page, DISPLAY_FAILED, message);
                }
                update_view(page);
                return;
        }

        page->vnc = vnc_display_new();
        vnc_display_set_scaling(VNC_DISPLAY(page->vnc), TRUE);
        vnc_display_set_keep_aspect_ratio(VNC_DISPLAY(page->vnc), TRUE);
        /* Another viewer of the same phone does not close this one, nor this one it. */
        vnc_display_set_shared_flag(VNC_DISPLAY(page->vnc), TRUE);
        vnc_display_set_read_only(VNC_DISPLAY(page->vnc), !page->visible);
        gtk_widget_set_hexpand(page->vnc, TRUE);
        gtk_widget_set_vexpand(page->vnc, TRUE);
        g_signal_connect(page->vnc, "vnc-initialized", G_CALLBACK(on_vnc_initialized), page);
        g_signal_connect(page->vnc, "vnc-disconnected", G_CALLBACK(on_vnc_disconnected), page);
        g_signal_connect(page->vnc, "vnc-error", G_CALLBACK(on_vnc_error), page);
        conn = vnc_display_get_connection(VNC_DISPLAY(page->vnc));
        g_signal_connect(conn, "vnc-framebuffer-update", G_CALLBACK(on_framebuffer_update), page);
        gtk_stack_add_named(GTK_STACK(page->stack), page->vnc, "screen");
        gtk_widget_show(page->vnc);

        /* The connection owns fd from here on. */
        if (!vnc_display_open_fd(VNC_DISPLAY(page->vnc), fd)) {
                (void) close(fd);
                drop_vnc(page);
                set_display(page, DISPLAY_FAILED, "Failed to start the connection to the screen.");
                update_view(page);
                return;
        }
        set_display(page, DISPLAY_CONNECTING, NULL);
        /* A screen back after a restart of the visible phone is "shown" again. */
        if (page->visible)
                page->await_shown = true;
        update_view(page);
}

static void open_display(Page *page) {
        Phone *p = page->phone;

        if (p->has_display_size && p->display_width == 0 && p->display_height == 0) {
                set_display(page, DISPLAY_ABSENT, "This phone has no display.");
                return;
        }
        set_display(page, DISPLAY_OPENING, NULL);
        page->open_cancellable = g_cancellable_new();
        client_open_display(page->client, p, page->open_cancellable, on_display_opened, page);
}

static void page_sync(Page *page) {
        bool running = phone_running(page->phone);

        if (!phone_vmm_kept(page->phone)) {
                if (page->display != DISPLAY_CLOSED || page->vnc)
                        close_display(page);
                page->failures = 0;
        } else if (running) {
                if (!page->had_vmm && (page->display == DISPLAY_ABSENT || page->display == DISPLAY_FAILED))
                        /* Started (again): a new VMM, maybe with a display this time. */
                        set_display(page, DISPLAY_CLOSED, NULL);
                if (page->wanted && page->display == DISPLAY_CLOSED && !page->retry_id)
                        open_display(page);
        }
        page->had_vmm = phone_vmm_kept(page->phone);
        update_view(page);
}

Page *page_new(Client *c, Phone *p) {
        Page *page = g_new0(Page, 1);
        PangoAttrList *attrs;
        GtkWidget *box;

        page->client = c;
        page->phone = p;

        page->stack = gtk_stack_new();
        gtk_stack_set_transition_type(GTK_STACK(page->stack), GTK_STACK_TRANSITION_TYPE_NONE);
        g_object_ref_sink(page->stack);
        g_signal_connect_after(page->stack, "draw", G_CALLBACK(on_page_drawn), page);

        box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
        gtk_widget_set_valign(box, GTK_ALIGN_CENTER);
        gtk_widget_set_halign(box, GTK_ALIGN_CENTER);
        gtk_widget_set_margin_start(box, 24);
        gtk_widget_set_margin_end(box, 24);
        page->title = gtk_label_new(NULL);
        page->subtitle = gtk_label_new(NULL);
        gtk_style_context_add_class(gtk_widget_get_style_context(page->subtitle), "dim-label");
        page->spinner = gtk_spinner_new();
        gtk_widget_set_size_request(page->spinner, 48, 48);
        gtk_widget_set_no_show_all(page->spinner, TRUE);
        page->headline = gtk_label_new(NULL);
        attrs = pango_attr_list_new();
        pango_attr_list_insert(attrs, pango_attr_scale_new(PANGO_SCALE_LARGE));
        gtk_label_set_attributes(GTK_LABEL(page->headline), attrs);
        pango_attr_list_unref(attrs);
        page->detail = gtk_label_new(NULL);
        gtk_label_set_line_wrap(GTK_LABEL(page->detail), TRUE);
        gtk_label_set_max_width_chars(GTK_LABEL(page->detail), 40);
        gtk_label_set_justify(GTK_LABEL(page->detail), GTK_JUSTIFY_CENTER);
        gtk_label_set_selectable(GTK_LABEL(page->detail), TRUE);
        gtk_widget_set_can_focus(page->detail, FALSE);
        gtk_widget_set_no_show_all(page->detail, TRUE);
        gtk_container_add(GTK_CONTAINER(box), page->title);
        gtk_container_add(GTK_CONTAINER(box), page->subtitle);
        gtk_container_add(GTK_CONTAINER(box), page->spinner);
        gtk_container_add(GTK_CONTAINER(box), page->headline);
        gtk_container_add(GTK_CONTAINER(box), page->detail);
        page->status = box;
        gtk_stack_add_named(GTK_STACK(page->stack), box, "status");
        gtk_widget_show_all(page->stack);

        page->display = DISPLAY_CLOSED;
        page_sync(page);
        return page;
}

Page *page_free(Page *page) {
        if (!page)
                return NULL;
        g_cancellable_cancel(page->open_cancellable);
        g_clear_object(&page->open_cancellable);
        g_clear_handle_id(&page->retry_id, g_source_remove);
        g_clear_handle_id(&page->disconnected_id, g_source_remove);
        drop_vnc(page);
        gtk_widget_destroy(page->stack);
        g_object_unref(page->stack);
        g_free(page->display_message);
        g_free(page->vnc_error);
        g_free(page);
        return NULL;
}

GtkWidget *page_get_widget(Page *page) {
        return page->stack;
}

void page_update(Page *page, unsigned changes) {
        if ((changes & PHONE_CHANGE_DISPLAY_SIZE) && page->display == DISPLAY_ABSENT &&
            (page->phone->display_width > 0 || page->phone->display_height > 0))
                /* A display after all (the guest set one up): try it. */
                set_display(page, DISPLAY_CLOSED, NULL);
        page_sync(page);
}

void page_set_visible(Page *page, bool visible) {
        bool was_visible = page->visible;

        if (visible && !was_visible)
                page->await_shown = true;
        if (!visible)
                page->await_shown = false;
        page->visible = visible;
        if (visible) {
                page->wanted = true;
                if (!was_visible && page->display == DISPLAY_FAILED) {
                        /* Looked at again: worth another try. */
                        page->failures = 0;
                        set_display(page, DISPLAY_CLOSED, NULL);
                }
        }
        if (page->vnc)
                /* Touch and keys reach only the foreground phone. */
                vnc_display_set_read_only(VNC_DISPLAY(page->vnc), !visible);
        page_sync(page);
        focus_screen(page);
        if (page->vnc && visible)
                gtk_widget_queue_draw(page->vnc);
}
