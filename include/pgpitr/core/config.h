/*
 * config.h - settings, merged from three sources.
 *
 * Precedence, highest first: command-line flags > environment variables >
 * the config file (--config, $PGPITR_CONFIG, or /etc/pgpitr/pgpitr.conf).
 * The file holds the same settings as "key = value" lines ('#' starts a
 * comment); keys are the long option names without "--" (repo, server,
 * compression, endpoint-url, region, ca-file, s3-url-style, log-level, jobs,
 * look-ahead) plus
 * aws-access-key-id, aws-secret-access-key and aws-session-token. A missing
 * default config file is not an error; a missing explicit one is.
 *
 * Every char * field is owned by the struct (NULL when unset).
 */
#ifndef PGPITR_CORE_CONFIG_H
#define PGPITR_CORE_CONFIG_H

#include "pgpitr/core/err.h"
#include "pgpitr/core/log.h"

#define PITR_DEFAULT_CONFIG_FILE "/etc/pgpitr/pgpitr.conf"

enum pitr_url_style {
    PITR_URL_STYLE_AUTO = 0, /* path style for IP or dotless hosts, else virtual */
    PITR_URL_STYLE_PATH,
    PITR_URL_STYLE_VIRTUAL,
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
    enum pitr_log_level log_level;
    int jobs;       /* parallel workers; default: online CPUs, at least 2 */
    int look_ahead; /* wal-push: further .ready segments to push; default 8 */
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

#endif
