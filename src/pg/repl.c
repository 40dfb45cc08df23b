/* repl.c - physical streaming replication messages and commands; see pg/repl.h. */
#include "pgpitr/pg/repl.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_int.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/pg/pg.h"

/* Seconds from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch). */
#define PG_EPOCH_OFFSET INT64_C(946684800)
/* 'w' header: type, dataStart, walEnd, sendTime. */
#define XLOGDATA_HDR 25
/* 'k': type, walEnd, sendTime, replyRequested. */
#define KEEPALIVE_LEN 18

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

pitr_rc pitr_repl_decode(const void *p, size_t n, struct pitr_repl_msg *out, struct pitr_err *err)
{
    const uint8_t *b = p;

    memset(out, 0, sizeof(*out));
    if (n == 0)
        return pitr_err_set(err, PITR_EFORMAT, "empty replication message");
    if (n > PITR_REPL_MAX_MSG)
        return pitr_err_set(err,
                            PITR_ELIMIT,
                            "replication message of %zu bytes is above the %zu-byte limit",
                            n,
                            PITR_REPL_MAX_MSG);
    switch (b[0]) {
    case 'w':
        if (n < XLOGDATA_HDR)
            return pitr_err_set(
              err, PITR_EFORMAT, "short XLogData message: %zu bytes, the header needs 25", n);
        out->kind = PITR_REPL_XLOGDATA;
        out->start = get_be64(b + 1);
        out->wal_end = get_be64(b + 9);
        out->send_time = (int64_t)get_be64(b + 17);
        out->data = b + XLOGDATA_HDR;
        out->len = n - XLOGDATA_HDR;
        if (out->start > UINT64_MAX - out->len)
            return pitr_err_set(err,
                                PITR_EFORMAT,
                                "XLogData at %" PRIX64 " with %zu bytes runs past the end of "
                                "the LSN space",
                                out->start,
                                out->len);
        return PITR_OK;
    case 'k':
        if (n != KEEPALIVE_LEN)
            return pitr_err_set(
              err, PITR_EFORMAT, "keepalive message of %zu bytes, expected 18", n);
        out->kind = PITR_REPL_KEEPALIVE;
        out->wal_end = get_be64(b + 1);
        out->send_time = (int64_t)get_be64(b + 9);
        if (b[17] > 1)
            return pitr_err_set(
              err, PITR_EFORMAT, "keepalive with reply flag %u (0 or 1 expected)", b[17]);
        out->reply_requested = b[17];
        return PITR_OK;
    default:
        return pitr_err_set(
          err, PITR_EFORMAT, "unknown replication message type 0x%02x (%zu bytes)", b[0], n);
    }
}

pitr_rc pitr_repl_check_continuity(uint64_t expected, uint64_t start, struct pitr_err *err)
{
    char e[20], s[20];

    if (start == expected)
        return PITR_OK;
    pitr_pg_format_lsn(expected, e);
    pitr_pg_format_lsn(start, s);
    return pitr_err_set(err,
                        PITR_EFORMAT,
                        "WAL stream %s: expected data at %s, the server sent data at %s",
                        start > expected ? "has a gap" : "went backwards",
                        e,
                        s);
}

size_t pitr_repl_encode_status(uint64_t write,
                               uint64_t flush,
                               uint64_t apply,
                               int64_t now_us,
                               int reply_requested,
                               uint8_t out[PITR_REPL_STATUS_LEN])
{
    out[0] = 'r';
    put_be64(out + 1, write);
    put_be64(out + 9, flush);
    put_be64(out + 17, apply);
    put_be64(out + 25, (uint64_t)now_us);
    out[33] = reply_requested ? 1 : 0;
    return PITR_REPL_STATUS_LEN;
}

int64_t pitr_repl_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ((int64_t)ts.tv_sec - PG_EPOCH_OFFSET) * 1000000 + ts.tv_nsec / 1000;
}

pitr_rc pitr_repl_check_slot_name(const char *name, struct pitr_err *err)
{
    size_t i, n = name ? strlen(name) : 0;

    if (n == 0 || n > PITR_REPL_SLOT_MAX)
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "invalid replication slot name '%.80s': it needs 1 to 63 characters",
                            name ? name : "");
    for (i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return pitr_err_set(err,
                                PITR_EUSAGE,
                                "invalid replication slot name '%.80s': only lower-case letters, "
                                "digits and '_' are allowed",
                                name);
    }
    return PITR_OK;
}

pitr_rc pitr_repl_parse_seg_size(const char *s, uint32_t *out, struct pitr_err *err)
{
    char *end;
    unsigned long long v, mul;

    *out = 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || v == 0)
        goto bad;
    if (strcmp(end, "kB") == 0)
        mul = 1024;
    else if (strcmp(end, "MB") == 0)
        mul = 1024 * 1024;
    else if (strcmp(end, "GB") == 0)
        mul = 1024 * 1024 * 1024;
    else if (*end == '\0')
        mul = 1;
    else
        goto bad;
    if (v > (1ULL << 30) / mul)
        goto bad;
    v *= mul;
    if (v < (1ULL << 20) || (v & (v - 1)) != 0)
        goto bad;
    *out = (uint32_t)v;
    return PITR_OK;
bad:
    return pitr_err_set(err,
                        PITR_EFORMAT,
                        "unexpected wal_segment_size '%.40s': a power of two from 1MB to 1GB "
                        "expected",
                        s);
}

/* ---- libpq ------------------------------------------------------------- */

static void on_notice(void *ud, const char *msg)
{
    (void)ud;
    (void)msg;
}

pitr_rc pitr_repl_connect(const char *conninfo,
                          const char *application_name,
                          struct pitr_pg **out,
                          struct pitr_err *err)
{
    const char *keys[4] = { "dbname", "replication", "application_name", NULL };
    const char *vals[4] = { conninfo, "true", application_name, NULL };
    struct pitr_pg *pg;

    *out = NULL;
    if (conninfo == NULL || *conninfo == '\0')
        vals[0] = NULL;
    if (vals[0] == NULL) {
        /* No conninfo: PG* variables only; a NULL value ends nothing, skip it. */
        keys[0] = "replication";
        vals[0] = "true";
        keys[1] = "application_name";
        vals[1] = application_name;
        keys[2] = NULL;
        vals[2] = NULL;
    }
    if (application_name == NULL || *application_name == '\0') {
        /* Drop the application_name entry (always the last one set). */
        size_t i;

        for (i = 0; keys[i] != NULL; i++)
            if (strcmp(keys[i], "application_name") == 0) {
                keys[i] = NULL;
                vals[i] = NULL;
            }
    }
    pg = pitr_calloc(1, sizeof(*pg));
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK) {
        /* Unreachable, refused or not (yet) the primary: retried like a network failure. */
        (void)pitr_pg_fail(err,
                           "cannot open a replication connection to PostgreSQL",
                           pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
        pitr_pg_free(pg);
        return err->code = PITR_ENETWORK;
    }
    PQsetNoticeProcessor(pg->conn, on_notice, NULL);
    *out = pg;
    return PITR_OK;
}

/* Run a replication command that returns rows (or, with tuples 0, none). */
static pitr_rc command(struct pitr_pg *pg,
                       const char *what,
                       const char *cmd,
                       int tuples,
                       PGresult **res,
                       struct pitr_err *err)
{
    PGresult *r = PQexec(pg->conn, cmd);
    ExecStatusType want = tuples ? PGRES_TUPLES_OK : PGRES_COMMAND_OK;

    *res = NULL;
    if (r == NULL) {
        pitr_pg_fail(err, what, PQerrorMessage(pg->conn));
        return err->code = PQstatus(pg->conn) == CONNECTION_BAD ? PITR_ENETWORK : PITR_EPG;
    }
    if (PQresultStatus(r) != want && !(tuples && PQresultStatus(r) == PGRES_COMMAND_OK)) {
        const char *m = PQresultErrorMessage(r);

        pitr_pg_fail(err, what, *m ? m : PQerrorMessage(pg->conn));
        PQclear(r);
        return err->code = PQstatus(pg->conn) == CONNECTION_BAD ? PITR_ENETWORK : PITR_EPG;
    }
    *res = r;
    return PITR_OK;
}

static pitr_rc parse_tli_text(const char *what, const char *s, uint32_t *out, struct pitr_err *err)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > UINT32_MAX)
        return pitr_err_set(err, PITR_EPG, "%s: unexpected timeline '%.40s'", what, s);
    *out = (uint32_t)v;
    return PITR_OK;
}

pitr_rc pitr_repl_identify(struct pitr_pg *pg, struct pitr_repl_ident *out, struct pitr_err *err)
{
    static const char what[] = "IDENTIFY_SYSTEM failed";
    PGresult *r = NULL;
    pitr_rc rc;

    memset(out, 0, sizeof(*out));
    rc = command(pg, what, "IDENTIFY_SYSTEM", 1, &r, err);
    if (rc != PITR_OK)
        return rc;
    if (PQntuples(r) != 1 || PQnfields(r) < 3 || PQgetisnull(r, 0, 0) || PQgetisnull(r, 0, 1) ||
        PQgetisnull(r, 0, 2) || strlen(PQgetvalue(r, 0, 0)) >= sizeof(out->systemid)) {
        rc = pitr_err_set(err, PITR_EPG, "%s: unexpected result", what);
        goto out;
    }
    snprintf(out->systemid, sizeof(out->systemid), "%s", PQgetvalue(r, 0, 0));
    rc = parse_tli_text(what, PQgetvalue(r, 0, 1), &out->tli, err);
    if (rc == PITR_OK)
        rc = pitr_pg_parse_lsn(PQgetvalue(r, 0, 2), &out->xlogpos, err);
out:
    PQclear(r);
    return rc;
}

pitr_rc pitr_repl_seg_size(struct pitr_pg *pg, uint32_t *out, struct pitr_err *err)
{
    PGresult *r = NULL;
    pitr_rc rc = command(pg, "SHOW wal_segment_size failed", "SHOW wal_segment_size", 1, &r, err);

    *out = 0;
    if (rc != PITR_OK)
        return rc;
    if (PQntuples(r) != 1 || PQnfields(r) < 1 || PQgetisnull(r, 0, 0))
        rc = pitr_err_set(err, PITR_EPG, "SHOW wal_segment_size: unexpected result");
    else
        rc = pitr_repl_parse_seg_size(PQgetvalue(r, 0, 0), out, err);
    PQclear(r);
    return rc;
}

pitr_rc pitr_repl_read_slot(struct pitr_pg *pg,
                            const char *slot,
                            int *exists,
                            uint64_t *restart_lsn,
                            uint32_t *tli,
                            struct pitr_err *err)
{
    static const char what[] = "READ_REPLICATION_SLOT failed";
    char cmd[128];
    PGresult *r = NULL;
    pitr_rc rc;

    *exists = 0;
    *restart_lsn = 0;
    *tli = 0;
    rc = pitr_repl_check_slot_name(slot, err);
    if (rc != PITR_OK)
        return rc;
    snprintf(cmd, sizeof(cmd), "READ_REPLICATION_SLOT %s", slot);
    rc = command(pg, what, cmd, 1, &r, err);
    if (rc != PITR_OK)
        return rc;
    if (PQntuples(r) != 1 || PQnfields(r) < 3) {
        rc = pitr_err_set(err, PITR_EPG, "%s: unexpected result", what);
        goto out;
    }
    if (PQgetisnull(r, 0, 0))
        goto out; /* no such slot */
    *exists = 1;
    if (strcmp(PQgetvalue(r, 0, 0), "physical") != 0) {
        rc = pitr_err_set(err,
                          PITR_EUSAGE,
                          "replication slot '%s' is a %.20s slot, not a physical one",
                          slot,
                          PQgetvalue(r, 0, 0));
        goto out;
    }
    if (!PQgetisnull(r, 0, 1))
        rc = pitr_pg_parse_lsn(PQgetvalue(r, 0, 1), restart_lsn, err);
    if (rc == PITR_OK && !PQgetisnull(r, 0, 2))
        rc = parse_tli_text(what, PQgetvalue(r, 0, 2), tli, err);
out:
    PQclear(r);
    return rc;
}

pitr_rc pitr_repl_create_slot(struct pitr_pg *pg, const char *slot, struct pitr_err *err)
{
    char cmd[160];
    PGresult *r = NULL;
    pitr_rc rc = pitr_repl_check_slot_name(slot, err);

    if (rc != PITR_OK)
        return rc;
    snprintf(cmd, sizeof(cmd), "CREATE_REPLICATION_SLOT %s PHYSICAL RESERVE_WAL", slot);
    rc = command(pg, "CREATE_REPLICATION_SLOT failed", cmd, 1, &r, err);
    PQclear(r);
    return rc;
}

pitr_rc pitr_repl_timeline_history(struct pitr_pg *pg,
                                   uint32_t tli,
                                   char name[32],
                                   struct pitr_buf *content,
                                   struct pitr_err *err)
{
    static const char what[] = "TIMELINE_HISTORY failed";
    char cmd[64], want[32];
    PGresult *r = NULL;
    pitr_rc rc;

    name[0] = '\0';
    pitr_buf_reset(content);
    snprintf(cmd, sizeof(cmd), "TIMELINE_HISTORY %" PRIu32, tli);
    snprintf(want, sizeof(want), "%08" PRIX32 ".history", tli);
    rc = command(pg, what, cmd, 1, &r, err);
    if (rc != PITR_OK)
        return rc;
    if (PQntuples(r) != 1 || PQnfields(r) < 2 || PQgetisnull(r, 0, 0) || PQgetisnull(r, 0, 1)) {
        rc = pitr_err_set(err, PITR_EPG, "%s: unexpected result", what);
        goto out;
    }
    if (strcmp(PQgetvalue(r, 0, 0), want) != 0) {
        rc = pitr_err_set(err,
                          PITR_EPG,
                          "%s: the server named the file '%.40s', expected '%s'",
                          what,
                          PQgetvalue(r, 0, 0),
                          want);
        goto out;
    }
    snprintf(name, 32, "%s", want);
    rc = pitr_buf_append(content, PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1), err);
out:
    PQclear(r);
    return rc;
}

/* The one-row "next timeline, its start" result of an ended timeline. */
static pitr_rc take_next_timeline(PGresult *r,
                                  uint32_t *next_tli,
                                  uint64_t *next_lsn,
                                  struct pitr_err *err)
{
    static const char what[] = "end of the replication stream";

    if (PQntuples(r) != 1 || PQnfields(r) < 2 || PQgetisnull(r, 0, 0) || PQgetisnull(r, 0, 1))
        return pitr_err_set(err, PITR_EPG, "%s: unexpected timeline result", what);
    if (parse_tli_text(what, PQgetvalue(r, 0, 0), next_tli, err) != PITR_OK)
        return err->code;
    return pitr_pg_parse_lsn(PQgetvalue(r, 0, 1), next_lsn, err);
}

pitr_rc pitr_repl_start(struct pitr_pg *pg,
                        const char *slot,
                        uint64_t lsn,
                        uint32_t tli,
                        int *switched,
                        uint32_t *next_tli,
                        uint64_t *next_lsn,
                        struct pitr_err *err)
{
    char cmd[192], pos[20];
    PGresult *r;
    pitr_rc rc = PITR_OK;
    int i;

    *switched = 0;
    pitr_pg_format_lsn(lsn, pos);
    if (slot != NULL)
        snprintf(cmd,
                 sizeof(cmd),
                 "START_REPLICATION SLOT %s PHYSICAL %s TIMELINE %" PRIu32,
                 slot,
                 pos,
                 tli);
    else
        snprintf(cmd, sizeof(cmd), "START_REPLICATION PHYSICAL %s TIMELINE %" PRIu32, pos, tli);
    /* Results one by one: PQexec would keep only the last (the CommandComplete). */
    if (!PQsendQuery(pg->conn, cmd)) {
        pitr_pg_fail(err, "START_REPLICATION failed", PQerrorMessage(pg->conn));
        return err->code = PQstatus(pg->conn) == CONNECTION_BAD ? PITR_ENETWORK : PITR_EPG;
    }
    r = PQgetResult(pg->conn);
    if (r != NULL && PQresultStatus(r) == PGRES_COPY_BOTH) {
        PQclear(r);
        return PITR_OK;
    }
    if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK) {
        /* Asked for the very end of a historic timeline: the next one is named at once. */
        rc = take_next_timeline(r, next_tli, next_lsn, err);
        PQclear(r);
        for (i = 0; i < 8 && (r = PQgetResult(pg->conn)) != NULL; i++)
            PQclear(r);
        if (rc == PITR_OK)
            *switched = 1;
        return rc;
    }
    {
        const char *m = r ? PQresultErrorMessage(r) : "";

        pitr_pg_fail(err, "START_REPLICATION failed", *m ? m : PQerrorMessage(pg->conn));
        rc = PQstatus(pg->conn) == CONNECTION_BAD ? PITR_ENETWORK : PITR_EPG;
        err->code = rc;
        PQclear(r);
        for (i = 0; i < 8 && (r = PQgetResult(pg->conn)) != NULL; i++)
            PQclear(r);
        return rc;
    }
}

pitr_rc pitr_repl_history_switch(const char *text,
                                 size_t n,
                                 uint32_t tli,
                                 uint32_t history_tli,
                                 uint64_t *end,
                                 uint32_t *next,
                                 struct pitr_err *err)
{
    size_t at = 0, lines = 0;
    int found = 0;

    *end = 0;
    *next = 0;
    while (at < n && lines++ < 100000) {
        const char *line = text + at, *nl = memchr(line, '\n', n - at);
        size_t len = nl ? (size_t)(nl - line) : n - at;
        char buf[160], lsn[40];
        unsigned long t;

        at += len + (nl ? 1 : 0);
        while (len > 0 && (*line == ' ' || *line == '\t')) {
            line++;
            len--;
        }
        if (len == 0 || *line == '#')
            continue;
        if (len >= sizeof(buf))
            len = sizeof(buf) - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        if (sscanf(buf, "%lu %39s", &t, lsn) != 2 || t == 0 || t > UINT32_MAX)
            return pitr_err_set(err, PITR_EFORMAT, "malformed timeline history line '%.80s'", buf);
        if (found) {
            *next = (uint32_t)t; /* the timeline after tli is the next line's parent */
            return PITR_OK;
        }
        if ((uint32_t)t == tli) {
            if (pitr_pg_parse_lsn(lsn, end, err) != PITR_OK)
                return err->code;
            found = 1;
        }
    }
    if (found) {
        *next = history_tli;
        return PITR_OK;
    }
    return pitr_err_set(err, PITR_ENOTFOUND, "timeline %" PRIu32 " is not in the history", tli);
}

static pitr_rc lost(struct pitr_pg *pg, const char *what, struct pitr_err *err)
{
    pitr_pg_fail(err, what, PQerrorMessage(pg->conn));
    return err->code = PITR_ENETWORK;
}

pitr_rc pitr_repl_get(struct pitr_pg *pg,
                      int timeout_ms,
                      struct pitr_buf *msg,
                      enum pitr_repl_got *got,
                      struct pitr_err *err)
{
    char *copy = NULL;
    int n, waited = 0;
    pitr_rc rc = PITR_OK;

    *got = PITR_REPL_GOT_NONE;
    pitr_buf_reset(msg);
    for (;;) {
        n = PQgetCopyData(pg->conn, &copy, 1);
        if (n > 0)
            break;
        if (n == -1) {
            *got = PITR_REPL_GOT_ENDED;
            return PITR_OK;
        }
        if (n < -1)
            return lost(pg, "the replication stream broke", err);
        if (waited || timeout_ms <= 0)
            return PITR_OK;
        {
            struct pollfd pfd = { PQsocket(pg->conn), POLLIN, 0 };
            int pr;

            if (pfd.fd < 0)
                return lost(pg, "the replication connection is closed", err);
            pr = poll(&pfd, 1, timeout_ms);
            if (pr < 0 && errno != EINTR)
                return pitr_err_set(err, PITR_ENETWORK, "poll failed: %s", strerror(errno));
            waited = 1;
            if (pr <= 0)
                return PITR_OK;
            if (!PQconsumeInput(pg->conn))
                return lost(pg, "the replication stream broke", err);
        }
    }
    if ((size_t)n > PITR_REPL_MAX_MSG)
        rc = pitr_err_set(err,
                          PITR_ELIMIT,
                          "replication message of %d bytes is above the %zu-byte limit",
                          n,
                          PITR_REPL_MAX_MSG);
    else
        rc = pitr_buf_append(msg, copy, (size_t)n, err);
    PQfreemem(copy);
    if (rc == PITR_OK)
        *got = PITR_REPL_GOT_MSG;
    return rc;
}

/* Flush what libpq holds, waiting at most 10 s for the socket. */
static pitr_rc flush_out(struct pitr_pg *pg, struct pitr_err *err)
{
    int i;

    for (i = 0; i < 100; i++) {
        int f = PQflush(pg->conn);
        struct pollfd pfd = { PQsocket(pg->conn), POLLOUT, 0 };

        if (f == 0)
            return PITR_OK;
        if (f < 0)
            return lost(pg, "cannot send to the server", err);
        if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
            return pitr_err_set(err, PITR_ENETWORK, "poll failed: %s", strerror(errno));
    }
    return pitr_err_set(err, PITR_ENETWORK, "cannot send to the server: no progress for 10 s");
}

pitr_rc pitr_repl_put(struct pitr_pg *pg, const void *p, size_t n, struct pitr_err *err)
{
    if (n > PITR_REPL_MAX_MSG)
        return pitr_err_set(err, PITR_ELIMIT, "message of %zu bytes is too large to send", n);
    if (PQputCopyData(pg->conn, p, (int)n) <= 0)
        return lost(pg, "cannot send to the server", err);
    return flush_out(pg, err);
}

pitr_rc pitr_repl_end(struct pitr_pg *pg,
                      int *switched,
                      uint32_t *next_tli,
                      uint64_t *next_lsn,
                      struct pitr_err *err)
{
    static const char what[] = "end of the replication stream";
    PGresult *r;
    pitr_rc rc = PITR_OK;
    int i;

    *switched = 0;
    *next_tli = 0;
    *next_lsn = 0;
    /* The server may have ended the copy and the command already (shutdown): read on. */
    if (PQputCopyEnd(pg->conn, NULL) > 0) {
        rc = flush_out(pg, err);
        if (rc != PITR_OK)
            return rc;
    }
    /* A bounded number of results: the timeline row set, then CommandComplete. */
    for (i = 0; i < 8 && (r = PQgetResult(pg->conn)) != NULL; i++) {
        ExecStatusType st = PQresultStatus(r);

        if (st == PGRES_TUPLES_OK && rc == PITR_OK) {
            rc = take_next_timeline(r, next_tli, next_lsn, err);
            if (rc == PITR_OK)
                *switched = 1;
        } else if (st != PGRES_COMMAND_OK && st != PGRES_COPY_OUT && rc == PITR_OK) {
            const char *m = PQresultErrorMessage(r);

            pitr_pg_fail(err, what, *m ? m : PQerrorMessage(pg->conn));
            rc = err->code = PITR_ENETWORK;
        }
        PQclear(r);
    }
    return rc;
}
