/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VM name validation. */
#include "names.h"

int utf8_decode(const char *str, uint32_t *ret_cp) {
        const unsigned char *s = (const unsigned char *) str;
        uint32_t cp, min;
        int len;

        if (s[0] < 0x80) {
                *ret_cp = s[0];
                return 1;
        }
        if ((s[0] & 0xe0) == 0xc0) {
                len = 2, cp = s[0] & 0x1f, min = 0x80;
        } else if ((s[0] & 0xf0) == 0xe0) {
                len = 3, cp = s[0] & 0x0f, min = 0x800;
        } else if ((s[0] & 0xf8) == 0xf0) {
                len = 4, cp = s[0] & 0x07, min = 0x10000;
        } else
                return -EINVAL;
        for (int i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return -EINVAL;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        /* Overlong forms, surrogates and code points past Unicode's range are invalid. */
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return -EINVAL;
        *ret_cp = cp;
        return len;
}

bool utf8_is_valid(const char *s) {
        while (*s) {
                uint32_t cp;
                int n = utf8_decode(s, &cp);
                if (n < 0)
                        return false;
                s += n;
        }
        return true;
}

static char *printable(const char *s, size_t max, bool lines) {
        size_t n = 0;
        char *r;

        r = malloc(MIN(strlen(s), max) + 1);
        if (!r)
                return NULL;
        while (*s) {
                uint32_t cp;
                int k = utf8_decode(s, &cp);

                if (lines && cp == '\r' && k == 1) {
                        s++;
                        continue;
                }
                if (k < 0 || (cp < 0x20 && !(lines && cp == '\n')) || (cp >= 0x7f && cp < 0xa0)) {
                        if (n + 1 > max)
                                break;
                        r[n++] = '?';
                        s += k < 0 ? 1 : k;
                        continue;
                }
                if (n + (size_t) k > max)
                        break;
                memcpy(r + n, s, k);
                n += k;
                s += k;
        }
        r[n] = 0;
        return r;
}

char *utf8_printable(const char *s, size_t max) {
        return printable(s, max, false);
}

char *utf8_printable_lines(const char *s, size_t max) {
        return printable(s, max, true);
}

const char *vm_name_invalid_reason(const char *name) {
        if (!name || !*name)
                return "is empty";
        if (strlen(name) > VM_NAME_MAX)
                return "is longer than 64 bytes";
        if (!utf8_is_valid(name))
                return "is not valid UTF-8";
        if (name[0] == '.')
                return "starts with '.'";
        if (name[0] == '-')
                return "starts with '-'";
        for (const char *p = name; *p;) {
                uint32_t cp;
                int n = utf8_decode(p, &cp);

                if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
                        return "contains a control character";
                if (cp == '/')
                        return "contains '/'";
                if (cp == ',')
                        return "contains ','";
                if (cp == ' ' || cp == '\\' || cp == '\'' || cp == '"')
                        return "contains a space, quote or backslash";
                p += n;
        }
        return NULL;
}

const char *snapshot_name_invalid_reason(const char *name) {
        const char *why = vm_name_invalid_reason(name);

        if (why)
                return why;
        if (name[strspn(name, "0123456789")] == '\0')
                return "is all digits (QEMU would take it for a snapshot ID)";
        return NULL;
}
