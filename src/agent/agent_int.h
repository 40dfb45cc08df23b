/*
 * agent_int.h - what agent.c and job.c share (not a public header): the
 * one background job (a Backup or a retention run) and its results.
 */
#ifndef PGPITR_AGENT_AGENT_INT_H
#define PGPITR_AGENT_AGENT_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "pgpitr/backup/backup.h"
#include "pgpitr/catalog/retention.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/err.h"

enum job_kind { JOB_BACKUP = 1, JOB_RETENTION };

#define JOB_IDS_MAX 4096

struct job {
    enum job_kind kind;
    /* inputs (owned; cfg is a deep copy holding the credentials) */
    struct pitr_config cfg;
    char *cluster_key;    /* "<ns>/<cluster>" */
    char *backup_name;    /* JOB_BACKUP */
    char *policy;         /* retention policy or NULL */
    const char *conninfo; /* the local server: archive check, and the backup unless below */
    const char *pgdata;
    char *backup_conninfo; /* owned; cluster: stream the backup from this peer, or NULL */
    int immediate_checkpoint;
    int archive_check_tries;
    int archive_check_wait;
    int wal_wait_timeout;
    volatile sig_atomic_t cancel;
    /* progress (written by the worker, read by the main thread) */
    volatile sig_atomic_t stage; /* 0: archive check, 1: copying, 2: catalog and retention */
    volatile sig_atomic_t done;
    /* results (read after done) */
    pitr_rc rc;
    struct pitr_err err;
    int wal_failing; /* the archive check failed */
    struct pitr_backup_result res;
    char begin_time[40], end_time[40], begin_lsn[24], end_lsn[24];
    int64_t first_recoverability; /* end time of the oldest DONE backup; 0: none */
    int64_t last_successful;      /* end time of the newest DONE backup */
    int have_ids;                 /* ids below hold every backup in the repository */
    char (*ids)[16];              /* owned */
    size_t nids;
    int retention_ran;
    pitr_rc retention_rc;
    struct pitr_err retention_err;
    struct pitr_ret_result retention;
    char policy_text[64];
    pthread_t thread;
};

/* The local server as one heartbeat sees it (node.c). */
#define NODE_REPL_MAX 64
struct node_repl {
    char name[64]; /* application_name */
    int streaming;
    int64_t lag_bytes; /* -1: unknown */
};
struct node_state {
    int primary;
    int64_t timeline;
    char current_lsn[24], replay_lsn[24], flush_lsn[24], receive_lsn[24];
    double lag_seconds; /* -1: unknown */
    int replay_paused;
    struct node_repl repl[NODE_REPL_MAX]; /* primary: pg_stat_replication */
    size_t nrepl;
};

/*
 * Query the local server (conninfo as the agent's: NULL means PG*, a bare
 * word a database name): role, timeline, LSNs and, on a primary, its
 * standbys. switch_wal: also pg_switch_wal() on a primary (the end segment
 * of a standby's backup gets archived only once the primary moves on).
 */
PITR_MUST_CHECK pitr_rc node_query(const char *conninfo,
                                   int switch_wal,
                                   struct node_state *ns,
                                   struct pitr_err *err);

/* Start j on its own thread (j must stay alive until job_free). */
PITR_MUST_CHECK pitr_rc job_start(struct job *j, struct pitr_err *err);
/* Join a finished job's thread. */
void job_join(struct job *j);
void job_free(struct job *j);

#endif
