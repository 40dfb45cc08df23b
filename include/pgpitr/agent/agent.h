/*
 * agent.h - `pgpitr agent`: CloudNativePG's ScheduledBackup and Backup
 * controllers for the one PostgreSQL instance next to it.
 *
 * The loop (one tick a second): re-read changed manifests
 * (agent/manifest.h) and log every new diagnostic with its file:line; for
 * each Cluster with spec.backup.barmanObjectStore, load its status store
 * (agent/status.h) once, mirror the Cluster, its ScheduledBackups and its
 * Backups there, decide every ScheduledBackup (agent/sched.h), fail Backups
 * that overstayed their phase's deadline or belonged to an agent session
 * that is gone, start the oldest pending Backup, run the retention policy
 * on its timer, and write what changed.
 *
 * One job runs at a time, on its own thread, with its own copy of the
 * settings (credentials stay in memory: never argv, environment or logs):
 * a Backup (the archive check CNPG does, then pitr_backup_run in-process,
 * then the catalog facts CNPG copies into Backup.status, then retention)
 * or a retention run. The main thread alone touches the status documents.
 *
 * Every tick each Cluster also goes through agent/archconf.h: archiving of
 * the local server configured by every agent, reported by the leader.
 *
 * Signals: *stop set (SIGTERM/SIGINT) cancels the running backup through
 * its cancel flag, waits for it at most PITR_AGENT_STOP_WAIT seconds,
 * records it failed, saves and returns. systemd: READY=1 after the first
 * pass, STATUS= and WATCHDOG=1 every tick, STOPPING=1 on the way out (all
 * no-ops without NOTIFY_SOCKET).
 *
 * With an instance name the agent is one of several, one per PostgreSQL
 * node (agent/cluster.h): every heartbeat-interval it publishes its
 * heartbeat record and, when its server is a primary, takes or renews the
 * lease. Only the lease holder (the leader) loads, decides and writes the
 * status store; it reloads the store each time it becomes leader. The
 * leader runs every Backup itself, in stream mode against the standby it
 * chose (or locally on the primary), so status.json has a single writer.
 * Metrics (agent/metrics.h): /metrics on metrics_listen, fed after every
 * pass (status times, retention, the store) and at job start and end. An
 * address that does not parse stops the agent; one that cannot be bound
 * is a warning and the agent runs without metrics.
 */
#ifndef PGPITR_AGENT_AGENT_H
#define PGPITR_AGENT_AGENT_H

#include <signal.h>

#include "pgpitr/core/config.h"
#include "pgpitr/core/err.h"

#define PITR_AGENT_DEFAULT_MANIFESTS "/etc/pgpitr/manifests"
#define PITR_AGENT_DEFAULT_STATE     "/var/lib/pgpitr/agent"
#define PITR_AGENT_STOP_WAIT         120
#define PITR_AGENT_RETENTION_EVERY   1800
#define PITR_AGENT_RETENTION_RETRY   300

struct pitr_agent_opts {
    const struct pitr_config *cfg; /* borrowed: base settings (S3 options, log level, jobs) */
    const char *manifests;         /* the manifest folder */
    const char *state_dir;         /* local copies of the status documents */
    const char *conninfo;          /* libpq conninfo of the local server, or NULL (PG*) */
    const char *pgdata;            /* local method: NULL means $PGDATA / data_directory */
    int once;                      /* exit once nothing runs or is pending */
    int retention_every;           /* seconds between retention runs */
    int retention_retry;           /* seconds after a failed run */
    int archive_check_tries;       /* pg_stat_archiver checks before walArchivingFailing */
    int archive_check_wait;        /* seconds between them */
    int wal_wait_timeout;          /* pitr_backup_opts.wal_wait_timeout */
    volatile sig_atomic_t *stop;   /* set by the caller's signal handler */
    /* a cluster of agents (agent/cluster.h); instance NULL: one instance that always leads */
    const char *instance;      /* instance-name */
    const char *peer_conninfo; /* how the leader reaches this server (no password) */
    int heartbeat_interval;    /* seconds between heartbeat records and lease renewals */
    int lease_ttl;             /* seconds a lease lasts without renewal */
    /* archconf (agent/archconf.h) */
    const char *pgpitr_bin; /* archive_command's program, or NULL (this binary) */
    int restart_policy;     /* enum pitr_archconf_restart */
    /* recover (agent/recover.h) */
    const char *start_command;  /* start-command, or NULL: pg_ctl start -w of pgdata */
    int recovery_wait;          /* seconds until the recovered server must be promoted */
    const char *metrics_listen; /* agent/metrics.h: host:port, "off", NULL (default) */
    const char *stats_file;     /* wal-push's counters file, "off", NULL (the default) */
};

/* Run until *stop (or, with once, until idle). Errors that stop the agent itself only. */
PITR_MUST_CHECK pitr_rc pitr_agent_run(const struct pitr_agent_opts *o, struct pitr_err *err);

/*
 * The settings one Cluster's barmanObjectStore means, on top of base:
 * repo, server (serverName or the Cluster's name), endpoint, credentials
 * (or the credential chain with inheritFromIAMRole), region, data
 * compression (none when unset, as barman-cloud-backup), encryption,
 * jobs, tags, history tags, and ca-file (the endpointCA PEM written to
 * ca_path when given). *out is a deep copy the caller releases.
 */
struct pitr_mf_cluster;
PITR_MUST_CHECK pitr_rc pitr_agent_cluster_config(const struct pitr_config *base,
                                                  const struct pitr_mf_cluster *c,
                                                  const char *ca_path,
                                                  struct pitr_config *out,
                                                  struct pitr_err *err);

#endif
