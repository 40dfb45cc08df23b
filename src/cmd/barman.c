/* barman.c - the barman-cloud-* personalities; see cmd/barman.h. */
#include "pgpitr/cmd/barman.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgpitr/catalog/catalog.h"
#include "pgpitr/catalog/retention.h"
#include "pgpitr/cmd/args.h"
#include "pgpitr/cmd/cli.h"
#include "pgpitr/core/buf.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/storage/storage.h"

/* The barman-cloud version whose command lines we take (CNPG checks >= 3.4). */
#define BARMAN_COMPAT_VERSION "3.4.0"

enum prog_bit {
    P_WA = 1 << 0, /* wal-archive */
    P_WR = 1 << 1, /* wal-restore */
    P_BK = 1 << 2, /* backup */
    P_RS = 1 << 3, /* restore */
    P_LS = 1 << 4, /* backup-list */
    P_SH = 1 << 5, /* backup-show */
    P_DL = 1 << 6, /* backup-delete */
    P_KP = 1 << 7, /* backup-keep */
    P_CK = 1 << 8, /* check-wal-archive */
    P_ALL = 0x1ff,
};

struct prog {
    const char *name;
    unsigned bit;
    const char *cmd;      /* the pgpitr command */
    const char *url;      /* "source_url" or "destination_url" */
    const char *extra[2]; /* further positionals */
    int nextra, optional; /* optional: the last extra may be missing */
};

static const struct prog progs[] = {
    { "barman-cloud-wal-archive", P_WA, "wal-push", "destination_url", { "wal_path" }, 1, 1 },
    { "barman-cloud-wal-restore",
      P_WR,
      "wal-fetch",
      "source_url",
      { "wal_name", "wal_dest" },
      2,
      0 },
    { "barman-cloud-backup", P_BK, "backup", "destination_url", { NULL }, 0, 0 },
    { "barman-cloud-restore",
      P_RS,
      "restore",
      "source_url",
      { "backup_id", "recovery_dir" },
      2,
      0 },
    { "barman-cloud-backup-list", P_LS, "list", "source_url", { NULL }, 0, 0 },
    { "barman-cloud-backup-show", P_SH, "show", "source_url", { "backup_id" }, 1, 0 },
    { "barman-cloud-backup-delete", P_DL, "delete", "source_url", { NULL }, 0, 0 },
    { "barman-cloud-backup-keep", P_KP, "keep", "source_url", { "backup_id" }, 1, 0 },
    { "barman-cloud-check-wal-archive", P_CK, "check-archive", "destination_url", { NULL }, 0, 0 },
};

#define N_PROGS (sizeof(progs) / sizeof(progs[0]))

enum opt_id {
    O_VERSION,
    O_HELP,
    O_VERBOSE,
    O_QUIET,
    O_TEST,
    O_PROVIDER,
    O_ENDPOINT,
    O_PROFILE,
    O_READ_TIMEOUT,
    O_CREDENTIAL,
    O_GZIP,
    O_BZIP2,
    O_SNAPPY,
    O_XZ,
    O_ZSTD,
    O_LZ4,
    O_TAGS,
    O_HISTORY_TAGS,
    O_ENCRYPTION,
    O_ENC_SCOPE,
    O_MAX_BLOCK,
    O_MAX_CONC,
    O_MAX_PUT,
    O_HOST,
    O_PORT,
    O_USER,
    O_IMMEDIATE,
    O_JOBS,
    O_MAX_ARCHIVE,
    O_DBNAME,
    O_NAME,
    O_MIN_CHUNK,
    O_MAX_BW,
    O_SNAP_INSTANCE,
    O_SNAP_DISK,
    O_SNAP_ZONE,
    O_SNAP_PROJECT,
    O_TABLESPACE,
    O_SNAP_REC_INSTANCE,
    O_SNAP_REC_ZONE,
    O_FORMAT,
    O_BACKUP_ID,
    O_RET_POLICY,
    O_DRY_RUN,
    O_BATCH,
    O_RELEASE,
    O_STATUS,
    O_TARGET,
    O_TIMELINE,
    N_OPTS
};

/*
 * Every option of the nine programs (barman-cloud 3.4, plus the newer
 * compression flags and --min-chunk-size that CloudNativePG may pass).
 * not_impl: why pgpitr refuses it, or NULL.
 */
static const struct bopt { // NOLINT(clang-analyzer-optin.performance.Padding): a small table
    enum opt_id id;
    const char *name;
    char short_name;
    int kind;
    unsigned progs;
    const char *not_impl;
} bopts[] = {
    { O_VERSION, "version", 'V', PITR_OPT_SWITCH, P_ALL, NULL },
    { O_HELP, "help", 0, PITR_OPT_SWITCH, P_ALL, NULL },
    { O_VERBOSE, "verbose", 'v', PITR_OPT_SWITCH, P_ALL, NULL },
    { O_QUIET, "quiet", 'q', PITR_OPT_SWITCH, P_ALL, NULL },
    { O_TEST, "test", 't', PITR_OPT_SWITCH, P_ALL, NULL },
    { O_PROVIDER, "cloud-provider", 0, PITR_OPT_VALUE, P_ALL, NULL },
    { O_ENDPOINT, "endpoint-url", 0, PITR_OPT_VALUE, P_ALL, NULL },
    { O_PROFILE,
      "profile",
      'P',
      PITR_OPT_VALUE,
      P_ALL,
      "AWS profiles are not read; give the credentials in AWS_ACCESS_KEY_ID, "
      "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)" },
    { O_READ_TIMEOUT,
      "read-timeout",
      0,
      PITR_OPT_VALUE,
      P_ALL,
      "the S3 client has no read timeout setting; stalled requests are retried within "
      "PGPITR_RETRY_MAX_TIME seconds" },
    { O_CREDENTIAL, "credential", 0, PITR_OPT_VALUE, P_ALL, "it is an Azure option" },
    { O_GZIP, "gzip", 'z', PITR_OPT_SWITCH, P_WA | P_BK, NULL },
    { O_BZIP2, "bzip2", 'j', PITR_OPT_SWITCH, P_WA | P_BK, NULL },
    { O_SNAPPY, "snappy", 0, PITR_OPT_SWITCH, P_WA | P_BK, NULL },
    { O_XZ, "xz", 0, PITR_OPT_SWITCH, P_WA, NULL },
    { O_ZSTD, "zstd", 0, PITR_OPT_SWITCH, P_WA, NULL },
    { O_LZ4, "lz4", 0, PITR_OPT_SWITCH, P_WA | P_BK, NULL },
    { O_TAGS, "tags", 0, PITR_OPT_LIST, P_WA | P_BK, NULL },
    { O_HISTORY_TAGS, "history-tags", 0, PITR_OPT_LIST, P_WA, NULL },
    { O_ENCRYPTION, "encryption", 'e', PITR_OPT_VALUE, P_WA | P_BK, NULL },
    { O_ENC_SCOPE, "encryption-scope", 0, PITR_OPT_VALUE, P_WA | P_BK, "it is an Azure option" },
    { O_MAX_BLOCK, "max-block-size", 0, PITR_OPT_VALUE, P_WA, "it is an Azure option" },
    { O_MAX_CONC, "max-concurrency", 0, PITR_OPT_VALUE, P_WA, "it is an Azure option" },
    { O_MAX_PUT, "max-single-put-size", 0, PITR_OPT_VALUE, P_WA, "it is an Azure option" },
    { O_HOST, "host", 'h', PITR_OPT_VALUE, P_BK, NULL },
    { O_PORT, "port", 'p', PITR_OPT_VALUE, P_BK, NULL },
    { O_USER, "user", 'U', PITR_OPT_VALUE, P_BK, NULL },
    { O_IMMEDIATE, "immediate-checkpoint", 0, PITR_OPT_SWITCH, P_BK, NULL },
    { O_JOBS, "jobs", 'J', PITR_OPT_VALUE, P_BK, NULL },
    { O_MAX_ARCHIVE, "max-archive-size", 'S', PITR_OPT_VALUE, P_BK, NULL },
    { O_DBNAME, "dbname", 'd', PITR_OPT_VALUE, P_BK, NULL },
    { O_NAME, "name", 'n', PITR_OPT_VALUE, P_BK, NULL },
    { O_MIN_CHUNK, "min-chunk-size", 0, PITR_OPT_VALUE, P_BK, NULL },
    { O_MAX_BW, "max-bandwidth", 0, PITR_OPT_VALUE, P_BK, "upload throttling is not implemented" },
    { O_SNAP_INSTANCE,
      "snapshot-instance",
      0,
      PITR_OPT_VALUE,
      P_BK,
      "snapshot backups are not implemented" },
    { O_SNAP_DISK,
      "snapshot-disk",
      0,
      PITR_OPT_APPEND,
      P_BK,
      "snapshot backups are not implemented" },
    { O_SNAP_ZONE,
      "snapshot-zone",
      0,
      PITR_OPT_VALUE,
      P_BK,
      "snapshot backups are not implemented" },
    { O_SNAP_PROJECT,
      "snapshot-gcp-project",
      0,
      PITR_OPT_VALUE,
      P_BK,
      "snapshot backups are not implemented" },
    { O_TABLESPACE, "tablespace", 0, PITR_OPT_APPEND, P_RS, NULL },
    { O_SNAP_REC_INSTANCE,
      "snapshot-recovery-instance",
      0,
      PITR_OPT_VALUE,
      P_RS,
      "snapshot recovery is not implemented" },
    { O_SNAP_REC_ZONE,
      "snapshot-recovery-zone",
      0,
      PITR_OPT_VALUE,
      P_RS,
      "snapshot recovery is not implemented" },
    { O_FORMAT, "format", 0, PITR_OPT_VALUE, P_LS | P_SH, NULL },
    { O_BACKUP_ID, "backup-id", 'b', PITR_OPT_VALUE, P_DL, NULL },
    { O_RET_POLICY, "retention-policy", 'r', PITR_OPT_VALUE, P_DL, NULL },
    { O_DRY_RUN, "dry-run", 0, PITR_OPT_SWITCH, P_DL, NULL },
    { O_BATCH, "batch-size", 0, PITR_OPT_VALUE, P_DL, NULL },
    { O_RELEASE, "release", 'r', PITR_OPT_SWITCH, P_KP, NULL },
    { O_STATUS, "status", 's', PITR_OPT_SWITCH, P_KP, NULL },
    { O_TARGET, "target", 0, PITR_OPT_VALUE, P_KP, NULL },
    { O_TIMELINE, "timeline", 0, PITR_OPT_VALUE, P_CK, NULL },
};

#define N_BOPTS (sizeof(bopts) / sizeof(bopts[0]))

/* The parsed command line. Values are borrowed from argv. */
struct bargs {
    const struct prog *p;
    const char *val[N_OPTS];
    int cnt[N_OPTS];
    char **items[N_OPTS]; /* owned arrays for list and append options */
    char **pos;           /* owned array */
    int npos;
};

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');

    return s ? s + 1 : path;
}

static const struct prog *find_prog(const char *path)
{
    const char *b = base_name(path);
    size_t i;

    for (i = 0; i < N_PROGS; i++)
        if (strcmp(progs[i].name, b) == 0)
            return &progs[i];
    return NULL;
}

const char *pitr_barman_find(const char *path)
{
    const struct prog *p = find_prog(path);

    return p ? p->name : NULL;
}

static void print_usage(FILE *f, const struct prog *p)
{
    size_t i;
    int col;

    col = fprintf(f, "usage: %s", p->name);
    for (i = 0; i < N_BOPTS; i++) {
        char word[96], meta[48] = "";
        size_t k;
        int n;

        if (!(bopts[i].progs & p->bit))
            continue;
        /* argparse's metavar: the long name in capitals, '-' as '_' */
        if (bopts[i].kind != PITR_OPT_SWITCH) {
            meta[0] = ' ';
            for (k = 0; bopts[i].name[k] != '\0' && k + 2 < sizeof(meta); k++)
                meta[k + 1] = bopts[i].name[k] == '-' ? '_' : (char)(bopts[i].name[k] & ~0x20);
            meta[k + 1] = '\0';
        }
        if (bopts[i].short_name)
            n = snprintf(word, sizeof(word), " [-%c%s]", bopts[i].short_name, meta);
        else
            n = snprintf(word, sizeof(word), " [--%s%s]", bopts[i].name, meta);
        if (col + n > 79)
            col = fprintf(f, "\n%*s", (int)strlen(p->name) + 7, "") - 1;
        col += fprintf(f, "%s", word);
    }
    fprintf(f, "\n%*s %s server_name", (int)strlen(p->name) + 7, "", p->url);
    for (i = 0; i < (size_t)p->nextra; i++)
        fprintf(f,
                " %s%s%s",
                p->optional && (int)i == p->nextra - 1 ? "[" : "",
                p->extra[i],
                p->optional && (int)i == p->nextra - 1 ? "]" : "");
    fprintf(f, "\n");
}

static void print_help(const struct prog *p)
{
    size_t i;

    print_usage(stdout, p);
    printf("\n%s as pgpitr runs it: barman-cloud %s's command line, carried out by "
           "'pgpitr %s'.\n\noptions:\n",
           p->name,
           BARMAN_COMPAT_VERSION,
           p->cmd);
    for (i = 0; i < N_BOPTS; i++) {
        if (!(bopts[i].progs & p->bit))
            continue;
        if (bopts[i].short_name)
            printf("  -%c, --%-26s", bopts[i].short_name, bopts[i].name);
        else
            printf("      --%-26s", bopts[i].name);
        printf("%s%s\n",
               bopts[i].not_impl ? "not implemented: " : "",
               bopts[i].not_impl ? bopts[i].not_impl : "as barman-cloud");
    }
    printf("\nExit codes as barman-cloud's: 0 ok, 1 the operation failed, 2 the endpoint "
           "cannot be reached,\n3 bad command line, 4 any other failure.\n");
}

/* argparse's error: usage and "prog: error: msg" on stderr, exit 3. */
static int usage_error(const struct prog *p, const char *fmt, ...) PITR_PRINTF(2, 3);

static int usage_error(const struct prog *p, const char *fmt, ...)
{
    va_list ap;

    print_usage(stderr, p);
    fprintf(stderr, "%s: error: ", p->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return PITR_EUSAGE;
}

pitr_rc pitr_barman_parse_size(const char *s, uint64_t *out, struct pitr_err *err)
{
    static const char prefixes[] = "KMGTPEZY";
    size_t len = strlen(s);
    double base = 1024, mult, v;
    const char *pfx;
    char num[64], *end;
    size_t idx = 2;

    *out = 0;
    if (len == 0 || len >= sizeof(num))
        goto bad;
    if (s[len - 1] != 'B' && s[len - 1] != 'b') {
        long long n;

        errno = 0;
        n = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || n < 1)
            goto bad;
        *out = (uint64_t)n;
        return PITR_OK;
    }
    if (len >= 2 && (s[len - 2] == 'i' || s[len - 2] == 'I')) {
        base = 1000;
        idx = 3;
    }
    if (len < idx)
        goto bad;
    pfx = strchr(prefixes, s[len - idx] & ~0x20);
    if (s[len - idx] == '\0' || pfx == NULL) {
        /* no prefix: "1234B" */
        memcpy(num, s, len - idx + 1);
        num[len - idx + 1] = '\0';
        errno = 0;
        v = (double)strtoll(num, &end, 10);
        if (errno != 0 || end == num || *end != '\0')
            goto bad;
    } else {
        memcpy(num, s, len - idx);
        num[len - idx] = '\0';
        errno = 0;
        v = strtod(num, &end);
        if (errno != 0 || end == num || *end != '\0' || !isfinite(v))
            goto bad;
        for (mult = base; pfx > prefixes; pfx--)
            mult *= base;
        v = floor(v * mult);
    }
    if (v < 1 || v > 9.0e18)
        goto bad;
    *out = (uint64_t)v;
    return PITR_OK;
bad:
    return pitr_err_set(err, PITR_EUSAGE, "'%s' is not a valid size string", s);
}

static int positive_int(const char *v)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    return errno == 0 && end != v && *end == '\0' && n >= 1 && n <= 0x7fffffffL;
}

/* libpq conninfo quoting, as barman's quote_conninfo. */
static pitr_rc conninfo_word(struct pitr_buf *b,
                             const char *key,
                             const char *v,
                             struct pitr_err *err)
{
    pitr_rc rc = pitr_buf_appendf(b, err, "%s%s=", b->len ? " " : "", key);
    const char *p;

    if (rc != PITR_OK)
        return rc;
    if (v[0] != '\0' && strpbrk(v, " \t\n\r\f\v'\\") == NULL)
        return pitr_buf_append_str(b, v, err);
    rc = pitr_buf_append_str(b, "'", err);
    for (p = v; rc == PITR_OK && *p; p++) {
        if (*p == '\'' || *p == '\\')
            rc = pitr_buf_append_str(b, "\\", err);
        if (rc == PITR_OK)
            rc = pitr_buf_append(b, p, 1, err);
    }
    return rc == PITR_OK ? pitr_buf_append_str(b, "'", err) : rc;
}

/* pgpitr's status to barman's exit code for program a->p. */
static int barman_status(const struct bargs *a, int rc)
{
    const struct prog *p = a->p;

    if (rc == PITR_OK || rc == PITR_ENETWORK || rc == PITR_EXIT_STOP_RECOVERY)
        return rc;
    /*
     * Our own checks caught every usage error before the command ran; what
     * restore still calls one (a destination that is not empty, a
     * tablespace location) is barman's operation error.
     */
    if (rc == PITR_EUSAGE)
        return p->bit == P_RS ? 1 : rc;
    /* barman resolves a name first: an unknown one is a ValueError, exit 4 */
    if (p->bit == P_RS && rc == PITR_ENOTFOUND && !pitr_ret_is_backup_id(a->pos[2]))
        return PITR_EGENERAL;
    switch (p->bit) {
    case P_WA: /* a missing file, refusals, upload failures: 4 */
        return PITR_EGENERAL;
    case P_BK: /* PostgreSQL refused or the backup failed: 1 */
        return rc == PITR_EPG || rc == PITR_ENOTFOUND || rc == PITR_EGENERAL ? 1 : PITR_EGENERAL;
    case P_RS: /* unknown backup id, destination not empty, missing volume: 1 */
        return rc == PITR_ENOTFOUND || rc == PITR_EIO || rc == PITR_ECONFLICT ? 1 : PITR_EGENERAL;
    default:
        return rc == PITR_ENOTFOUND ? 1 : PITR_EGENERAL;
    }
}

/* The configuration from flags and the repository it names; both for the caller to free. */
static pitr_rc open_store(const struct pitr_config_flag *flags,
                          size_t nflags,
                          struct pitr_config *cfg,
                          struct pitr_storage **st,
                          struct pitr_err *err)
{
    pitr_rc rc;

    pitr_config_init(cfg);
    *st = NULL;
    rc = pitr_config_load(cfg, flags, nflags, err);
    if (rc == PITR_OK) {
        pitr_log_set_level(cfg->log_level);
        rc = pitr_storage_open(cfg, st, err);
    }
    return rc;
}

/* -t: the bucket (or folder) answers. 0 reachable, 2 not, 4 refused. */
static int connectivity_test(const struct prog *p,
                             const struct pitr_config_flag *flags,
                             size_t nflags,
                             const char *server)
{
    struct pitr_config cfg;
    struct pitr_storage *st = NULL;
    struct pitr_obj_info info;
    struct pitr_err err = { 0 };
    /* any key will do: a store that answers "not found" is reachable */
    char *key = pitr_asprintf("%s/pgpitr-connectivity-test", server);
    int rc;

    rc = open_store(flags, nflags, &cfg, &st, &err);
    if (rc == PITR_OK) {
        rc = pitr_storage_head(st, key, &info, &err);
        if (rc == PITR_ENOTFOUND)
            rc = PITR_OK; /* the store answered */
    }
    if (rc != PITR_OK)
        pitr_log_error("%s: connectivity test: %s", p->name, err.msg);
    else
        pitr_log_info("%s: connectivity test: '%s' answers", p->name, cfg.repo);
    pitr_free(key);
    pitr_storage_free(st);
    pitr_config_release(&cfg);
    if (rc == PITR_OK || rc == PITR_ENETWORK || rc == PITR_EUSAGE)
        return rc;
    return PITR_EGENERAL;
}

/* A global flag (pgpitr config key) with a value that outlives the call. */
struct flags {
    struct pitr_config_flag f[24];
    size_t n;
    char *owned[64];
    size_t nowned;
};

static void add_flag(struct flags *fl, const char *name, const char *value)
{
    if (fl->n < sizeof(fl->f) / sizeof(fl->f[0])) {
        fl->f[fl->n].name = name;
        fl->f[fl->n++].value = value;
    }
}

static const char *own(struct flags *fl, char *s)
{
    if (fl->nowned < sizeof(fl->owned) / sizeof(fl->owned[0]))
        fl->owned[fl->nowned++] = s;
    return s;
}

/*
 * barman-cloud-restore's "--tablespace NAME:LOCATION" rules become pgpitr's
 * "--tablespace=OID:DIR" arguments (owned by fl) through the backup's
 * backup.info. Rules naming no tablespace of the backup are ignored, as
 * barman does; a relative LOCATION is taken from the working directory.
 * Returns the exit status; on success *n arguments were appended to cv.
 */
static int tablespace_args(const struct bargs *a, struct flags *fl, char **cv, int *n)
{
    struct pitr_config cfg;
    struct pitr_storage *st = NULL;
    struct pitr_cat_backup *v = NULL;
    size_t nv = 0, idx = 0;
    struct pitr_err err = { 0 };
    char cwd[4096];
    int i, rc;

    for (i = 0; i < a->cnt[O_TABLESPACE]; i++)
        if (strchr(a->items[O_TABLESPACE][i], ':') == NULL) {
            fprintf(stderr,
                    "%s: ERROR: invalid tablespace relocation rule '%s': expected NAME:LOCATION\n",
                    a->p->name,
                    a->items[O_TABLESPACE][i]);
            return PITR_EUSAGE;
        }
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        cwd[0] = '\0';
    rc = open_store(fl->f, fl->n, &cfg, &st, &err);
    if (rc == PITR_OK)
        rc = pitr_cat_load(st, a->pos[1], &v, &nv, &err);
    if (rc == PITR_OK)
        rc = pitr_ret_resolve(v, nv, a->pos[2], &idx, &err);
    if (rc != PITR_OK) {
        pitr_log_error("%s: backup '%s': %s", a->p->name, a->pos[2], err.msg);
        rc = barman_status(a, rc);
        goto out;
    }
    for (i = 0; i < a->cnt[O_TABLESPACE]; i++) {
        const char *rule = a->items[O_TABLESPACE][i], *colon = strchr(rule, ':');

        for (size_t t = 0; t < v[idx].ntablespaces; t++) {
            const struct pitr_cat_tablespace *ts = &v[idx].tablespaces[t];

            if (strlen(ts->name) != (size_t)(colon - rule) ||
                strncmp(ts->name, rule, (size_t)(colon - rule)) != 0)
                continue;
            cv[(*n)++] = (char *)own(fl,
                                     pitr_asprintf("--tablespace=%u:%s%s%s",
                                                   (unsigned)ts->oid,
                                                   colon[1] == '/' ? "" : cwd,
                                                   colon[1] == '/' ? "" : "/",
                                                   colon + 1));
        }
    }
out:
    pitr_cat_list_release(v, nv);
    pitr_storage_free(st);
    pitr_config_release(&cfg);
    return rc;
}

/*
 * Checks argparse would make (counts, choices, exclusive groups) and the
 * options pgpitr refuses. Returns the exit status, PITR_OK to go on.
 */
static int check_args(const struct bargs *a)
{
    const struct prog *p = a->p;
    int nwant = 2 + p->nextra, ncomp;
    size_t i;

    if (a->npos < nwant - p->optional) {
        struct pitr_buf b;
        struct pitr_err e = { 0 };
        const char *names[4] = { p->url, "server_name", p->extra[0], p->extra[1] };
        int k;

        pitr_buf_init(&b, 256);
        for (k = a->npos; k < nwant - p->optional; k++)
            if (pitr_buf_appendf(&b, &e, "%s%s", b.len ? ", " : "", names[k]) != PITR_OK)
                break;
        k = usage_error(p, "the following arguments are required: %s", b.data);
        pitr_buf_release(&b);
        return k;
    }
    if (a->npos > nwant)
        return usage_error(p, "unrecognized arguments: %s", a->pos[nwant]);
    for (i = 0; i < (size_t)a->npos; i++)
        if (a->pos[i][0] == '-')
            return usage_error(p,
                               "argument '%s': a positional that starts with '-' is not "
                               "supported by pgpitr",
                               a->pos[i]);
    if (a->cnt[O_VERBOSE] && a->cnt[O_QUIET])
        return usage_error(p, "argument -q/--quiet: not allowed with argument -v/--verbose");
    ncomp = !!a->cnt[O_GZIP] + !!a->cnt[O_BZIP2] + !!a->cnt[O_SNAPPY] + !!a->cnt[O_XZ] +
            !!a->cnt[O_ZSTD] + !!a->cnt[O_LZ4];
    if (ncomp > 1)
        return usage_error(p, "only one of the compression options may be given");
    if (a->val[O_PROVIDER] && strcmp(a->val[O_PROVIDER], "aws-s3") != 0 &&
        strcmp(a->val[O_PROVIDER], "azure-blob-storage") != 0 &&
        strcmp(a->val[O_PROVIDER], "google-cloud-storage") != 0)
        return usage_error(p,
                           "argument --cloud-provider: invalid choice: '%s' (choose from "
                           "'aws-s3', 'azure-blob-storage', 'google-cloud-storage')",
                           a->val[O_PROVIDER]);
    if (a->val[O_ENCRYPTION] && strcmp(a->val[O_ENCRYPTION], "AES256") != 0 &&
        strcmp(a->val[O_ENCRYPTION], "aws:kms") != 0)
        return usage_error(p,
                           "argument -e/--encryption: invalid choice: '%s' (choose from "
                           "'AES256', 'aws:kms')",
                           a->val[O_ENCRYPTION]);
    if (a->val[O_TARGET] && strcmp(a->val[O_TARGET], "full") != 0 &&
        strcmp(a->val[O_TARGET], "standalone") != 0)
        return usage_error(p,
                           "argument --target: invalid choice: '%s' (choose from 'full', "
                           "'standalone')",
                           a->val[O_TARGET]);
    if (p->bit == P_DL && !!a->val[O_BACKUP_ID] + !!a->val[O_RET_POLICY] != 1)
        return usage_error(p,
                           a->val[O_BACKUP_ID] ? "argument -r/--retention-policy: not allowed "
                                                 "with argument -b/--backup-id"
                                               : "one of the arguments -b/--backup-id "
                                                 "-r/--retention-policy is required");
    if (p->bit == P_KP && !!a->cnt[O_RELEASE] + !!a->cnt[O_STATUS] + !!a->val[O_TARGET] != 1)
        return usage_error(p,
                           "exactly one of the arguments -r/--release -s/--status --target "
                           "is required");
    if ((a->val[O_JOBS] && !positive_int(a->val[O_JOBS])) ||
        (a->val[O_TIMELINE] && !positive_int(a->val[O_TIMELINE])) ||
        (a->val[O_BATCH] && !positive_int(a->val[O_BATCH])))
        return usage_error(p,
                           "argument '%s' is not a valid positive integer",
                           a->val[O_JOBS]       ? a->val[O_JOBS]
                           : a->val[O_TIMELINE] ? a->val[O_TIMELINE]
                                                : a->val[O_BATCH]);
    for (i = 0; i < N_BOPTS; i++)
        if ((bopts[i].progs & p->bit) && bopts[i].not_impl != NULL && a->cnt[bopts[i].id] > 0) {
            fprintf(stderr,
                    "%s: ERROR: option --%s is not supported by pgpitr: %s\n",
                    p->name,
                    bopts[i].name,
                    bopts[i].not_impl);
            return PITR_EUSAGE;
        }
    return PITR_OK;
}

static const char *compression(const struct bargs *a)
{
    if (a->cnt[O_GZIP])
        return "gzip";
    if (a->cnt[O_BZIP2])
        return "bzip2";
    if (a->cnt[O_SNAPPY])
        return "snappy";
    if (a->cnt[O_XZ])
        return "xz";
    if (a->cnt[O_ZSTD])
        return "zstd";
    if (a->cnt[O_LZ4])
        return "lz4";
    return "none"; /* barman-cloud stores uncompressed without a flag */
}

/* The global flags every program shares. Returns the exit status. */
static int common_flags(const struct bargs *a, struct flags *fl)
{
    const struct prog *p = a->p;
    struct pitr_err err = { 0 };
    char *tags = NULL;
    int v = a->cnt[O_VERBOSE] - a->cnt[O_QUIET];

    add_flag(fl, "repo", a->pos[0]);
    add_flag(fl, "server", a->pos[1]);
    if (a->val[O_ENDPOINT] != NULL) {
        add_flag(fl, "endpoint-url", a->val[O_ENDPOINT]);
        /* boto3 addresses buckets path-style under a custom endpoint. */
        if (getenv("PGPITR_S3_URL_STYLE") == NULL)
            add_flag(fl, "s3-url-style", "path");
    }
    if (v != 0)
        add_flag(fl, "log-level", v >= 2 ? "debug" : v == 1 ? "info" : "error");
    if (p->bit == P_WA || p->bit == P_BK)
        add_flag(fl, "compression", compression(a));
    if (a->val[O_ENCRYPTION] != NULL)
        add_flag(fl, "encryption", a->val[O_ENCRYPTION]);
    if (a->val[O_TAGS] != NULL || a->cnt[O_TAGS] > 0 || a->cnt[O_HISTORY_TAGS] > 0) {
        static const enum opt_id ids[2] = { O_TAGS, O_HISTORY_TAGS };
        static const char *const keys[2] = { "tags", "history-tags" };

        for (int k = 0; k < 2; k++) {
            if (a->cnt[ids[k]] == 0)
                continue;
            if (pitr_cli_barman_tags(a->items[ids[k]], a->cnt[ids[k]], &tags, &err) != PITR_OK) {
                fprintf(stderr, "%s: ERROR: %s\n", p->name, err.msg);
                return PITR_EUSAGE;
            }
            add_flag(fl, keys[k], own(fl, tags));
        }
    }
    /*
     * barman-cloud archives and fetches exactly the file it is given;
     * CloudNativePG runs its own parallel calls. pgpitr's look-ahead and
     * prefetch stay off unless the environment asks for them.
     */
    if (p->bit == P_WA && getenv("PGPITR_LOOK_AHEAD") == NULL)
        add_flag(fl, "look-ahead", "0");
    if (p->bit == P_WR && getenv("PGPITR_PREFETCH") == NULL)
        add_flag(fl, "prefetch", "0");
    return PITR_OK;
}

/* The pgpitr command's own arguments. Returns the exit status. */
static int command_args(const struct bargs *a, struct flags *fl, char **cv, int *cn)
{
    const struct prog *p = a->p;
    struct pitr_err err = { 0 };
    int n = 0, i;

#define ARG(s)        (cv[n++] = (char *)(s))
#define OPTV(name, v) ARG(own(fl, pitr_asprintf("--%s=%s", name, v)))
    switch (p->bit) {
    case P_BK: {
        struct pitr_buf ci;

        if (a->val[O_DBNAME] != NULL &&
            (a->val[O_DBNAME][0] == '\0' || strchr(a->val[O_DBNAME], '=') != NULL)) {
            OPTV("dbname", a->val[O_DBNAME]);
        } else if (a->val[O_HOST] || a->val[O_PORT] || a->val[O_USER] || a->val[O_DBNAME]) {
            static const enum opt_id ids[4] = { O_HOST, O_PORT, O_USER, O_DBNAME };
            static const char *const keys[4] = { "host", "port", "user", "dbname" };
            pitr_rc crc = PITR_OK;

            pitr_buf_init(&ci, PITR_BUF_LIMIT_SMALL);
            for (i = 0; i < 4 && crc == PITR_OK; i++)
                if (a->val[ids[i]] != NULL)
                    crc = conninfo_word(&ci, keys[i], a->val[ids[i]], &err);
            if (crc != PITR_OK) {
                pitr_buf_release(&ci);
                return usage_error(p, "connection options: %s", err.msg);
            }
            OPTV("dbname", ci.data);
            pitr_buf_release(&ci);
        }
        if (a->cnt[O_IMMEDIATE])
            ARG("--immediate-checkpoint");
        if (a->val[O_JOBS])
            OPTV("jobs", a->val[O_JOBS]);
        if (a->val[O_NAME])
            OPTV("name", a->val[O_NAME]);
        for (i = 0; i < 2; i++) {
            const char *v = a->val[i ? O_MIN_CHUNK : O_MAX_ARCHIVE];
            uint64_t bytes;
            char num[32];

            if (v == NULL)
                continue;
            if (pitr_barman_parse_size(v, &bytes, &err) != PITR_OK)
                return usage_error(
                  p, "argument --%s: %s", i ? "min-chunk-size" : "max-archive-size", err.msg);
            snprintf(num, sizeof(num), "%llu", (unsigned long long)bytes);
            OPTV(i ? "min-chunk-size" : "max-archive-size", num);
        }
        break;
    }
    case P_RS:
        if (a->cnt[O_TABLESPACE] > 32)
            return usage_error(p, "argument --tablespace: more than 32 given");
        /* barman-cloud-restore writes no recovery settings; CloudNativePG does. */
        ARG("--no-recovery-conf");
        if (a->cnt[O_TABLESPACE] > 0) {
            int rc = tablespace_args(a, fl, cv, &n);

            if (rc != PITR_OK)
                return rc;
        }
        break;
    case P_LS:
    case P_SH:
        if (a->val[O_FORMAT])
            OPTV("format", a->val[O_FORMAT]);
        break;
    case P_DL:
        if (a->val[O_BACKUP_ID])
            OPTV("backup-id", a->val[O_BACKUP_ID]);
        if (a->val[O_RET_POLICY])
            OPTV("retention-policy", a->val[O_RET_POLICY]);
        if (a->cnt[O_DRY_RUN])
            ARG("--dry-run");
        if (a->val[O_BATCH])
            OPTV("batch-size", a->val[O_BATCH]);
        break;
    case P_KP:
        if (a->cnt[O_RELEASE])
            ARG("--release");
        if (a->cnt[O_STATUS])
            ARG("--status");
        if (a->val[O_TARGET])
            OPTV("target", a->val[O_TARGET]);
        break;
    case P_CK:
        if (a->val[O_TIMELINE])
            OPTV("timeline", a->val[O_TIMELINE]);
        break;
    default:
        break;
    }
    ARG("--");
    for (i = 2; i < a->npos; i++)
        ARG(a->pos[i]);
#undef OPTV
#undef ARG
    *cn = n;
    return PITR_OK;
}

int pitr_barman_main(int argc, char **argv)
{
    struct bargs a;
    struct pitr_opt opts[N_BOPTS];
    struct flags fl;
    struct pitr_err err = { 0 };
    char *cv[64];
    size_t i, nopts = 0;
    int rc, cn = 0;

    memset(&a, 0, sizeof(a));
    memset(&fl, 0, sizeof(fl));
    a.p = find_prog(argv[0]);
    if (a.p == NULL)
        return PITR_EUSAGE;
    a.pos = pitr_calloc((size_t)argc + 1, sizeof(*a.pos));
    for (i = 0; i < N_BOPTS; i++) {
        const struct bopt *b = &bopts[i];

        if (!(b->progs & a.p->bit))
            continue;
        if (b->kind == PITR_OPT_LIST || b->kind == PITR_OPT_APPEND)
            a.items[b->id] = pitr_calloc((size_t)argc + 1, sizeof(char *));
        opts[nopts++] = (struct pitr_opt){ .name = b->name,
                                           .short_name = b->short_name,
                                           .takes_value = b->kind,
                                           .value = &a.val[b->id],
                                           .set = &a.cnt[b->id],
                                           .items = &a.items[b->id] };
    }
    rc = pitr_args_parse_mode(
      a.p->name, PITR_ARGS_ARGPARSE, argc - 1, argv + 1, opts, nopts, a.pos, &a.npos, &err);
    if (rc != PITR_OK) {
        /* our messages start with "prog: "; argparse's do after "prog: error: " */
        const char *m = strncmp(err.msg, a.p->name, strlen(a.p->name)) == 0
                          ? err.msg + strlen(a.p->name) + 2
                          : err.msg;

        rc = usage_error(a.p, "%s", m);
        goto out;
    }
    if (a.cnt[O_HELP]) {
        print_help(a.p);
        goto out;
    }
    if (a.cnt[O_VERSION]) {
        printf("%s %s\n", a.p->name, BARMAN_COMPAT_VERSION);
        goto out;
    }
    rc = check_args(&a);
    if (rc != PITR_OK)
        goto out;
    if (a.val[O_PROVIDER] != NULL && pitr_cli_cloud_provider(a.val[O_PROVIDER], &err) != PITR_OK) {
        fprintf(stderr, "%s: ERROR: %s\n", a.p->name, err.msg);
        rc = 1; /* barman: SystemExit for the provider's missing library */
        goto out;
    }
    rc = common_flags(&a, &fl);
    if (rc != PITR_OK)
        goto out;
    if (a.cnt[O_TEST]) {
        /* a quick answer, as botocore's few connection attempts */
        if (getenv("PGPITR_RETRY_MAX_TIME") == NULL)
            add_flag(&fl, "retry-max-time", "5");
        rc = connectivity_test(a.p, fl.f, fl.n, a.pos[1]);
        goto out;
    }
    if (a.p->bit == P_WA && a.npos < 3) {
        fprintf(stderr,
                "%s: ERROR: no WAL_PATH: pgpitr does not implement barman's hook-script "
                "mode (BARMAN_HOOK); give the WAL file to archive\n",
                a.p->name);
        rc = 1; /* barman: an uncaught exception */
        goto out;
    }
    rc = command_args(&a, &fl, cv, &cn);
    if (rc != PITR_OK)
        goto out;
    rc = barman_status(&a, pitr_cli_run(a.p->cmd, fl.f, fl.n, cn, cv));
out:
    for (i = 0; i < N_OPTS; i++)
        pitr_free(a.items[i]);
    while (fl.nowned > 0)
        pitr_free(fl.owned[--fl.nowned]);
    pitr_free(a.pos);
    return rc;
}
