/*
 * args.h - parsing a command's own options.
 *
 * cli.c takes the global options wherever they stand and hands a command
 * the rest of its words in order. A command describes its options in a
 * table and calls pitr_args_parse(), which accepts "--name value",
 * "--name=value", "-x value" and "-xvalue" for options that take a value,
 * "--name" and "-x" for switches, and "--" to end options. Anything else
 * starting with '-' is an error naming the command and the option.
 *
 * pitr_args_parse_mode() with PITR_ARGS_ARGPARSE follows Python argparse's
 * rules instead, for the barman-cloud-* personalities (cmd/barman.h):
 * unambiguous long-option prefixes ("--endp" is "--endpoint-url"; an exact
 * name wins; two candidates are an error naming both), bundled short
 * switches ("-vv", "-vJ4"), "-x=value", a value that looks like an option
 * ("--name -v") is refused, "-5" is a positional, and list options
 * (PITR_OPT_LIST, argparse's nargs="*") take every following argument up
 * to the next one that looks like an option.
 */
#ifndef PGPITR_CMD_ARGS_H
#define PGPITR_CMD_ARGS_H

#include <stddef.h>

#include "pgpitr/core/err.h"

/* What an option takes (struct pitr_opt.takes_value). */
enum {
    PITR_OPT_SWITCH = 0, /* no value; *set counts occurrences */
    PITR_OPT_VALUE = 1,  /* one value; the last occurrence wins */
    PITR_OPT_LIST = 2,   /* zero or more following arguments (argparse mode only) */
    PITR_OPT_APPEND = 3, /* one value per occurrence, all kept */
};

struct pitr_opt {
    const char *name;   /* long name without "--" */
    char short_name;    /* 0 when none */
    int takes_value;    /* PITR_OPT_*: 0 a switch, 1 a value, ... */
    const char **value; /* where a value goes (borrowed from argv); for switches NULL */
    int *set;           /* switch: incremented; value: set to 1; list/append: the count */
    /*
     * PITR_OPT_LIST: set to the first of the *set arguments in argv.
     * PITR_OPT_APPEND: the caller's array (room for argc entries), filled.
     */
    char ***items;
};

#define PITR_ARGS_ARGPARSE 1 /* Python argparse rules, see above */

/*
 * Parse argv[0..argc) of command cmd. Positionals are stored, in order, in
 * pos (room for argc entries) and counted in *npos. Errors are PITR_EUSAGE
 * with a message naming cmd and the option.
 */
PITR_MUST_CHECK pitr_rc pitr_args_parse(const char *cmd,
                                        int argc,
                                        char **argv,
                                        const struct pitr_opt *opts,
                                        size_t nopts,
                                        char **pos,
                                        int *npos,
                                        struct pitr_err *err);

/* The same with mode flags (PITR_ARGS_*). */
PITR_MUST_CHECK pitr_rc pitr_args_parse_mode(const char *cmd,
                                             int mode,
                                             int argc,
                                             char **argv,
                                             const struct pitr_opt *opts,
                                             size_t nopts,
                                             char **pos,
                                             int *npos,
                                             struct pitr_err *err);

/*
 * A whole-number option value: v must be a decimal integer from lo to hi.
 * On anything else logs "<cmd>: option '<opt>' needs a number from lo to hi,
 * not '<v>'" and returns PITR_EUSAGE, *out untouched. v == NULL (option not
 * given) returns PITR_OK and leaves *out (the caller's default) alone.
 */
PITR_MUST_CHECK pitr_rc
pitr_args_int(const char *cmd, const char *opt, const char *v, int lo, int hi, int *out);

#endif
