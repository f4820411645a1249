/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Verified images by name. Hashing runs in a child process, so the event loop never waits for it. */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "image.h"

#define IMAGE_CACHE_WAITERS_MAX 64 /* calls that may wait for one image's verification */

typedef struct ImageCache ImageCache;

/* Called once the verification that a call waited for ended: the call is to be handled again. */
typedef void (*image_waiter_t)(sd_bus_message *m, void *userdata);

int image_cache_new(sd_event *e, const char *image_root, ImageCache **ret);
ImageCache *image_cache_free(ImageCache *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageCache *, image_cache_free);

/* The verified image, if its files did not change since. -EINPROGRESS: a verification runs (started
 * now if needed): wait for it with image_cache_wait(). Other errors as image_load(), with a message; a
 * failed verification is remembered until the files change. */
int image_cache_get(ImageCache *c, const char *name, Image **ret, char **ret_error);

/* Hands m to cb once the running verification of name ends. -EBUSY past IMAGE_CACHE_WAITERS_MAX. */
int image_cache_wait(ImageCache *c, const char *name, sd_bus_message *m, image_waiter_t cb, void *userdata);

/* Verifies name here and now, blocking (for startup, before READY=1). */
int image_cache_verify_now(ImageCache *c, const char *name, char **ret_error);
