/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Strict YAML loading (libyaml events into a node tree) and table-driven parsing of mappings. */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <yaml.h>

#include "names.h"
#include "yaml-util.h"

#define YAML_QUOTE_BYTES 40U
#define YAML_KEY_BYTES 128U

YamlNode *yaml_tree_free(YamlNode *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_children; i++)
                yaml_tree_free(n->children[i]);
        free(n->children);
        free(n->value);
        free(n);
        return NULL;
}

const char *yaml_node_type_to_string(YamlNodeType t) {
        switch (t) {
        case YAML_TREE_SCALAR:
                return "a scalar";
        case YAML_TREE_MAPPING:
                return "a mapping";
        case YAML_TREE_SEQUENCE:
                return "a sequence";
        }
        return "an unknown node";
}

bool yaml_node_is_null(const YamlNode *n) {
        return n->type == YAML_TREE_SCALAR && n->plain &&
                (isempty(n->value) || streq(n->value, "~") || streq(n->value, "null") ||
                 streq(n->value, "Null") || streq(n->value, "NULL"));
}

static bool is_control(uint32_t cp) {
        return cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

static size_t sanitize(const char *s, size_t max, char *buf) {
        size_t n = 0;

        for (const char *p = s; *p;) {
                uint32_t cp;
                int k = utf8_decode(p, &cp);

                if ((size_t) (p - s) + (k > 0 ? (size_t) k : 1) > max) {
                        memcpy(buf + n, "…", strlen("…"));
                        n += strlen("…");
                        break;
                }
                if (k < 0 || is_control(cp)) {
                        buf[n++] = '?';
                        p += k < 0 ? 1 : k;
                        continue;
                }
                memcpy(buf + n, p, k);
                n += k;
                p += k;
        }
        buf[n] = 0;
        return n;
}

const char *yaml_quote(const char *s, char buf[static YAML_QUOTE_MAX]) {
        (void) sanitize(s, YAML_QUOTE_BYTES, buf);
        return buf;
}

/* Appends word to *s, after sep unless *s is still NULL. */
static int str_append(char **s, const char *sep, const char *word) {
        char *t;

        if (asprintf(&t, "%s%s%s", strempty(*s), *s ? sep : "", word) < 0)
                return -ENOMEM;
        free(*s);
        *s = t;
        return 0;
}

/* "files" + "kernel" → "files.kernel"; NULL on OOM. */
static char *key_join(const char *prefix, const char *key) {
        char *s = NULL;

        if (prefix && str_append(&s, ".", prefix) < 0)
                return NULL;
        if (str_append(&s, ".", key) < 0) {
                free(s);
                return NULL;
        }
        return s;
}

int yaml_error(const YamlContext *c, unsigned line, int r, const char *fmt, ...) {
        _cleanup_free_ char *problem = NULL, *key = NULL;
        char lbuf[16] = "";
        va_list ap;
        char *m;
        int k;

        if (!c->ret_error)
                return r;

        va_start(ap, fmt);
        k = vasprintf(&problem, fmt, ap);
        va_end(ap);
        if (k < 0)
                return r;

        if (c->key) {
                /* Keys come from the file, so they get the same treatment as values, with more room. */
                key = malloc(YAML_KEY_BYTES + strlen("…") + 1);
                if (!key)
                        return r;
                (void) sanitize(c->key, YAML_KEY_BYTES, key);
        }
        if (line > 0)
                (void) snprintf(lbuf, sizeof(lbuf), ":%u", line);

        if (key)
                k = asprintf(&m, "%s%s: key '%s': %s", c->path, lbuf, key, problem);
        else
                k = asprintf(&m, "%s%s: %s", c->path, lbuf, problem);
        if (k < 0)
                return r;
        free(*c->ret_error);
        *c->ret_error = m;
        return r;
}

/* The dotted key path of the position a new node would take, for messages about that node. Every level
 * but the innermost already holds the next level as its last child; the new node is not appended yet. */
static char *key_path(YamlNode **stack, size_t depth) {
        _cleanup_free_ char *p = NULL;

        for (size_t i = 0; i < depth; i++) {
                YamlNode *n = stack[i];
                size_t pos = i + 1 < depth ? n->n_children - 1 : n->n_children; /* index of our child */
                char *t;

                if (n->type == YAML_TREE_MAPPING) {
                        if (pos % 2 == 0)
                                break; /* the node is a key: its parent's path is the best we have */
                        if (str_append(&p, ".", n->children[pos - 1]->value) < 0)
                                return NULL;
                } else {
                        if (asprintf(&t, "%s[%zu]", strempty(p), pos) < 0)
                                return NULL;
                        free(p);
                        p = t;
                }
        }
        return TAKE_PTR(p);
}

static int node_append(YamlNode *parent, YamlNode *child) {
        size_t n = parent->n_children;

        /* Capacity is implied: 4, then doubling whenever the count reaches a power of two. */
        if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
                YamlNode **t = reallocarray(parent->children, n == 0 ? 4 : n * 2, sizeof(YamlNode *));
                if (!t)
                        return -ENOMEM;
                parent->children = t;
        }
        parent->children[parent->n_children++] = child;
        return 0;
}

static const char *tag_display(const char *tag, char buf[static YAML_QUOTE_MAX]) {
        static const char core[] = "tag:yaml.org,2002:";

        /* Show the core schema's tags the way they are written: "!!str". */
        if (strncmp(tag, core, strlen(core)) == 0) {
                memcpy(buf, "!!", 2);
                (void) sanitize(tag + strlen(core), YAML_QUOTE_BYTES, buf + 2);
                return buf;
        }
        return yaml_quote(tag, buf);
}

typedef struct TreeBuilder {
        YamlContext ctx;
        YamlNode *root;
        YamlNode *stack[YAML_DEPTH_MAX];
        size_t depth;
        unsigned n_documents;
} TreeBuilder;

_printf_(4, 5) static int builder_error(TreeBuilder *b, unsigned line, int r, const char *fmt, ...) {
        _cleanup_free_ char *key = NULL, *problem = NULL;
        YamlContext c = b->ctx;
        va_list ap;
        int k;

        if (!c.ret_error)
                return r;
        va_start(ap, fmt);
        k = vasprintf(&problem, fmt, ap);
        va_end(ap);
        if (k < 0)
                return r;
        key = key_path(b->stack, b->depth);
        c.key = key;
        return yaml_error(&c, line, r, "%s", problem);
}

/* Checks what no configuration file needs: anchors (and thereby aliases) and explicit tags. */
static int builder_check_node(TreeBuilder *b, unsigned line, const yaml_char_t *anchor, const yaml_char_t *tag) {
        char buf[YAML_QUOTE_MAX];

        if (anchor)
                return builder_error(
                        b,
                        line,
                        -EINVAL,
                        "anchors and aliases are not supported ('&%s')",
                        yaml_quote((const char *) anchor, buf));
        if (tag)
                return builder_error(
                        b, line, -EINVAL, "tags are not supported ('%s')", tag_display((const char *) tag, buf));
        return 0;
}

/* Takes ownership of n. */
static int builder_add(TreeBuilder *b, YamlNode *n, bool push) {
        _cleanup_(yaml_tree_freep) YamlNode *node = n;
        int r;

        if (b->depth > 0) {
                YamlNode *parent = b->stack[b->depth - 1];

                if (parent->type == YAML_TREE_MAPPING && parent->n_children % 2 == 0 &&
                    node->type != YAML_TREE_SCALAR)
                        return builder_error(
                                b,
                                node->line,
                                -EINVAL,
                                "mapping keys must be scalars, got %s",
                                yaml_node_type_to_string(node->type));
                if (push && b->depth >= YAML_DEPTH_MAX)
                        return builder_error(
                                b, node->line, -EINVAL, "nesting is deeper than %u levels", YAML_DEPTH_MAX);
                r = node_append(parent, node);
                if (r < 0)
                        return r;
        } else {
                assert(!b->root); /* a second document is rejected at its start */
                b->root = node;
        }
        n = TAKE_PTR(node);
        if (push)
                b->stack[b->depth++] = n;
        return 0;
}

static int builder_scalar(TreeBuilder *b, const yaml_event_t *e) {
        _cleanup_(yaml_tree_freep) YamlNode *n = NULL;
        unsigned line = e->start_mark.line + 1;
        int r;

        r = builder_check_node(b, line, e->data.scalar.anchor, e->data.scalar.tag);
        if (r < 0)
                return r;
        if (memchr(e->data.scalar.value, 0, e->data.scalar.length))
                return builder_error(b, line, -EINVAL, "contains a NUL character");

        n = calloc(1, sizeof(YamlNode));
        if (!n)
                return -ENOMEM;
        n->type = YAML_TREE_SCALAR;
        n->line = line;
        n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->value = strndup((const char *) e->data.scalar.value, e->data.scalar.length);
        if (!n->value)
                return -ENOMEM;
        return builder_add(b, TAKE_PTR(n), false);
}

static int builder_collection(
        TreeBuilder *b,
        const yaml_event_t *e,
        YamlNodeType type,
        const yaml_char_t *anchor,
        const yaml_char_t *tag) {
        YamlNode *n;
        unsigned line = e->start_mark.line + 1;
        int r;

        r = builder_check_node(b, line, anchor, tag);
        if (r < 0)
                return r;
        n = calloc(1, sizeof(YamlNode));
        if (!n)
                return -ENOMEM;
        n->type = type;
        n->line = line;
        return builder_add(b, n, true);
}

static unsigned line_of_offset(const char *buf, size_t size, size_t offset) {
        unsigned line = 1;

        for (size_t i = 0; i < MIN(offset, size); i++)
                if (buf[i] == '\n')
                        line++;
        return line;
}

static int parser_error(TreeBuilder *b, const yaml_parser_t *p, const char *buf, size_t size) {
        unsigned line;

        switch (p->error) {
        case YAML_MEMORY_ERROR:
                return -ENOMEM;
        case YAML_READER_ERROR:
                /* Encoding problems carry a byte offset instead of a mark. */
                line = line_of_offset(buf, size, p->problem_offset);
                return yaml_error(&b->ctx, line, -EINVAL, "malformed YAML: %s", strna(p->problem));
        default:
                line = p->problem_mark.line + 1;
                if (p->context)
                        return yaml_error(
                                &b->ctx,
                                line,
                                -EINVAL,
                                "malformed YAML: %s (%s on line %zu)",
                                strna(p->problem),
                                p->context,
                                p->context_mark.line + 1);
                return yaml_error(&b->ctx, line, -EINVAL, "malformed YAML: %s", strna(p->problem));
        }
}

static void yaml_event_deletep(yaml_event_t *e) {
        yaml_event_delete(e);
}

static int builder_run(TreeBuilder *b, yaml_parser_t *p, const char *buf, size_t size) {
        for (;;) {
                _cleanup_(yaml_event_deletep) yaml_event_t e = {};
                unsigned line;
                int r = 0;

                if (!yaml_parser_parse(p, &e))
                        return parser_error(b, p, buf, size);
                line = e.start_mark.line + 1;

                switch (e.type) {
                case YAML_STREAM_START_EVENT:
                case YAML_DOCUMENT_END_EVENT:
                case YAML_NO_EVENT:
                        break;
                case YAML_STREAM_END_EVENT:
                        if (!b->root)
                                return yaml_error(&b->ctx, 1, -EINVAL, "file is empty");
                        return 0;
                case YAML_DOCUMENT_START_EVENT:
                        if (b->n_documents++ > 0)
                                return yaml_error(
                                        &b->ctx, line, -EINVAL, "multiple documents are not supported");
                        break;
                case YAML_ALIAS_EVENT: {
                        char tmp[YAML_QUOTE_MAX];

                        return builder_error(
                                b,
                                line,
                                -EINVAL,
                                "anchors and aliases are not supported ('*%s')",
                                yaml_quote((const char *) e.data.alias.anchor, tmp));
                }
                case YAML_SCALAR_EVENT:
                        r = builder_scalar(b, &e);
                        break;
                case YAML_MAPPING_START_EVENT:
                        r = builder_collection(
                                b, &e, YAML_TREE_MAPPING, e.data.mapping_start.anchor, e.data.mapping_start.tag);
                        break;
                case YAML_SEQUENCE_START_EVENT:
                        r = builder_collection(
                                b,
                                &e,
                                YAML_TREE_SEQUENCE,
                                e.data.sequence_start.anchor,
                                e.data.sequence_start.tag);
                        break;
                case YAML_MAPPING_END_EVENT:
                case YAML_SEQUENCE_END_EVENT:
                        assert(b->depth > 0);
                        b->depth--;
                        break;
                }
                if (r < 0)
                        return r;
        }
}

int yaml_tree_load_fd(int fd, const char *path, YamlNode **ret, char **ret_error) {
        TreeBuilder b = { .ctx = { .path = path, .ret_error = ret_error } };
        _cleanup_free_ char *buf = NULL;
        yaml_parser_t parser;
        struct stat st;
        size_t size = 0;
        int r;

        assert(fd >= 0);
        assert(path);
        assert(ret);

        if (fstat(fd, &st) < 0)
                return yaml_error(&b.ctx, 0, -errno, "%s", strerror(errno));
        if (S_ISDIR(st.st_mode))
                return yaml_error(&b.ctx, 0, -EISDIR, "is a directory");
        if (!S_ISREG(st.st_mode))
                return yaml_error(&b.ctx, 0, -EINVAL, "is not a regular file");
        if (st.st_size > (off_t) YAML_FILE_MAX)
                return yaml_error(&b.ctx, 0, -EINVAL, "file is larger than %u KiB", YAML_FILE_MAX / 1024);

        /* One byte more than allowed, to notice a file that grew since fstat(). */
        buf = malloc(YAML_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf + size, YAML_FILE_MAX + 1 - size);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return yaml_error(&b.ctx, 0, -errno, "%s", strerror(errno));
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > YAML_FILE_MAX)
                        return yaml_error(
                                &b.ctx, 0, -EINVAL, "file is larger than %u KiB", YAML_FILE_MAX / 1024);
        }

        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
        yaml_parser_set_input_string(&parser, (const unsigned char *) buf, size);
        r = builder_run(&b, &parser, buf, size);
        yaml_parser_delete(&parser);
        if (r < 0) {
                yaml_tree_free(b.root);
                return r;
        }

        *ret = TAKE_PTR(b.root);
        return 0;
}

int yaml_tree_load(const char *path, YamlNode **ret, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;

        assert(path);

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                YamlContext c = { .path = path, .ret_error = ret_error };
                return yaml_error(&c, 0, -errno, "%s", strerror(errno));
        }
        return yaml_tree_load_fd(fd, path, ret, ret_error);
}

int yaml_tree_load_optional(const char *path, YamlNode **ret, char **ret_error) {
        if (access(path, F_OK) < 0)
                return -errno;
        return yaml_tree_load(path, ret, ret_error);
}

const YamlNode *yaml_tree_mapping_get(const YamlNode *m, const char *key) {
        if (!m || m->type != YAML_TREE_MAPPING)
                return NULL;
        for (size_t i = 0; i + 1 < m->n_children; i += 2)
                if (streq(m->children[i]->value, key))
                        return m->children[i + 1];
        return NULL;
}

/* c describes the mapping itself: its key (NULL at the top level) and that key's line. */
static int parse_mapping(const YamlContext *parent, const YamlNode *m, const YamlField fields[], void *base) {
        YamlContext c = *parent;
        const char *key_prefix = c.key;
        _cleanup_free_ unsigned *seen = NULL;
        size_t n_fields = 0;
        int r;

        assert(m);
        assert(fields);

        if (m->type != YAML_TREE_MAPPING) {
                if (!key_prefix)
                        return yaml_error(
                                &c,
                                m->line,
                                -EINVAL,
                                "the top level must be a mapping, got %s",
                                yaml_node_type_to_string(m->type));
                if (yaml_node_is_null(m))
                        return yaml_error(&c, m->line, -EINVAL, "has no value, expected a mapping");
                return yaml_error(
                        &c,
                        c.key_line ?: m->line,
                        -EINVAL,
                        "expected a mapping, got %s",
                        yaml_node_type_to_string(m->type));
        }

        while (fields[n_fields].key)
                n_fields++;
        seen = calloc(n_fields, sizeof(unsigned));
        if (!seen)
                return -ENOMEM;

        for (size_t i = 0; i + 1 < m->n_children; i += 2) {
                const YamlNode *k = m->children[i], *v = m->children[i + 1];
                _cleanup_free_ char *full = NULL;
                YamlContext fc = c;
                size_t j;

                full = key_join(key_prefix, k->value);
                if (!full)
                        return -ENOMEM;
                fc.key = full;
                fc.key_line = k->line;

                for (j = 0; j < n_fields; j++)
                        if (streq(fields[j].key, k->value))
                                break;
                if (j >= n_fields) {
                        _cleanup_free_ char *list = NULL;

                        for (size_t x = 0; x < n_fields; x++)
                                if (str_append(&list, ", ", fields[x].key) < 0)
                                        return -ENOMEM;
                        return yaml_error(
                                &fc, k->line, -EINVAL, "unknown key (expected one of: %s)", strempty(list));
                }
                if (seen[j] > 0)
                        return yaml_error(
                                &fc, k->line, -EINVAL, "duplicate key (first given on line %u)", seen[j]);
                seen[j] = k->line;

                r = fields[j].parse(&fc, v, &fields[j], base);
                if (r < 0)
                        return r;
        }

        for (size_t j = 0; j < n_fields; j++)
                if (fields[j].required && seen[j] == 0) {
                        _cleanup_free_ char *full = key_join(key_prefix, fields[j].key);
                        YamlContext fc = c;

                        if (!full)
                                return -ENOMEM;
                        fc.key = full;
                        /* A nested mapping starts at its first key: its own key is where to look. */
                        return yaml_error(&fc, c.key_line ?: m->line, -EINVAL, "required key is missing");
                }

        return 0;
}

int yaml_parse_mapping(
        const char *path,
        const char *key_prefix,
        const YamlNode *m,
        const YamlField fields[],
        void *base,
        char **ret_error) {
        YamlContext c = { .path = path, .key = key_prefix, .ret_error = ret_error };

        assert(path);
        return parse_mapping(&c, m, fields, base);
}

int yaml_node_get_scalar(const YamlContext *c, const YamlNode *v, const char *what, const char **ret) {
        /* A block collection starts on the line after its key; the key is what the reader looks for. */
        if (v->type != YAML_TREE_SCALAR)
                return yaml_error(
                        c,
                        c->key_line ?: v->line,
                        -EINVAL,
                        "expected %s, got %s",
                        what,
                        yaml_node_type_to_string(v->type));
        if (yaml_node_is_null(v))
                return yaml_error(c, v->line, -EINVAL, "has no value, expected %s", what);
        *ret = v->value;
        return 0;
}

int yaml_parse_string(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data) {
        const char *s;
        int r;

        r = yaml_node_get_scalar(c, v, "a string", &s);
        if (r < 0)
                return r;
        if (!utf8_is_valid(s))
                return yaml_error(c, v->line, -EINVAL, "is not valid UTF-8");
        for (const char *p = s; *p;) {
                uint32_t cp;
                int n = utf8_decode(p, &cp);

                if (is_control(cp))
                        return yaml_error(c, v->line, -EINVAL, "contains a control character");
                p += n;
        }
        if (f->max > 0 && strlen(s) > f->max)
                return yaml_error(c, v->line, -EINVAL, "is longer than %" PRIu64 " bytes", f->max);

        return free_and_strdup(FIELD_PTR(char *, data, f), s);
}

int yaml_parse_name(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data) {
        char buf[YAML_QUOTE_MAX];
        const char *s, *reason;
        int r;

        r = yaml_node_get_scalar(c, v, "a name", &s);
        if (r < 0)
                return r;
        reason = vm_name_invalid_reason(s);
        if (reason)
                return yaml_error(
                        c, v->line, -EINVAL, "'%s' is not a valid name: %s", yaml_quote(s, buf), reason);

        return free_and_strdup(FIELD_PTR(char *, data, f), s);
}

static int parse_unsigned(const YamlContext *c, const YamlNode *v, const YamlField *f, uint64_t *ret) {
        char buf[YAML_QUOTE_MAX];
        const char *s;
        uint64_t x = 0;
        int r;

        r = yaml_node_get_scalar(c, v, "an integer", &s);
        if (r < 0)
                return r;
        /* Only plain decimal: "0x10", "010" and "1_000" mean different things to different YAML
         * versions, and a quoted "512" is a string to every reader of the file. */
        if (!v->plain)
                return yaml_error(c, v->line, -EINVAL, "expected an integer, got a quoted string");
        if (s[0] == '-' && s[1] >= '0' && s[1] <= '9')
                return yaml_error(c, v->line, -EINVAL, "'%s' is negative", yaml_quote(s, buf));
        if (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
                return yaml_error(
                        c,
                        v->line,
                        -EINVAL,
                        "'%s' has a leading zero (octal is not accepted)",
                        yaml_quote(s, buf));
        if (s[0] == '0' && strchr("xXoObB", s[1]) && s[1])
                return yaml_error(
                        c,
                        v->line,
                        -EINVAL,
                        "'%s' is not a decimal integer (hexadecimal, octal and binary are not accepted)",
                        yaml_quote(s, buf));
        for (const char *p = s; *p; p++) {
                unsigned d;

                if (*p < '0' || *p > '9')
                        return yaml_error(
                                c, v->line, -EINVAL, "'%s' is not a decimal integer", yaml_quote(s, buf));
                d = (unsigned) (*p - '0');
                if (x > (UINT64_MAX - d) / 10)
                        return yaml_error(c, v->line, -EINVAL, "'%s' is too large", yaml_quote(s, buf));
                x = x * 10 + d;
        }
        if (x < f->min || x > f->max)
                return yaml_error(
                        c,
                        v->line,
                        -EINVAL,
                        "%" PRIu64 " is out of range (%" PRIu64 "…%" PRIu64 ")",
                        x,
                        f->min,
                        f->max);
        *ret = x;
        return 0;
}

int yaml_parse_uint64(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data) {
        uint64_t x;
        int r;

        r = parse_unsigned(c, v, f, &x);
        if (r < 0)
                return r;
        *FIELD_PTR(uint64_t, data, f) = x;
        return 0;
}

int yaml_parse_uint32(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data) {
        uint64_t x;
        int r;

        assert(f->max <= UINT32_MAX);

        r = parse_unsigned(c, v, f, &x);
        if (r < 0)
                return r;
        *FIELD_PTR(uint32_t, data, f) = (uint32_t) x;
        return 0;
}

int yaml_parse_bool(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data) {
        char buf[YAML_QUOTE_MAX];
        const char *s;
        int r;

        r = yaml_node_get_scalar(c, v, "true or false", &s);
        if (r < 0)
                return r;
        /* YAML 1.1 also knows yes/no/on/off; accepting one spelling keeps files unambiguous. */
        if (!v->plain)
                return yaml_error(c, v->line, -EINVAL, "expected true or false, got a quoted string");
        if (streq(s, "true"))
                *FIELD_PTR(bool, data, f) = true;
        else if (streq(s, "false"))
                *FIELD_PTR(bool, data, f) = false;
        else
                return yaml_error(c, v->line, -EINVAL, "expected true or false, got '%s'", yaml_quote(s, buf));
        return 0;
}

int yaml_parse_enum(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data) {
        const char *const *table = f->userdata;
        _cleanup_free_ char *list = NULL;
        char buf[YAML_QUOTE_MAX];
        const char *s;
        int r;

        assert(table);

        r = yaml_node_get_scalar(c, v, "a keyword", &s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < f->max; i++)
                if (table[i] && streq(table[i], s)) {
                        *FIELD_PTR(int, data, f) = (int) i;
                        return 0;
                }

        for (size_t i = 0; i < f->max; i++)
                if (table[i] && str_append(&list, ", ", table[i]) < 0)
                        return -ENOMEM;
        return yaml_error(c, v->line, -EINVAL, "'%s' is not one of: %s", yaml_quote(s, buf), strempty(list));
}

int yaml_parse_section(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data) {
        assert(f->userdata);
        assert(c->key);

        return parse_mapping(c, v, f->userdata, FIELD_PTR(uint8_t, data, f));
}
