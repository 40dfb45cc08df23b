/*
 * args.h - parsing a command's own options.
 *
 * cli.c takes the global options wherever they stand and hands a command
 * the rest of its words in order. A command describes its options in a
 * table and calls pitr_args_parse(), which accepts "--name value",
 * "--name=value", "-x value" and "-xvalue" for options that take a value,
 * "--name" and "-x" for switches, and "--" to end options. Anything else
 * starting with '-' is an error naming the command and the option.
 */
#ifndef PGPITR_CMD_ARGS_H
#define PGPITR_CMD_ARGS_H

#include <stddef.h>

#include "pgpitr/core/err.h"

struct pitr_opt {
    const char *name;   /* long name without "--" */
    char short_name;    /* 0 when none */
    int takes_value;    /* 1: needs a value; 0: a switch */
    const char **value; /* where a value goes (borrowed from argv); for switches NULL */
    int *set;           /* incremented for a switch, or set to 1 when given; may be NULL */
};

/*
 * Parse argv[0..argc) of command cmd. Positionals are stored, in order, in
 * pos (room for argc entries) and counted in *npos.
 */
PITR_MUST_CHECK pitr_rc pitr_args_parse(const char *cmd,
                                        int argc,
                                        char **argv,
                                        const struct pitr_opt *opts,
                                        size_t nopts,
                                        char **pos,
                                        int *npos,
                                        struct pitr_err *err);

#endif
