/*
 * recover.h - the agent's bootstrap.recovery (CloudNativePG's recovery
 * bootstrap, cnpg-semantics.md section 4) for the one local instance.
 *
 * When the agent has a local PGDATA (config pgdata) that is missing or an
 * empty directory and a Cluster of the manifests has bootstrap.recovery,
 * the PGDATA is restored in-process with pitr_restore_run from the
 * external cluster named by recovery.source (its barmanObjectStore,
 * serverName defaulting to the external cluster's name), to the
 * recoveryTarget (CNPG's backup selection and time-zone rules are those of
 * pitr_restore_run), recovery_target_action = promote. Then the files are
 * given to PGDATA's owner (the owner of the directory, or of its parent
 * when it was missing), PostgreSQL is started with start-command as that
 * owner (default: pg_ctl start -w of PGDATA), and the agent waits, at most
 * the configured time, until pg_is_in_recovery() is false.
 *
 * wal-fetch, run by PostgreSQL as the owner, reads the external store's
 * settings and credentials from PGDATA/pgpitr-recovery.conf (mode 0600,
 * owned by the owner; never in postgresql.auto.conf, argv or the
 * environment); the file is removed once the server is promoted. Archiving
 * is held during recovery: archive_command = 'false' when the Cluster has
 * its own spec.backup (its archiving is configured afterwards), else
 * archive_mode = off, so the new timeline never goes to the source's store.
 *
 * A non-empty PGDATA is never touched (logged once per Cluster). The work
 * runs on its own thread; the main thread alone writes the Cluster's
 * status (the document it is given: the Cluster's status store when it
 * has spec.backup, else a local copy in state-dir that this module keeps).
 * A failed restore removes what it wrote into PGDATA (never following a
 * link), records condition RecoveryCompleted=False and a Warning event,
 * and is tried again after a back-off (60 s, doubling, at most 1 h); a
 * server that was started but not promoted in time is left as it is.
 */
#ifndef PGPITR_AGENT_RECOVER_H
#define PGPITR_AGENT_RECOVER_H

#include <jansson.h>

#include "pgpitr/core/err.h"

#define PITR_RECOVER_DEFAULT_WAIT 3600 /* seconds until the server must be promoted */
#define PITR_RECOVER_RETRY_FIRST  60
#define PITR_RECOVER_RETRY_MAX    3600
#define PITR_RECOVER_CONF_NAME    "pgpitr-recovery.conf"

struct pitr_agent_opts;
struct pitr_mf_cluster;
struct pitr_recover; /* one per agent; created by the first step */

/* What pitr_recover_step says about the Cluster's normal (backup) work. */
enum pitr_recover_hold {
    PITR_RECOVER_GO = 0,  /* nothing to recover, or it is done: carry on */
    PITR_RECOVER_RUNNING, /* a recovery runs: hold the backup work (and keep --once alive) */
    PITR_RECOVER_FAILED,  /* it failed and waits for its back-off: hold the backup work */
};

/*
 * One tick for Cluster m (main thread). *rp is created on first use (free
 * it with pitr_recover_free). doc/dirty: the Cluster's status document and
 * its changed flag when it has its own status store; NULL to use the local
 * copy in o->state_dir. Never fails: problems are logged and recorded.
 */
enum pitr_recover_hold pitr_recover_step(struct pitr_recover **rp,
                                         const struct pitr_agent_opts *o,
                                         const struct pitr_mf_cluster *m,
                                         json_t *doc,
                                         int *dirty);

/* 1 when the Cluster's backup work must wait (a recovery runs or failed). */
int pitr_recover_holds(const struct pitr_recover *r, const struct pitr_mf_cluster *m);

/* Cancel a running recovery (bounded wait for its thread) and free everything. NULL is fine. */
void pitr_recover_free(struct pitr_recover *r);

/*
 * The default start command for pgdata: the pg_ctl of the PostgreSQL
 * version in pgdata/PG_VERSION when /usr/lib/postgresql/<v>/bin has it,
 * else pg_ctl from PATH, as "pg_ctl start -w -t <wait> -D <pgdata> -l
 * <pgdata>/pgpitr-startup.log" with the paths shell-quoted. Owned by the caller.
 */
char *pitr_recover_default_start(const char *pgdata, int wait);

/* s as one shell word in single quotes (quotes escaped). Owned by the caller. */
char *pitr_recover_shell_quote(const char *s);

#endif
