/* args.c - a command's own options; see cmd/args.h. */
#include "pgpitr/cmd/args.h"

#include <string.h>

static const struct pitr_opt *find_long(const struct pitr_opt *o,
                                        size_t n,
                                        const char *name,
                                        size_t len)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strlen(o[i].name) == len && strncmp(o[i].name, name, len) == 0)
            return &o[i];
    return NULL;
}

static const struct pitr_opt *find_short(const struct pitr_opt *o, size_t n, char c)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (o[i].short_name != 0 && o[i].short_name == c)
            return &o[i];
    return NULL;
}

static void take(const struct pitr_opt *o, const char *value)
{
    if (o->value != NULL)
        *o->value = value;
    if (o->set != NULL)
        *o->set = o->takes_value ? 1 : *o->set + 1;
}

pitr_rc pitr_args_parse(const char *cmd,
                        int argc,
                        char **argv,
                        const struct pitr_opt *opts,
                        size_t nopts,
                        char **pos,
                        int *npos,
                        struct pitr_err *err)
{
    int i, only_pos = 0;

    *npos = 0;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        const struct pitr_opt *o;

        if (only_pos || a[0] != '-' || a[1] == '\0') {
            pos[(*npos)++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

            o = find_long(opts, nopts, a + 2, len);
            if (o == NULL)
                return pitr_err_set(err,
                                    PITR_EUSAGE,
                                    "%s: unknown option '%.*s'; see 'pgpitr help %s'",
                                    cmd,
                                    (int)len + 2,
                                    a,
                                    cmd);
            if (!o->takes_value) {
                if (eq != NULL)
                    return pitr_err_set(
                      err, PITR_EUSAGE, "%s: option '--%s' takes no value", cmd, o->name);
                take(o, NULL);
                continue;
            }
            if (eq == NULL && i + 1 >= argc)
                return pitr_err_set(
                  err, PITR_EUSAGE, "%s: option '--%s' needs a value", cmd, o->name);
            take(o, eq ? eq + 1 : argv[++i]);
            continue;
        }
        o = find_short(opts, nopts, a[1]);
        if (o == NULL)
            return pitr_err_set(
              err, PITR_EUSAGE, "%s: unknown option '-%c'; see 'pgpitr help %s'", cmd, a[1], cmd);
        if (!o->takes_value) {
            if (a[2] != '\0')
                return pitr_err_set(err, PITR_EUSAGE, "%s: option '-%c' takes no value", cmd, a[1]);
            take(o, NULL);
            continue;
        }
        if (a[2] != '\0') {
            take(o, a + 2);
            continue;
        }
        if (i + 1 >= argc)
            return pitr_err_set(err, PITR_EUSAGE, "%s: option '-%c' needs a value", cmd, a[1]);
        take(o, argv[++i]);
    }
    return PITR_OK;
}
