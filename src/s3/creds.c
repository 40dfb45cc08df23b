/* creds.c - the AWS credential chain; see include/pgpitr/s3/creds.h. */
#include "pgpitr/s3/creds.h"

#include <ctype.h>
#include <expat.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <unistd.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/fsutil.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/http/http.h"
#include "pgpitr/s3/sigv4.h"
#include "s3/creds_int.h"

#define SHARED_FILE_LIMIT    ((size_t)1024 * 1024)
#define TOKEN_FILE_LIMIT     ((size_t)64 * 1024) /* STS takes web identity tokens up to 20000 */
#define RESPONSE_LIMIT       ((size_t)256 * 1024)
#define XML_TEXT_LIMIT       ((size_t)8192)
#define TRIED_LIMIT          ((size_t)2048)
#define CONTAINER_HOST       "http://169.254.170.2"
#define IMDS_DEFAULT_URL     "http://169.254.169.254"
#define IMDS_TOKEN_TTL       "21600"
#define IMDS_CONNECT_MS      1000L
#define IMDS_LOW_SPEED_S     2L
#define CONTAINER_CONNECT_MS 2000L
#define STS_CONNECT_MS       5000L
#define NET_LOW_SPEED_S      10L
/* Every credential request (STS, container, IMDS) is over within this, trickle or not. */
#define CREDS_REQUEST_DEADLINE_MS 30000L
#define STS_MAX_DEPTH             16

enum kind {
    K_STATIC,
    K_WEB_IDENTITY,
    K_CONTAINER,
    K_IMDS,
};

struct pitr_creds_provider {
    pthread_mutex_t lock;
    atomic_int refs;
    enum kind kind;
    char source[32];
    int have;                    /* under lock: cached holds credentials */
    struct pitr_s3_creds cached; /* under lock; secret: wiped on free */
    char *tried;                 /* owned; why each earlier source did not apply */
    /* Web identity. */
    char *role_arn;     /* owned */
    char *token_file;   /* owned */
    char *session_name; /* owned */
    char *sts_url;      /* owned */
    /* Container. */
    char *container_url;   /* owned */
    char *auth_token;      /* owned, or NULL; secret: wiped on free */
    char *auth_token_file; /* owned, or NULL */
    /* IMDS. */
    char *imds_url; /* owned; without a trailing '/' */
};

static int empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

static void free_secret(char *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, strlen(s));
    pitr_free(s);
}

void pitr_s3_creds_clear(struct pitr_s3_creds *c)
{
    OPENSSL_cleanse(c, sizeof(*c));
    memset(c, 0, sizeof(*c));
}

/* Copy s into a source[32] field, cut to fit (profile names can be long). */
static void set_source(char dst[32], const char *s)
{
    size_t n = strnlen(s, 31);

    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Replace every occurrence of secret in msg by "***", in place. */
static void scrub(char *msg, const char *secret)
{
    size_t n;
    char *p;

    if (empty(secret) || (n = strlen(secret)) < 4)
        return;
    while ((p = strstr(msg, secret)) != NULL) {
        memcpy(p, "***", 3);
        memmove(p + 3, p + n, strlen(p + n) + 1);
    }
}

/* True when s[0..n) holds a control character (CR, LF, ...): unfit for a header. */
static int has_ctl(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    return 0;
}

/* Copy src[0..n) into a fixed field; what names the field (never its value). */
static pitr_rc put_field(char *dst,
                         size_t size,
                         const char *src,
                         size_t n,
                         const char *source,
                         const char *what,
                         struct pitr_err *err)
{
    if (n >= size)
        return pitr_err_set(
          err, PITR_ELIMIT, "%s credentials: %s is longer than %zu bytes", source, what, size - 1);
    if (has_ctl(src, n))
        return pitr_err_set(
          err, PITR_EFORMAT, "%s credentials: %s holds a control character", source, what);
    memcpy(dst, src, n);
    dst[n] = '\0';
    return PITR_OK;
}

/* Fill *c from NUL-terminated strings; token may be NULL. */
static pitr_rc fill_creds(struct pitr_s3_creds *c,
                          const char *source,
                          const char *ak,
                          const char *sk,
                          const char *token,
                          time_t expires,
                          struct pitr_err *err)
{
    pitr_rc rc;

    pitr_s3_creds_clear(c);
    set_source(c->source, source);
    rc = put_field(
      c->access_key, sizeof(c->access_key), ak, strlen(ak), source, "the access key", err);
    if (rc == PITR_OK)
        rc = put_field(
          c->secret_key, sizeof(c->secret_key), sk, strlen(sk), source, "the secret key", err);
    if (rc == PITR_OK && token != NULL)
        rc = put_field(c->session_token,
                       sizeof(c->session_token),
                       token,
                       strlen(token),
                       source,
                       "the session token",
                       err);
    c->expires = expires;
    if (rc != PITR_OK) {
        pitr_s3_creds_clear(c);
        return rc;
    }
    return PITR_OK;
}

static void trim_buf(struct pitr_buf *b)
{
    while (b->len > 0 && isspace((unsigned char)b->data[b->len - 1]))
        b->data[--b->len] = '\0';
}

static void format_time(time_t t, char out[32])
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

/* ---- ISO 8601 ---------------------------------------------------------- */

static int digits(const char *s, int n, int *out)
{
    int i, v = 0;

    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

pitr_rc pitr_creds_parse_time(const char *s, time_t *out, struct pitr_err *err)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    const char *p = s;
    time_t t;

    if (digits(p, 4, &y) || p[4] != '-' || digits(p + 5, 2, &mo) || p[7] != '-' ||
        digits(p + 8, 2, &d) || (p[10] != 'T' && p[10] != 't') || digits(p + 11, 2, &h) ||
        p[13] != ':' || digits(p + 14, 2, &mi) || p[16] != ':' || digits(p + 17, 2, &sec))
        goto bad;
    p += 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            goto bad;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
            goto bad;
        p += 6;
    } else {
        goto bad;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
        oh > 23 || om > 59)
        goto bad;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        goto bad;
    *out = t - (time_t)sign * (oh * 3600 + om * 60);
    return PITR_OK;
bad:
    return pitr_err_set(err, PITR_EFORMAT, "malformed time '%.64s'", s);
}

/* ---- shared files ------------------------------------------------------ */

void pitr_creds_profile_init(struct pitr_creds_profile *prof)
{
    memset(prof, 0, sizeof(*prof));
}

void pitr_creds_profile_release(struct pitr_creds_profile *prof)
{
    pitr_free(prof->access_key);
    free_secret(prof->secret_key);
    free_secret(prof->session_token);
    pitr_free(prof->role_arn);
    pitr_free(prof->web_identity_token_file);
    pitr_free(prof->role_session_name);
    pitr_creds_profile_init(prof);
}

static int span_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

static void trim_span(const char **s, const char **e)
{
    while (*s < *e && isspace((unsigned char)**s))
        (*s)++;
    while (*e > *s && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

/* Does the section header text s[0..n) (trimmed) name the profile? */
static int section_matches(const char *s, size_t n, int config_style, const char *name)
{
    const char *e = s + n;

    if (config_style) {
        if (n == 7 && memcmp(s, "default", 7) == 0)
            return strcmp(name, "default") == 0;
        if (n < 8 || memcmp(s, "profile", 7) != 0 || !isspace((unsigned char)s[7]))
            return 0;
        s += 7;
        trim_span(&s, &e);
        n = (size_t)(e - s);
    }
    return strlen(name) == n && memcmp(s, name, n) == 0;
}

static void set_str(char **dst, const char *v, size_t n, int secret)
{
    if (secret)
        free_secret(*dst);
    else
        pitr_free(*dst);
    *dst = pitr_strndup(v, n);
}

static void set_key(struct pitr_creds_profile *prof,
                    const char *k,
                    size_t kn,
                    const char *v,
                    size_t vn)
{
    static const char *const unsupported[] = {
        "source_profile", "credential_process", "credential_source", "sso_session", "sso_start_url",
    };
    size_t i;

    if (span_is(k, kn, "aws_access_key_id"))
        set_str(&prof->access_key, v, vn, 0);
    else if (span_is(k, kn, "aws_secret_access_key"))
        set_str(&prof->secret_key, v, vn, 1);
    else if (span_is(k, kn, "aws_session_token"))
        set_str(&prof->session_token, v, vn, 1);
    else if (span_is(k, kn, "role_arn"))
        set_str(&prof->role_arn, v, vn, 0);
    else if (span_is(k, kn, "web_identity_token_file"))
        set_str(&prof->web_identity_token_file, v, vn, 0);
    else if (span_is(k, kn, "role_session_name"))
        set_str(&prof->role_session_name, v, vn, 0);
    else
        for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
            if (span_is(k, kn, unsupported[i]) && prof->unsupported[0] == '\0')
                snprintf(prof->unsupported, sizeof(prof->unsupported), "%s", unsupported[i]);
}

pitr_rc pitr_creds_profile_parse(const char *text,
                                 size_t len,
                                 int config_style,
                                 const char *name,
                                 const char *path,
                                 struct pitr_creds_profile *prof,
                                 struct pitr_err *err)
{
    const char *p = text, *end = text + len;
    int lineno = 0, in_section = 0, prev_empty_value = 0;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *s = p, *e, *close, *eq, *k, *ke, *v, *ve;
        int indented;

        if (eol == NULL)
            eol = end;
        e = eol;
        p = eol < end ? eol + 1 : end;
        lineno++;
        indented = s < e && (*s == ' ' || *s == '\t');
        trim_span(&s, &e);
        if (s == e || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            const char *ns, *ne;

            close = memchr(s, ']', (size_t)(e - s));
            if (close == NULL)
                return pitr_err_set(
                  err, PITR_EFORMAT, "'%s' line %d: section header without ']'", path, lineno);
            ns = close + 1;
            ne = e;
            trim_span(&ns, &ne);
            if (ns != ne && *ns != '#' && *ns != ';')
                return pitr_err_set(
                  err, PITR_EFORMAT, "'%s' line %d: text after a section header", path, lineno);
            ns = s + 1;
            ne = close;
            trim_span(&ns, &ne);
            in_section = section_matches(ns, (size_t)(ne - ns), config_style, name);
            if (in_section)
                prof->found = 1;
            prev_empty_value = 0;
            continue;
        }
        if (indented && prev_empty_value)
            continue; /* a sub-property ("s3 =" and its indented lines) */
        eq = memchr(s, '=', (size_t)(e - s));
        if (eq == NULL || eq == s)
            return pitr_err_set(err,
                                PITR_EFORMAT,
                                "'%s' line %d: expected '[section]' or 'key = value'",
                                path,
                                lineno);
        k = s;
        ke = eq;
        v = eq + 1;
        ve = e;
        trim_span(&k, &ke);
        trim_span(&v, &ve);
        prev_empty_value = v == ve;
        if (in_section)
            set_key(prof, k, (size_t)(ke - k), v, (size_t)(ve - v));
    }
    return PITR_OK;
}

/* Read one shared file (a missing one is fine) and merge the profile from it. */
static pitr_rc read_shared(const char *path,
                           int config_style,
                           const char *name,
                           struct pitr_creds_profile *prof,
                           struct pitr_err *err)
{
    struct pitr_buf text;
    pitr_rc rc;

    if (path == NULL)
        return PITR_OK;
    pitr_buf_init(&text, SHARED_FILE_LIMIT);
    rc = pitr_fs_read_file(path, &text, err);
    if (rc == PITR_ENOTFOUND) {
        rc = PITR_OK;
        goto out;
    }
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "shared AWS %s file", config_style ? "config" : "credentials");
        goto out;
    }
    rc = pitr_creds_profile_parse(text.data, text.len, config_style, name, path, prof, err);
out:
    pitr_buf_release_secure(&text);
    return rc;
}

/* The home folder: $HOME, else the password database; NULL when unknown. */
static char *home_dir(void)
{
    const char *h = getenv("HOME");
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (!empty(h))
        return pitr_strdup(h);
    if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res != NULL && !empty(pw.pw_dir))
        return pitr_strdup(pw.pw_dir);
    return NULL;
}

/* value, or deflt when it is unset, with a leading "~/" expanded; NULL without a home. */
static char *shared_path(const char *value, const char *deflt)
{
    const char *s = empty(value) ? deflt : value;
    char *home, *out;

    if (s[0] != '~' || (s[1] != '/' && s[1] != '\0'))
        return pitr_strdup(s);
    home = home_dir();
    if (home == NULL)
        return NULL;
    out = pitr_asprintf("%s%s", home, s + 1);
    pitr_free(home);
    return out;
}

/* ---- the chain, resolved in pitr_creds_provider_new() ------------------ */

static pitr_rc note(struct pitr_buf *tried, struct pitr_err *err, const char *fmt, ...)
  PITR_PRINTF(3, 4);

static pitr_rc note(struct pitr_buf *tried, struct pitr_err *err, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (tried->len > 0 && pitr_buf_append_str(tried, "; ", err) != PITR_OK)
        return err->code;
    return pitr_buf_append_str(tried, line, err);
}

static pitr_rc use_static(struct pitr_creds_provider *p,
                          const char *source,
                          const char *ak,
                          const char *sk,
                          const char *token,
                          struct pitr_err *err)
{
    pitr_rc rc = fill_creds(&p->cached, source, ak, sk, empty(token) ? NULL : token, 0, err);

    if (rc != PITR_OK)
        return rc;
    p->kind = K_STATIC;
    p->have = 1;
    set_source(p->source, source);
    return PITR_OK;
}

static int same(const char *a, const char *b)
{
    return !empty(a) && !empty(b) && strcmp(a, b) == 0;
}

static pitr_rc try_config(struct pitr_creds_provider *p,
                          const struct pitr_config *cfg,
                          struct pitr_buf *tried,
                          int *found,
                          struct pitr_err *err)
{
    const char *source;

    if (cfg == NULL || (empty(cfg->access_key) && empty(cfg->secret_key)))
        return note(tried, err, "options and config file (aws-access-key-id not set)");
    if (empty(cfg->access_key))
        return pitr_err_set(
          err, PITR_EUSAGE, "aws-secret-access-key is set but aws-access-key-id is not");
    if (empty(cfg->secret_key))
        return pitr_err_set(
          err, PITR_EUSAGE, "aws-access-key-id is set but aws-secret-access-key is not");
    /* The config loader merges AWS_* into cfg: name the source the user set. */
    source = same(cfg->access_key, getenv("AWS_ACCESS_KEY_ID")) &&
                 same(cfg->secret_key, getenv("AWS_SECRET_ACCESS_KEY"))
               ? "env"
               : "config";
    *found = 1;
    return use_static(p, source, cfg->access_key, cfg->secret_key, cfg->session_token, err);
}

static pitr_rc try_env(struct pitr_creds_provider *p,
                       struct pitr_buf *tried,
                       int *found,
                       struct pitr_err *err)
{
    const char *ak = getenv("AWS_ACCESS_KEY_ID");
    const char *sk = getenv("AWS_SECRET_ACCESS_KEY");

    if (empty(ak) && empty(sk))
        return note(tried, err, "environment (AWS_ACCESS_KEY_ID not set)");
    if (empty(ak))
        return pitr_err_set(
          err, PITR_EUSAGE, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
    if (empty(sk))
        return pitr_err_set(
          err, PITR_EUSAGE, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    *found = 1;
    return use_static(p, "env", ak, sk, getenv("AWS_SESSION_TOKEN"), err);
}

static int valid_region(const char *r)
{
    for (; *r != '\0'; r++)
        if (!islower((unsigned char)*r) && !isdigit((unsigned char)*r) && *r != '-')
            return 0;
    return 1;
}

static pitr_rc use_web_identity(struct pitr_creds_provider *p,
                                const struct pitr_config *cfg,
                                const char *role_arn,
                                const char *token_file,
                                const char *session_name,
                                struct pitr_err *err)
{
    const char *region = getenv("AWS_REGION");
    const char *endpoint = getenv("AWS_ENDPOINT_URL_STS");

    if (empty(region) && cfg != NULL)
        region = cfg->region;
    if (empty(region))
        region = "us-east-1";
    if (empty(session_name))
        session_name = getenv("AWS_ROLE_SESSION_NAME");
    p->role_arn = pitr_strdup(role_arn);
    p->token_file = pitr_strdup(token_file);
    p->session_name =
      empty(session_name) ? pitr_asprintf("pgpitr-%ld", (long)getpid()) : pitr_strdup(session_name);
    if (!empty(endpoint)) {
        p->sts_url = pitr_strdup(endpoint);
    } else {
        if (!valid_region(region))
            return pitr_err_set(
              err, PITR_EUSAGE, "web identity credentials: invalid region '%s'", region);
        p->sts_url = pitr_asprintf(
          "https://sts.%s.amazonaws.com%s/", region, strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
    }
    p->kind = K_WEB_IDENTITY;
    set_source(p->source, "web-identity");
    return PITR_OK;
}

static pitr_rc try_profile(struct pitr_creds_provider *p,
                           const struct pitr_config *cfg,
                           const char *profile,
                           struct pitr_buf *tried,
                           int *found,
                           struct pitr_err *err)
{
    struct pitr_creds_profile prof;
    const char *name = !empty(profile) ? profile : getenv("AWS_PROFILE");
    int named = !empty(name);
    char *cpath = shared_path(getenv("AWS_SHARED_CREDENTIALS_FILE"), "~/.aws/credentials");
    char *fpath = shared_path(getenv("AWS_CONFIG_FILE"), "~/.aws/config");
    char source[64];
    pitr_rc rc;

    pitr_creds_profile_init(&prof);
    if (!named)
        name = "default";
    rc = read_shared(fpath, 1, name, &prof, err);
    if (rc == PITR_OK)
        rc = read_shared(cpath, 0, name, &prof, err);
    if (rc != PITR_OK)
        goto out;
    if (!prof.found) {
        if (named)
            rc = pitr_err_set(err,
                              PITR_EUSAGE,
                              "AWS profile '%s' not found in '%s' or '%s'",
                              name,
                              cpath ? cpath : "~/.aws/credentials",
                              fpath ? fpath : "~/.aws/config");
        else
            rc = note(tried,
                      err,
                      "profile 'default' (not in '%s' or '%s')",
                      cpath ? cpath : "~/.aws/credentials (no home folder)",
                      fpath ? fpath : "~/.aws/config (no home folder)");
        goto out;
    }
    if (!empty(prof.access_key) || !empty(prof.secret_key)) {
        if (empty(prof.access_key) || empty(prof.secret_key)) {
            rc =
              pitr_err_set(err,
                           PITR_EUSAGE,
                           "AWS profile '%s': %s is set but %s is not",
                           name,
                           empty(prof.access_key) ? "aws_secret_access_key" : "aws_access_key_id",
                           empty(prof.access_key) ? "aws_access_key_id" : "aws_secret_access_key");
            goto out;
        }
        snprintf(source, sizeof(source), "profile:%s", name);
        *found = 1;
        rc = use_static(p, source, prof.access_key, prof.secret_key, prof.session_token, err);
        goto out;
    }
    if (!empty(prof.role_arn) && !empty(prof.web_identity_token_file)) {
        *found = 1;
        rc = use_web_identity(
          p, cfg, prof.role_arn, prof.web_identity_token_file, prof.role_session_name, err);
        goto out;
    }
    if (prof.unsupported[0] != '\0')
        rc = pitr_err_set(err,
                          PITR_EUSAGE,
                          "AWS profile '%s' uses %s, which pgpitr does not support\n"
                          "HINT: give the profile aws_access_key_id and aws_secret_access_key, "
                          "or role_arn and web_identity_token_file",
                          name,
                          prof.unsupported);
    else if (!empty(prof.role_arn) || !empty(prof.web_identity_token_file))
        rc = pitr_err_set(err,
                          PITR_EUSAGE,
                          "AWS profile '%s': %s is set but %s is not",
                          name,
                          empty(prof.role_arn) ? "web_identity_token_file" : "role_arn",
                          empty(prof.role_arn) ? "role_arn" : "web_identity_token_file");
    else if (named)
        rc = pitr_err_set(err, PITR_EUSAGE, "AWS profile '%s' holds no credentials", name);
    else
        rc = note(tried, err, "profile 'default' (no credentials in it)");
out:
    pitr_creds_profile_release(&prof);
    pitr_free(cpath);
    pitr_free(fpath);
    return rc;
}

static pitr_rc try_web_identity(struct pitr_creds_provider *p,
                                const struct pitr_config *cfg,
                                struct pitr_buf *tried,
                                int *found,
                                struct pitr_err *err)
{
    const char *arn = getenv("AWS_ROLE_ARN");
    const char *file = getenv("AWS_WEB_IDENTITY_TOKEN_FILE");

    if (empty(arn) && empty(file))
        return note(
          tried, err, "web identity (AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE not set)");
    if (empty(arn) || empty(file))
        return pitr_err_set(err,
                            PITR_EUSAGE,
                            "%s is set but %s is not",
                            empty(arn) ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN",
                            empty(arn) ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE");
    *found = 1;
    return use_web_identity(p, cfg, arn, file, NULL, err);
}

/*
 * Plain HTTP to a full URI is fine only on the machine itself or to the
 * ECS/EKS agent addresses: elsewhere the token and credentials would cross
 * a network in clear.
 */
static int full_uri_allowed(const char *url)
{
    static const char *const hosts[] = {
        "localhost", "[::1]", "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]",
    };
    const char *h, *e;
    size_t i, n;

    if (strncasecmp(url, "https://", 8) == 0)
        return 1;
    if (strncasecmp(url, "http://", 7) != 0)
        return 0;
    h = url + 7;
    if (*h == '[') {
        e = strchr(h, ']');
        if (e == NULL)
            return 0;
        e++;
    } else {
        e = h + strcspn(h, ":/?#@");
        if (*e == '@')
            return 0;
    }
    n = (size_t)(e - h);
    if (n > 4 && strncmp(h, "127.", 4) == 0)
        return 1;
    for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
        if (strlen(hosts[i]) == n && strncasecmp(h, hosts[i], n) == 0)
            return 1;
    return 0;
}

static pitr_rc try_container(struct pitr_creds_provider *p,
                             struct pitr_buf *tried,
                             int *found,
                             struct pitr_err *err)
{
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *tok = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    const char *tokf = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");

    if (!empty(rel)) {
        if (rel[0] != '/')
            return pitr_err_set(
              err,
              PITR_EUSAGE,
              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI '%s' does not start with '/'",
              rel);
        p->container_url = pitr_asprintf("%s%s", CONTAINER_HOST, rel);
    } else if (!empty(full)) {
        if (!full_uri_allowed(full))
            return pitr_err_set(
              err,
              PITR_EUSAGE,
              "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, or http to a loopback "
              "address or the container agent (169.254.170.2, 169.254.170.23)");
        p->container_url = pitr_strdup(full);
    } else {
        return note(
          tried, err, "container (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set)");
    }
    if (!empty(tokf))
        p->auth_token_file = pitr_strdup(tokf);
    else if (!empty(tok))
        p->auth_token = pitr_strdup(tok);
    p->kind = K_CONTAINER;
    set_source(p->source, "container");
    *found = 1;
    return PITR_OK;
}

static pitr_rc try_imds(struct pitr_creds_provider *p,
                        struct pitr_buf *tried,
                        int *found,
                        struct pitr_err *err)
{
    const char *off = getenv("AWS_EC2_METADATA_DISABLED");
    const char *url = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    size_t n;

    if (off != NULL && strcasecmp(off, "true") == 0)
        return note(tried, err, "EC2 instance metadata (AWS_EC2_METADATA_DISABLED=true)");
    if (empty(url))
        url = IMDS_DEFAULT_URL;
    n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    p->imds_url = pitr_strndup(url, n);
    p->kind = K_IMDS;
    set_source(p->source, "imds");
    *found = 1;
    return PITR_OK;
}

static void provider_free(struct pitr_creds_provider *p)
{
    pthread_mutex_destroy(&p->lock);
    pitr_s3_creds_clear(&p->cached);
    pitr_free(p->tried);
    pitr_free(p->role_arn);
    pitr_free(p->token_file);
    pitr_free(p->session_name);
    pitr_free(p->sts_url);
    pitr_free(p->container_url);
    free_secret(p->auth_token);
    pitr_free(p->auth_token_file);
    pitr_free(p->imds_url);
    pitr_free(p);
}

pitr_rc pitr_creds_provider_new(const struct pitr_config *cfg,
                                const char *profile,
                                struct pitr_creds_provider **out,
                                struct pitr_err *err)
{
    struct pitr_creds_provider *p = pitr_calloc(1, sizeof(*p));
    struct pitr_buf tried;
    int found = 0;
    pitr_rc rc;

    *out = NULL;
    pitr_buf_init(&tried, TRIED_LIMIT);
    pthread_mutex_init(&p->lock, NULL);
    atomic_init(&p->refs, 1);

    rc = try_config(p, cfg, &tried, &found, err);
    if (rc == PITR_OK && !found)
        rc = try_env(p, &tried, &found, err);
    if (rc == PITR_OK && !found)
        rc = try_profile(p, cfg, profile, &tried, &found, err);
    if (rc == PITR_OK && !found)
        rc = try_web_identity(p, cfg, &tried, &found, err);
    if (rc == PITR_OK && !found)
        rc = try_container(p, &tried, &found, err);
    if (rc == PITR_OK && !found)
        rc = try_imds(p, &tried, &found, err);
    if (rc != PITR_OK)
        goto out;
    if (!found) {
        rc = pitr_err_set(err, PITR_EUSAGE, "no S3 credentials found: tried %s", tried.data);
        goto out;
    }
    p->tried = pitr_buf_detach(&tried, NULL);
    pitr_log_debug("s3 credentials: from %s", p->source);
    *out = p;
    p = NULL;
out:
    pitr_buf_release(&tried);
    if (p != NULL)
        provider_free(p);
    return rc;
}

const char *pitr_creds_provider_source(const struct pitr_creds_provider *p)
{
    return p->source;
}

struct pitr_creds_provider *pitr_creds_provider_ref(struct pitr_creds_provider *p)
{
    atomic_fetch_add(&p->refs, 1);
    return p;
}

void pitr_creds_provider_unref(struct pitr_creds_provider *p)
{
    if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    provider_free(p);
}

/* ---- HTTP -------------------------------------------------------------- */

static pitr_rc http_open(long connect_ms,
                         long low_speed_s,
                         struct pitr_http **h,
                         struct pitr_err *err)
{
    struct pitr_http_opts o;

    memset(&o, 0, sizeof(o));
    o.connect_timeout_ms = connect_ms;
    o.low_speed_time_s = low_speed_s;
    return pitr_http_new(&o, h, err);
}

static pitr_rc http_do(struct pitr_http *h,
                       const char *method,
                       const char *url,
                       const struct pitr_http_header *hdrs,
                       size_t n_hdrs,
                       const struct pitr_buf *body,
                       struct pitr_buf *resp_body,
                       long *status,
                       struct pitr_err *err)
{
    struct pitr_http_request req;
    struct pitr_http_response resp;
    pitr_rc rc;

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.headers = hdrs;
    req.n_headers = n_hdrs;
    if (body != NULL) {
        req.body = body->data;
        req.body_len = body->len;
    }
    req.resp_body = resp_body;
    req.deadline_ms = pitr_http_now_ms() + CREDS_REQUEST_DEADLINE_MS;
    pitr_buf_reset(resp_body);
    rc = pitr_http_perform(h, &req, &resp, err);
    *status = rc == PITR_OK ? resp.status : 0;
    return rc;
}

/* ---- STS AssumeRoleWithWebIdentity -------------------------------------- */

enum sts_field {
    SF_NONE = 0,
    SF_AK,
    SF_SK,
    SF_TOKEN,
    SF_EXP,
    SF_CODE,
    SF_MESSAGE,
};

struct sts_doc {
    int is_error;                      /* the root was <ErrorResponse> */
    struct pitr_buf f[SF_MESSAGE + 1]; /* text of each field; secret */
};

struct sts_state {
    XML_Parser parser;
    struct sts_doc *doc;
    int depth;
    int creds_depth; /* depth of <Credentials>, or 0 */
    int error_depth; /* depth of <Error>, or 0 */
    enum sts_field field;
    pitr_rc rc;
    struct pitr_err *err;
};

static void sts_doc_init(struct sts_doc *d)
{
    size_t i;

    memset(d, 0, sizeof(*d));
    for (i = 0; i <= SF_MESSAGE; i++)
        pitr_buf_init(&d->f[i], XML_TEXT_LIMIT);
}

static void sts_doc_release(struct sts_doc *d)
{
    size_t i;

    for (i = 0; i <= SF_MESSAGE; i++)
        pitr_buf_release_secure(&d->f[i]);
}

static void sts_fail(struct sts_state *st, pitr_rc rc, const char *what)
{
    if (st->rc == PITR_OK) {
        st->rc = rc;
        pitr_err_set(st->err, rc, "malformed STS response: %s", what);
    }
    XML_StopParser(st->parser, XML_FALSE);
}

static const char *local_name(const XML_Char *name)
{
    const char *sep = strrchr(name, '|');

    return sep != NULL ? sep + 1 : name;
}

static void sts_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct sts_state *st = ud;
    const char *n = local_name(name);

    (void)attrs;
    st->depth++;
    st->field = SF_NONE;
    /* STS documents nest 4 deep; expat keeps state for every open element. */
    if (st->depth > STS_MAX_DEPTH) {
        sts_fail(st, PITR_ELIMIT, "elements nested too deep");
        return;
    }
    if (st->depth == 1) {
        if (strcmp(n, "ErrorResponse") == 0)
            st->doc->is_error = 1;
        else if (strcmp(n, "AssumeRoleWithWebIdentityResponse") != 0)
            sts_fail(st, PITR_EFORMAT, "unexpected root element");
        return;
    }
    if (!st->doc->is_error && st->creds_depth == 0 && strcmp(n, "Credentials") == 0) {
        st->creds_depth = st->depth;
    } else if (st->doc->is_error && st->error_depth == 0 && strcmp(n, "Error") == 0) {
        st->error_depth = st->depth;
    } else if (st->creds_depth != 0 && st->depth == st->creds_depth + 1) {
        if (strcmp(n, "AccessKeyId") == 0)
            st->field = SF_AK;
        else if (strcmp(n, "SecretAccessKey") == 0)
            st->field = SF_SK;
        else if (strcmp(n, "SessionToken") == 0)
            st->field = SF_TOKEN;
        else if (strcmp(n, "Expiration") == 0)
            st->field = SF_EXP;
    } else if (st->error_depth != 0 && st->depth == st->error_depth + 1) {
        if (strcmp(n, "Code") == 0)
            st->field = SF_CODE;
        else if (strcmp(n, "Message") == 0)
            st->field = SF_MESSAGE;
    }
    if (st->field != SF_NONE)
        pitr_buf_reset(&st->doc->f[st->field]);
}

static void sts_end(void *ud, const XML_Char *name)
{
    struct sts_state *st = ud;

    (void)name;
    if (st->creds_depth == st->depth)
        st->creds_depth = 0;
    if (st->error_depth == st->depth)
        st->error_depth = 0;
    st->field = SF_NONE;
    st->depth--;
}

static void sts_text(void *ud, const XML_Char *s, int len)
{
    struct sts_state *st = ud;
    struct pitr_buf *b;
    struct pitr_err ignored;

    if (st->field == SF_NONE || len <= 0)
        return;
    b = &st->doc->f[st->field];
    if (st->field == SF_MESSAGE) {
        /* Cut long messages instead of failing. */
        if ((size_t)len > b->limit - b->len)
            len = (int)(b->limit - b->len);
        if (len > 0 && pitr_buf_append(b, s, (size_t)len, &ignored) != PITR_OK)
            return;
        return;
    }
    if (pitr_buf_append(b, s, (size_t)len, &ignored) != PITR_OK)
        sts_fail(st, PITR_ELIMIT, "a field is too long");
}

static void sts_doctype(void *ud,
                        const XML_Char *name,
                        const XML_Char *sysid,
                        const XML_Char *pubid,
                        int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    sts_fail(ud, PITR_EFORMAT, "document type declarations are not accepted");
}

static pitr_rc sts_parse(const char *xml, size_t len, struct sts_doc *doc, struct pitr_err *err)
{
    struct sts_state st;
    XML_Parser xp;

    if (len > (size_t)RESPONSE_LIMIT)
        return pitr_err_set(err, PITR_ELIMIT, "STS response too large");
    xp = XML_ParserCreateNS("UTF-8", '|');
    if (xp == NULL)
        return pitr_err_set(err, PITR_ENOMEM, "cannot create an XML parser");
    memset(&st, 0, sizeof(st));
    st.parser = xp;
    st.doc = doc;
    st.err = err;
    XML_SetUserData(xp, &st);
    XML_SetElementHandler(xp, sts_start, sts_end);
    XML_SetCharacterDataHandler(xp, sts_text);
    XML_SetStartDoctypeDeclHandler(xp, sts_doctype);
    if (XML_Parse(xp, xml, (int)len, XML_TRUE) != XML_STATUS_OK && st.rc == PITR_OK)
        sts_fail(&st, PITR_EFORMAT, "not well-formed XML");
    XML_ParserFree(xp);
    return st.rc;
}

/* The pitr_rc for an STS error answer. */
static pitr_rc sts_rc(long status, const char *code)
{
    static const char *const auth[] = {
        "AccessDenied",     "InvalidIdentityToken", "ExpiredTokenException",
        "IDPRejectedClaim", "InvalidClientTokenId",
    };
    size_t i;

    for (i = 0; i < sizeof(auth) / sizeof(auth[0]); i++)
        if (strcmp(code, auth[i]) == 0)
            return PITR_EAUTH;
    if (status >= 500 || strcmp(code, "IDPCommunicationError") == 0)
        return PITR_ENETWORK;
    if (status == 403)
        return PITR_EAUTH;
    return PITR_EGENERAL;
}

static pitr_rc form_param(struct pitr_buf *form,
                          const char *name,
                          const char *value,
                          size_t n,
                          struct pitr_err *err)
{
    pitr_rc rc = pitr_buf_appendf(form, err, "%s%s=", form->len > 0 ? "&" : "", name);

    if (rc == PITR_OK)
        rc = pitr_sigv4_uri_encode(value, n, 0, form, err);
    return rc;
}

static pitr_rc fetch_web_identity(struct pitr_creds_provider *p,
                                  struct pitr_s3_creds *fresh,
                                  struct pitr_err *err)
{
    static const struct pitr_http_header hdrs[] = {
        { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" },
        { "Accept", "text/xml" },
    };
    struct pitr_buf token, form, body;
    struct pitr_http *h = NULL;
    struct sts_doc doc;
    long status = 0;
    time_t exp = 0;
    pitr_rc rc;

    pitr_buf_init(&token, TOKEN_FILE_LIMIT);
    pitr_buf_init(&form, TOKEN_FILE_LIMIT * 3 + 4096);
    pitr_buf_init(&body, RESPONSE_LIMIT);
    sts_doc_init(&doc);

    /* The token file is rotated (every hour on EKS): read it for each exchange. */
    rc = pitr_fs_read_file(p->token_file, &token, err);
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "cannot read the web identity token");
        goto out;
    }
    trim_buf(&token);
    if (token.len == 0) {
        rc = pitr_err_set(err, PITR_EUSAGE, "web identity token file '%s' is empty", p->token_file);
        goto out;
    }
    rc = form_param(&form, "Action", "AssumeRoleWithWebIdentity", 25, err);
    if (rc == PITR_OK)
        rc = form_param(&form, "Version", "2011-06-15", 10, err);
    if (rc == PITR_OK)
        rc = form_param(&form, "RoleArn", p->role_arn, strlen(p->role_arn), err);
    if (rc == PITR_OK)
        rc = form_param(&form, "RoleSessionName", p->session_name, strlen(p->session_name), err);
    if (rc == PITR_OK)
        rc = form_param(&form, "WebIdentityToken", token.data, token.len, err);
    if (rc != PITR_OK)
        goto out;
    /* POST keeps the token out of the URL, which error messages and debug logs show. */
    rc = http_open(STS_CONNECT_MS, NET_LOW_SPEED_S, &h, err);
    if (rc == PITR_OK)
        rc = http_do(h, "POST", p->sts_url, hdrs, 2, &form, &body, &status, err);
    if (rc != PITR_OK)
        goto out;
    rc = sts_parse(body.data, body.len, &doc, err);
    if (status != 200 || doc.is_error) {
        const char *code = doc.f[SF_CODE].len > 0 ? doc.f[SF_CODE].data : "";

        rc = pitr_err_set(err,
                          sts_rc(status, code),
                          "HTTP %ld%s%s%s%.512s",
                          status,
                          code[0] != '\0' ? " " : "",
                          code,
                          doc.f[SF_MESSAGE].len > 0 ? ": " : "",
                          doc.f[SF_MESSAGE].data);
        err->http_status = status;
        snprintf(err->s3_code, sizeof(err->s3_code), "%s", code);
        goto out;
    }
    if (rc != PITR_OK)
        goto out;
    if (doc.f[SF_AK].len == 0 || doc.f[SF_SK].len == 0 || doc.f[SF_TOKEN].len == 0 ||
        doc.f[SF_EXP].len == 0) {
        rc = pitr_err_set(err,
                          PITR_EFORMAT,
                          "malformed STS response: Credentials without AccessKeyId, "
                          "SecretAccessKey, SessionToken or Expiration");
        goto out;
    }
    rc = pitr_creds_parse_time(doc.f[SF_EXP].data, &exp, err);
    if (rc == PITR_OK)
        rc = fill_creds(fresh,
                        "web-identity",
                        doc.f[SF_AK].data,
                        doc.f[SF_SK].data,
                        doc.f[SF_TOKEN].data,
                        exp,
                        err);
out:
    if (rc != PITR_OK) {
        pitr_err_prefix(
          err, "web identity credentials: STS AssumeRoleWithWebIdentity for '%s'", p->role_arn);
        scrub(err->msg, token.data);
    }
    pitr_http_free(h);
    sts_doc_release(&doc);
    pitr_buf_release_secure(&token);
    pitr_buf_release_secure(&form);
    pitr_buf_release_secure(&body);
    return rc;
}

/* ---- JSON credentials: container and IMDS ------------------------------ */

static const char *json_str(json_t *root, const char *key)
{
    return json_string_value(json_object_get(root, key));
}

/*
 * AccessKeyId, SecretAccessKey, Token and Expiration out of a JSON answer.
 * Messages never quote the document: it holds the secrets.
 */
static pitr_rc parse_json_creds(const struct pitr_buf *body,
                                const char *source,
                                struct pitr_s3_creds *fresh,
                                struct pitr_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body->data, body->len, JSON_REJECT_DUPLICATES, &jerr);
    const char *code, *ak, *sk, *tok, *exps;
    time_t exp = 0;
    pitr_rc rc = PITR_OK;

    if (root == NULL || !json_is_object(root)) {
        rc = pitr_err_set(err,
                          PITR_EFORMAT,
                          "the answer is not a JSON object (line %d)",
                          root == NULL ? jerr.line : 1);
        goto out;
    }
    code = json_str(root, "Code");
    if (code != NULL && strcmp(code, "Success") != 0) {
        rc = pitr_err_set(err, PITR_EAUTH, "the answer's Code is '%.64s'", code);
        goto out;
    }
    ak = json_str(root, "AccessKeyId");
    sk = json_str(root, "SecretAccessKey");
    tok = json_str(root, "Token");
    exps = json_str(root, "Expiration");
    if (empty(ak) || empty(sk)) {
        rc = pitr_err_set(err, PITR_EFORMAT, "the answer has no AccessKeyId or SecretAccessKey");
        goto out;
    }
    if (!empty(tok) && empty(exps)) {
        rc = pitr_err_set(err, PITR_EFORMAT, "the answer has a Token but no Expiration");
        goto out;
    }
    if (!empty(exps)) {
        rc = pitr_creds_parse_time(exps, &exp, err);
        if (rc != PITR_OK)
            goto out;
    }
    rc = fill_creds(fresh, source, ak, sk, empty(tok) ? NULL : tok, exp, err);
out:
    json_decref(root);
    return rc;
}

/* ", <code>: <message>" from a JSON error answer, when it has them. */
static void json_error_detail(const struct pitr_buf *body, char *out, size_t size)
{
    json_error_t jerr;
    json_t *root = json_loadb(body->data, body->len, 0, &jerr);
    const char *code = NULL, *msg = NULL;

    out[0] = '\0';
    if (root != NULL && json_is_object(root)) {
        code = json_str(root, "code") ? json_str(root, "code") : json_str(root, "Code");
        msg = json_str(root, "message") ? json_str(root, "message") : json_str(root, "Message");
        if (code != NULL || msg != NULL)
            snprintf(out,
                     size,
                     ": %.64s%s%.256s",
                     code ? code : "",
                     code && msg ? ": " : "",
                     msg ? msg : "");
    }
    json_decref(root);
}

static pitr_rc fetch_container(struct pitr_creds_provider *p,
                               struct pitr_s3_creds *fresh,
                               struct pitr_err *err)
{
    struct pitr_http_header hdrs[2] = { { "Accept", "application/json" }, { NULL, NULL } };
    struct pitr_buf tok, body, url;
    struct pitr_http *h = NULL;
    struct pitr_err ignored;
    long status = 0;
    char detail[400];
    pitr_rc rc = PITR_OK;

    pitr_buf_init(&tok, TOKEN_FILE_LIMIT);
    pitr_buf_init(&body, RESPONSE_LIMIT);
    pitr_buf_init(&url, PITR_BUF_LIMIT_SMALL);
    if (pitr_http_redact_url(p->container_url, &url, &ignored) != PITR_OK)
        pitr_buf_reset(&url);
    /* EKS Pod Identity rotates the token file: read it for each request. */
    if (p->auth_token_file != NULL) {
        rc = pitr_fs_read_file(p->auth_token_file, &tok, err);
        if (rc != PITR_OK) {
            pitr_err_prefix(err, "cannot read the authorization token");
            goto out;
        }
        trim_buf(&tok);
    } else if (p->auth_token != NULL) {
        rc = pitr_buf_append_str(&tok, p->auth_token, err);
        if (rc != PITR_OK)
            goto out;
    }
    if (tok.len > 0) {
        if (has_ctl(tok.data, tok.len)) {
            rc = pitr_err_set(err, PITR_EUSAGE, "the authorization token holds a line break");
            goto out;
        }
        hdrs[1].name = "Authorization";
        hdrs[1].value = tok.data;
    }
    rc = http_open(CONTAINER_CONNECT_MS, NET_LOW_SPEED_S, &h, err);
    if (rc == PITR_OK)
        rc =
          http_do(h, "GET", p->container_url, hdrs, tok.len > 0 ? 2 : 1, NULL, &body, &status, err);
    if (rc != PITR_OK)
        goto out;
    if (status != 200) {
        json_error_detail(&body, detail, sizeof(detail));
        rc = pitr_err_set(err,
                          status == 401 || status == 403 ? PITR_EAUTH : PITR_EGENERAL,
                          "GET '%s' answered HTTP %ld%s",
                          url.data,
                          status,
                          detail);
        err->http_status = status;
        goto out;
    }
    rc = parse_json_creds(&body, "container", fresh, err);
    if (rc != PITR_OK)
        pitr_err_prefix(err, "GET '%s'", url.data);
out:
    if (rc != PITR_OK) {
        pitr_err_prefix(err, "container credentials");
        scrub(err->msg, tok.data);
    }
    pitr_http_free(h);
    pitr_buf_release_secure(&tok);
    pitr_buf_release_secure(&body);
    pitr_buf_release(&url);
    return rc;
}

static int valid_role_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 128)
        return 0;
    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("+=,.@_-", s[i]) == NULL)
            return 0;
    return 1;
}

static pitr_rc fetch_imds(struct pitr_creds_provider *p,
                          struct pitr_s3_creds *fresh,
                          struct pitr_err *err)
{
    static const struct pitr_http_header ttl[] = {
        { "X-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL },
    };
    struct pitr_http_header th[1] = { { "X-aws-ec2-metadata-token", NULL } };
    struct pitr_buf token, body, role;
    struct pitr_http *h = NULL;
    char *url = NULL;
    const char *step = "PUT /latest/api/token";
    long status = 0;
    size_t n;
    pitr_rc rc;

    pitr_buf_init(&token, 4096);
    pitr_buf_init(&body, RESPONSE_LIMIT);
    pitr_buf_init(&role, 256);
    rc = http_open(IMDS_CONNECT_MS, IMDS_LOW_SPEED_S, &h, err);
    if (rc != PITR_OK)
        goto out;
    url = pitr_asprintf("%s/latest/api/token", p->imds_url);
    rc = http_do(h, "PUT", url, ttl, 1, NULL, &token, &status, err);
    if (rc != PITR_OK)
        goto out;
    if (status != 200) {
        rc = pitr_err_set(err, PITR_EGENERAL, "%s answered HTTP %ld", step, status);
        goto out;
    }
    trim_buf(&token);
    if (token.len == 0 || has_ctl(token.data, token.len)) {
        rc = pitr_err_set(err, PITR_EFORMAT, "%s answered an unusable token", step);
        goto out;
    }
    th[0].value = token.data;

    step = "GET /latest/meta-data/iam/security-credentials/";
    pitr_free(url);
    url = pitr_asprintf("%s/latest/meta-data/iam/security-credentials/", p->imds_url);
    rc = http_do(h, "GET", url, th, 1, NULL, &body, &status, err);
    if (rc != PITR_OK)
        goto out;
    if (status == 404) {
        rc = pitr_err_set(err, PITR_EUSAGE, "no IAM role is attached to this instance");
        goto out;
    }
    if (status != 200) {
        rc = pitr_err_set(err, PITR_EGENERAL, "%s answered HTTP %ld", step, status);
        goto out;
    }
    n = strcspn(body.data, "\r\n");
    if (!valid_role_name(body.data, n)) {
        rc = pitr_err_set(err, PITR_EFORMAT, "%s answered no usable role name", step);
        goto out;
    }
    rc = pitr_buf_append(&role, body.data, n, err);
    if (rc != PITR_OK)
        goto out;

    pitr_free(url);
    url = pitr_asprintf("%s/latest/meta-data/iam/security-credentials/%s", p->imds_url, role.data);
    rc = http_do(h, "GET", url, th, 1, NULL, &body, &status, err);
    if (rc != PITR_OK)
        goto out;
    if (status != 200) {
        rc = pitr_err_set(err, PITR_EGENERAL, "GET '%s' answered HTTP %ld", url, status);
        goto out;
    }
    rc = parse_json_creds(&body, "imds", fresh, err);
    if (rc != PITR_OK)
        pitr_err_prefix(err, "role '%s'", role.data);
out:
    if (rc != PITR_OK) {
        if (status != 0)
            err->http_status = status;
        pitr_err_prefix(err, "EC2 instance metadata");
        scrub(err->msg, token.data);
    }
    pitr_http_free(h);
    pitr_free(url);
    pitr_buf_release_secure(&token);
    pitr_buf_release_secure(&body);
    pitr_buf_release(&role);
    return rc;
}

/* ---- get --------------------------------------------------------------- */

static pitr_rc fetch(struct pitr_creds_provider *p,
                     struct pitr_s3_creds *fresh,
                     struct pitr_err *err)
{
    switch (p->kind) {
    case K_WEB_IDENTITY:
        return fetch_web_identity(p, fresh, err);
    case K_CONTAINER:
        return fetch_container(p, fresh, err);
    case K_IMDS:
        return fetch_imds(p, fresh, err);
    case K_STATIC:
        break;
    }
    return pitr_err_set(err, PITR_EINTERNAL, "static credentials cannot be fetched again");
}

pitr_rc pitr_creds_get(struct pitr_creds_provider *p,
                       struct pitr_s3_creds *out,
                       struct pitr_err *err)
{
    struct pitr_s3_creds fresh;
    char when[32];
    time_t now;
    pitr_rc rc = PITR_OK;

    memset(&fresh, 0, sizeof(fresh));
    pthread_mutex_lock(&p->lock);
    now = time(NULL);
    if (p->have &&
        (p->cached.expires == 0 || p->cached.expires - now >= PITR_CREDS_REFRESH_MARGIN_S))
        goto copy;
    rc = fetch(p, &fresh, err);
    if (rc == PITR_OK) {
        p->cached = fresh;
        p->have = 1;
        format_time(fresh.expires, when);
        pitr_log_debug("s3 credentials: fetched from %s, expiring %s", p->source, when);
        goto copy;
    }
    if (p->have && p->cached.expires > now) {
        format_time(p->cached.expires, when);
        pitr_log_warn(
          "cannot refresh the S3 credentials from %s, using the current ones until %s: %s",
          p->source,
          when,
          err->msg);
        pitr_err_clear(err);
        rc = PITR_OK;
        goto copy;
    }
    if (!p->have && p->kind == K_IMDS) {
        char cause[PITR_ERR_MSG_MAX];

        snprintf(cause, sizeof(cause), "%s", err->msg);
        rc =
          pitr_err_set(err, PITR_EUSAGE, "no S3 credentials found: tried %s; %s", p->tried, cause);
    }
    goto out;
copy:
    *out = p->cached;
out:
    pthread_mutex_unlock(&p->lock);
    pitr_s3_creds_clear(&fresh);
    if (rc != PITR_OK)
        pitr_s3_creds_clear(out);
    return rc;
}
