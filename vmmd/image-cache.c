/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image cache: manifest and stat on the loop, sha256 in a forked child (fork_call()). The child checks
 * the very files the parent looked at (image_verify() compares their stat), so a verdict is about exactly
 * what the cache then hands out until a file changes. */
#include "image-cache.h"
#include "process.h"

typedef struct Waiter {
        sd_bus_message *message;
        image_waiter_t cb;
        void *userdata;
} Waiter;

typedef struct ImageEntry {
        ImageCache *cache;
        char *name;
        Image *image;  /* loaded, its files' stat recorded */
        bool verified; /* image_verify() passed for these files */
        int error;     /* or failed: error and message, until the files change */
        char *error_message;
        sd_event_source *child; /* the verifier while it runs */
        Waiter *waiters;
        size_t n_waiters;
} ImageEntry;

struct ImageCache {
        sd_event *event;
        char *root;
        ImageEntry **entries;
        size_t n_entries;
};

static void entry_reset(ImageEntry *e) {
        e->child = sd_event_source_disable_unref(e->child); /* kills a running verifier */
        e->image = image_free(e->image);
        e->verified = false;
        e->error = 0;
        e->error_message = mfree(e->error_message);
}

static ImageEntry *entry_free(ImageEntry *e) {
        if (!e)
                return NULL;
        entry_reset(e);
        for (size_t i = 0; i < e->n_waiters; i++)
                sd_bus_message_unref(e->waiters[i].message);
        free(e->waiters);
        free(e->name);
        free(e);
        return NULL;
}

int image_cache_new(sd_event *e, const char *image_root, ImageCache **ret) {
        ImageCache *c;

        c = calloc(1, sizeof(ImageCache));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(e);
        c->root = strdup(image_root);
        if (!c->root) {
                image_cache_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

ImageCache *image_cache_free(ImageCache *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_entries; i++)
                entry_free(c->entries[i]);
        free(c->entries);
        free(c->root);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}

static int entry_get(ImageCache *c, const char *name, ImageEntry **ret) {
        ImageEntry *e, **t;

        for (size_t i = 0; i < c->n_entries; i++)
                if (streq(c->entries[i]->name, name)) {
                        *ret = c->entries[i];
                        return 0;
                }
        t = reallocarray(c->entries, c->n_entries + 1, sizeof(ImageEntry *));
        if (!t)
                return -ENOMEM;
        c->entries = t;
        e = calloc(1, sizeof(ImageEntry));
        if (!e)
                return -ENOMEM;
        e->cache = c;
        e->name = strdup(name);
        if (!e->name) {
                entry_free(e);
                return -ENOMEM;
        }
        c->entries[c->n_entries++] = e;
        *ret = e;
        return 0;
}

static int set_failed(ImageEntry *e, int error, const char *message, char **ret_error) {
        e->verified = false;
        e->error = error;
        if (message != e->error_message)
                (void) free_and_strdup(&e->error_message, message);
        if (ret_error)
                *ret_error = e->error_message ? strdup(e->error_message) : NULL;
        return error;
}

/* Each waiting call is handled again: it finds the verdict (or, if the files changed meanwhile, waits for
 * the next verification). */
static void entry_flush_waiters(ImageEntry *e) {
        Waiter *waiters = TAKE_PTR(e->waiters);
        size_t n_waiters = e->n_waiters;

        e->n_waiters = 0;
        for (size_t i = 0; i < n_waiters; i++) {
                waiters[i].cb(waiters[i].message, waiters[i].userdata);
                sd_bus_message_unref(waiters[i].message);
        }
        free(waiters);
}

static void on_verifier_done(int error, const char *message, void *userdata) {
        ImageEntry *e = userdata;

        e->child = sd_event_source_disable_unref(e->child);
        if (error == 0)
                e->verified = true;
        else
                (void) set_failed(e, error, message ?: "verification failed", NULL);
        entry_flush_waiters(e);
}

static int verify_image(void *userdata, char **ret_message) {
        return image_verify(userdata, ret_message);
}

static int entry_start_verifier(ImageEntry *e) {
        return fork_call(
                e->cache->event, "image-verify", verify_image, e->image, on_verifier_done, e, &e->child);
}

/* Loads the manifest again when the files changed (or never were loaded). Cheap: no hashing. */
static int entry_refresh(ImageEntry *e, char **ret_error) {
        _cleanup_free_ char *message = NULL;
        int r;

        if (e->image && image_unchanged(e->image))
                return 0;
        entry_reset(e);
        r = image_load_full(e->cache->root, e->name, false, &e->image, &message);
        if (r < 0)
                return set_failed(e, r, message, ret_error);
        return 0;
}

int image_cache_get(ImageCache *c, const char *name, Image **ret, char **ret_error) {
        ImageEntry *e;
        int r;

        r = entry_get(c, name, &e);
        if (r < 0)
                return r;
        if (e->image && !image_unchanged(e->image))
                entry_reset(e);
        if (!e->image) {
                r = entry_refresh(e, ret_error);
                if (r < 0) {
                        /* Calls that waited for a verification the change ended hear the news. */
                        entry_flush_waiters(e);
                        return r;
                }
        }
        if (e->verified) {
                *ret = e->image;
                return 0;
        }
        if (e->error < 0)
                return set_failed(e, e->error, e->error_message, ret_error);
        if (!e->child) {
                r = entry_start_verifier(e);
                if (r < 0)
                        return r;
        }
        return -EINPROGRESS;
}

int image_cache_wait(ImageCache *c, const char *name, sd_bus_message *m, image_waiter_t cb, void *userdata) {
        ImageEntry *e;
        Waiter *t;
        int r;

        r = entry_get(c, name, &e);
        if (r < 0)
                return r;
        if (!e->child)
                return -ECHILD;
        if (e->n_waiters >= IMAGE_CACHE_WAITERS_MAX)
                return -EBUSY;
        t = reallocarray(e->waiters, e->n_waiters + 1, sizeof(Waiter));
        if (!t)
                return -ENOMEM;
        e->waiters = t;
        e->waiters[e->n_waiters++] = (Waiter){ .message = sd_bus_message_ref(m),
                                               .cb = cb,
                                               .userdata = userdata };
        return 0;
}

int image_cache_verify_now(ImageCache *c, const char *name, char **ret_error) {
        _cleanup_free_ char *message = NULL;
        ImageEntry *e;
        int r;

        r = entry_get(c, name, &e);
        if (r < 0)
                return r;
        r = entry_refresh(e, ret_error);
        if (r < 0 || e->verified)
                return r;
        if (e->error < 0) /* the same files failed before */
                return set_failed(e, e->error, e->error_message, ret_error);
        r = image_verify(e->image, &message);
        if (r < 0)
                return set_failed(e, r, message, ret_error);
        e->verified = true;
        return 0;
}
