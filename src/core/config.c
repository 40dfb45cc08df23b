/* config.c - settings from flags, environment and file; see core/config.h. */
#include "pgpitr/core/config.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"

/*
 * One row per setting: its name in files and on the command line, the
 * environment variables it falls back to (first set wins), and where it
 * lives. Enum-valued settings have no field offset; pitr_config_set parses
 * them.
 */
struct key_def {
    const char *name;
    const char *env1;
    const char *env2;
    size_t offset; /* offset of the char * field, or (size_t)-1 */
    int secret;
};

#define FIELD(f) offsetof(struct pitr_config, f)
#define NO_FIELD ((size_t)-1)

static const struct key_def keys[] = {
    { "repo", "PGPITR_REPO", NULL, FIELD(repo), 0 },
    { "server", "PGPITR_SERVER", NULL, FIELD(server), 0 },
    { "compression", "PGPITR_COMPRESSION", NULL, FIELD(compression), 0 },
    { "endpoint-url", "AWS_ENDPOINT_URL", NULL, FIELD(endpoint_url), 0 },
    { "region", "AWS_REGION", "AWS_DEFAULT_REGION", FIELD(region), 0 },
    { "ca-file", "AWS_CA_BUNDLE", NULL, FIELD(ca_file), 0 },
    { "s3-url-style", "PGPITR_S3_URL_STYLE", NULL, NO_FIELD, 0 },
    { "payload-signing", "PGPITR_PAYLOAD_SIGNING", NULL, NO_FIELD, 0 },
    { "log-level", "PGPITR_LOG_LEVEL", NULL, NO_FIELD, 0 },
    { "jobs", "PGPITR_JOBS", NULL, NO_FIELD, 0 },
    { "look-ahead", "PGPITR_LOOK_AHEAD", NULL, NO_FIELD, 0 },
    { "prefetch", "PGPITR_PREFETCH", NULL, NO_FIELD, 0 },
    { "max-parts", "PGPITR_MAX_PARTS", NULL, NO_FIELD, 0 },
    { "part-size", "PGPITR_PART_SIZE", NULL, NO_FIELD, 0 },
    { "retry-max-time", "PGPITR_RETRY_MAX_TIME", NULL, NO_FIELD, 0 },
    { "encryption", "PGPITR_ENCRYPTION", NULL, FIELD(encryption), 0 },
    { "sse-kms-key-id", "PGPITR_SSE_KMS_KEY_ID", NULL, FIELD(sse_kms_key_id), 0 },
    { "tags", "PGPITR_TAGS", NULL, FIELD(tags), 0 },
    { "history-tags", "PGPITR_HISTORY_TAGS", NULL, FIELD(history_tags), 0 },
    { "storage-class", "PGPITR_STORAGE_CLASS", NULL, FIELD(storage_class), 0 },
    { "method", "PGPITR_METHOD", NULL, FIELD(method), 0 },
    { "insecure-skip-tls-verify", "PGPITR_INSECURE_SKIP_TLS_VERIFY", NULL, NO_FIELD, 0 },
    { "retention-policy", "PGPITR_RETENTION_POLICY", NULL, FIELD(retention_policy), 0 },
    { "manifests", "PGPITR_MANIFESTS", NULL, FIELD(manifests), 0 },
    { "dbname", "PGPITR_DBNAME", NULL, FIELD(dbname), 0 },
    { "slot", "PGPITR_SLOT", NULL, FIELD(slot), 0 },
    { "create-slot", "PGPITR_CREATE_SLOT", NULL, FIELD(create_slot), 0 },
    { "application-name", "PGPITR_APPLICATION_NAME", NULL, FIELD(application_name), 0 },
    { "wal-receive-spool-dir",
      "PGPITR_WAL_RECEIVE_SPOOL_DIR",
      NULL,
      FIELD(wal_receive_spool_dir),
      0 },
    { "partial-interval", "PGPITR_PARTIAL_INTERVAL", NULL, FIELD(partial_interval), 0 },
    { "synchronous", "PGPITR_SYNCHRONOUS", NULL, FIELD(synchronous), 0 },
    { "sync-interval-ms", "PGPITR_SYNC_INTERVAL_MS", NULL, FIELD(sync_interval_ms), 0 },
    { "sync-bytes", "PGPITR_SYNC_BYTES", NULL, FIELD(sync_bytes), 0 },
    /* cluster (issue 14): the agent parses and checks them */
    { "instance-name", "PGPITR_INSTANCE_NAME", NULL, FIELD(instance_name), 0 },
    { "peer-conninfo", "PGPITR_PEER_CONNINFO", NULL, FIELD(peer_conninfo), 0 },
    { "heartbeat-interval", "PGPITR_HEARTBEAT_INTERVAL", NULL, FIELD(heartbeat_interval), 0 },
    { "lease-ttl", "PGPITR_LEASE_TTL", NULL, FIELD(lease_ttl), 0 },
    { "pgpitr-bin", "PGPITR_PGPITR_BIN", NULL, FIELD(pgpitr_bin), 0 },
    { "restart-policy", "PGPITR_RESTART_POLICY", NULL, FIELD(restart_policy), 0 },
    { "start-command", "PGPITR_START_COMMAND", NULL, FIELD(start_command), 0 },
    { "stats-file", "PGPITR_STATS_FILE", NULL, FIELD(stats_file), 0 },
    { "metrics-listen", "PGPITR_METRICS_LISTEN", NULL, FIELD(metrics_listen), 0 },
    { "aws-access-key-id", "AWS_ACCESS_KEY_ID", NULL, FIELD(access_key), 0 },
    { "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY", NULL, FIELD(secret_key), 1 },
    { "aws-session-token", "AWS_SESSION_TOKEN", NULL, FIELD(session_token), 1 },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const struct key_def *find_key(const char *name)
{
    size_t i;

    for (i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static char **field_ptr(struct pitr_config *cfg, const struct key_def *k)
{
    return (char **)(void *)((char *)cfg + k->offset);
}

static void free_secret(char *s)
{
    if (s != NULL)
        OPENSSL_cleanse(s, strlen(s));
    pitr_free(s);
}

void pitr_config_init(struct pitr_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->url_style = PITR_URL_STYLE_AUTO;
    cfg->log_level = PITR_LOG_WARN;
    cfg->jobs = 0;
    cfg->look_ahead = 16;
    cfg->prefetch = PITR_PREFETCH_DEFAULT;
    cfg->max_parts = PITR_MAX_PARTS_LIMIT;
    cfg->part_size = PITR_PART_SIZE_DEFAULT;
    cfg->retry_max_time = PITR_RETRY_MAX_TIME_DEF;
}

void pitr_config_copy(struct pitr_config *dst, const struct pitr_config *src)
{
    size_t i;

    *dst = *src;
    for (i = 0; i < N_KEYS; i++) {
        char **f;

        if (keys[i].offset == NO_FIELD)
            continue;
        f = field_ptr(dst, &keys[i]);
        *f = pitr_strdup(*f);
    }
    dst->config_file = pitr_strdup(src->config_file);
}

void pitr_config_release(struct pitr_config *cfg)
{
    size_t i;

    for (i = 0; i < N_KEYS; i++) {
        if (keys[i].offset == NO_FIELD)
            continue;
        if (keys[i].secret)
            free_secret(*field_ptr(cfg, &keys[i]));
        else
            pitr_free(*field_ptr(cfg, &keys[i]));
    }
    pitr_free(cfg->config_file);
    pitr_config_init(cfg);
}

int pitr_config_is_key(const char *name)
{
    return find_key(name) != NULL;
}

static pitr_rc parse_int(const char *key,
                         const char *value,
                         long lo,
                         long hi,
                         int *out,
                         struct pitr_err *err)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < lo || v > hi)
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "invalid %s '%s': expected a number from %ld to %ld",
                            key,
                            value,
                            lo,
                            hi);
    *out = (int)v;
    return PITR_OK;
}

pitr_rc pitr_config_parse_size(const char *key,
                               const char *value,
                               uint64_t *out,
                               struct pitr_err *err)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {
        { "", 0 },   { "B", 0 },    { "K", 10 }, { "KiB", 10 },
        { "M", 20 }, { "MiB", 20 }, { "G", 30 }, { "GiB", 30 },
    };
    char *end;
    unsigned long long v;
    size_t i;

    errno = 0;
    if (value[0] < '0' || value[0] > '9')
        goto bad;
    v = strtoull(value, &end, 10);
    if (errno != 0)
        goto bad;
    while (*end == ' ')
        end++;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) != 0)
            continue;
        if (v > (UINT64_MAX >> units[i].shift))
            goto bad;
        *out = (uint64_t)v << units[i].shift;
        return PITR_OK;
    }
bad:
    return pitr_err_set(err,
                        PITR_EUSAGE,
                        "invalid %s '%s': expected a size such as 16MiB (suffixes KiB, MiB, GiB)",
                        key,
                        value);
}

static pitr_rc parse_bool(const char *key, const char *value, int *out, struct pitr_err *err)
{
    if (strcasecmp(value, "1") == 0 || strcasecmp(value, "true") == 0 ||
        strcasecmp(value, "yes") == 0 || strcasecmp(value, "on") == 0)
        *out = 1;
    else if (strcasecmp(value, "0") == 0 || strcasecmp(value, "false") == 0 ||
             strcasecmp(value, "no") == 0 || strcasecmp(value, "off") == 0)
        *out = 0;
    else
        return pitr_err_set(
          err, PITR_EUSAGE, "invalid %s '%s': expected true or false (1 or 0)", key, value);
    return PITR_OK;
}

/* Settings checked when they are set, so the error names their source. */
static pitr_rc check_string(const char *key, const char *value, struct pitr_err *err)
{
    if (strcmp(key, "encryption") == 0 && strcmp(value, "AES256") != 0 &&
        strcmp(value, "aws:kms") != 0)
        return pitr_err_set(
          err, PITR_EUSAGE, "invalid encryption '%s': expected AES256 or aws:kms", value);
    if (strcmp(key, "restart-policy") == 0 && strcmp(value, "never") != 0 &&
        strcmp(value, "always") != 0)
        return pitr_err_set(
          err, PITR_EUSAGE, "invalid restart-policy '%s': expected never or always", value);
    if (strcmp(key, "pgpitr-bin") == 0 && value[0] != '/')
        return pitr_err_set(
          err, PITR_EUSAGE, "invalid pgpitr-bin '%s': expected an absolute path", value);
    if (strcmp(key, "tags") == 0 || strcmp(key, "history-tags") == 0) {
        const char *p = value;

        /* k=v pairs separated by ','; values may be empty, keys may not. */
        while (*p != '\0') {
            size_t n = strcspn(p, ",");
            const char *eq = memchr(p, '=', n);

            if (eq == NULL || eq == p)
                return pitr_err_set(err,
                                    PITR_EUSAGE,
                                    "invalid %s '%s': expected key=value[,key=value...]",
                                    key,
                                    value);
            p += n;
            if (*p == ',')
                p++;
        }
    }
    return PITR_OK;
}

pitr_rc pitr_config_set(struct pitr_config *cfg,
                        const char *key,
                        const char *value,
                        struct pitr_err *err)
{
    const struct key_def *k = find_key(key);
    char **field;

    if (k == NULL)
        return pitr_err_set(err, PITR_EUSAGE, "unknown setting '%s'", key);
    if (strcmp(key, "s3-url-style") == 0) {
        if (strcmp(value, "auto") == 0)
            cfg->url_style = PITR_URL_STYLE_AUTO;
        else if (strcmp(value, "path") == 0)
            cfg->url_style = PITR_URL_STYLE_PATH;
        else if (strcmp(value, "virtual") == 0)
            cfg->url_style = PITR_URL_STYLE_VIRTUAL;
        else
            return pitr_err_set(
              err, PITR_EUSAGE, "invalid s3-url-style '%s': expected auto, path or virtual", value);
        return PITR_OK;
    }
    if (strcmp(key, "payload-signing") == 0) {
        if (strcmp(value, "full") == 0)
            cfg->payload_signing = PITR_PAYLOAD_SIGNING_FULL;
        else if (strcmp(value, "unsigned") == 0)
            cfg->payload_signing = PITR_PAYLOAD_SIGNING_UNSIGNED;
        else
            return pitr_err_set(
              err, PITR_EUSAGE, "invalid payload-signing '%s': expected full or unsigned", value);
        return PITR_OK;
    }
    if (strcmp(key, "log-level") == 0)
        return pitr_log_parse_level(value, &cfg->log_level, err);
    if (strcmp(key, "jobs") == 0)
        return parse_int(key, value, 1, 64, &cfg->jobs, err);
    if (strcmp(key, "look-ahead") == 0)
        return parse_int(key, value, 0, 64, &cfg->look_ahead, err);
    if (strcmp(key, "prefetch") == 0)
        return parse_int(key, value, 0, 64, &cfg->prefetch, err);
    if (strcmp(key, "max-parts") == 0)
        return parse_int(key, value, 1, PITR_MAX_PARTS_LIMIT, &cfg->max_parts, err);
    if (strcmp(key, "retry-max-time") == 0)
        return parse_int(key, value, 0, 86400, &cfg->retry_max_time, err);
    if (strcmp(key, "insecure-skip-tls-verify") == 0)
        return parse_bool(key, value, &cfg->insecure_skip_tls, err);
    if (strcmp(key, "part-size") == 0) {
        uint64_t v = 0;
        pitr_rc rc = pitr_config_parse_size(key, value, &v, err);

        if (rc != PITR_OK)
            return rc;
        if (v < PITR_PART_SIZE_MIN || v > PITR_PART_SIZE_MAX)
            return pitr_err_set(
              err, PITR_EUSAGE, "invalid part-size '%s': S3 parts are 5MiB to 5GiB", value);
        cfg->part_size = v;
        return PITR_OK;
    }
    if (check_string(key, value, err) != PITR_OK)
        return err->code;
    field = field_ptr(cfg, k);
    if (k->secret)
        free_secret(*field);
    else
        pitr_free(*field);
    *field = pitr_strdup(value);
    return PITR_OK;
}

static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        *--end = '\0';
    return s;
}

/* Read "key = value" lines. A missing file is PITR_ENOTFOUND. */
static pitr_rc load_file(struct pitr_config *cfg, const char *path, struct pitr_err *err)
{
    FILE *f;
    char line[4096];
    const char *secret = NULL; /* the first secret key the file sets */
    unsigned lineno = 0;
    struct stat sb;
    pitr_rc rc = PITR_OK;

    f = fopen(path, "r");
    if (f == NULL)
        return pitr_err_set_errno(err,
                                  errno == ENOENT ? PITR_ENOTFOUND : PITR_EUSAGE,
                                  errno,
                                  "cannot open config file '%s'",
                                  path);
    while (fgets(line, sizeof(line), f) != NULL) {
        char *eq, *key, *value, *p = trim(line);

        lineno++;
        if (*p == '\0' || *p == '#')
            continue;
        eq = strchr(p, '=');
        if (eq == NULL) {
            rc = pitr_err_set(
              err, PITR_EUSAGE, "config file '%s' line %u: expected 'key = value'", path, lineno);
            goto out;
        }
        *eq = '\0';
        key = trim(p);
        value = trim(eq + 1);
        rc = pitr_config_set(cfg, key, value, err);
        if (rc != PITR_OK) {
            pitr_err_prefix(err, "config file '%s' line %u", path, lineno);
            goto out;
        }
        if (secret == NULL && find_key(key) != NULL && find_key(key)->secret && *value != '\0')
            secret = find_key(key)->name;
    }
    if (ferror(f))
        rc = pitr_err_set(err, PITR_EUSAGE, "cannot read config file '%s'", path);
    /* A secret others can read is no secret: say so on every run (not fatal, as ssh does). */
    if (rc == PITR_OK && secret != NULL && fstat(fileno(f), &sb) == 0 &&
        (sb.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        pitr_log_warn("config file '%s' holds '%s' and is accessible by other users (mode "
                      "%04o): chmod 600 it",
                      path,
                      secret,
                      (unsigned)(sb.st_mode & 07777));
out:
    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);
    return rc;
}

pitr_rc pitr_config_load(struct pitr_config *cfg,
                         const struct pitr_config_flag *flags,
                         size_t n,
                         struct pitr_err *err)
{
    const char *file = NULL;
    int explicit_file = 1;
    pitr_rc rc;
    size_t i;

    /* Which file: --config, then $PGPITR_CONFIG, then the default. */
    for (i = 0; i < n; i++)
        if (strcmp(flags[i].name, "config") == 0)
            file = flags[i].value;
    if (file == NULL)
        file = getenv("PGPITR_CONFIG");
    if (file == NULL || *file == '\0') {
        file = PITR_DEFAULT_CONFIG_FILE;
        explicit_file = 0;
    }
    rc = load_file(cfg, file, err);
    if (rc == PITR_OK) {
        cfg->config_file = pitr_strdup(file);
    } else if (rc == PITR_ENOTFOUND && !explicit_file) {
        pitr_err_clear(err);
    } else {
        if (rc == PITR_ENOTFOUND)
            err->code = PITR_EUSAGE;
        return err->code;
    }

    /* The environment overrides the file. */
    for (i = 0; i < N_KEYS; i++) {
        const char *v = getenv(keys[i].env1);

        if ((v == NULL || *v == '\0') && keys[i].env2 != NULL)
            v = getenv(keys[i].env2);
        if (v == NULL || *v == '\0')
            continue;
        rc = pitr_config_set(cfg, keys[i].name, v, err);
        if (rc != PITR_OK)
            return pitr_err_prefix(err, "environment variable %s", keys[i].env1);
    }

    /* Flags override everything. */
    for (i = 0; i < n; i++) {
        if (strcmp(flags[i].name, "config") == 0)
            continue;
        rc = pitr_config_set(cfg, flags[i].name, flags[i].value, err);
        if (rc != PITR_OK)
            return pitr_err_prefix(err, "option --%s", flags[i].name);
    }

    if (cfg->region == NULL)
        cfg->region = pitr_strdup("us-east-1");
    if (cfg->compression == NULL)
        cfg->compression = pitr_strdup("gzip");
    if (cfg->jobs == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        cfg->jobs = cpus < 2 ? 2 : cpus > 16 ? 16 : (int)cpus;
    }
    return PITR_OK;
}

pitr_rc pitr_config_check_server(const char *server, struct pitr_err *err)
{
    size_t n;

    if (server == NULL)
        return pitr_err_set(err, PITR_EUSAGE, "no server name: set --server or PGPITR_SERVER");
    n = strlen(server);
    if (n == 0)
        return pitr_err_set(
          err, PITR_EUSAGE, "the server name is empty: give --server or PGPITR_SERVER a name");
    if (strcmp(server, ".") == 0 || strcmp(server, "..") == 0)
        return pitr_err_set(
          err, PITR_EUSAGE, "server name '%s' is not allowed: it names a directory", server);
    if (n > 255)
        return pitr_err_set(err, PITR_EUSAGE, "server name is %zu bytes long; at most 255", n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)server[i];

        if (c == '/')
            return pitr_err_set(err, PITR_EUSAGE, "server name '%s' must not contain '/'", server);
        if (c < 0x20 || c == 0x7f)
            return pitr_err_set(err,
                                PITR_EUSAGE,
                                "server name must not contain control characters (byte 0x%02x "
                                "at offset %zu)",
                                c,
                                i);
    }
    return PITR_OK;
}

pitr_rc pitr_config_require_repo(const struct pitr_config *cfg, struct pitr_err *err)
{
    if (cfg->repo == NULL || cfg->repo[0] == '\0')
        return pitr_err_set(err, PITR_EUSAGE, "no repository: set --repo or PGPITR_REPO");
    return pitr_config_check_server(cfg->server, err);
}
