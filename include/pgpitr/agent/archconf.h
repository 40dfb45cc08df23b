/*
 * archconf.h - archiving configured on the local PostgreSQL server by every
 * agent (leader or not), for each Cluster's spec.backup.barmanObjectStore.
 *
 * Each run (at most every PITR_ARCHCONF_EVERY seconds per Cluster, at once
 * when the Cluster's settings change):
 *  1. a short libpq session to the local server (connect_timeout 5 s,
 *     statement_timeout 10 s): role, data_directory, the three settings in
 *     pg_settings and their last line in pg_file_settings;
 *  2. the repository settings and credentials go to a pgpitr config file
 *     <state-dir>/<namespace>_<cluster>.archive.conf (temp + fsync + rename,
 *     mode 0600, owned by PGDATA's owner when we are root; a path that is a
 *     symlink or not a regular file is refused, never written through). The
 *     endpointCA, when given, is copied beside it the same way. The state
 *     folder gets the search bits (0711) so PostgreSQL can reach the file,
 *     never the read bits;
 *  3. on a primary, once per Cluster: the empty-archive check CloudNativePG
 *     runs before the first WAL (catalog/checkarchive.h, in-process). A
 *     folder holding WAL leaves archive_command unset (ArchiveNotEmpty,
 *     naming the object) and is checked again on the next run. A pass is
 *     recorded in <state-dir>/<namespace>_<cluster>.archive-checked; a
 *     standby, or a server whose archive_command is already ours, records it
 *     without a check (the Cluster already archives there);
 *  4. ALTER SYSTEM SET archive_mode = 'on', archive_command = '<bin> --config
 *     <file> wal-push %p', restore_command = '<bin> --config <file> wal-fetch
 *     %f %p' (paths single-quoted for the shell, '%' doubled) only for a
 *     value that differs from what the server uses and what its files hold,
 *     then SELECT pg_reload_conf(). Credentials are only in the file: never
 *     in postgresql.auto.conf, argv, the environment or a log line;
 *  5. archive_mode still off after that needs a restart: with restart-policy
 *     never (the default) it is reported (ContinuousArchiving False,
 *     ArchiveModeNeedsRestart); with always the agent runs `pg_ctl restart
 *     -m fast -w -t 45` (the pg_ctl beside the running postmaster, as
 *     PGDATA's owner, output to <state-dir>/<namespace>_<cluster>.restart.log,
 *     waited for at most PITR_ARCHCONF_RESTART_WAIT s);
 *  6. pg_stat_archiver is read into struct pitr_archconf_stats.
 * The leader (cluster_status != NULL) writes the ContinuousArchiving
 * condition and lastArchivedWAL, lastArchivedWALTime, lastFailedWAL,
 * lastFailedWALTime into the Cluster's status.
 *
 * Ownership: a struct pitr_archconf is owned by the agent (pitr_archconf_new
 * / pitr_archconf_free); every pointer passed in is borrowed for the call.
 */
#ifndef PGPITR_AGENT_ARCHCONF_H
#define PGPITR_AGENT_ARCHCONF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/err.h"

#define PITR_ARCHCONF_EVERY        5  /* seconds between runs per Cluster */
#define PITR_ARCHCONF_RESTART_WAIT 90 /* seconds the restart command may take */
#define PITR_ARCHCONF_FILE_MAX     (64 * 1024)
#define PITR_ARCHCONF_VALUE_MAX    4000 /* config lines are read into 4096 bytes */
#define PITR_ARCHCONF_WAL_NAME_MAX 64

enum pitr_archconf_restart { PITR_ARCHCONF_RESTART_NEVER = 0, PITR_ARCHCONF_RESTART_ALWAYS };

/* pg_stat_archiver of the local server, as last read (times: Unix seconds, 0 = never). */
struct pitr_archconf_stats {
    int valid;       /* 1 once read */
    int in_recovery; /* the server was a standby */
    int64_t archived_count;
    int64_t failed_count;
    char last_archived_wal[PITR_ARCHCONF_WAL_NAME_MAX];
    int64_t last_archived_time;
    char last_failed_wal[PITR_ARCHCONF_WAL_NAME_MAX];
    int64_t last_failed_time;
    int64_t stats_reset;
    int64_t read_at; /* when these were read */
};

struct pitr_archconf_opts {
    const char *state_dir;  /* where the files go */
    const char *conninfo;   /* the local server, or NULL (PG* variables) */
    const char *pgpitr_bin; /* absolute path archive_command runs, or NULL (/proc/self/exe) */
    enum pitr_archconf_restart restart_policy;
    int every; /* seconds between runs; 0: PITR_ARCHCONF_EVERY */
};

struct pitr_archconf;

/* A new per-agent state; copies o. Free with pitr_archconf_free (NULL is fine). */
struct pitr_archconf *pitr_archconf_new(const struct pitr_archconf_opts *o);
void pitr_archconf_free(struct pitr_archconf *ac);

/*
 * One Cluster, once per tick: runs the steps above when due. cfg is the
 * Cluster's settings (pitr_agent_cluster_config) or NULL when they could
 * not be built; store is its spec.backup.barmanObjectStore (WAL
 * compression, encryption, maxParallel, endpointCA). cluster_status is the
 * Cluster item's status object when this agent leads, else NULL. Returns 1
 * when cluster_status was changed. Never blocks longer than its bounded
 * waits; errors are logged once and reported in the condition.
 */
struct pitr_mf_store;
int pitr_archconf_tick(struct pitr_archconf *ac,
                       const char *ns,
                       const char *name,
                       const struct pitr_config *cfg,
                       const struct pitr_mf_store *store,
                       json_t *cluster_status,
                       int64_t now);

/* The last pg_stat_archiver values read for a Cluster; 0 when none yet. */
int pitr_archconf_stats_get(const struct pitr_archconf *ac,
                            const char *ns,
                            const char *name,
                            struct pitr_archconf_stats *out);

/* ---- pure parts (unit-tested) ---- */

/*
 * The command '<bin>' --config '<file>' <verb>: each path quoted for
 * /bin/sh (single quotes, ' as '\'') with '%' doubled for PostgreSQL's
 * archive/restore_command substitution. Paths with control characters are
 * refused (PITR_EUSAGE). Appends to out.
 */
PITR_MUST_CHECK pitr_rc pitr_archconf_command(const char *bin,
                                              const char *conf,
                                              const char *verb,
                                              struct pitr_buf *out,
                                              struct pitr_err *err);

/*
 * The config file text wal-push and wal-fetch read: the repository, server,
 * endpoint, region, TLS and retry settings, credentials of cfg, with the
 * WAL settings of store (wal.compression, none when unset as
 * barman-cloud-wal-archive; wal.encryption; wal.maxParallel - 1 as
 * look-ahead and prefetch) and ca_file instead of cfg's. A value that a
 * config line cannot hold (newline, control character, leading or trailing
 * blank, over PITR_ARCHCONF_VALUE_MAX) is PITR_EUSAGE naming the key, never
 * the value. out holds secrets: release it with pitr_buf_release_secure.
 */
PITR_MUST_CHECK pitr_rc pitr_archconf_config_text(const struct pitr_config *cfg,
                                                  const struct pitr_mf_store *store,
                                                  const char *ca_file,
                                                  struct pitr_buf *out,
                                                  struct pitr_err *err);

/* What a setting needs (bits). */
#define PITR_ARCHCONF_ALTER   1 /* ALTER SYSTEM SET it */
#define PITR_ARCHCONF_RELOAD  2 /* pg_reload_conf() applies it */
#define PITR_ARCHCONF_RESTART 4 /* only a restart applies it */

/*
 * want: the value we need; setting: pg_settings.setting; file_value: the
 * last pg_file_settings line for it (NULL: no file sets it); postmaster:
 * its context is postmaster. archive_mode "always" satisfies "on".
 */
int pitr_archconf_guc_action(const char *name,
                             const char *want,
                             const char *setting,
                             const char *file_value,
                             int postmaster);

/*
 * CloudNativePG's rule on pg_stat_archiver: True when nothing failed or
 * the last archive is not older than the last failure; else False with the
 * failed WAL and time in msg. Returns 1 for True.
 */
int pitr_archconf_archiving_ok(const struct pitr_archconf_stats *s, char *msg, size_t msg_len);

#endif
