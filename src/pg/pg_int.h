/*
 * pg_int.h - what the files of the pg module share (not a public header).
 */
#ifndef PGPITR_PG_PG_INT_H
#define PGPITR_PG_PG_INT_H

#include <libpq-fe.h>

#include "pgpitr/core/err.h"

struct pitr_pg {
    PGconn *conn; /* owned */
};

/* PITR_EPG with "what: <first line of msg>", without libpq's "ERROR:  " prefix. */
pitr_rc pitr_pg_fail(struct pitr_err *err, const char *what, const char *msg);

#endif
