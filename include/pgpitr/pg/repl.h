/*
 * repl.h - the physical streaming replication protocol, as a WAL receiver
 * speaks it (wal-receive).
 *
 * Two halves. The pure half encodes and decodes the CopyData messages of
 * START_REPLICATION ('w' XLogData, 'k' keepalive from the server, 'r'
 * standby status update to it) and needs no server: every size is checked
 * before a byte is read, so a short, oversized or malformed message is an
 * error, never a read past the end. The libpq half runs the replication
 * commands (IDENTIFY_SYSTEM, READ_REPLICATION_SLOT, CREATE_REPLICATION_SLOT,
 * TIMELINE_HISTORY, START_REPLICATION) on a session opened with
 * pitr_repl_connect() and moves CopyData messages with bounded waits.
 *
 * Nothing here logs or exits; server failures are PITR_EPG with libpq's
 * first line, a lost connection PITR_ENETWORK, protocol violations
 * PITR_EFORMAT, oversized messages PITR_ELIMIT.
 */
#ifndef PGPITR_PG_REPL_H
#define PGPITR_PG_REPL_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"

/* The largest CopyData message accepted (walsender sends at most 128 KiB of WAL at once). */
#define PITR_REPL_MAX_MSG ((size_t)16 * 1024 * 1024)
/* Byte length of an encoded standby status update ('r'). */
#define PITR_REPL_STATUS_LEN 34
/* The longest replication slot name PostgreSQL allows (NAMEDATALEN - 1). */
#define PITR_REPL_SLOT_MAX 63

enum pitr_repl_kind {
    PITR_REPL_XLOGDATA,  /* 'w' */
    PITR_REPL_KEEPALIVE, /* 'k' */
};

struct pitr_repl_msg {
    enum pitr_repl_kind kind;
    uint64_t start;      /* 'w': dataStart, the LSN of data[0]; 'k': 0 */
    uint64_t wal_end;    /* the server's end of WAL */
    int64_t send_time;   /* microseconds since 2000-01-01 UTC */
    int reply_requested; /* 'k': the server asks for a status update now */
    const uint8_t *data; /* 'w': borrowed from the decoded bytes; else NULL */
    size_t len;          /* 'w': bytes of WAL in data */
};

/*
 * Decode one CopyData payload p[0..n) (borrowed; out->data points into
 * it). Unknown types, short messages, a keepalive with trailing bytes, a
 * message above PITR_REPL_MAX_MSG and a 'w' whose data would wrap the LSN
 * space fail.
 */
PITR_MUST_CHECK pitr_rc pitr_repl_decode(const void *p,
                                         size_t n,
                                         struct pitr_repl_msg *out,
                                         struct pitr_err *err);

/*
 * A 'w' message must continue exactly where the previous one ended:
 * PITR_EFORMAT naming both positions when start != expected (a gap, or data
 * sent twice).
 */
PITR_MUST_CHECK pitr_rc pitr_repl_check_continuity(uint64_t expected,
                                                   uint64_t start,
                                                   struct pitr_err *err);

/* Encode a standby status update ('r') into out; returns PITR_REPL_STATUS_LEN. */
size_t pitr_repl_encode_status(uint64_t write,
                               uint64_t flush,
                               uint64_t apply,
                               int64_t now_us,
                               int reply_requested,
                               uint8_t out[PITR_REPL_STATUS_LEN]);

/* Now as the protocol counts time: microseconds since 2000-01-01 00:00 UTC. */
int64_t pitr_repl_now(void);

/*
 * A slot name PostgreSQL accepts: 1..63 of [a-z0-9_]. PITR_EUSAGE naming it
 * otherwise (the name goes into a command unquoted).
 */
PITR_MUST_CHECK pitr_rc pitr_repl_check_slot_name(const char *name, struct pitr_err *err);

/*
 * Parse SHOW wal_segment_size's answer ("16MB", "1GB", "1024kB"): a power
 * of two from 1 MiB to 1 GiB, or PITR_EFORMAT.
 */
PITR_MUST_CHECK pitr_rc pitr_repl_parse_seg_size(const char *s,
                                                 uint32_t *out,
                                                 struct pitr_err *err);

/* ---- libpq ------------------------------------------------------------- */

struct pitr_pg;

/*
 * Open a physical replication session (replication=true). conninfo is a
 * "key=value" string, a URI, a service (service=name) or NULL (PG*
 * variables); a host list with target_session_attrs=read-write finds the
 * primary. application_name is set after conninfo, so it wins. *out is
 * freed with pitr_pg_free().
 */
PITR_MUST_CHECK pitr_rc pitr_repl_connect(const char *conninfo,
                                          const char *application_name,
                                          struct pitr_pg **out,
                                          struct pitr_err *err);

struct pitr_repl_ident {
    char systemid[32];
    uint32_t tli;
    uint64_t xlogpos;
};

PITR_MUST_CHECK pitr_rc pitr_repl_identify(struct pitr_pg *pg,
                                           struct pitr_repl_ident *out,
                                           struct pitr_err *err);

/* SHOW wal_segment_size, parsed. */
PITR_MUST_CHECK pitr_rc pitr_repl_seg_size(struct pitr_pg *pg, uint32_t *out, struct pitr_err *err);

/*
 * READ_REPLICATION_SLOT (PostgreSQL 15+). *exists 0: no such slot. A slot
 * that exists but never reserved WAL has *restart_lsn 0; *tli 0 when the
 * server does not know it.
 */
PITR_MUST_CHECK pitr_rc pitr_repl_read_slot(struct pitr_pg *pg,
                                            const char *slot,
                                            int *exists,
                                            uint64_t *restart_lsn,
                                            uint32_t *tli,
                                            struct pitr_err *err);

/* CREATE_REPLICATION_SLOT slot PHYSICAL RESERVE_WAL. */
PITR_MUST_CHECK pitr_rc pitr_repl_create_slot(struct pitr_pg *pg,
                                              const char *slot,
                                              struct pitr_err *err);

/*
 * TIMELINE_HISTORY tli: the file's name (PostgreSQL's, checked to be
 * "<tli>.history") into name and its content into content (emptied first,
 * bounded by its limit).
 */
PITR_MUST_CHECK pitr_rc pitr_repl_timeline_history(struct pitr_pg *pg,
                                                   uint32_t tli,
                                                   char name[32],
                                                   struct pitr_buf *content,
                                                   struct pitr_err *err);

/*
 * START_REPLICATION [SLOT slot] PHYSICAL X/Y TIMELINE tli; the session is
 * then in COPY BOTH. When lsn is exactly where the historic timeline tli
 * ended, the server answers at once with the next timeline instead:
 * *switched 1 with *next_tli and *next_lsn (the session stays idle).
 */
PITR_MUST_CHECK pitr_rc pitr_repl_start(struct pitr_pg *pg,
                                        const char *slot,
                                        uint64_t lsn,
                                        uint32_t tli,
                                        int *switched,
                                        uint32_t *next_tli,
                                        uint64_t *next_lsn,
                                        struct pitr_err *err);

/*
 * In a timeline history file's text (text[0..n), "parentTLI<TAB>X/Y<TAB>
 * reason" lines), find where timeline tli ended: *end and the timeline
 * that followed it (*next). PITR_ENOTFOUND when tli is not a parent in it
 * (it is the history's own, current timeline); PITR_EFORMAT on a malformed
 * line. At most 100000 lines are read.
 */
PITR_MUST_CHECK pitr_rc pitr_repl_history_switch(const char *text,
                                                 size_t n,
                                                 uint32_t tli,
                                                 uint32_t history_tli,
                                                 uint64_t *end,
                                                 uint32_t *next,
                                                 struct pitr_err *err);

enum pitr_repl_got {
    PITR_REPL_GOT_NONE,  /* nothing within the wait */
    PITR_REPL_GOT_MSG,   /* a message is in msg */
    PITR_REPL_GOT_ENDED, /* the server ended the copy (CopyDone) */
};

/*
 * Wait up to timeout_ms (0: do not wait) for the next CopyData message
 * and copy it into msg (emptied first; a message above PITR_REPL_MAX_MSG or
 * msg's limit is PITR_ELIMIT).
 */
PITR_MUST_CHECK pitr_rc pitr_repl_get(struct pitr_pg *pg,
                                      int timeout_ms,
                                      struct pitr_buf *msg,
                                      enum pitr_repl_got *got,
                                      struct pitr_err *err);

/* Send one CopyData message and flush it (bounded by a 10 s wait for the socket). */
PITR_MUST_CHECK pitr_rc pitr_repl_put(struct pitr_pg *pg,
                                      const void *p,
                                      size_t n,
                                      struct pitr_err *err);

/*
 * After PITR_REPL_GOT_ENDED: answer CopyDone and read the end of the
 * stream. At a timeline switch *next_tli and *next_lsn give where the next
 * timeline starts (*switched 1); otherwise (the server is shutting down)
 * *switched 0.
 */
PITR_MUST_CHECK pitr_rc pitr_repl_end(struct pitr_pg *pg,
                                      int *switched,
                                      uint32_t *next_tli,
                                      uint64_t *next_lsn,
                                      struct pitr_err *err);

#endif
