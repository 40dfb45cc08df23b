/*
 * test_config.c - unit tests for src/core/config.c.
 *
 * Every test starts from an environment without any variable config.c reads
 * and writes its config files with mkstemp in a fresh mkdtemp folder.
 * OPENSSL_cleanse is interposed (defined here) to see which secrets are wiped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/logcap.h"
#include "pgpitr/core/config.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/log.h"

static const char *const env_vars[] = {
    "PGPITR_CONFIG",         "PGPITR_REPO",          "PGPITR_SERVER",
    "PGPITR_COMPRESSION",    "AWS_ENDPOINT_URL",     "AWS_REGION",
    "AWS_DEFAULT_REGION",    "AWS_CA_BUNDLE",        "PGPITR_S3_URL_STYLE",
    "PGPITR_LOG_LEVEL",      "AWS_ACCESS_KEY_ID",    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",     "PGPITR_MAX_PARTS",     "PGPITR_PART_SIZE",
    "PGPITR_RETRY_MAX_TIME", "PGPITR_ENCRYPTION",    "PGPITR_SSE_KMS_KEY_ID",
    "PGPITR_TAGS",           "PGPITR_STORAGE_CLASS", "PGPITR_INSECURE_SKIP_TLS_VERIFY",
};

/* ---- OPENSSL_cleanse spy: what was in each wiped range ----------------- */

#define SPY_MAX 32

static struct {
    int calls;
    char seen[SPY_MAX][128]; /* the first bytes of each range, NUL-terminated */
    size_t seen_len[SPY_MAX];
} cleanse_spy;

void OPENSSL_cleanse(void *ptr, size_t len)
{
    volatile unsigned char *p = ptr;
    size_t i;

    if (cleanse_spy.calls < SPY_MAX) {
        char *s = cleanse_spy.seen[cleanse_spy.calls];
        size_t n = len < 127 ? len : 127;

        memcpy(s, ptr, n);
        s[n] = '\0';
        cleanse_spy.seen_len[cleanse_spy.calls] = n;
    }
    cleanse_spy.calls++;
    for (i = 0; i < len; i++)
        p[i] = 0;
}

static int cleansed(const char *s)
{
    int i;

    for (i = 0; i < cleanse_spy.calls && i < SPY_MAX; i++)
        if (strcmp(cleanse_spy.seen[i], s) == 0)
            return 1;
    return 0;
}

/* True when some wiped range held s anywhere in its first bytes. */
static int cleansed_within(const char *s)
{
    size_t n = strlen(s), j;
    int i;

    for (i = 0; i < cleanse_spy.calls && i < SPY_MAX; i++)
        for (j = 0; j + n <= cleanse_spy.seen_len[i]; j++)
            if (memcmp(cleanse_spy.seen[i] + j, s, n) == 0)
                return 1;
    return 0;
}

/* ---- fixture ------------------------------------------------------------ */

struct fx {
    char dir[64];
    char path[128]; /* the last file made by conf() */
    struct pitr_config cfg;
    struct pitr_err err;
};

static void clear_env(void)
{
    size_t i;

    for (i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
        unsetenv(env_vars[i]);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/pgpitr-test-config-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    clear_env();
    pitr_config_init(&f->cfg);
    pitr_err_clear(&f->err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *de;
    char p[512];

    pitr_config_release(&f->cfg);
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
        unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(f->dir);
    clear_env();
    free(f);
    return 0;
}

/* Write text to a new mkstemp file in the fixture folder; its path in f->path. */
static const char *conf(struct fx *f, const char *text)
{
    size_t n = strlen(text);
    int fd;

    snprintf(f->path, sizeof(f->path), "%s/conf-XXXXXX", f->dir);
    fd = mkstemp(f->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    assert_int_equal(close(fd), 0);
    return f->path;
}

/* Load with PGPITR_CONFIG pointing at a file holding text. */
static pitr_rc load_with(struct fx *f,
                         const char *text,
                         const struct pitr_config_flag *flags,
                         size_t n)
{
    setenv("PGPITR_CONFIG", conf(f, text), 1);
    return pitr_config_load(&f->cfg, flags, n, &f->err);
}

static void assert_msg_has(const struct pitr_err *err, const char *part)
{
    if (strstr(err->msg, part) == NULL) {
        print_error("message '%s' does not contain '%s'\n", err->msg, part);
        fail();
    }
}

/* ---- tests -------------------------------------------------------------- */

static void pitr_config_init__defaults_before_load(void **state)
{
    struct pitr_config cfg;

    (void)state;
    memset(&cfg, 0x5a, sizeof(cfg));
    pitr_config_init(&cfg);
    assert_null(cfg.repo);
    assert_null(cfg.server);
    assert_null(cfg.region);
    assert_null(cfg.secret_key);
    assert_int_equal(cfg.url_style, PITR_URL_STYLE_AUTO);
    assert_int_equal(cfg.log_level, PITR_LOG_WARN);
    pitr_config_release(&cfg);
}

static void pitr_config_load__empty_file_gives_defaults(void **state)
{
    struct fx *f = *state;

    assert_int_equal(load_with(f, "", NULL, 0), PITR_OK);
    assert_string_equal(f->cfg.region, "us-east-1");
    assert_string_equal(f->cfg.compression, "gzip");
    assert_null(f->cfg.repo);
    assert_null(f->cfg.server);
    assert_null(f->cfg.endpoint_url);
    assert_null(f->cfg.ca_file);
    assert_null(f->cfg.access_key);
    assert_null(f->cfg.secret_key);
    assert_null(f->cfg.session_token);
    assert_int_equal(f->cfg.url_style, PITR_URL_STYLE_AUTO);
    assert_int_equal(f->cfg.log_level, PITR_LOG_WARN);
    assert_string_equal(f->cfg.config_file, f->path);
}

/* Every key, with blanks around key and value, tabs, CRLF, and '=' in a value. */
static void pitr_config_load__file_sets_every_key(void **state)
{
    struct fx *f = *state;

    assert_int_equal(load_with(f,
                               "repo = s3://bucket/prefix\n"
                               "server=pg1\n"
                               "  compression\t=\tzstd  \n"
                               "endpoint-url = https://127.0.0.1:8443\r\n"
                               "region = eu-west-1\n"
                               "ca-file = /etc/ssl/ca.pem\n"
                               "s3-url-style = path\n"
                               "log-level = debug\n"
                               "aws-access-key-id = AKID\n"
                               "aws-secret-access-key = se=cr=et\n"
                               "aws-session-token = TOKEN\n",
                               NULL,
                               0),
                     PITR_OK);
    assert_string_equal(f->cfg.repo, "s3://bucket/prefix");
    assert_string_equal(f->cfg.server, "pg1");
    assert_string_equal(f->cfg.compression, "zstd");
    assert_string_equal(f->cfg.endpoint_url, "https://127.0.0.1:8443");
    assert_string_equal(f->cfg.region, "eu-west-1");
    assert_string_equal(f->cfg.ca_file, "/etc/ssl/ca.pem");
    assert_int_equal(f->cfg.url_style, PITR_URL_STYLE_PATH);
    assert_int_equal(f->cfg.log_level, PITR_LOG_DEBUG);
    assert_string_equal(f->cfg.access_key, "AKID");
    assert_string_equal(f->cfg.secret_key, "se=cr=et");
    assert_string_equal(f->cfg.session_token, "TOKEN");
}

static void pitr_config_load__comments_and_blank_lines(void **state)
{
    struct fx *f = *state;

    assert_int_equal(load_with(f,
                               "# a comment\n"
                               "\n"
                               "   # an indented comment\n"
                               "  \t \n"
                               "#repo = s3://commented/out\n"
                               "server = pg1\n"
                               "\n",
                               NULL,
                               0),
                     PITR_OK);
    assert_null(f->cfg.repo);
    assert_string_equal(f->cfg.server, "pg1");
}

/* flags > environment > file, for string and enum settings alike. */
static void pitr_config_load__precedence_flag_env_file(void **state)
{
    struct fx *f = *state;
    const struct pitr_config_flag flags[] = {
        { "repo", "file:///from/flag" },
        { "log-level", "error" },
    };

    setenv("PGPITR_REPO", "file:///from/env", 1);
    setenv("PGPITR_SERVER", "env-server", 1);
    setenv("PGPITR_LOG_LEVEL", "info", 1);
    assert_int_equal(load_with(f,
                               "repo = file:///from/file\n"
                               "server = file-server\n"
                               "compression = xz\n"
                               "log-level = trace\n",
                               flags,
                               2),
                     PITR_OK);
    assert_string_equal(f->cfg.repo, "file:///from/flag"); /* flag beats both */
    assert_string_equal(f->cfg.server, "env-server");      /* env beats file */
    assert_string_equal(f->cfg.compression, "xz");         /* file only */
    assert_int_equal(f->cfg.log_level, PITR_LOG_ERROR);    /* flag */
}

static void pitr_config_load__env_beats_file_enum(void **state)
{
    struct fx *f = *state;

    setenv("PGPITR_S3_URL_STYLE", "virtual", 1);
    setenv("PGPITR_LOG_LEVEL", "INFO", 1);
    assert_int_equal(load_with(f, "s3-url-style = path\nlog-level = trace\n", NULL, 0), PITR_OK);
    assert_int_equal(f->cfg.url_style, PITR_URL_STYLE_VIRTUAL);
    assert_int_equal(f->cfg.log_level, PITR_LOG_INFO);
}

/* An empty environment variable counts as unset. */
static void pitr_config_load__empty_env_ignored(void **state)
{
    struct fx *f = *state;

    setenv("PGPITR_REPO", "", 1);
    assert_int_equal(load_with(f, "repo = file:///from/file\n", NULL, 0), PITR_OK);
    assert_string_equal(f->cfg.repo, "file:///from/file");
}

static void pitr_config_load__aws_region_then_default_region(void **state)
{
    struct fx *f = *state;

    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    assert_int_equal(load_with(f, "region = eu-west-1\n", NULL, 0), PITR_OK);
    assert_string_equal(f->cfg.region, "ap-south-1"); /* AWS_DEFAULT_REGION beats the file */
    pitr_config_release(&f->cfg);

    setenv("AWS_REGION", "eu-central-1", 1);
    assert_int_equal(load_with(f, "region = eu-west-1\n", NULL, 0), PITR_OK);
    assert_string_equal(f->cfg.region, "eu-central-1"); /* AWS_REGION beats AWS_DEFAULT_REGION */
    pitr_config_release(&f->cfg);

    setenv("AWS_REGION", "", 1); /* empty: falls back to AWS_DEFAULT_REGION */
    assert_int_equal(load_with(f, "", NULL, 0), PITR_OK);
    assert_string_equal(f->cfg.region, "ap-south-1");
    pitr_config_release(&f->cfg);

    unsetenv("AWS_DEFAULT_REGION");
    assert_int_equal(load_with(f, "", NULL, 0), PITR_OK);
    assert_string_equal(f->cfg.region, "us-east-1");
}

static void pitr_config_load__flag_region_beats_env(void **state)
{
    struct fx *f = *state;
    const struct pitr_config_flag flags[] = { { "region", "sa-east-1" } };

    setenv("AWS_REGION", "eu-central-1", 1);
    setenv("AWS_DEFAULT_REGION", "ap-south-1", 1);
    assert_int_equal(load_with(f, "", flags, 1), PITR_OK);
    assert_string_equal(f->cfg.region, "sa-east-1");
}

static void pitr_config_load__unknown_key_names_file_and_line(void **state)
{
    struct fx *f = *state;
    char line[32];

    assert_int_equal(load_with(f, "# header\nrepo = file:///r\nbogus-key = 1\n", NULL, 0),
                     PITR_EUSAGE);
    assert_int_equal(f->err.code, PITR_EUSAGE);
    assert_msg_has(&f->err, f->path);
    snprintf(line, sizeof(line), "line %d", 3);
    assert_msg_has(&f->err, line);
    assert_msg_has(&f->err, "bogus-key");
}

static void pitr_config_load__malformed_line(void **state)
{
    struct fx *f = *state;

    assert_int_equal(load_with(f, "server = pg1\njust some words\n", NULL, 0), PITR_EUSAGE);
    assert_int_equal(f->err.code, PITR_EUSAGE);
    assert_msg_has(&f->err, f->path);
    assert_msg_has(&f->err, "line 2");
}

static void pitr_config_load__bad_values_in_file(void **state)
{
    struct fx *f = *state;

    assert_int_equal(load_with(f, "s3-url-style = sideways\n", NULL, 0), PITR_EUSAGE);
    assert_msg_has(&f->err, f->path);
    assert_msg_has(&f->err, "line 1");
    assert_msg_has(&f->err, "sideways");
    pitr_config_release(&f->cfg);
    pitr_err_clear(&f->err);

    assert_int_equal(load_with(f, "\nlog-level = loud\n", NULL, 0), PITR_EUSAGE);
    assert_msg_has(&f->err, f->path);
    assert_msg_has(&f->err, "line 2");
    assert_msg_has(&f->err, "loud");
}

static void pitr_config_load__bad_env_value_names_variable(void **state)
{
    struct fx *f = *state;

    setenv("PGPITR_S3_URL_STYLE", "diagonal", 1);
    assert_int_equal(load_with(f, "", NULL, 0), PITR_EUSAGE);
    assert_msg_has(&f->err, "PGPITR_S3_URL_STYLE");
    assert_msg_has(&f->err, "diagonal");
}

static void pitr_config_load__bad_flags(void **state)
{
    struct fx *f = *state;
    const struct pitr_config_flag unknown[] = { { "no-such-option", "1" } };
    const struct pitr_config_flag badlevel[] = { { "log-level", "verbose" } };

    assert_int_equal(load_with(f, "", unknown, 1), PITR_EUSAGE);
    assert_msg_has(&f->err, "--no-such-option");
    pitr_config_release(&f->cfg);
    pitr_err_clear(&f->err);
    assert_int_equal(load_with(f, "", badlevel, 1), PITR_EUSAGE);
    assert_msg_has(&f->err, "--log-level");
    assert_msg_has(&f->err, "verbose");
}

static void pitr_config_load__missing_explicit_config_fails(void **state)
{
    struct fx *f = *state;
    char missing[160];
    const struct pitr_config_flag flags[] = { { "config", missing } };

    snprintf(missing, sizeof(missing), "%s/does-not-exist.conf", f->dir);
    assert_int_equal(pitr_config_load(&f->cfg, flags, 1, &f->err), PITR_EUSAGE);
    assert_int_equal(f->err.code, PITR_EUSAGE);
    assert_msg_has(&f->err, missing);
    assert_null(f->cfg.config_file);
}

/* PGPITR_CONFIG names the file explicitly too: a missing one is an error. */
static void pitr_config_load__missing_env_config_fails(void **state)
{
    struct fx *f = *state;
    char missing[160];

    snprintf(missing, sizeof(missing), "%s/does-not-exist.conf", f->dir);
    setenv("PGPITR_CONFIG", missing, 1);
    assert_int_equal(pitr_config_load(&f->cfg, NULL, 0, &f->err), PITR_EUSAGE);
    assert_msg_has(&f->err, missing);
}

/* No --config and no PGPITR_CONFIG: the default file may be absent. */
static void pitr_config_load__missing_default_file_is_fine(void **state)
{
    struct fx *f = *state;

    if (access(PITR_DEFAULT_CONFIG_FILE, F_OK) == 0) {
        print_error("%s exists on this machine: this test needs it absent\n",
                    PITR_DEFAULT_CONFIG_FILE);
        fail();
    }
    assert_int_equal(pitr_config_load(&f->cfg, NULL, 0, &f->err), PITR_OK);
    assert_null(f->cfg.config_file);
    assert_int_equal(f->err.code, PITR_OK);
    assert_string_equal(f->cfg.region, "us-east-1");
    pitr_config_release(&f->cfg);
    setenv("PGPITR_CONFIG", "", 1); /* empty: the default file */
    assert_int_equal(pitr_config_load(&f->cfg, NULL, 0, &f->err), PITR_OK);
    assert_null(f->cfg.config_file);
}

/* --config beats PGPITR_CONFIG. */
static void pitr_config_load__config_flag_beats_env(void **state)
{
    struct fx *f = *state;
    char flagged[128];
    const struct pitr_config_flag flags[] = { { "config", flagged } };

    snprintf(flagged, sizeof(flagged), "%s", conf(f, "server = from-flag-file\n"));
    setenv("PGPITR_CONFIG", conf(f, "server = from-env-file\n"), 1);
    assert_int_equal(pitr_config_load(&f->cfg, flags, 1, &f->err), PITR_OK);
    assert_string_equal(f->cfg.server, "from-flag-file");
    assert_string_equal(f->cfg.config_file, flagged);
}

static void pitr_config_set__url_style_values(void **state)
{
    struct fx *f = *state;

    assert_int_equal(pitr_config_set(&f->cfg, "s3-url-style", "path", &f->err), PITR_OK);
    assert_int_equal(f->cfg.url_style, PITR_URL_STYLE_PATH);
    assert_int_equal(pitr_config_set(&f->cfg, "s3-url-style", "virtual", &f->err), PITR_OK);
    assert_int_equal(f->cfg.url_style, PITR_URL_STYLE_VIRTUAL);
    assert_int_equal(pitr_config_set(&f->cfg, "s3-url-style", "auto", &f->err), PITR_OK);
    assert_int_equal(f->cfg.url_style, PITR_URL_STYLE_AUTO);
    assert_int_equal(pitr_config_set(&f->cfg, "s3-url-style", "Path", &f->err), PITR_EUSAGE);
    assert_int_equal(pitr_config_set(&f->cfg, "s3-url-style", "", &f->err), PITR_EUSAGE);
    assert_msg_has(&f->err, "s3-url-style");
    assert_int_equal(f->cfg.url_style, PITR_URL_STYLE_AUTO); /* unchanged by failures */
}

static void pitr_config_set__payload_signing_values(void **state)
{
    struct fx *f = *state;

    assert_int_equal(f->cfg.payload_signing, PITR_PAYLOAD_SIGNING_FULL); /* the default */
    assert_int_equal(pitr_config_set(&f->cfg, "payload-signing", "unsigned", &f->err), PITR_OK);
    assert_int_equal(f->cfg.payload_signing, PITR_PAYLOAD_SIGNING_UNSIGNED);
    assert_int_equal(pitr_config_set(&f->cfg, "payload-signing", "none", &f->err), PITR_EUSAGE);
    assert_msg_has(&f->err, "payload-signing");
    assert_int_equal(f->cfg.payload_signing, PITR_PAYLOAD_SIGNING_UNSIGNED); /* unchanged */
    assert_int_equal(pitr_config_set(&f->cfg, "payload-signing", "full", &f->err), PITR_OK);
    assert_int_equal(f->cfg.payload_signing, PITR_PAYLOAD_SIGNING_FULL);
}

static void pitr_config_set__log_level_values(void **state)
{
    static const struct {
        const char *s;
        enum pitr_log_level want;
    } ok[] = {
        { "error", PITR_LOG_ERROR }, { "warn", PITR_LOG_WARN },   { "warning", PITR_LOG_WARN },
        { "info", PITR_LOG_INFO },   { "debug", PITR_LOG_DEBUG }, { "trace", PITR_LOG_TRACE },
        { "DEBUG", PITR_LOG_DEBUG }, { "Info", PITR_LOG_INFO },
    };
    struct fx *f = *state;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(pitr_config_set(&f->cfg, "log-level", ok[i].s, &f->err), PITR_OK);
        assert_int_equal(f->cfg.log_level, ok[i].want);
    }
    assert_int_equal(pitr_config_set(&f->cfg, "log-level", "verbose", &f->err), PITR_EUSAGE);
    assert_msg_has(&f->err, "verbose");
    assert_int_equal(pitr_config_set(&f->cfg, "log-level", "", &f->err), PITR_EUSAGE);
    assert_int_equal(f->cfg.log_level, PITR_LOG_INFO);
}

/* Setting a key twice replaces the value (the old one is freed: valgrind/ASan). */
static void pitr_config_set__replaces_value(void **state)
{
    struct fx *f = *state;

    assert_int_equal(pitr_config_set(&f->cfg, "repo", "file:///a", &f->err), PITR_OK);
    assert_int_equal(pitr_config_set(&f->cfg, "repo", "file:///b", &f->err), PITR_OK);
    assert_string_equal(f->cfg.repo, "file:///b");
    assert_int_equal(pitr_config_set(&f->cfg, "aws-secret-access-key", "OLDSECRET", &f->err),
                     PITR_OK);
    memset(&cleanse_spy, 0, sizeof(cleanse_spy));
    assert_int_equal(pitr_config_set(&f->cfg, "aws-secret-access-key", "NEWSECRET", &f->err),
                     PITR_OK);
    assert_string_equal(f->cfg.secret_key, "NEWSECRET");
    assert_true(cleansed("OLDSECRET")); /* the replaced secret was wiped */
    assert_int_equal(pitr_config_set(&f->cfg, "nope", "x", &f->err), PITR_EUSAGE);
    assert_msg_has(&f->err, "nope");
}

static void pitr_config_is_key__known_and_unknown(void **state)
{
    static const char *const known[] = {
        "repo",
        "server",
        "compression",
        "endpoint-url",
        "region",
        "ca-file",
        "s3-url-style",
        "log-level",
        "aws-access-key-id",
        "aws-secret-access-key",
        "aws-session-token",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        assert_true(pitr_config_is_key(known[i]));
    assert_false(pitr_config_is_key("config"));
    assert_false(pitr_config_is_key("Repo"));
    assert_false(pitr_config_is_key("--repo"));
    assert_false(pitr_config_is_key(""));
    assert_false(pitr_config_is_key("repository"));
}

/* Release wipes both secrets, frees everything and leaves an initialised struct. */
static void pitr_config_release__wipes_secrets_and_frees(void **state)
{
    struct fx *f = *state;

    setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRETKEY", 1);
    setenv("AWS_SESSION_TOKEN", "ENVSESSIONTOKEN", 1);
    assert_int_equal(load_with(f,
                               "repo = s3://b/p\nserver = s\nendpoint-url = https://h\n"
                               "ca-file = /ca\naws-access-key-id = AK\nlog-level = debug\n"
                               "s3-url-style = virtual\n",
                               NULL,
                               0),
                     PITR_OK);
    assert_string_equal(f->cfg.secret_key, "ENVSECRETKEY");
    memset(&cleanse_spy, 0, sizeof(cleanse_spy));
    pitr_config_release(&f->cfg);
    assert_true(cleansed("ENVSECRETKEY"));
    assert_true(cleansed("ENVSESSIONTOKEN"));
    assert_null(f->cfg.repo);
    assert_null(f->cfg.server);
    assert_null(f->cfg.config_file);
    assert_null(f->cfg.compression);
    assert_null(f->cfg.endpoint_url);
    assert_null(f->cfg.region);
    assert_null(f->cfg.ca_file);
    assert_null(f->cfg.access_key);
    assert_null(f->cfg.secret_key);
    assert_null(f->cfg.session_token);
    assert_int_equal(f->cfg.url_style, PITR_URL_STYLE_AUTO);
    assert_int_equal(f->cfg.log_level, PITR_LOG_WARN);
    pitr_config_release(&f->cfg); /* twice is fine */
}

/* A secret read from the file does not stay in the line buffer on the stack. */
static void pitr_config_load__file_line_buffer_wiped(void **state)
{
    struct fx *f = *state;

    memset(&cleanse_spy, 0, sizeof(cleanse_spy));
    assert_int_equal(load_with(f, "aws-secret-access-key = FILESECRET\n", NULL, 0), PITR_OK);
    assert_string_equal(f->cfg.secret_key, "FILESECRET");
    assert_true(cleansed_within("FILESECRET"));
}

static void pitr_config_load__s3_upload_settings(void **state)
{
    struct fx *f = *state;
    struct pitr_config_flag flags[] = { { "part-size", "64MiB" }, { "tags", "a=1,b=" } };

    setenv("PGPITR_MAX_PARTS", "1000", 1);
    setenv("PGPITR_INSECURE_SKIP_TLS_VERIFY", "1", 1);
    assert_int_equal(load_with(f,
                               "retry-max-time = 5\nencryption = aws:kms\nsse-kms-key-id = k1\n"
                               "storage-class = STANDARD_IA\npart-size = 8MiB\n",
                               flags,
                               2),
                     PITR_OK);
    assert_int_equal(f->cfg.max_parts, 1000);
    assert_true(f->cfg.part_size == (uint64_t)64 * 1024 * 1024);
    assert_int_equal(f->cfg.retry_max_time, 5);
    assert_string_equal(f->cfg.encryption, "aws:kms");
    assert_string_equal(f->cfg.sse_kms_key_id, "k1");
    assert_string_equal(f->cfg.storage_class, "STANDARD_IA");
    assert_string_equal(f->cfg.tags, "a=1,b=");
    assert_int_equal(f->cfg.insecure_skip_tls, 1);
}

static void pitr_config_load__s3_upload_defaults(void **state)
{
    struct fx *f = *state;

    assert_int_equal(load_with(f, "", NULL, 0), PITR_OK);
    assert_int_equal(f->cfg.max_parts, 10000);
    assert_true(f->cfg.part_size == (uint64_t)5 * 1024 * 1024);
    assert_int_equal(f->cfg.retry_max_time, 60);
    assert_null(f->cfg.encryption);
    assert_int_equal(f->cfg.insecure_skip_tls, 0);
}

static void pitr_config_set__s3_upload_bad_values(void **state)
{
    struct fx *f = *state;

    assert_int_equal(pitr_config_set(&f->cfg, "part-size", "4MiB", &f->err), PITR_EUSAGE);
    assert_msg_has(&f->err, "5MiB to 5GiB");
    assert_int_equal(pitr_config_set(&f->cfg, "part-size", "6GiB", &f->err), PITR_EUSAGE);
    assert_int_equal(pitr_config_set(&f->cfg, "part-size", "16 parsecs", &f->err), PITR_EUSAGE);
    assert_int_equal(pitr_config_set(&f->cfg, "part-size", "-5MiB", &f->err), PITR_EUSAGE);
    assert_int_equal(pitr_config_set(&f->cfg, "part-size", "5242880", &f->err), PITR_OK);
    assert_int_equal(pitr_config_set(&f->cfg, "part-size", "1G", &f->err), PITR_OK);
    assert_true(f->cfg.part_size == (uint64_t)1 << 30);
    assert_int_equal(pitr_config_set(&f->cfg, "max-parts", "0", &f->err), PITR_EUSAGE);
    assert_int_equal(pitr_config_set(&f->cfg, "max-parts", "10001", &f->err), PITR_EUSAGE);
    assert_int_equal(pitr_config_set(&f->cfg, "encryption", "aes256", &f->err), PITR_EUSAGE);
    assert_msg_has(&f->err, "expected AES256 or aws:kms");
    assert_int_equal(pitr_config_set(&f->cfg, "tags", "novalue", &f->err), PITR_EUSAGE);
    assert_int_equal(pitr_config_set(&f->cfg, "insecure-skip-tls-verify", "maybe", &f->err),
                     PITR_EUSAGE);
    assert_int_equal(pitr_config_set(&f->cfg, "insecure-skip-tls-verify", "off", &f->err), PITR_OK);
    assert_int_equal(f->cfg.insecure_skip_tls, 0);
}

static void pitr_config_copy__deep(void **state)
{
    struct fx *f = *state;
    struct pitr_config copy;

    assert_int_equal(load_with(f, "tags = a=b\nrepo = file:///x\n", NULL, 0), PITR_OK);
    pitr_config_copy(&copy, &f->cfg);
    assert_string_equal(copy.tags, "a=b");
    assert_true(copy.tags != f->cfg.tags);
    assert_string_equal(copy.repo, "file:///x");
    assert_true(copy.part_size == f->cfg.part_size);
    pitr_config_release(&copy);
}

/* A config file holding a secret that others can read gets a warning; 0600 does not. */
static void pitr_config_load__secret_readable_by_others_warns(void **state)
{
    struct fx *f = *state;
    struct pitr_test_log log = { { 0 } };

    pitr_log_set_sink(pitr_test_log_sink, &log);
    assert_int_equal(load_with(f, "repo = file:///r\naws-secret-access-key = S3CRET\n", NULL, 0),
                     PITR_OK);
    assert_null(strstr(log.text, "chmod 600")); /* mkstemp: 0600 */
    pitr_config_release(&f->cfg);
    pitr_config_init(&f->cfg);
    assert_int_equal(chmod(f->path, 0644), 0);
    assert_int_equal(pitr_config_load(&f->cfg, NULL, 0, &f->err), PITR_OK);
    assert_non_null(strstr(log.text, "holds 'aws-secret-access-key'"));
    assert_non_null(strstr(log.text, "mode 0644"));
    assert_null(strstr(log.text, "S3CRET")); /* never the secret itself */
    /* No secret in it: no warning, whatever the mode. */
    memset(log.text, 0, sizeof(log.text));
    pitr_config_release(&f->cfg);
    pitr_config_init(&f->cfg);
    assert_int_equal(load_with(f, "repo = file:///r\nserver = pg1\n", NULL, 0), PITR_OK);
    assert_int_equal(chmod(f->path, 0644), 0);
    pitr_config_release(&f->cfg);
    pitr_config_init(&f->cfg);
    assert_int_equal(pitr_config_load(&f->cfg, NULL, 0, &f->err), PITR_OK);
    assert_null(strstr(log.text, "chmod 600"));
    pitr_log_set_sink(NULL, NULL);
}

static void expect_bad_server(const char *name, const char *part)
{
    struct pitr_err err;

    pitr_err_clear(&err);
    assert_int_equal(pitr_config_check_server(name, &err), PITR_EUSAGE);
    if (strstr(err.msg, part) == NULL) {
        print_error("server '%s': message '%s' does not contain '%s'\n",
                    name ? name : "(null)",
                    err.msg,
                    part);
        fail();
    }
}

static void pitr_config_check_server__one_rule_for_every_command(void **state)
{
    struct pitr_err err;
    char longname[300];
    struct pitr_config cfg;

    (void)state;
    assert_int_equal(pitr_config_check_server("pg1", &err), PITR_OK);
    assert_int_equal(pitr_config_check_server("db.prod-1_x", &err), PITR_OK);
    assert_int_equal(pitr_config_check_server("...", &err), PITR_OK);
    expect_bad_server(NULL, "no server name");
    expect_bad_server("", "the server name is empty");
    expect_bad_server(".", "server name '.' is not allowed");
    expect_bad_server("..", "server name '..' is not allowed");
    expect_bad_server("../", "must not contain '/'");
    expect_bad_server("a/b", "must not contain '/'");
    expect_bad_server("a\tb", "control characters (byte 0x09 at offset 1)");
    expect_bad_server("a\nb", "control characters");
    expect_bad_server("a\x7f", "control characters");
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    expect_bad_server(longname, "at most 255");
    pitr_config_init(&cfg);
    assert_int_equal(pitr_config_require_repo(&cfg, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "no repository"));
    assert_int_equal(pitr_config_set(&cfg, "repo", "file:///r", &err), PITR_OK);
    assert_int_equal(pitr_config_require_repo(&cfg, &err), PITR_EUSAGE);
    assert_non_null(strstr(err.msg, "no server name"));
    assert_int_equal(pitr_config_set(&cfg, "server", "pg1", &err), PITR_OK);
    assert_int_equal(pitr_config_require_repo(&cfg, &err), PITR_OK);
    pitr_config_release(&cfg);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_config_init__defaults_before_load),
        T(pitr_config_load__empty_file_gives_defaults),
        T(pitr_config_load__file_sets_every_key),
        T(pitr_config_load__comments_and_blank_lines),
        T(pitr_config_load__precedence_flag_env_file),
        T(pitr_config_load__env_beats_file_enum),
        T(pitr_config_load__empty_env_ignored),
        T(pitr_config_load__aws_region_then_default_region),
        T(pitr_config_load__flag_region_beats_env),
        T(pitr_config_load__unknown_key_names_file_and_line),
        T(pitr_config_load__malformed_line),
        T(pitr_config_load__bad_values_in_file),
        T(pitr_config_load__bad_env_value_names_variable),
        T(pitr_config_load__bad_flags),
        T(pitr_config_load__missing_explicit_config_fails),
        T(pitr_config_load__missing_env_config_fails),
        T(pitr_config_load__missing_default_file_is_fine),
        T(pitr_config_load__config_flag_beats_env),
        T(pitr_config_set__url_style_values),
        T(pitr_config_set__payload_signing_values),
        T(pitr_config_set__log_level_values),
        T(pitr_config_set__replaces_value),
        cmocka_unit_test(pitr_config_is_key__known_and_unknown),
        T(pitr_config_load__s3_upload_settings),
        T(pitr_config_load__s3_upload_defaults),
        T(pitr_config_set__s3_upload_bad_values),
        T(pitr_config_copy__deep),
        T(pitr_config_release__wipes_secrets_and_frees),
        T(pitr_config_load__file_line_buffer_wiped),
        T(pitr_config_load__secret_readable_by_others_warns),
        T(pitr_config_check_server__one_rule_for_every_command),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
