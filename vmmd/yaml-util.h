/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Strict YAML for configuration files: a small node tree plus table-driven mapping parsers. */
#pragma once

#include "util.h"

/* Configuration files are small; anything bigger is a mistake or an attack. */
#define YAML_FILE_MAX (64U * 1024U)
#define YAML_DEPTH_MAX 32U

typedef enum YamlNodeType {
        YAML_TREE_SCALAR,
        YAML_TREE_MAPPING,
        YAML_TREE_SEQUENCE,
} YamlNodeType;

typedef struct YamlNode YamlNode;
struct YamlNode {
        YamlNodeType type;
        unsigned line;       /* 1-based line where the node starts */
        char *value;         /* scalar: the text, NUL-terminated (embedded NULs are rejected) */
        bool plain;          /* scalar: written without quotes or block indicators */
        YamlNode **children; /* mapping: key, value, key, value, ...; sequence: the items */
        size_t n_children;
};

YamlNode *yaml_tree_free(YamlNode *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(YamlNode *, yaml_tree_free);

/* Reads one YAML document from path (or from fd, with path used in messages only). Rejects what the
 * configuration files never need and what would make them ambiguous: anchors and aliases, tags,
 * more than one document, files over YAML_FILE_MAX bytes, nesting deeper than YAML_DEPTH_MAX, keys
 * that are not scalars. Content problems return -EINVAL and "<path>:<line>: ..." in ret_error. */
int yaml_tree_load(const char *path, YamlNode **ret, char **ret_error);
int yaml_tree_load_fd(int fd, const char *path, YamlNode **ret, char **ret_error);
/* yaml_tree_load() for a file that may be missing (a policy with defaults): then -ENOENT, and no message. */
int yaml_tree_load_optional(const char *path, YamlNode **ret, char **ret_error);

/* The value for key in a mapping, or NULL. */
const YamlNode *yaml_tree_mapping_get(const YamlNode *mapping, const char *key);

/* A plain null ("", "~", "null"): a key given without a value. */
bool yaml_node_is_null(const YamlNode *n);
const char *yaml_node_type_to_string(YamlNodeType t);

/* Where a value sits, for messages: "<path>:<line>: key '<key>': <problem>". */
typedef struct YamlContext {
        const char *path;
        const char *key;   /* dotted path of the key being parsed ("files.kernel.size"), or NULL */
        unsigned key_line; /* where that key is; 0 at the top level */
        char **ret_error;
} YamlContext;

/* Copies s for a message: at most 40 bytes (cut at a character boundary, then "…"), control characters
 * and invalid UTF-8 replaced by '?'. Returns buf. */
#define YAML_QUOTE_MAX 64
const char *yaml_quote(const char *s, char buf[static YAML_QUOTE_MAX]);

/* Formats a message into *c->ret_error (when not NULL) and returns r. line 0 omits the line. */
int yaml_error(const YamlContext *c, unsigned line, int r, const char *fmt, ...) _printf_(4, 5);

typedef struct YamlField YamlField;
/* Parses value into (uint8_t *) data + f->offset: FIELD_PTR(). */
typedef int (*YamlParseFunc)(const YamlContext *c, const YamlNode *value, const YamlField *f, void *data);

#define FIELD_PTR(type, data, f) ((type *) ((uint8_t *) (data) + (f)->offset))

struct YamlField {
        const char *key;
        YamlParseFunc parse;
        size_t offset;
        bool required;
        uint64_t min, max;    /* numbers: the accepted range; strings: max is the length limit (0: none);
                               * enums: max is the number of table entries */
        const void *userdata; /* enums: const char * const table[]; sections: const YamlField[] */
};

/* Parses a mapping against fields (terminated by an entry with key NULL) into base: unknown and
 * duplicate keys, values of the wrong type and missing required keys are errors (-EINVAL).
 * key_prefix is the dotted path of the mapping itself, NULL at the top level. */
int yaml_parse_mapping(
        const char *path,
        const char *key_prefix,
        const YamlNode *mapping,
        const YamlField fields[],
        void *base,
        char **ret_error);

/* Field parsers. */
int yaml_parse_string(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data); /* char * */
int yaml_parse_name(
        const YamlContext *c, const YamlNode *v, const YamlField *f, void *data); /* char *, names.h rules */
int yaml_parse_uint64(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data); /* uint64_t */
int yaml_parse_uint32(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data); /* uint32_t */
int yaml_parse_bool(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data);   /* bool */
int yaml_parse_enum(const YamlContext *c, const YamlNode *v, const YamlField *f, void *data);   /* int */
int yaml_parse_section(
        const YamlContext *c, const YamlNode *v, const YamlField *f, void *data); /* nested mapping */

/* Gets a scalar's text, or fails with "expected <what>, got a mapping" / "has no value". */
int yaml_node_get_scalar(const YamlContext *c, const YamlNode *v, const char *what, const char **ret);
