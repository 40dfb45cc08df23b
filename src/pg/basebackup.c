/* basebackup.c - BASE_BACKUP's message stream; see include/pgpitr/pg/basebackup.h. */
#include "pgpitr/pg/basebackup.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/pg/pg.h"

struct pitr_pg_bb {
    struct pitr_pg *pg; /* borrowed */
    struct pitr_pg_bb_pos start, end;
    struct pitr_pg_bb_tablespace *tbs; /* owned array of ntbs */
    size_t ntbs;
    char *copybuf; /* owned by libpq (PQfreemem): the current message */
    int ended;
};

pitr_rc pitr_pg_bb_parse(const unsigned char *p,
                         size_t n,
                         struct pitr_pg_bb_msg *m,
                         struct pitr_err *err)
{
    const unsigned char *z1, *z2;
    size_t i;

    memset(m, 0, sizeof(*m));
    if (n == 0)
        return pitr_err_set(err, PITR_EFORMAT, "BASE_BACKUP stream: empty message");
    switch (p[0]) {
    case 'n':
        z1 = memchr(p + 1, '\0', n - 1);
        z2 = z1 != NULL ? memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - p)) : NULL;
        if (z2 == NULL || z2 + 1 != p + n || z1 == p + 1)
            return pitr_err_set(
              err, PITR_EFORMAT, "BASE_BACKUP stream: malformed new-archive message");
        m->kind = PITR_PG_BB_ARCHIVE;
        m->name = (const char *)p + 1;
        m->location = (const char *)z1 + 1;
        return PITR_OK;
    case 'd':
        m->kind = PITR_PG_BB_DATA;
        m->data = p + 1;
        m->len = n - 1;
        return PITR_OK;
    case 'p':
        if (n != 9)
            return pitr_err_set(err,
                                PITR_EFORMAT,
                                "BASE_BACKUP stream: progress message of %zu bytes, expected 9",
                                n);
        m->kind = PITR_PG_BB_PROGRESS;
        for (i = 1; i < 9; i++)
            m->progress = (m->progress << 8) | p[i];
        return PITR_OK;
    case 'm':
        if (n != 1)
            return pitr_err_set(
              err, PITR_EFORMAT, "BASE_BACKUP stream: malformed manifest message");
        m->kind = PITR_PG_BB_MANIFEST;
        return PITR_OK;
    default:
        return pitr_err_set(
          err, PITR_EFORMAT, "BASE_BACKUP stream: unknown message type 0x%02x", (unsigned)p[0]);
    }
}

static pitr_rc parse_pos(PGresult *r,
                         const char *what,
                         struct pitr_pg_bb_pos *pos,
                         struct pitr_err *err)
{
    char *end;
    unsigned long long tli;
    pitr_rc rc;

    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) < 2)
        return pitr_pg_fail(err, what, PQresultErrorMessage(r));
    rc = pitr_pg_parse_lsn(PQgetvalue(r, 0, 0), &pos->lsn, err);
    if (rc != PITR_OK)
        return pitr_err_prefix(err, "%s", what);
    errno = 0;
    tli = strtoull(PQgetvalue(r, 0, 1), &end, 10);
    if (errno != 0 || *end != '\0' || tli == 0 || tli > UINT32_MAX)
        return pitr_err_set(
          err, PITR_EPG, "%s: implausible timeline '%s'", what, PQgetvalue(r, 0, 1));
    pos->timeline = (uint32_t)tli;
    return PITR_OK;
}

static pitr_rc parse_tablespaces(struct pitr_pg_bb *bb, PGresult *r, struct pitr_err *err)
{
    int i;

    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQnfields(r) < 3)
        return pitr_pg_fail(
          err, "cannot read BASE_BACKUP's tablespace list", PQresultErrorMessage(r));
    bb->ntbs = (size_t)PQntuples(r);
    bb->tbs = pitr_calloc(bb->ntbs + 1, sizeof(*bb->tbs));
    for (i = 0; i < PQntuples(r); i++) {
        struct pitr_pg_bb_tablespace *t = &bb->tbs[i];

        t->size = -1;
        if (!PQgetisnull(r, i, 0))
            t->oid = (uint32_t)strtoul(PQgetvalue(r, i, 0), NULL, 10);
        if (!PQgetisnull(r, i, 1))
            t->location = pitr_strdup(PQgetvalue(r, i, 1));
        if (!PQgetisnull(r, i, 2))
            t->size = strtoll(PQgetvalue(r, i, 2), NULL, 10) * 1024;
    }
    return PITR_OK;
}

/* The label as an SQL string literal body: quotes doubled. */
static pitr_rc quote_into(struct pitr_buf *b, const char *s, struct pitr_err *err)
{
    pitr_rc rc = PITR_OK;

    for (; *s != '\0' && rc == PITR_OK; s++) {
        if (*s == '\'')
            rc = pitr_buf_append(b, "'", 1, err);
        if (rc == PITR_OK)
            rc = pitr_buf_append(b, s, 1, err);
    }
    return rc;
}

pitr_rc pitr_pg_bb_start(struct pitr_pg *repl,
                         const struct pitr_pg_bb_opts *o,
                         struct pitr_pg_bb **out,
                         struct pitr_err *err)
{
    struct pitr_pg_bb *bb = NULL;
    struct pitr_buf cmd;
    PGresult *r = NULL;
    pitr_rc rc = PITR_OK;

    *out = NULL;
    pitr_buf_init(&cmd, 4096);
    if (PQserverVersion(repl->conn) < 150000) {
        rc = pitr_err_set(err,
                          PITR_EPG,
                          "--method stream needs PostgreSQL 15 or later (the server is %d); "
                          "HINT: use --method local on the database host",
                          PQserverVersion(repl->conn));
        goto out;
    }
    rc = pitr_buf_append_str(&cmd, "BASE_BACKUP (LABEL '", err);
    if (rc == PITR_OK)
        rc = quote_into(&cmd, o->label, err);
    if (rc == PITR_OK)
        rc = pitr_buf_appendf(&cmd,
                              err,
                              "', PROGRESS, CHECKPOINT '%s', WAIT %s, MANIFEST 'yes', "
                              "MANIFEST_CHECKSUMS '%s', TABLESPACE_MAP, WAL false)",
                              o->fast ? "fast" : "spread",
                              o->wait ? "true" : "false",
                              o->checksums ? o->checksums : "CRC32C");
    if (rc != PITR_OK)
        goto out;
    if (!PQsendQuery(repl->conn, cmd.data)) {
        rc = pitr_pg_fail(err, "cannot send BASE_BACKUP", PQerrorMessage(repl->conn));
        goto out;
    }
    bb = pitr_calloc(1, sizeof(*bb));
    bb->pg = repl;
    r = PQgetResult(repl->conn);
    if (r == NULL) {
        rc = pitr_pg_fail(err, "BASE_BACKUP failed", PQerrorMessage(repl->conn));
        goto out;
    }
    rc = parse_pos(r, "BASE_BACKUP failed", &bb->start, err);
    PQclear(r);
    r = NULL;
    if (rc != PITR_OK)
        goto out;
    r = PQgetResult(repl->conn);
    rc = r != NULL ? parse_tablespaces(bb, r, err)
                   : pitr_pg_fail(err, "BASE_BACKUP failed", PQerrorMessage(repl->conn));
    PQclear(r);
    r = NULL;
    if (rc != PITR_OK)
        goto out;
    r = PQgetResult(repl->conn);
    if (r == NULL || PQresultStatus(r) != PGRES_COPY_OUT) {
        rc = pitr_pg_fail(err,
                          "BASE_BACKUP did not start its data stream",
                          r ? PQresultErrorMessage(r) : PQerrorMessage(repl->conn));
        goto out;
    }
    *out = bb;
    bb = NULL;
out:
    if (r != NULL)
        PQclear(r);
    pitr_buf_release(&cmd);
    pitr_pg_bb_free(bb);
    return rc;
}

const struct pitr_pg_bb_pos *pitr_pg_bb_start_pos(const struct pitr_pg_bb *bb)
{
    return &bb->start;
}

const struct pitr_pg_bb_tablespace *pitr_pg_bb_tablespaces(const struct pitr_pg_bb *bb, size_t *n)
{
    *n = bb->ntbs;
    return bb->tbs;
}

const struct pitr_pg_bb_pos *pitr_pg_bb_end_pos(const struct pitr_pg_bb *bb)
{
    return &bb->end;
}

/* After CopyDone: the COPY's completion, the end position row, the command's completion. */
static pitr_rc finish(struct pitr_pg_bb *bb, struct pitr_err *err)
{
    PGresult *r;
    int have_end = 0;
    pitr_rc rc = PITR_OK;

    while ((r = PQgetResult(bb->pg->conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);

        if (rc == PITR_OK) {
            if (st == PGRES_TUPLES_OK && !have_end) {
                rc = parse_pos(r, "cannot read the backup's end position", &bb->end, err);
                have_end = rc == PITR_OK;
            } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                rc = pitr_pg_fail(err, "BASE_BACKUP failed", PQresultErrorMessage(r));
            }
        }
        PQclear(r);
    }
    if (rc == PITR_OK && !have_end)
        rc = pitr_err_set(err, PITR_EPG, "BASE_BACKUP ended without an end position");
    return rc;
}

pitr_rc pitr_pg_bb_next(struct pitr_pg_bb *bb, struct pitr_pg_bb_msg *m, struct pitr_err *err)
{
    int n;

    memset(m, 0, sizeof(*m));
    if (bb->copybuf != NULL) {
        PQfreemem(bb->copybuf);
        bb->copybuf = NULL;
    }
    if (bb->ended)
        return pitr_err_set(err, PITR_EINTERNAL, "BASE_BACKUP stream read past its end");
    n = PQgetCopyData(bb->pg->conn, &bb->copybuf, 0);
    if (n == -1) {
        pitr_rc rc = finish(bb, err);

        bb->ended = 1;
        if (rc == PITR_OK)
            m->kind = PITR_PG_BB_END;
        return rc;
    }
    if (n < 0)
        return pitr_pg_fail(err, "BASE_BACKUP stream broke", PQerrorMessage(bb->pg->conn));
    return pitr_pg_bb_parse((const unsigned char *)bb->copybuf, (size_t)n, m, err);
}

void pitr_pg_bb_free(struct pitr_pg_bb *bb)
{
    size_t i;

    if (bb == NULL)
        return;
    if (bb->copybuf != NULL)
        PQfreemem(bb->copybuf);
    for (i = 0; i < bb->ntbs; i++)
        pitr_free(bb->tbs[i].location);
    pitr_free(bb->tbs);
    pitr_free(bb);
}
