/*
 * node.c - what one heartbeat asks the local PostgreSQL: role, timeline,
 * LSNs, replay lag and, on a primary, pg_stat_replication. Every answer is
 * bounded: fixed-size fields, at most NODE_REPL_MAX standbys.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_int.h"

static void conninfo_of(const char *in, char *out, size_t size)
{
    /* as pitr_pg_connect: NULL is the PG* variables, a bare word a database name */
    if (in == NULL)
        snprintf(out, size, "dbname=postgres connect_timeout=5");
    else if (strchr(in, '=') == NULL && strncmp(in, "postgres", 8) != 0)
        snprintf(out, size, "dbname='%.1000s' connect_timeout=5", in);
    else
        snprintf(out, size, "%.1020s", in);
}

static void copy_field(PGresult *r, int row, int col, char *out, size_t size)
{
    const char *v = PQgetvalue(r, row, col);

    snprintf(out, size, "%s", strlen(v) < size ? v : "");
}

static int64_t int_field(PGresult *r, int row, int col)
{
    char *end = NULL;
    long long v = strtoll(PQgetvalue(r, row, col), &end, 10);

    return end != NULL && *end == '\0' ? (int64_t)v : -1;
}

static pitr_rc run(PGconn *c, const char *sql, int nfields, PGresult **r, struct pitr_err *err)
{
    const char *m;

    *r = PQexec(c, sql);
    if (PQresultStatus(*r) == PGRES_TUPLES_OK && PQnfields(*r) == nfields)
        return PITR_OK;
    m = PQerrorMessage(c);
    PQclear(*r);
    *r = NULL;
    return pitr_err_set(
      err, PITR_EPG, "local server: heartbeat query failed: %.*s", (int)strcspn(m, "\n"), m);
}

pitr_rc node_query(const char *conninfo,
                   int switch_wal,
                   struct node_state *ns,
                   struct pitr_err *err)
{
    char ci[1100];
    PGconn *c = NULL;
    PGresult *r = NULL;
    pitr_rc rc;
    int i;

    memset(ns, 0, sizeof(*ns));
    ns->lag_seconds = -1;
    conninfo_of(conninfo, ci, sizeof(ci));
    c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        const char *m = PQerrorMessage(c);

        rc = pitr_err_set(
          err, PITR_EPG, "local server: cannot connect: %.*s", (int)strcspn(m, "\n"), m);
        goto out;
    }
    rc = run(c, "select pg_is_in_recovery()", 1, &r, err);
    if (rc != PITR_OK)
        goto out;
    ns->primary = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "f") == 0;
    PQclear(r);
    r = NULL;
    if (ns->primary) {
        rc = run(c,
                 "select ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)"
                 "::bigint, pg_current_wal_lsn()::text, pg_current_wal_flush_lsn()::text",
                 3,
                 &r,
                 err);
        if (rc != PITR_OK)
            goto out;
        if (PQntuples(r) != 1) {
            rc = pitr_err_set(err, PITR_EPG, "local server: no answer to the heartbeat query");
            goto out;
        }
        ns->timeline = int_field(r, 0, 0);
        copy_field(r, 0, 1, ns->current_lsn, sizeof(ns->current_lsn));
        copy_field(r, 0, 2, ns->flush_lsn, sizeof(ns->flush_lsn));
        PQclear(r);
        rc = run(c,
                 "select coalesce(application_name, ''), coalesce(state = 'streaming', false), "
                 "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint, -1) "
                 "from pg_stat_replication order by 1 limit 64",
                 3,
                 &r,
                 err);
        if (rc != PITR_OK)
            goto out;
        for (i = 0; i < PQntuples(r) && ns->nrepl < NODE_REPL_MAX; i++) {
            struct node_repl *x = &ns->repl[ns->nrepl++];

            copy_field(r, i, 0, x->name, sizeof(x->name));
            x->streaming = strcmp(PQgetvalue(r, i, 1), "t") == 0;
            x->lag_bytes = int_field(r, i, 2);
        }
        if (switch_wal) {
            PQclear(r);
            r = PQexec(c, "select pg_switch_wal()");
        }
    } else {
        rc = run(c,
                 "select coalesce((select received_tli from pg_stat_wal_receiver), "
                 "(select timeline_id from pg_control_checkpoint()))::bigint, "
                 "coalesce(pg_last_wal_replay_lsn()::text, ''), "
                 "coalesce(pg_last_wal_receive_lsn()::text, ''), "
                 "case when pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn() then "
                 "coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp())::float8, "
                 "-1) else 0 end, pg_get_wal_replay_pause_state() <> 'not paused'",
                 5,
                 &r,
                 err);
        if (rc != PITR_OK)
            goto out;
        if (PQntuples(r) != 1) {
            rc = pitr_err_set(err, PITR_EPG, "local server: no answer to the heartbeat query");
            goto out;
        }
        ns->timeline = int_field(r, 0, 0);
        copy_field(r, 0, 1, ns->replay_lsn, sizeof(ns->replay_lsn));
        copy_field(r, 0, 2, ns->receive_lsn, sizeof(ns->receive_lsn));
        ns->lag_seconds = strtod(PQgetvalue(r, 0, 3), NULL);
        ns->replay_paused = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
    }
    if (rc == PITR_OK && ns->timeline < 1)
        rc = pitr_err_set(err, PITR_EPG, "local server: no timeline in the answer");
out:
    PQclear(r);
    PQfinish(c);
    return rc;
}
