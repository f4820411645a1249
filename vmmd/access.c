/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* policies/access.yaml. */
#include "access.h"
#include "names.h"
#include "yaml-util.h"

void caller_done(Caller *c) {
        if (!c)
                return;
        free(c->user);
        strv_free(c->groups);
        *c = (Caller){};
}

static void access_rule_done(AccessRule *r) {
        free(r->persona);
        strv_free(r->create);
        strv_free(r->manage);
        strv_free(r->use);
}

void access_policy_done(AccessPolicy *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_rules; i++)
                access_rule_done(p->rules + i);
        free(p->rules);
        *p = (AccessPolicy){};
}

/* A list of "user", "@group" or "*": names follow the VM name rules (no spaces, no control characters). */
static int parse_list(const YamlContext *c, const YamlNode *v, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        if (v->type != YAML_TREE_SEQUENCE)
                return yaml_error(c, v->line, -EINVAL, "expected a list of users, @groups or \"*\"");
        if (v->n_children > ACCESS_ENTRIES_MAX)
                return yaml_error(c, v->line, -EINVAL, "more than %d entries", ACCESS_ENTRIES_MAX);
        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < v->n_children; i++) {
                const char *s, *name, *why;
                char q[YAML_QUOTE_MAX];

                r = yaml_node_get_scalar(c, v->children[i], "a user, @group or \"*\"", &s);
                if (r < 0)
                        return r;
                name = s[0] == '@' ? s + 1 : s;
                if (!streq(s, "*") && (why = vm_name_invalid_reason(name)))
                        return yaml_error(
                                c,
                                v->children[i]->line,
                                -EINVAL,
                                "entry \"%s\": the name %s",
                                yaml_quote(s, q),
                                why);
                r = strv_extend(&l, s);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int access_policy_load(const char *path, AccessPolicy *ret, char **ret_error) {
        _cleanup_(yaml_tree_freep) YamlNode *root = NULL;
        _cleanup_(access_policy_done) AccessPolicy p = {};
        int r;

        r = yaml_tree_load_optional(path, &root, ret_error);
        if (r < 0)
                return r;
        YamlContext top = { .path = path, .ret_error = ret_error };
        if (root->type != YAML_TREE_MAPPING)
                return yaml_error(&top, root->line, -EINVAL, "expected a mapping of persona names");
        p.rules = calloc(root->n_children / 2 + 1, sizeof(AccessRule));
        if (!p.rules)
                return -ENOMEM;
        for (size_t i = 0; i + 1 < root->n_children; i += 2) {
                const YamlNode *key = root->children[i], *value = root->children[i + 1];
                AccessRule *rule = p.rules + p.n_rules;
                const char *why;

                YamlContext c = {
                        .path = path, .key = key->value, .key_line = key->line, .ret_error = ret_error
                };
                if ((why = vm_name_invalid_reason(key->value)))
                        return yaml_error(&c, key->line, -EINVAL, "not a persona name: it %s", why);
                for (size_t j = 0; j < p.n_rules; j++)
                        if (streq(p.rules[j].persona, key->value))
                                return yaml_error(&c, key->line, -EINVAL, "persona given twice");
                if (value->type != YAML_TREE_MAPPING)
                        return yaml_error(
                                &c, value->line, -EINVAL, "expected a mapping with create, manage, use");
                rule->persona = strdup(key->value);
                if (!rule->persona)
                        return -ENOMEM;
                p.n_rules++;
                for (size_t j = 0; j + 1 < value->n_children; j += 2) {
                        const YamlNode *k = value->children[j], *v = value->children[j + 1];
                        _cleanup_free_ char *dotted = NULL;
                        char ***list;
                        char q[YAML_QUOTE_MAX];

                        if (asprintf(&dotted, "%s.%s", key->value, k->value) < 0)
                                return -ENOMEM;
                        YamlContext kc = {
                                .path = path, .key = dotted, .key_line = k->line, .ret_error = ret_error
                        };
                        list = streq(k->value, "create")  ? &rule->create :
                                streq(k->value, "manage") ? &rule->manage :
                                streq(k->value, "use")    ? &rule->use :
                                                            NULL;
                        if (!list)
                                return yaml_error(
                                        &c,
                                        k->line,
                                        -EINVAL,
                                        "unknown key \"%s\" (known: create, manage, use)",
                                        yaml_quote(k->value, q));
                        if (*list)
                                return yaml_error(&kc, k->line, -EINVAL, "given twice");
                        r = parse_list(&kc, v, list);
                        if (r < 0)
                                return r;
                }
        }
        *ret = p;
        p = (AccessPolicy){};
        return 0;
}

static const AccessRule *access_rule(const AccessPolicy *p, const char *persona) {
        for (size_t i = 0; i < p->n_rules; i++)
                if (streq(p->rules[i].persona, persona))
                        return p->rules + i;
        return NULL;
}

static bool list_matches(char **list, const Caller *caller) {
        STRV_FOREACH(e, list) {
                if (streq(*e, "*"))
                        return true;
                if ((*e)[0] == '@' ? strv_contains(caller->groups, *e + 1) : streq_ptr(caller->user, *e))
                        return true;
        }
        return false;
}

bool access_may_create(const AccessPolicy *p, const char *persona, const Caller *caller) {
        const AccessRule *rule = access_rule(p, persona);

        return rule && list_matches(rule->create, caller);
}

AccessLevel access_level(const AccessPolicy *p, const char *persona, uid_t owner, const Caller *caller) {
        const AccessRule *rule = access_rule(p, persona);

        if (caller->uid == owner)
                return ACCESS_OWNER;
        if (!rule)
                return ACCESS_NONE;
        if (list_matches(rule->manage, caller))
                return ACCESS_MANAGE;
        if (list_matches(rule->use, caller))
                return ACCESS_USE;
        return ACCESS_NONE;
}
