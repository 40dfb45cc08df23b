/* cli.c - option parsing, help and dispatch; see cmd/cli.h. */
#include "pgpitr/cmd/cli.h"

#include "pgpitr/cmd/barman.h"

#include <stdio.h>
#include <string.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"

#ifndef PITR_VERSION
#define PITR_VERSION "0.0.0"
#endif

struct command {
    const char *name;
    pitr_cmd_fn fn;
    const char *usage;
    const char *help;
};

static const struct command commands[] = {
    { "wal-push",
      pitr_cmd_wal_push,
      "wal-push [REPO_URL SERVER] WAL_PATH",
      "Archive one WAL file; use as archive_command = 'pgpitr wal-push %p'.\n"
      "Exit 0 only when the file is durably stored, or an identical copy already is.\n"
      "An archived file with different content is never overwritten (exit 13).\n"
      "REPO_URL and SERVER may be given as positionals, as barman-cloud-wal-archive takes them.\n"
      "Each push adds its result and duration to --stats-file (default\n"
      "pg_wal/pgpitr_spool/pushstats when WAL_PATH is in pg_wal; 'off' disables), which the\n"
      "agent's /metrics reads; failing to update it only warns." },
    { "wal-fetch",
      pitr_cmd_wal_fetch,
      "wal-fetch [REPO_URL SERVER] WAL_NAME DEST_PATH [--spool-dir DIR]\n"
      "  wal-fetch --clean-spool [--spool-dir DIR]",
      "Restore one WAL file; use as restore_command = 'pgpitr wal-fetch %f %p'.\n"
      "Exit 0 when DEST_PATH was written, 1 when the file is not archived, another\n"
      "non-zero code on any other failure.\n"
      "When DEST_PATH is in a data directory's pg_wal (or with --spool-dir), the next\n"
      "--prefetch segments are fetched ahead on --jobs threads by a background worker\n"
      "into pg_wal/pgpitr_prefetch/ (or DIR), and later calls are answered from there.\n"
      "--clean-spool stops the worker and removes the spool (recovery_end_command; run\n"
      "in the data directory)." },
    { "object-put",
      pitr_cmd_object_put,
      "object-put KEY [FILE|-]",
      "Store FILE (or standard input) as the repository key KEY (relative to the\n"
      "repository root), streamed: on S3 a multipart upload with --jobs parts in\n"
      "flight, a single PUT below one part. Nothing is visible under KEY until the\n"
      "whole object is stored; a failure leaves no object and no parts.\n"
      "Prints bytes, seconds and MB/s at --log-level info." },
    { "object-get",
      pitr_cmd_object_get,
      "object-get KEY [FILE|-]",
      "Write the repository key KEY to FILE (atomically, through a temp file) or\n"
      "standard output; on S3 with --jobs parallel ranged GETs.\n"
      "Prints bytes, seconds and MB/s at --log-level info." },
    { "object-delete",
      pitr_cmd_object_delete,
      "object-delete KEY...",
      "Remove the repository keys (S3: DeleteObjects, 1000 keys a request).\n"
      "Missing keys are fine; a key the store refuses to delete fails the command\n"
      "and is named." },
    { "check-archive",
      pitr_cmd_check_archive,
      "check-archive [REPO_URL SERVER] [--timeline N]",
      "Check that a new cluster may start archiving into the server's WAL folder, as\n"
      "barman-cloud-check-wal-archive does: without --timeline any WAL file there fails the\n"
      "check; with --timeline N only files of timeline N or later do. A missing bucket passes.\n"
      "Exit 0 usable, 1 not usable (the first offending file is named), 2 network, 3 usage,\n"
      "4 any other failure." },
    { "verify",
      pitr_cmd_verify,
      "verify [ID|all] [--full] [--format console|json]",
      "Check the repository: every object of every backup (or of backup ID, name or latest)\n"
      "exists with the size pgpitr.manifest.json records; --full reads each volume once and\n"
      "checks its SHA-256 and every file in it against the manifest. Backups without a\n"
      "manifest (barman-cloud) get existence and backup.info checks (--full: volumes read\n"
      "whole). The WAL from each backup's begin_wal to the newest archived WAL of every\n"
      "timeline descending from it (history files followed) must have no gap. Problems name\n"
      "the backup, the object or WAL file and the cause; --format json for machines.\n"
      "Exit 0 when all is well, 1 when a problem was found, another code when verify failed." },
    { "backup",
      pitr_cmd_backup,
      "backup [REPO_URL SERVER] [--method local|stream] [--pgdata DIR] [--dbname CONNINFO]\n"
      "         [--immediate-checkpoint] [-J N] [--max-archive-size SIZE] [--min-chunk-size SIZE]\n"
      "         [--name NAME] [--wal-wait-timeout SECS] [--json]",
      "Take an online base backup into <server>/base/<backup_id>/ in barman-cloud's layout:\n"
      "data.tar<sfx> (+ data_0001.tar<sfx> ... past --max-archive-size, default 100GB),\n"
      "<oid>.tar<sfx> per tablespace, pgpitr.manifest.json, and backup.info (DONE or FAILED).\n"
      "--method local reads PGDATA directly (--pgdata, else $PGDATA, else the server's\n"
      "data_directory); --method stream runs BASE_BACKUP over a replication connection and\n"
      "also keeps the server's backup_manifest (default: local when PGDATA is readable here;\n"
      "config key 'method'). Connects with the PG* environment variables or --dbname.\n"
      "--min-chunk-size raises the S3 part size, as barman-cloud-backup's. Compression: "
      "--compression\n"
      "gzip (default), zstd, lz4, bzip2 or none, on --jobs/-J threads. DONE only once the\n"
      "end WAL segment is archived (--wal-wait-timeout, default 300 s). --json prints a summary." },
    { "restore",
      pitr_cmd_restore,
      "restore [BACKUP_ID|latest] PGDATA [--target-time T | --target-xid X | --target-lsn L |\n"
      "         --target-name N | --target-immediate] [--target-tli latest|N] [--exclusive]\n"
      "         [--target-action promote|pause|shutdown] [--tablespace OID:DIR]... [-J N] "
      "[--standby]\n"
      "         [--no-recovery-conf]",
      "Restore a base backup into PGDATA (new or empty) and prepare point-in-time recovery.\n"
      "Without BACKUP_ID (or with latest) the backup is chosen as CloudNativePG does: with\n"
      "--target-time the newest DONE backup that ended at or before it, with --target-lsn the\n"
      "newest that ended before it, otherwise the newest. Volumes are extracted on --jobs "
      "threads;\n"
      "tablespaces go to their backup.info location (or --tablespace OID:DIR). Every file is\n"
      "checked against pgpitr.manifest.json when present. Appends restore_command (this binary,\n"
      "wal-fetch) and the recovery_target_* settings to postgresql.auto.conf and creates\n"
      "recovery.signal (standby.signal with --standby); --no-recovery-conf writes neither,\n"
      "as barman-cloud-restore (the caller configures recovery). Times without a zone are UTC.\n"
      "Exit 3 when no backup qualifies for the target (the message names the earliest target)." },
    { "list",
      pitr_cmd_list,
      "list [SOURCE_URL SERVER] [--format console|json]",
      "List the server's backups as barman-cloud-backup-list does: console (DONE backups:\n"
      "id, end time, begin WAL, keep status, name) or JSON (every backup, every backup.info\n"
      "field, plus begin_time_iso/end_time_iso with an explicit offset)." },
    { "show",
      pitr_cmd_show,
      "show [SOURCE_URL SERVER] BACKUP_ID|NAME|latest [--format console|json]",
      "Show one backup as barman-cloud-backup-show does. JSON: {\"<server_name>\": {...}}.\n"
      "Exit 1 for an unknown id, 4 for an unknown or ambiguous name." },
    { "keep",
      pitr_cmd_keep,
      "keep [SOURCE_URL SERVER] BACKUP_ID|NAME (--target full|standalone | --release | --status)",
      "Keep a DONE backup from retention (full: with all WAL after it; standalone: with only\n"
      "the WAL to make it consistent), release it, or print 'Keep: full|standalone|nokeep'.\n"
      "Stored as barman-cloud stores it: <server>/base/<id>/annotations/keep." },
    { "delete",
      pitr_cmd_delete,
      "delete [SOURCE_URL SERVER] (BACKUP_ID|NAME | -b ID | -r POLICY) [--dry-run]",
      "Delete a backup as barman-cloud-backup-delete -b does: refused when it is kept; its\n"
      "objects (ours too), then backup.info, then the WAL only it needed. Objects left under\n"
      "base/<id>/ without a backup.info are removed too. -r POLICY runs 'retention'." },
    { "retention",
      pitr_cmd_retention,
      "retention [SOURCE_URL SERVER] [--policy P] [--minimum-redundancy N] [--dry-run]\n"
      "         [--now TIME]",
      "Apply a retention policy: P is 'REDUNDANCY n', 'RECOVERY WINDOW OF n DAYS|WEEKS|MONTHS'\n"
      "or 'Nd'/'Nw'/'Nm' (default: retention-policy from the config file). Obsolete backups\n"
      "are deleted oldest first with the WAL no remaining backup needs, as barman-cloud does;\n"
      "keep annotations and non-DONE backups are respected, history files stay, and no WAL at\n"
      "or after a remaining backup's begin_wal is removed. Prints every removed key; --dry-run\n"
      "removes nothing. --now evaluates a window policy at another time." },
    { "agent",
      pitr_cmd_agent,
      "agent [--manifests DIR] [--once] [--dbname CONNINFO] [--pgdata DIR] [--state-dir DIR]\n"
      "         [--retention-interval SECS] [--retention-retry SECS] [--archive-check-tries N]\n"
      "         [--archive-check-wait SECS] [--wal-wait-timeout SECS]\n"
      "         [--instance-name NAME --peer-conninfo CONNINFO] [--heartbeat-interval SECS]\n"
      "         [--lease-ttl SECS] [--pgpitr-bin PATH] [--restart-policy never|always]\n"
      "         [--start-command CMD] [--recovery-wait SECS] [--metrics-listen ADDR]",
      "Run CloudNativePG's ScheduledBackup and Backup controllers for the local PostgreSQL\n"
      "server from the manifests in DIR (config key 'manifests', default\n"
      "/etc/pgpitr/manifests): Cluster (spec.backup.barmanObjectStore, retentionPolicy),\n"
      "ScheduledBackup, Backup and Secret documents in *.yaml/*.yml, re-read when they change.\n"
      "Backups are named <scheduledbackup>-<YYYYMMDDHHMMSS> of their slot, missed slots give\n"
      "one catch-up backup, every phase has a deadline; before each backup pg_stat_archiver\n"
      "must show working archiving (--archive-check-tries x --archive-check-wait, default 10 x\n"
      "6 s). The Cluster's retentionPolicy (else the config key retention-policy, which may\n"
      "be REDUNDANCY n) runs after each completed backup and every\n"
      "--retention-interval seconds (default 1800; --retention-retry 300 after a failure).\n"
      "Status and events go to <server>/pgpitr/status.json in the repository and a copy in\n"
      "--state-dir (default /var/lib/pgpitr/agent). Connects with the PG* variables, --dbname\n"
      "or config key 'dbname'. --once exits when nothing is pending. SIGTERM cancels a running\n"
      "backup (recorded as failed). With systemd: Type=notify and the watchdog.\n"
      "In a cluster, run one agent per node with --instance-name (config key instance-name,\n"
      "a-z 0-9 . _ -, the standby's application_name) and --peer-conninfo (how the leader\n"
      "reaches this server for BASE_BACKUP; a password is refused: use .pgpass). Each agent\n"
      "publishes <server>/pgpitr/instances/<name>.json every --heartbeat-interval (default\n"
      "5 s; stale after 3x); the agent of a primary holding <server>/pgpitr/lease.json\n"
      "(--lease-ttl, default 15 s) leads: it alone schedules, writes the status and runs\n"
      "backups, streaming from the least-lagging streaming standby with target\n"
      "prefer-standby (the default). Of two primaries the newer timeline leads. Takeover\n"
      "within lease-ttl + heartbeat-interval + 1 s.\n"
      "Archiving: every agent writes the Cluster's repository settings to\n"
      "<state-dir>/<ns>_<cluster>.archive.conf (0600, PGDATA's owner) and sets archive_mode,\n"
      "archive_command ('<pgpitr-bin> --config FILE wal-push %p') and restore_command by\n"
      "ALTER SYSTEM + pg_reload_conf() when they differ; a primary first checks the archive\n"
      "is empty (or holds its own WAL). archive_mode needs a restart: --restart-policy never\n"
      "(default) reports it in ContinuousArchiving, always runs pg_ctl restart.\n"
      "Recovery: when --pgdata is missing or empty and a Cluster has bootstrap.recovery\n"
      "(source = an externalClusters entry with a barmanObjectStore, recoveryTarget), the agent\n"
      "restores it from that store to the target, gives the files to PGDATA's owner, starts\n"
      "PostgreSQL as that owner with --start-command (config key start-command; default\n"
      "'pg_ctl start -w' of PGDATA) and waits at most --recovery-wait seconds (default 3600)\n"
      "until it is promoted; the Cluster's status (condition RecoveryCompleted) says to what,\n"
      "from which backup and when. A non-empty PGDATA is never touched; backups of that\n"
      "Cluster wait until the recovery is done; a failed restore is retried after a back-off.\n"
      "Prometheus metrics (CloudNativePG's cnpg_collector_* and cnpg_pg_stat_archiver_*\n"
      "names, pgpitr_*) on GET /metrics at --metrics-listen HOST:PORT (config key\n"
      "metrics-listen, default 127.0.0.1:9187; off disables); wal-push's counters are read\n"
      "from config key stats-file (default PGDATA/pg_wal/pgpitr_spool/pushstats)." },
    { "get",
      pitr_cmd_get,
      "get clusters|scheduledbackups|backups [--output json|yaml] [--manifests DIR] "
      "[--state-dir DIR]",
      "Print the agent's objects as kubectl get does (a table, or a v1 List with --output).\n"
      "Read from each Cluster's status store (the local copy when the store refuses)." },
    { "describe",
      pitr_cmd_describe,
      "describe cluster|scheduledbackup|backup NAME [--output json|yaml] [--manifests DIR]\n"
      "         [--state-dir DIR]",
      "Print one object as kubectl describe does: metadata, spec, status and its last events." },
    { "wal-receive",
      pitr_cmd_wal_receive,
      "wal-receive [REPO_URL SERVER] [--dbname CONNINFO] [--slot NAME] [--create-slot]\n"
      "         [--spool-dir DIR] [--partial-interval SECS] [--synchronous]\n"
      "         [--sync-interval-ms MS] [--sync-bytes SIZE] [--application-name NAME]\n"
      "         [--max-attempts N]",
      "Stream WAL from PostgreSQL over a physical replication slot (default 'pgpitr';\n"
      "--create-slot creates it, also on a new primary after a failover) into the\n"
      "repository, as a service (systemd: pgpitr-wal-receive@SERVER). Received WAL is\n"
      "written to --spool-dir (default /var/lib/pgpitr/wal-receive/SERVER) as\n"
      "<segment>.partial and fsync'd; a finished segment is stored as wal-push stores it\n"
      "(never overwriting different bytes); the segment in progress is stored as\n"
      "<segment>.partial<suffix> every --partial-interval seconds (default 10), at\n"
      "SIGTERM/SIGINT and at a timeline switch. The flush position reported to the\n"
      "server is what is durable: fsync'd in the spool, or with --synchronous stored in\n"
      "the object store (the partial is uploaded when the stream is drained, at the\n"
      "latest after --sync-interval-ms, default 200, or --sync-bytes, default 2MiB).\n"
      "--dbname takes a conninfo (host lists, service=NAME, target_session_attrs=read-write\n"
      "to follow the primary); application_name is --application-name (default pgpitr),\n"
      "the name synchronous_standby_names lists. Connection and storage failures are\n"
      "retried forever with back-off (--max-attempts N: give up after N). Config keys:\n"
      "dbname, slot, create-slot, application-name, wal-receive-spool-dir,\n"
      "partial-interval, synchronous, sync-interval-ms, sync-bytes (env PGPITR_<KEY>)." },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct {
    const char *name;
    const char *env;
    const char *help;
} global_opts[] = {
    { "repo", "PGPITR_REPO", "repository URL: file:///path or s3://bucket[/prefix]" },
    { "server", "PGPITR_SERVER", "server name: the folder under the repository" },
    { "config", "PGPITR_CONFIG", "config file (default " PITR_DEFAULT_CONFIG_FILE ")" },
    { "compression", "PGPITR_COMPRESSION", "gzip (default), none, zstd, lz4, bzip2, xz, snappy" },
    { "endpoint-url", "AWS_ENDPOINT_URL", "S3 endpoint, e.g. https://minio.local:9000" },
    { "region", "AWS_REGION", "S3 region (then AWS_DEFAULT_REGION; default us-east-1)" },
    { "ca-file", "AWS_CA_BUNDLE", "PEM file of CA certificates for TLS verification" },
    { "s3-url-style", "PGPITR_S3_URL_STYLE", "auto (default), path or virtual" },
    { "payload-signing",
      "PGPITR_PAYLOAD_SIGNING",
      "S3: full (default: SHA-256 of each body, signed) or unsigned (HTTPS only: Content-MD5)" },
    { "log-level", "PGPITR_LOG_LEVEL", "error, warn (default), info, debug, trace" },
    { "jobs", "PGPITR_JOBS", "parallel workers (default: CPUs, at least 2)" },
    { "look-ahead",
      "PGPITR_LOOK_AHEAD",
      "wal-push: also push the next N .ready segments (default 16)" },
    { "prefetch",
      "PGPITR_PREFETCH",
      "wal-fetch: fetch the next N segments ahead into a spool (default 8; 0: off)" },
    { "max-parts", "PGPITR_MAX_PARTS", "S3: parts per multipart upload, 1-10000 (default 10000)" },
    { "part-size",
      "PGPITR_PART_SIZE",
      "S3: first and smallest part, 5MiB-5GiB (default 5MiB; grows for big objects)" },
    { "retry-max-time",
      "PGPITR_RETRY_MAX_TIME",
      "S3: seconds to keep retrying a failed request (default 60; 0: no retries)" },
    { "encryption", "PGPITR_ENCRYPTION", "S3 server-side encryption: AES256 or aws:kms (-e)" },
    { "sse-kms-key-id", "PGPITR_SSE_KMS_KEY_ID", "S3: KMS key id for --encryption aws:kms" },
    { "tags",
      "PGPITR_TAGS",
      "S3: tags of new objects: KEY,VALUE [KEY,VALUE ...] (barman-cloud) or k=v[,k=v...]" },
    { "history-tags",
      "PGPITR_HISTORY_TAGS",
      "S3: tags of new *.history objects instead of --tags (same forms)" },
    { "storage-class",
      "PGPITR_STORAGE_CLASS",
      "S3 storage class of new objects, e.g. STANDARD_IA" },
    { "insecure-skip-tls-verify",
      "PGPITR_INSECURE_SKIP_TLS_VERIFY",
      "do not verify TLS certificates (insecure; warns on every run)" },
    { "stats-file",
      "PGPITR_STATS_FILE",
      "wal-push counters read by the agent's /metrics (default pg_wal/pgpitr_spool/pushstats; "
      "off)" },
};

/* Boolean options may stand alone: "--name" means "--name=true". */
static const char *const bool_opts[] = { "insecure-skip-tls-verify" };

/* Short forms of global options (barman-cloud's spelling). */
static const struct {
    const char *flag;
    const char *name;
} short_opts[] = {
    { "-e", "encryption" },
};

#define N_GLOBAL (sizeof(global_opts) / sizeof(global_opts[0]))

static const struct command *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* 0: not a global option, 1: takes a value, 2: boolean (value optional). */
static int global_kind(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(bool_opts) / sizeof(bool_opts[0]); i++)
        if (strcmp(bool_opts[i], name) == 0)
            return 2;
    for (i = 0; i < N_GLOBAL; i++)
        if (strcmp(global_opts[i].name, name) == 0)
            return 1;
    return 0;
}

static const char *short_name(const char *flag)
{
    size_t i;

    for (i = 0; i < sizeof(short_opts) / sizeof(short_opts[0]); i++)
        if (strcmp(short_opts[i].flag, flag) == 0)
            return short_opts[i].name;
    return NULL;
}

static void print_usage(FILE *f)
{
    size_t i;

    fprintf(f,
            "pgpitr %s - PostgreSQL WAL archiving, backup and point-in-time recovery\n\n",
            PITR_VERSION);
    fprintf(f, "usage: pgpitr [global options] COMMAND [args]\n\ncommands:\n");
    for (i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f,
            "  help [COMMAND]\n  version\n\nglobal options (environment variable in brackets):\n");
    for (i = 0; i < N_GLOBAL; i++)
        fprintf(
          f, "  --%-24s %s [%s]\n", global_opts[i].name, global_opts[i].help, global_opts[i].env);
    fprintf(
      f, "  --%-24s aws-s3 only (accepted for barman-cloud command lines)\n", "cloud-provider");
    fprintf(f, "  --%-24s print the version\n  --%-24s print this help\n", "version", "help");
    fprintf(f,
            "\nRun through a link named barman-cloud-wal-archive, -wal-restore, -backup, "
            "-restore,\n-backup-list, -backup-show, -backup-delete, -backup-keep or "
            "-check-wal-archive, pgpitr\ntakes that barman-cloud 3.4 program's command line "
            "(make install-barman-links).\n");
    fprintf(f, "\nSettings come from flags, then the environment, then the config file.\n");
}

static int cmd_help(const char *name)
{
    const struct command *c;

    if (name == NULL) {
        print_usage(stdout);
        return PITR_OK;
    }
    c = find_command(name);
    if (c == NULL) {
        fprintf(stderr, "pgpitr: ERROR: unknown command '%s'; see 'pgpitr help'\n", name);
        return PITR_EUSAGE;
    }
    printf("usage: pgpitr [global options] %s\n\n%s\n", c->usage, c->help);
    return PITR_OK;
}

/*
 * One barman-cloud tag "KEY,VALUE" (read as a CSV record: a field may be
 * double-quoted, "" is a quote inside it) appended to tags in our
 * "k=v[,k=v...]" form. Exactly two fields, a non-empty key without '=' and
 * no ',' anywhere (S3 tags cannot hold one), or PITR_EUSAGE.
 */
static pitr_rc add_barman_tag(struct pitr_buf *tags, const char *rec, struct pitr_err *err)
{
    struct pitr_buf f[2];
    const char *p = rec;
    int n = 0, i;
    pitr_rc rc = PITR_OK;

    pitr_buf_init(&f[0], PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&f[1], PITR_BUF_LIMIT_SMALL);
    for (;;) {
        if (n == 2) {
            rc = pitr_err_set(err, PITR_EUSAGE, "invalid tag '%s': more than KEY,VALUE", rec);
            goto out;
        }
        if (*p == '"') {
            for (p++; *p != '\0' && !(p[0] == '"' && p[1] != '"'); p++) {
                if (p[0] == '"')
                    p++; /* "" */
                if (rc == PITR_OK)
                    rc = pitr_buf_append(&f[n], p, 1, err);
            }
            if (*p != '"') {
                rc = pitr_err_set(err, PITR_EUSAGE, "invalid tag '%s': unterminated quote", rec);
                goto out;
            }
            p++;
        } else {
            size_t len = strcspn(p, ",");

            rc = pitr_buf_append(&f[n], p, len, err);
            p += len;
        }
        if (rc != PITR_OK)
            goto out;
        n++;
        if (*p == '\0')
            break;
        if (*p != ',') {
            rc = pitr_err_set(err, PITR_EUSAGE, "invalid tag '%s': text after a quote", rec);
            goto out;
        }
        p++;
    }
    if (n != 2 || f[0].len == 0 || memchr(f[0].data, '=', f[0].len) != NULL) {
        rc = pitr_err_set(err,
                          PITR_EUSAGE,
                          "invalid tag '%s': expected KEY,VALUE with a key that holds no '='",
                          rec);
        goto out;
    }
    for (i = 0; i < 2; i++)
        if (memchr(f[i].data, ',', f[i].len) != NULL) {
            rc = pitr_err_set(err, PITR_EUSAGE, "invalid tag '%s': S3 tags hold no ','", rec);
            goto out;
        }
    rc = pitr_buf_appendf(tags, err, "%s%s=%s", tags->len ? "," : "", f[0].data, f[1].data);
out:
    pitr_buf_release(&f[0]);
    pitr_buf_release(&f[1]);
    return rc;
}

pitr_rc pitr_cli_barman_tags(char *const *recs, int n, char **out, struct pitr_err *err)
{
    struct pitr_buf tags;
    int j;

    *out = NULL;
    pitr_buf_init(&tags, PITR_BUF_LIMIT_SMALL);
    for (j = 0; j < n; j++)
        if (add_barman_tag(&tags, recs[j], err) != PITR_OK) {
            pitr_buf_release(&tags);
            return PITR_EUSAGE;
        }
    *out = pitr_buf_detach(&tags, NULL);
    return PITR_OK;
}

pitr_rc pitr_cli_cloud_provider(const char *value, struct pitr_err *err)
{
    if (strcmp(value, "aws-s3") == 0)
        return PITR_OK;
    if (strcmp(value, "azure-blob-storage") == 0 || strcmp(value, "google-cloud-storage") == 0)
        return pitr_err_set(err,
                            PITR_ENOTFOUND,
                            "cloud provider '%s' is not supported: pgpitr speaks only aws-s3 "
                            "(S3 and S3-compatible stores) and file://",
                            value);
    return pitr_err_set(err,
                        PITR_EUSAGE,
                        "invalid --cloud-provider '%s' (choose from 'aws-s3', "
                        "'azure-blob-storage', 'google-cloud-storage')",
                        value);
}

/*
 * barman-cloud's "--tags KEY,VALUE [KEY,VALUE ...]": argv[*i] is "--tags";
 * the records are the following arguments that hold a ',' and do not start
 * with '-' (argparse takes every following argument, positionals included;
 * we stop at the first that is no tag). Our own form, "--tags k=v[,k=v...]",
 * is one argument with an '=' and is left to the caller (returns 0). On
 * success *i is the last record's index and *out our form (owned).
 */
static int take_barman_tags(int argc, char **argv, int *i, char **out, struct pitr_err *err)
{
    int j = *i + 1;

    *out = NULL;
    if (j >= argc || strchr(argv[j], '=') != NULL)
        return 0;
    while (j < argc && argv[j][0] != '-' && strchr(argv[j], ',') != NULL)
        j++;
    if (j == *i + 1) {
        pitr_err_set(err, PITR_EUSAGE, "'%s' needs KEY,VALUE [KEY,VALUE ...]", argv[*i]);
        return -1;
    }
    if (pitr_cli_barman_tags(argv + *i + 1, j - *i - 1, out, err) != PITR_OK)
        return -1;
    *i = j - 1;
    return 1;
}

int pitr_cli_run(const char *name,
                 const struct pitr_config_flag *flags,
                 size_t nflags,
                 int argc,
                 char **argv)
{
    const struct command *c = find_command(name);
    struct pitr_config cfg;
    struct pitr_err err = { 0 };
    int rc;

    if (c == NULL) {
        fprintf(stderr, "pgpitr: ERROR: unknown command '%s'; see 'pgpitr help'\n", name);
        return PITR_EUSAGE;
    }
    pitr_config_init(&cfg);
    rc = pitr_config_load(&cfg, flags, nflags, &err);
    if (rc != PITR_OK) {
        pitr_log_error("%s: %s", c->name, err.msg);
        goto out;
    }
    pitr_log_set_level(cfg.log_level);
    if (cfg.insecure_skip_tls)
        pitr_log_warn("TLS certificate verification is disabled (insecure-skip-tls-verify): "
                      "the object store's identity is not checked");
    rc = c->fn(&cfg, argc, argv);
out:
    pitr_config_release(&cfg);
    return rc;
}

int pitr_cli_main(int argc, char **argv)
{
    struct pitr_config_flag *flags = pitr_calloc((size_t)argc, sizeof(*flags));
    char **pos = pitr_calloc((size_t)argc + 1, sizeof(*pos));
    char(*names)[64] = pitr_calloc((size_t)argc, sizeof(*names)); /* flag names, owned */
    char **owned = pitr_calloc((size_t)argc, sizeof(*owned));     /* flag values made here */
    size_t nowned = 0;
    size_t nflags = 0;
    int npos = 0, i, rc = PITR_OK, only_pos = 0;
    struct pitr_err err = { 0 };

    if (argc > 0 && pitr_barman_find(argv[0]) != NULL) {
        rc = pitr_barman_main(argc, argv);
        goto out;
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (only_pos || a[0] != '-' || a[1] == '\0') {
            pos[npos++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
        } else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("pgpitr %s\n", PITR_VERSION);
            goto out;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            rc = cmd_help(npos > 0 ? pos[0] : NULL);
            goto out;
        } else if (a[0] == '-' && a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            char *name = names[nflags];
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            int kind;

            if (n >= sizeof(names[0]))
                n = sizeof(names[0]) - 1;
            memcpy(name, a + 2, n);
            name[n] = '\0';
            kind = global_kind(name);
            if (strcmp(name, "cloud-provider") == 0) {
                /* barman-cloud's option: every CloudNativePG command line carries it. */
                if (eq == NULL && i + 1 >= argc) {
                    fprintf(stderr, "pgpitr: ERROR: option '--cloud-provider' needs a value\n");
                    rc = PITR_EUSAGE;
                    goto out;
                }
                rc = pitr_cli_cloud_provider(eq ? eq + 1 : argv[++i], &err);
                if (rc != PITR_OK) {
                    fprintf(stderr, "pgpitr: ERROR: %s\n", err.msg);
                    goto out;
                }
                continue;
            }
            if (kind == 0) {
                /* After the command name, the command parses its own options. */
                if (npos > 0) {
                    pos[npos++] = argv[i];
                    continue;
                }
                fprintf(stderr, "pgpitr: ERROR: unknown option '--%s'; see 'pgpitr help'\n", name);
                rc = PITR_EUSAGE;
                goto out;
            }
            if (eq == NULL && (strcmp(name, "tags") == 0 || strcmp(name, "history-tags") == 0)) {
                char *tags = NULL;
                int took = take_barman_tags(argc, argv, &i, &tags, &err);

                if (took < 0) {
                    fprintf(stderr, "pgpitr: ERROR: %s\n", err.msg);
                    rc = PITR_EUSAGE;
                    goto out;
                }
                if (took > 0) {
                    flags[nflags].name = name;
                    flags[nflags++].value = tags;
                    owned[nowned++] = tags;
                    continue;
                }
            }
            if (eq == NULL && kind == 1 && i + 1 >= argc) {
                fprintf(stderr, "pgpitr: ERROR: option '--%s' needs a value\n", name);
                rc = PITR_EUSAGE;
                goto out;
            }
            flags[nflags].name = name;
            flags[nflags++].value = eq ? eq + 1 : kind == 2 ? "true" : argv[++i];
        } else if (short_name(a) != NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "pgpitr: ERROR: option '%s' needs a value\n", a);
                rc = PITR_EUSAGE;
                goto out;
            }
            flags[nflags].name = short_name(a);
            flags[nflags++].value = argv[++i];
        } else if (npos > 0) {
            pos[npos++] = argv[i]; /* a short option of the command */
        } else {
            fprintf(stderr, "pgpitr: ERROR: unknown option '%s'; see 'pgpitr help'\n", a);
            rc = PITR_EUSAGE;
            goto out;
        }
    }
    if (npos == 0) {
        print_usage(stderr);
        rc = PITR_EUSAGE;
        goto out;
    }
    if (strcmp(pos[0], "help") == 0) {
        rc = cmd_help(npos > 1 ? pos[1] : NULL);
        goto out;
    }
    if (strcmp(pos[0], "version") == 0) {
        printf("pgpitr %s\n", PITR_VERSION);
        goto out;
    }
    rc = pitr_cli_run(pos[0], flags, nflags, npos - 1, pos + 1);
out:
    while (nowned > 0)
        pitr_free(owned[--nowned]);
    pitr_free(owned);
    pitr_free(names);
    pitr_free(flags);
    pitr_free(pos);
    return rc;
}
