/*
 * config.h - settings, merged from three sources.
 *
 * Precedence, highest first: command-line flags > environment variables >
 * the config file (--config, $PGPITR_CONFIG, or /etc/pgpitr/pgpitr.conf).
 * The file holds the same settings as "key = value" lines ('#' starts a
 * comment); keys are the long option names without "--" (repo, server,
 * compression, endpoint-url, region, ca-file, s3-url-style, log-level, jobs,
 * look-ahead, prefetch, max-parts, part-size, retry-max-time, encryption,
 * sse-kms-key-id, tags, history-tags, storage-class, insecure-skip-tls-verify,
 * retention-policy, method, manifests, dbname (the server's conninfo, for
 * agent and wal-receive), and for wal-receive slot, create-slot,
 * application-name, wal-receive-spool-dir, partial-interval, synchronous,
 * sync-interval-ms, sync-bytes; for the agent in a cluster instance-name,
 * peer-conninfo, heartbeat-interval, lease-ttl; for the agent's archiving
 * set-up pgpitr-bin and restart-policy), start-command (agent: starts a
 * PGDATA restored for bootstrap.recovery), stats-file (wal-push's counters,
 * read by the agent) and metrics-listen (the agent's /metrics address) plus
 * aws-access-key-id, aws-secret-access-key and aws-session-token. A missing
 * default config file is not an error; a missing explicit one is.
 *
 * Every char * field is owned by the struct (NULL when unset).
 */
#ifndef PGPITR_CORE_CONFIG_H
#define PGPITR_CORE_CONFIG_H

#include "pgpitr/core/err.h"
#include "pgpitr/core/log.h"

#include <stdint.h>

#define PITR_DEFAULT_CONFIG_FILE "/etc/pgpitr/pgpitr.conf"

/* Multipart limits of S3 (and the defaults we use within them). */
#define PITR_PART_SIZE_MIN      ((uint64_t)5 * 1024 * 1024)
#define PITR_PART_SIZE_MAX      ((uint64_t)5 * 1024 * 1024 * 1024)
#define PITR_PART_SIZE_DEFAULT  ((uint64_t)5 * 1024 * 1024)
#define PITR_MAX_PARTS_LIMIT    10000
#define PITR_RETRY_MAX_TIME_DEF 60
#define PITR_PREFETCH_DEFAULT   8 /* wal-fetch: segments fetched ahead */

enum pitr_url_style {
    PITR_URL_STYLE_AUTO = 0, /* path style for IP or dotless hosts, else virtual */
    PITR_URL_STYLE_PATH,
    PITR_URL_STYLE_VIRTUAL,
};

/*
 * How an S3 request carrying a body proves it: full puts the SHA-256 of the
 * payload in x-amz-content-sha256 and signs it; unsigned (HTTPS only, see
 * s3/client.h) signs "UNSIGNED-PAYLOAD" and sends Content-MD5 instead.
 */
enum pitr_payload_signing {
    PITR_PAYLOAD_SIGNING_FULL = 0,
    PITR_PAYLOAD_SIGNING_UNSIGNED,
};

struct pitr_config {
    char *repo;          /* owned; file:///path or s3://bucket/prefix */
    char *server;        /* owned; folder under the repository root */
    char *config_file;   /* owned; the file that was read, or NULL */
    char *compression;   /* owned; gzip (default), none, zstd, ... */
    char *endpoint_url;  /* owned; S3 endpoint, e.g. https://127.0.0.1:8443 */
    char *region;        /* owned; default us-east-1 */
    char *ca_file;       /* owned; PEM bundle for TLS verification */
    char *access_key;    /* owned */
    char *secret_key;    /* owned; secret: wiped on release, never logged */
    char *session_token; /* owned; secret: wiped on release, never logged */
    enum pitr_url_style url_style;
    enum pitr_payload_signing payload_signing; /* default full */
    enum pitr_log_level log_level;
    int jobs;       /* parallel workers; default: online CPUs, at least 2 */
    int look_ahead; /* wal-push: further .ready segments to push; default 8 */
    int prefetch;   /* wal-fetch: segments to fetch ahead into the spool; default 8 */
    /* S3 uploads */
    int max_parts;          /* parts a multipart upload may have, 1..10000; default 10000 */
    uint64_t part_size;     /* first (and smallest) part, 5 MiB..5 GiB; default 5 MiB */
    int retry_max_time;     /* seconds of retrying a failed request; 0 disables; default 60 */
    char *encryption;       /* owned; "AES256", "aws:kms" or NULL (x-amz-server-side-encryption) */
    char *sse_kms_key_id;   /* owned; KMS key id for aws:kms, or NULL */
    char *tags;             /* owned; "k=v,k2=v2" (object tags), or NULL */
    char *history_tags;     /* owned; like tags, for *.history objects instead; or NULL */
    char *storage_class;    /* owned; x-amz-storage-class, or NULL */
    int insecure_skip_tls;  /* 1: do not verify TLS certificates (insecure-skip-tls-verify) */
    char *retention_policy; /* owned; retention: the policy when --policy is not given */
    char *method;           /* owned; backup: "local", "stream" or NULL (automatic) */
    char *manifests;        /* owned; agent: the manifest folder, or NULL (the default) */
    char *dbname; /* owned; agent, wal-receive: libpq conninfo of the server, or NULL (PG*) */
    /* wal-receive (strings as given; the command parses and checks them) */
    char *slot;                  /* owned; replication slot */
    char *create_slot;           /* owned; "true"/"false" */
    char *application_name;      /* owned */
    char *wal_receive_spool_dir; /* owned */
    char *partial_interval;      /* owned; seconds */
    char *synchronous;           /* owned; "true"/"false" */
    char *sync_interval_ms;      /* owned */
    char *sync_bytes;            /* owned; a size */
    /* agent in a cluster (strings as given; pgpitr agent parses and checks them) */
    char *instance_name;      /* owned; this node's instance, or NULL (single instance) */
    char *peer_conninfo;      /* owned; conninfo peers use to reach this server (no password) */
    char *heartbeat_interval; /* owned; seconds */
    char *lease_ttl;          /* owned; seconds */
    /* agent, archconf: how archiving is configured on the local server */
    char *pgpitr_bin;     /* owned; program archive_command runs; NULL: /proc/self/exe */
    char *restart_policy; /* owned; "never" (default) or "always" */
    char *start_command;  /* owned; agent (recover): how to start a recovered PGDATA */
    /* metrics */
    char *stats_file;     /* owned; wal-push counters file, "off", or NULL (pg_wal/pgpitr_spool) */
    char *metrics_listen; /* owned; agent: host:port of /metrics, "off", or NULL (the default) */
};

/* One global option as given on the command line (--name value). */
struct pitr_config_flag {
    const char *name;  /* without leading dashes, e.g. "repo" */
    const char *value; /* borrowed */
};

void pitr_config_init(struct pitr_config *cfg);
void pitr_config_release(struct pitr_config *cfg);

/*
 * Build the effective configuration from flags (n of them, highest
 * precedence), the process environment and the config file. Unknown keys
 * in the file or flags fail with PITR_EUSAGE naming the key and the file
 * line. Fills the defaults region "us-east-1" and compression "gzip"; repo
 * and server have none (the commands that need them say so).
 */
PITR_MUST_CHECK pitr_rc pitr_config_load(struct pitr_config *cfg,
                                         const struct pitr_config_flag *flags,
                                         size_t n,
                                         struct pitr_err *err);

/* Set one key (file/flag name) to a value; PITR_EUSAGE for an unknown key. */
PITR_MUST_CHECK pitr_rc pitr_config_set(struct pitr_config *cfg,
                                        const char *key,
                                        const char *value,
                                        struct pitr_err *err);

/* True when name is a key pitr_config_set() accepts. */
int pitr_config_is_key(const char *name);

/* A deep copy of src into dst (which is overwritten, not released first). */
void pitr_config_copy(struct pitr_config *dst, const struct pitr_config *src);

/*
 * The one check of a server name, the first path element of every key:
 * set, not empty, not "." or "..", no '/', no control character, at most
 * 255 bytes. PITR_EUSAGE with a message saying which rule it breaks.
 */
PITR_MUST_CHECK pitr_rc pitr_config_check_server(const char *server, struct pitr_err *err);

/*
 * What every command that opens a repository needs: repo set and
 * pitr_config_check_server passed. PITR_EUSAGE naming the missing setting.
 */
PITR_MUST_CHECK pitr_rc pitr_config_require_repo(const struct pitr_config *cfg,
                                                 struct pitr_err *err);

/*
 * Parse a byte size: a number with an optional suffix B, KiB, MiB, GiB (or
 * K, M, G, all powers of 1024). PITR_EUSAGE naming key on anything else.
 */
PITR_MUST_CHECK pitr_rc pitr_config_parse_size(const char *key,
                                               const char *value,
                                               uint64_t *out,
                                               struct pitr_err *err);

#endif
