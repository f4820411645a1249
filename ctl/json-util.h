/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* json-c helpers: a cleanup function and typed reads of object members. */
#pragma once

#include <json-c/json.h>

#include "util.h"

static inline void json_object_putp(json_object **o) {
        if (*o)
                (void) json_object_put(*o);
}
#define _cleanup_json_put_ _cleanup_(json_object_putp)

/* The string member key of o; NULL when missing or not a string. */
static inline const char *json_get_string(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* The boolean member key of o; false when missing or not a boolean. */
static inline bool json_get_bool(json_object *o, const char *key) {
        json_object *v;

        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_boolean) &&
                json_object_get_boolean(v);
}

/* The integer member key of o; 0 when missing or not an integer. */
static inline uint64_t json_get_uint64(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return 0;
        return json_object_get_uint64(v);
}
