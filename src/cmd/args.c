/* args.c - a command's own options; see cmd/args.h. */
#include "pgpitr/cmd/args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/log.h"

/* argparse: "-5" and "-1.5" are values, not options (no option looks like a number). */
static int is_negative_number(const char *a)
{
    size_t n = strspn(a + 1, "0123456789");

    if (n == 0)
        return 0;
    if (a[1 + n] == '.')
        n += 1 + strspn(a + 2 + n, "0123456789");
    return a[1 + n] == '\0';
}

static int looks_like_option(int mode, const char *a)
{
    if (a[0] != '-' || a[1] == '\0')
        return 0;
    return !(mode & PITR_ARGS_ARGPARSE) || !is_negative_number(a);
}

/*
 * The option named name[0..len): the exact name, else (argparse mode) the
 * only option whose name starts with it. *ambiguous is set when several do.
 */
static const struct pitr_opt *find_long(const struct pitr_opt *o,
                                        size_t n,
                                        int mode,
                                        const char *name,
                                        size_t len,
                                        int *ambiguous)
{
    const struct pitr_opt *hit = NULL;
    size_t i;

    *ambiguous = 0;
    for (i = 0; i < n; i++)
        if (strlen(o[i].name) == len && strncmp(o[i].name, name, len) == 0)
            return &o[i];
    if (!(mode & PITR_ARGS_ARGPARSE) || len == 0)
        return NULL;
    for (i = 0; i < n; i++) {
        if (strncmp(o[i].name, name, len) != 0)
            continue;
        if (hit != NULL)
            *ambiguous = 1;
        hit = &o[i];
    }
    return *ambiguous ? NULL : hit;
}

static const struct pitr_opt *find_short(const struct pitr_opt *o, size_t n, char c)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (o[i].short_name != 0 && o[i].short_name == c)
            return &o[i];
    return NULL;
}

/* "--name could match --name-a, --name-b", bounded. */
static pitr_rc ambiguity(const char *cmd,
                         const struct pitr_opt *o,
                         size_t n,
                         const char *name,
                         size_t len,
                         struct pitr_err *err)
{
    struct pitr_buf b;
    struct pitr_err e2 = { 0 };
    pitr_rc rc;
    size_t i;

    pitr_buf_init(&b, 1024);
    for (i = 0; i < n; i++)
        if (strncmp(o[i].name, name, len) == 0 &&
            pitr_buf_appendf(&b, &e2, "%s--%s", b.len ? ", " : "", o[i].name) != PITR_OK)
            break;
    rc = pitr_err_set(err,
                      PITR_EUSAGE,
                      "%s: ambiguous option: --%.*s could match %s",
                      cmd,
                      (int)len,
                      name,
                      b.len ? b.data : "several options");
    pitr_buf_release(&b);
    return rc;
}

static void take(const struct pitr_opt *o, const char *value)
{
    if (o->takes_value == PITR_OPT_APPEND) {
        (*o->items)[(*o->set)++] = (char *)value;
        return;
    }
    if (o->value != NULL)
        *o->value = value;
    if (o->set != NULL)
        *o->set = o->takes_value ? 1 : *o->set + 1;
}

/*
 * Give option o (spelt as shown in what) its value: explicit (from "=v" or
 * a glued short value), or the next argument(s). *i moves past what was used.
 */
static pitr_rc take_value(const char *cmd,
                          int mode,
                          const struct pitr_opt *o,
                          const char *what,
                          const char *explicit_value,
                          int argc,
                          char **argv,
                          int *i,
                          struct pitr_err *err)
{
    if (o->takes_value == PITR_OPT_SWITCH) {
        if (explicit_value != NULL)
            return pitr_err_set(err, PITR_EUSAGE, "%s: option '%s' takes no value", cmd, what);
        take(o, NULL);
        return PITR_OK;
    }
    if (o->takes_value == PITR_OPT_LIST) {
        int j = *i + 1;

        *o->set = 0; /* argparse stores: the last occurrence wins */
        if (explicit_value != NULL) {
            (*o->items)[(*o->set)++] = (char *)explicit_value;
            return PITR_OK;
        }
        for (; j < argc && !looks_like_option(mode, argv[j]); j++)
            (*o->items)[(*o->set)++] = argv[j];
        *i = j - 1;
        return PITR_OK;
    }
    if (explicit_value != NULL) {
        take(o, explicit_value);
        return PITR_OK;
    }
    if (*i + 1 >= argc || ((mode & PITR_ARGS_ARGPARSE) && looks_like_option(mode, argv[*i + 1])))
        return pitr_err_set(err, PITR_EUSAGE, "%s: option '%s' needs a value", cmd, what);
    take(o, argv[++*i]);
    return PITR_OK;
}

/* One parse: the command, its mode and options, argv and the error. */
struct parse {
    const char *cmd;
    int mode;
    const struct pitr_opt *opts;
    size_t nopts;
    int argc;
    char **argv;
    struct pitr_err *err;
};

static pitr_rc parse_long(const struct parse *ps, int *i)
{
    const char *cmd = ps->cmd, *a = ps->argv[*i];
    int mode = ps->mode;
    const struct pitr_opt *opts = ps->opts;
    size_t nopts = ps->nopts;
    struct pitr_err *err = ps->err;
    const char *eq = strchr(a + 2, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    int ambiguous;
    const struct pitr_opt *o = find_long(opts, nopts, mode, a + 2, len, &ambiguous);
    char what[80];

    if (ambiguous)
        return ambiguity(cmd, opts, nopts, a + 2, len, err);
    if (o == NULL) {
        if (mode & PITR_ARGS_ARGPARSE)
            return pitr_err_set(err, PITR_EUSAGE, "%s: unrecognized argument '%s'", cmd, a);
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "%s: unknown option '%.*s'; see 'pgpitr help %s'",
                            cmd,
                            (int)len + 2,
                            a,
                            cmd);
    }
    snprintf(what, sizeof(what), "--%s", o->name);
    return take_value(cmd, mode, o, what, eq ? eq + 1 : NULL, ps->argc, ps->argv, i, err);
}

/* "-x", "-xVALUE", "-x=VALUE" and, in argparse mode, bundles "-vvJ4". */
static pitr_rc parse_short(const struct parse *ps, int *i)
{
    const char *cmd = ps->cmd, *a = ps->argv[*i];
    int mode = ps->mode;
    struct pitr_err *err = ps->err;
    const char *p;

    for (p = a + 1; *p != '\0'; p++) {
        const struct pitr_opt *o = find_short(ps->opts, ps->nopts, *p);
        char what[3] = { '-', *p, '\0' };
        const char *rest = p + 1;

        if (o == NULL) {
            if (mode & PITR_ARGS_ARGPARSE)
                return pitr_err_set(err, PITR_EUSAGE, "%s: unrecognized argument '%s'", cmd, a);
            return pitr_err_set(
              err, PITR_EUSAGE, "%s: unknown option '-%c'; see 'pgpitr help %s'", cmd, *p, cmd);
        }
        if (o->takes_value == PITR_OPT_SWITCH) {
            if (*rest == '\0' || (mode & PITR_ARGS_ARGPARSE)) {
                take(o, NULL);
                continue;
            }
            return pitr_err_set(err, PITR_EUSAGE, "%s: option '-%c' takes no value", cmd, *p);
        }
        if (*rest == '=' && p == a + 1 && (mode & PITR_ARGS_ARGPARSE))
            rest++;
        return take_value(cmd, mode, o, what, *rest ? rest : NULL, ps->argc, ps->argv, i, err);
    }
    return PITR_OK;
}

pitr_rc pitr_args_parse_mode(const char *cmd,
                             int mode,
                             int argc,
                             char **argv,
                             const struct pitr_opt *opts,
                             size_t nopts,
                             char **pos,
                             int *npos,
                             struct pitr_err *err)
{
    const struct parse ps = { cmd, mode, opts, nopts, argc, argv, err };
    int i, only_pos = 0;
    size_t k;
    pitr_rc rc;

    *npos = 0;
    for (k = 0; k < nopts; k++)
        if ((opts[k].takes_value == PITR_OPT_LIST || opts[k].takes_value == PITR_OPT_APPEND) &&
            (opts[k].items == NULL || opts[k].set == NULL))
            return pitr_err_set(
              err, PITR_EINTERNAL, "%s: option '--%s' has no item array", cmd, opts[k].name);
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];

        if (only_pos || !looks_like_option(mode, a)) {
            pos[(*npos)++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        rc = a[1] == '-' ? parse_long(&ps, &i) : parse_short(&ps, &i);
        if (rc != PITR_OK)
            return rc;
    }
    return PITR_OK;
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
    return pitr_args_parse_mode(cmd, 0, argc, argv, opts, nopts, pos, npos, err);
}

pitr_rc pitr_args_int(const char *cmd, const char *opt, const char *v, int lo, int hi, int *out)
{
    char *end;
    long n;

    if (v == NULL)
        return PITR_OK;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi) {
        pitr_log_error(
          "%s: option '%s' needs a number from %d to %d, not '%s'", cmd, opt, lo, hi, v);
        return PITR_EUSAGE;
    }
    *out = (int)n;
    return PITR_OK;
}
