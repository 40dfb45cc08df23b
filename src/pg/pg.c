/* pg.c - the libpq side of a base backup; see include/pgpitr/pg/pg.h. */
#include "pgpitr/pg/pg.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_int.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"

/* The first line of a libpq message, without the "ERROR:  " noise. */
pitr_rc pitr_pg_fail(struct pitr_err *err, const char *what, const char *msg)
{
    size_t n;

    if (msg == NULL || *msg == '\0')
        msg = "no message from libpq";
    if (strncmp(msg, "ERROR:  ", 8) == 0)
        msg += 8;
    n = strcspn(msg, "\n");
    return pitr_err_set(err, PITR_EPG, "%s: %.*s", what, (int)n, msg);
}

static void on_notice(void *ud, const char *msg)
{
    (void)ud;
    pitr_log_debug("PostgreSQL: %.*s", (int)strcspn(msg, "\n"), msg);
}

static pitr_rc connect_with(const char *conninfo,
                            int replication,
                            struct pitr_pg **out,
                            struct pitr_err *err)
{
    const char *keys[4] = { "dbname", "fallback_application_name", NULL, NULL };
    const char *vals[4] = { conninfo, "pgpitr_backup", NULL, NULL };
    struct pitr_pg *pg;

    *out = NULL;
    if (conninfo == NULL || *conninfo == '\0') {
        const char *env = getenv("PGDATABASE");

        vals[0] = env != NULL && *env != '\0' ? env : "postgres";
    }
    if (replication) {
        /* After dbname, so it wins over a replication= in the conninfo string. */
        keys[2] = "replication";
        vals[2] = "true";
    }
    pg = pitr_calloc(1, sizeof(*pg));
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK) {
        pitr_rc rc = pitr_pg_fail(err,
                                  replication ? "cannot open a replication connection to PostgreSQL"
                                              : "cannot connect to PostgreSQL",
                                  pg->conn ? PQerrorMessage(pg->conn) : "out of memory");

        pitr_pg_free(pg);
        return rc;
    }
    /* Server notices ("all required WAL segments have been archived") go to the debug log. */
    PQsetNoticeProcessor(pg->conn, on_notice, NULL);
    *out = pg;
    return PITR_OK;
}

pitr_rc pitr_pg_connect(const char *conninfo, struct pitr_pg **out, struct pitr_err *err)
{
    return connect_with(conninfo, 0, out, err);
}

pitr_rc pitr_pg_connect_replication(const char *conninfo,
                                    struct pitr_pg **out,
                                    struct pitr_err *err)
{
    return connect_with(conninfo, 1, out, err);
}

void pitr_pg_free(struct pitr_pg *pg)
{
    if (pg == NULL)
        return;
    if (pg->conn != NULL)
        PQfinish(pg->conn);
    pitr_free(pg);
}

/*
 * Run a query with text parameters; on success *res holds a tuples result
 * the caller PQclear()s. what names the step in messages.
 */
static pitr_rc query(struct pitr_pg *pg,
                     const char *what,
                     const char *sql,
                     int nparams,
                     const char *const *params,
                     PGresult **res,
                     struct pitr_err *err)
{
    PGresult *r = PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);

    *res = NULL;
    if (r == NULL)
        return pitr_pg_fail(err, what, PQerrorMessage(pg->conn));
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *m = PQresultErrorMessage(r);
        pitr_rc rc = pitr_pg_fail(err, what, *m ? m : PQerrorMessage(pg->conn));

        PQclear(r);
        return rc;
    }
    *res = r;
    return PITR_OK;
}

/* One row, one non-null column: copy it to *out (owned by the caller). */
static pitr_rc query_value(struct pitr_pg *pg,
                           const char *what,
                           const char *sql,
                           char **out,
                           struct pitr_err *err)
{
    PGresult *r;
    pitr_rc rc = query(pg, what, sql, 0, NULL, &r, err);

    *out = NULL;
    if (rc != PITR_OK)
        return rc;
    if (PQntuples(r) != 1 || PQnfields(r) < 1 || PQgetisnull(r, 0, 0))
        rc = pitr_err_set(err, PITR_EPG, "%s: unexpected result", what);
    else
        *out = pitr_strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

static pitr_rc parse_u64(const char *what, const char *s, uint64_t *out, struct pitr_err *err)
{
    char *end;
    unsigned long long v;

    *out = 0;
    if (s == NULL)
        return pitr_err_set(err, PITR_EPG, "%s: no value", what);
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return pitr_err_set(err, PITR_EPG, "%s: not a number: '%s'", what, s);
    *out = v;
    return PITR_OK;
}

pitr_rc pitr_pg_check_role(struct pitr_pg *pg,
                           enum pitr_pg_need need,
                           int version,
                           struct pitr_err *err)
{
    PGresult *r = NULL;
    pitr_rc rc;

    if (need == PITR_PG_NEED_REPLICATION)
        rc = query(pg,
                   "cannot check privileges",
                   "SELECT current_user, (SELECT (rolreplication OR rolsuper)::text FROM pg_roles "
                   "WHERE rolname = current_user)",
                   0,
                   NULL,
                   &r,
                   err);
    else
        rc =
          query(pg,
                "cannot check privileges",
                version >= 150000
                  ? "SELECT current_user, has_function_privilege('pg_backup_start(text, "
                    "boolean)', 'EXECUTE') AND has_function_privilege('pg_backup_stop(boolean)', "
                    "'EXECUTE')"
                  : "SELECT current_user, has_function_privilege('pg_start_backup(text, "
                    "boolean, boolean)', 'EXECUTE') AND has_function_privilege("
                    "'pg_stop_backup(boolean, boolean)', 'EXECUTE')",
                0,
                NULL,
                &r,
                err);
    if (rc != PITR_OK)
        goto out;
    if (PQntuples(r) != 1 ||
        (strcmp(PQgetvalue(r, 0, 1), "t") != 0 && strcmp(PQgetvalue(r, 0, 1), "true") != 0)) {
        const char *role = PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "?";

        if (need == PITR_PG_NEED_REPLICATION)
            rc = pitr_err_set(err,
                              PITR_EPG,
                              "permission denied: role '%s' may not take a backup over the "
                              "replication protocol (BASE_BACKUP): it has neither the REPLICATION "
                              "attribute nor superuser; HINT: ALTER ROLE \"%s\" REPLICATION, allow "
                              "it a replication connection in pg_hba.conf and grant it "
                              "pg_read_all_settings",
                              role,
                              role);
        else
            rc = pitr_err_set(err,
                              PITR_EPG,
                              "permission denied: role '%s' may not start and stop backups; HINT: "
                              "use a superuser, or GRANT EXECUTE ON FUNCTION %s TO the role and "
                              "grant it pg_read_all_settings",
                              role,
                              version >= 150000 ? "pg_backup_start, pg_backup_stop"
                                                : "pg_start_backup, pg_stop_backup");
        goto out;
    }
out:
    if (r != NULL)
        PQclear(r);
    return rc;
}

pitr_rc pitr_pg_get_info(struct pitr_pg *pg,
                         enum pitr_pg_need need,
                         struct pitr_pg_info *info,
                         struct pitr_err *err)
{
    PGresult *r = NULL;
    char *v = NULL;
    uint64_t n = 0;
    int i;
    pitr_rc rc;

    memset(info, 0, sizeof(*info));
    info->version = PQserverVersion(pg->conn);
    if (info->version < 90600) {
        rc = pitr_err_set(
          err, PITR_EPG, "PostgreSQL %d is too old: base backups need 9.6 or later", info->version);
        goto out;
    }
    rc = query_value(pg,
                     "cannot read the system identifier",
                     "SELECT system_identifier::text FROM pg_control_system()",
                     &info->systemid,
                     err);
    if (rc != PITR_OK)
        goto out;
    /* Say plainly what is missing, before anything is started or written. */
    if (need != PITR_PG_NEED_NOTHING) {
        rc = pitr_pg_check_role(pg, need, info->version, err);
        if (rc != PITR_OK)
            goto out;
    }
    rc = query_value(pg,
                     "cannot read data_directory",
                     "SELECT current_setting('data_directory')",
                     &info->data_directory,
                     err);
    if (rc != PITR_OK)
        goto out;
    rc = query_value(
      pg,
      "cannot read wal_segment_size",
      info->version >= 110000
        ? "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'"
        : "SELECT (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size') * "
          "(SELECT setting::bigint FROM pg_settings WHERE name = 'wal_block_size')",
      &v,
      err);
    if (rc != PITR_OK)
        goto out;
    rc = parse_u64("wal_segment_size", v, &n, err);
    if (rc != PITR_OK)
        goto out;
    if (n < 1024 * 1024 || n > 1024 * 1024 * 1024 || (n & (n - 1)) != 0) {
        rc = pitr_err_set(err, PITR_EPG, "implausible wal_segment_size %" PRIu64, n);
        goto out;
    }
    info->seg_size = (uint32_t)n;
    pitr_free(v);
    rc = query_value(pg,
                     "cannot ask whether the server is a standby",
                     "SELECT pg_is_in_recovery()::text",
                     &v,
                     err);
    if (rc != PITR_OK)
        goto out;
    info->in_recovery = v != NULL && strcmp(v, "true") == 0;

    rc = query(pg,
               "cannot read the configuration file names",
               "SELECT name, setting FROM pg_settings "
               "WHERE name IN ('config_file', 'hba_file', 'ident_file')",
               0,
               NULL,
               &r,
               err);
    if (rc != PITR_OK)
        goto out;
    for (i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        char *val = PQgetisnull(r, i, 1) ? NULL : pitr_strdup(PQgetvalue(r, i, 1));

        if (strcmp(name, "config_file") == 0 && info->config_file == NULL)
            info->config_file = val;
        else if (strcmp(name, "hba_file") == 0 && info->hba_file == NULL)
            info->hba_file = val;
        else if (strcmp(name, "ident_file") == 0 && info->ident_file == NULL)
            info->ident_file = val;
        else
            pitr_free(val);
    }
    PQclear(r);
    r = NULL;

    rc = query(pg,
               "cannot list tablespaces",
               "SELECT spcname, oid::text, pg_tablespace_location(oid) FROM pg_tablespace "
               "WHERE pg_tablespace_location(oid) != '' ORDER BY oid",
               0,
               NULL,
               &r,
               err);
    if (rc != PITR_OK)
        goto out;
    info->ntablespaces = (size_t)PQntuples(r);
    info->tablespaces = pitr_calloc(info->ntablespaces + 1, sizeof(*info->tablespaces));
    for (i = 0; i < PQntuples(r); i++) {
        struct pitr_pg_tablespace *t = &info->tablespaces[i];

        rc = parse_u64("tablespace oid", PQgetvalue(r, i, 1), &n, err);
        if (rc != PITR_OK)
            goto out;
        t->oid = (uint32_t)n;
        t->name = pitr_strdup(PQgetvalue(r, i, 0));
        t->location = pitr_strdup(PQgetvalue(r, i, 2));
    }
out:
    if (r != NULL)
        PQclear(r);
    pitr_free(v);
    if (rc != PITR_OK)
        pitr_pg_info_release(info);
    return rc;
}

void pitr_pg_info_release(struct pitr_pg_info *info)
{
    size_t i;

    for (i = 0; i < info->ntablespaces; i++) {
        pitr_free(info->tablespaces[i].name);
        pitr_free(info->tablespaces[i].location);
    }
    pitr_free(info->tablespaces);
    pitr_free(info->systemid);
    pitr_free(info->data_directory);
    pitr_free(info->config_file);
    pitr_free(info->hba_file);
    pitr_free(info->ident_file);
    memset(info, 0, sizeof(*info));
}

/* The columns every start/stop query ends with: now() as epoch, microseconds, offset. */
#define TIME_COLUMNS                                                                               \
    "extract(epoch from date_trunc('second', now()))::bigint::text, "                              \
    "(extract(microseconds from now())::bigint % 1000000)::text, "                                 \
    "extract(timezone from now())::int::text"

static pitr_rc take_time(PGresult *r, int col, struct pitr_pg_time *t, struct pitr_err *err)
{
    long long sec;
    long usec, off;
    char *end;

    errno = 0;
    sec = strtoll(PQgetvalue(r, 0, col), &end, 10);
    if (errno != 0 || *end != '\0')
        return pitr_err_set(err, PITR_EPG, "server time is not a number");
    usec = strtol(PQgetvalue(r, 0, col + 1), &end, 10);
    if (*end != '\0' || usec < 0 || usec > 999999)
        return pitr_err_set(err, PITR_EPG, "server time has bad microseconds");
    off = strtol(PQgetvalue(r, 0, col + 2), &end, 10);
    if (*end != '\0' || off < -86400 || off > 86400)
        return pitr_err_set(err, PITR_EPG, "server time has a bad UTC offset");
    t->sec = sec;
    t->usec = (int)usec;
    t->utc_offset = (int)off;
    return PITR_OK;
}

void pitr_pg_format_time(const struct pitr_pg_time *t, char out[64])
{
    time_t local = (time_t)(t->sec + t->utc_offset);
    struct tm tm;
    int off = t->utc_offset < 0 ? -t->utc_offset : t->utc_offset;
    char frac[8] = "";

    gmtime_r(&local, &tm);
    if (t->usec != 0)
        snprintf(frac, sizeof(frac), ".%06d", t->usec);
    snprintf(out,
             64,
             "%04d-%02d-%02d %02d:%02d:%02d%s%c%02d:%02d",
             tm.tm_year + 1900,
             tm.tm_mon + 1,
             tm.tm_mday,
             tm.tm_hour,
             tm.tm_min,
             tm.tm_sec,
             frac,
             t->utc_offset < 0 ? '-' : '+',
             (off / 3600) % 100,
             (off / 60) % 60);
}

static pitr_rc parse_tli(const char *s, uint32_t *out, struct pitr_err *err)
{
    uint64_t v = 0;
    pitr_rc rc = parse_u64("timeline", s, &v, err);

    if (rc == PITR_OK && (v == 0 || v > UINT32_MAX))
        rc = pitr_err_set(err, PITR_EPG, "implausible timeline %s", s);
    if (rc == PITR_OK)
        *out = (uint32_t)v;
    return rc;
}

pitr_rc pitr_pg_backup_start(struct pitr_pg *pg,
                             int version,
                             const char *label,
                             int fast,
                             struct pitr_pg_start *out,
                             struct pitr_err *err)
{
    const char *params[2] = { label, fast ? "true" : "false" };
    PGresult *r = NULL;
    pitr_rc rc;

    memset(out, 0, sizeof(*out));
    rc = query(pg,
               "cannot start the backup",
               version >= 150000 ? "SELECT location::text, (SELECT timeline_id FROM "
                                   "pg_control_checkpoint())::text, " TIME_COLUMNS
                                   " FROM pg_backup_start($1, $2::boolean) AS location"
                                 : "SELECT location::text, (SELECT timeline_id FROM "
                                   "pg_control_checkpoint())::text, " TIME_COLUMNS
                                   " FROM pg_start_backup($1, $2::boolean, false) AS location",
               2,
               params,
               &r,
               err);
    if (rc != PITR_OK)
        return rc;
    if (PQntuples(r) != 1 || PQnfields(r) != 5) {
        rc = pitr_err_set(err, PITR_EPG, "cannot start the backup: unexpected result");
        goto out;
    }
    rc = pitr_pg_parse_lsn(PQgetvalue(r, 0, 0), &out->lsn, err);
    if (rc == PITR_OK)
        rc = parse_tli(PQgetvalue(r, 0, 1), &out->timeline, err);
    if (rc == PITR_OK)
        rc = take_time(r, 2, &out->time, err);
out:
    PQclear(r);
    return rc;
}

pitr_rc pitr_pg_backup_stop(struct pitr_pg *pg,
                            int version,
                            int wait_for_archive,
                            struct pitr_pg_stop *out,
                            struct pitr_err *err)
{
    const char *params[1] = { wait_for_archive ? "true" : "false" };
    PGresult *r = NULL;
    pitr_rc rc;

    memset(out, 0, sizeof(*out));
    rc = query(pg,
               "cannot stop the backup",
               version >= 150000
                 ? "SELECT end_row.lsn::text, (SELECT CASE WHEN pg_is_in_recovery() THEN "
                   "min_recovery_end_timeline ELSE timeline_id END FROM pg_control_checkpoint(), "
                   "pg_control_recovery())::text, end_row.labelfile, " TIME_COLUMNS
                   " FROM pg_backup_stop($1::boolean) AS end_row"
                 : "SELECT end_row.lsn::text, (SELECT CASE WHEN pg_is_in_recovery() THEN "
                   "min_recovery_end_timeline ELSE timeline_id END FROM pg_control_checkpoint(), "
                   "pg_control_recovery())::text, end_row.labelfile, " TIME_COLUMNS
                   " FROM pg_stop_backup(false, $1::boolean) AS end_row",
               1,
               params,
               &r,
               err);
    if (rc != PITR_OK)
        return rc;
    if (PQntuples(r) != 1 || PQnfields(r) != 6 || PQgetisnull(r, 0, 2)) {
        rc = pitr_err_set(err, PITR_EPG, "cannot stop the backup: unexpected result");
        goto out;
    }
    rc = pitr_pg_parse_lsn(PQgetvalue(r, 0, 0), &out->lsn, err);
    if (rc == PITR_OK)
        rc = parse_tli(PQgetvalue(r, 0, 1), &out->timeline, err);
    if (rc == PITR_OK)
        rc = take_time(r, 3, &out->time, err);
    if (rc == PITR_OK)
        out->label = pitr_strdup(PQgetvalue(r, 0, 2));
out:
    PQclear(r);
    return rc;
}

void pitr_pg_stop_release(struct pitr_pg_stop *s)
{
    pitr_free(s->label);
    memset(s, 0, sizeof(*s));
}

pitr_rc pitr_pg_switch_wal(struct pitr_pg *pg, int version, struct pitr_err *err)
{
    PGresult *r;
    pitr_rc rc = query(pg,
                       "cannot switch WAL",
                       version >= 100000 ? "SELECT pg_switch_wal()" : "SELECT pg_switch_xlog()",
                       0,
                       NULL,
                       &r,
                       err);

    if (rc == PITR_OK)
        PQclear(r);
    return rc;
}

pitr_rc pitr_pg_restore_point(struct pitr_pg *pg, const char *name, struct pitr_err *err)
{
    const char *params[1] = { name };
    PGresult *r;
    pitr_rc rc = query(pg,
                       "cannot create the restore point",
                       "SELECT pg_create_restore_point($1)",
                       1,
                       params,
                       &r,
                       err);

    if (rc == PITR_OK)
        PQclear(r);
    return rc;
}

pitr_rc pitr_pg_now(struct pitr_pg *pg, struct pitr_pg_time *out, struct pitr_err *err)
{
    PGresult *r = NULL;
    pitr_rc rc = query(pg, "cannot read the server time", "SELECT " TIME_COLUMNS, 0, NULL, &r, err);

    memset(out, 0, sizeof(*out));
    if (rc != PITR_OK)
        return rc;
    if (PQntuples(r) != 1 || PQnfields(r) != 3)
        rc = pitr_err_set(err, PITR_EPG, "cannot read the server time: unexpected result");
    else
        rc = take_time(r, 0, out, err);
    PQclear(r);
    return rc;
}

pitr_rc pitr_pg_last_replay_time(struct pitr_pg *pg, char out[40], struct pitr_err *err)
{
    char *v = NULL;
    pitr_rc rc = query_value(pg,
                             "cannot read the last replayed commit time",
                             "SELECT coalesce(to_char(pg_last_xact_replay_timestamp() AT TIME "
                             "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '')",
                             &v,
                             err);

    out[0] = '\0';
    if (rc == PITR_OK && strlen(v) < 40 && strspn(v, "0123456789-:.TZ") == strlen(v))
        memcpy(out, v, strlen(v) + 1);
    else if (rc == PITR_OK)
        rc = pitr_err_set(err, PITR_EPG, "cannot read the last replayed commit time: bad value");
    pitr_free(v);
    return rc;
}

/* ---- LSNs ---------------------------------------------------------------- */

static int hex_part(const char **s, uint32_t *out)
{
    uint64_t v = 0;
    int n = 0;

    for (; n < 9; n++, (*s)++) {
        char c = **s;
        int d;

        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            break;
        v = v * 16 + (uint64_t)d;
    }
    if (n == 0 || n > 8)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

pitr_rc pitr_pg_parse_lsn(const char *s, uint64_t *out, struct pitr_err *err)
{
    const char *p = s;
    uint32_t hi, lo;

    if (hex_part(&p, &hi) != 0 || *p++ != '/' || hex_part(&p, &lo) != 0 || *p != '\0')
        return pitr_err_set(err, PITR_EFORMAT, "malformed LSN '%s'", s);
    *out = ((uint64_t)hi << 32) | lo;
    return PITR_OK;
}

void pitr_pg_format_lsn(uint64_t lsn, char out[20])
{
    snprintf(out, 20, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xFFFFFFFFu));
}

void pitr_pg_lsn_walfile(uint32_t tli, uint64_t lsn, uint32_t seg_size, char out[25])
{
    uint64_t segno = lsn / seg_size;
    uint64_t per_log = UINT64_C(0x100000000) / seg_size;

    snprintf(out,
             25,
             "%08X%08X%08X",
             (unsigned)tli,
             (unsigned)(segno / per_log),
             (unsigned)(segno % per_log));
}

uint64_t pitr_pg_lsn_offset(uint64_t lsn, uint32_t seg_size)
{
    return lsn % seg_size;
}
