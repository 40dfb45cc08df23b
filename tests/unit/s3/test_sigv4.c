/*
 * test_sigv4.c - unit tests for src/s3/sigv4.c.
 *
 * Three parts:
 *   1. every case of the AWS SigV4 test suite in fixtures/aws-sigv4-test-suite
 *      (one cmocka test per case folder, run from the repository root);
 *   2. S3 behaviour (normalize_path=0) and the known-answer examples of AWS's
 *      S3 documentation ("Signature Calculations for the Authorization Header:
 *      Transferring Payload in a Single Chunk");
 *   3. the individual rules (URI encoding, query, headers) and error paths.
 *
 * How the suite maps onto this API (see also run_aws_case):
 *   - The suite's signer adds X-Amz-Date (and x-amz-content-sha256 when
 *     "sign_body" is true); our caller sets them, so the harness adds them to
 *     the header list before signing.
 *   - "token" is passed as params.session_token unless "omit_session_token"
 *     is true (post-sts-header-after: the token is added after signing, so it
 *     is not signed).
 *   - "normalize": true uses normalize_path=1 with the request-line path as
 *     is. "normalize": false cases are signed by the suite without
 *     normalisation but still with one UriEncode() of the request-line path,
 *     which holds raw bytes such as a space (get-space-unnormalized). Our
 *     normalize_path=0 mode takes the path already encoded, so the harness
 *     encodes the request-line path once with pitr_sigv4_uri_encode (keeping
 *     '/'), exactly as an S3 caller does, and signs with normalize_path=0.
 *   - Multi-line header values (obsolete line folding) are unfolded by
 *     replacing each line break with one space; the signer then collapses
 *     the runs of spaces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/crypto/hash.h"
#include "pgpitr/s3/sigv4.h"

#define SUITE_DIR       "fixtures/aws-sigv4-test-suite"
#define SUITE_MIN_CASES 38
#define MAX_HEADERS     32

/* ---------------------------------------------------------------------------
 * Helpers
 */

/* Read a whole file into b (initialised by the caller). Returns 0 on success. */
static int read_file(const char *dir, const char *name, struct pitr_buf *b)
{
    struct pitr_err err;
    char path[1024];
    char chunk[4096];
    size_t n;
    FILE *f;
    int bad = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (pitr_buf_append(b, chunk, n, &err) != PITR_OK) {
            bad = 1;
            break;
        }
    }
    if (ferror(f))
        bad = 1;
    fclose(f);
    return bad ? -1 : 0;
}

/* Drop one trailing "\n" (or "\r\n"): expected-result files may or may not end with one. */
static void chomp(struct pitr_buf *b)
{
    if (b->len > 0 && b->data[b->len - 1] == '\n')
        b->data[--b->len] = '\0';
    if (b->len > 0 && b->data[b->len - 1] == '\r')
        b->data[--b->len] = '\0';
}

/* Fail the running test, naming the case and the step, when got != want. */
static void expect_text(const char *what, const char *step, const char *want, const char *got)
{
    if (strcmp(want, got) != 0) {
        print_error("%s: %s mismatch\n--- expected\n%s\n--- got\n%s\n", what, step, want, got);
        fail();
    }
}

static void expect_rc(const char *what, const char *step, pitr_rc rc, const struct pitr_err *err)
{
    if (rc != PITR_OK) {
        print_error("%s: %s failed: %s (%d)\n", what, step, err->msg, (int)rc);
        fail();
    }
}

/* ---------------------------------------------------------------------------
 * Part 1: the AWS test suite
 */

/* Minimal JSON extraction for the suite's flat context.json files. */
static int json_find(const char *json, const char *key, const char **val)
{
    char pat[128];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\"", key);
    p = strstr(json, pat);
    if (p == NULL)
        return 0;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p != ':')
        return 0;
    p++;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    *val = p;
    return 1;
}

/* A string value into a heap copy (caller frees), or NULL when absent. */
static char *json_string(const char *json, const char *key)
{
    struct pitr_buf b;
    struct pitr_err err;
    const char *p;

    if (!json_find(json, key, &p) || *p != '"')
        return NULL;
    pitr_buf_init(&b, PITR_BUF_LIMIT_SMALL);
    for (p++; *p != '\0' && *p != '"'; p++) {
        if (*p == '\\' && p[1] != '\0')
            p++; /* the suite only uses \" \\ \/ if anything */
        if (pitr_buf_append(&b, p, 1, &err) != PITR_OK)
            break;
    }
    if (*p != '"') {
        pitr_buf_release(&b);
        return NULL;
    }
    return pitr_buf_detach(&b, NULL);
}

/* A boolean value: 1, 0, or dflt when absent. */
static int json_bool(const char *json, const char *key, int dflt)
{
    const char *p;

    if (!json_find(json, key, &p))
        return dflt;
    if (strncmp(p, "true", 4) == 0)
        return 1;
    if (strncmp(p, "false", 5) == 0)
        return 0;
    return dflt;
}

/* "2015-08-30T12:36:00Z" -> seconds since the epoch; -1 when malformed. */
static time_t parse_iso8601(const char *s)
{
    struct tm tm;
    char *end;
    long v[6];
    int i;

    memset(&tm, 0, sizeof(tm));
    for (i = 0; i < 6; i++) {
        v[i] = strtol(s, &end, 10);
        if (end == s || (i < 5 && *end != "--T::"[i]) || (i == 5 && *end != 'Z'))
            return (time_t)-1;
        s = end + 1;
    }
    tm.tm_year = (int)v[0] - 1900;
    tm.tm_mon = (int)v[1] - 1;
    tm.tm_mday = (int)v[2];
    tm.tm_hour = (int)v[3];
    tm.tm_min = (int)v[4];
    tm.tm_sec = (int)v[5];
    return timegm(&tm);
}

/* A parsed request.txt. Every string points into text (owned). */
struct suite_request {
    struct pitr_buf text;   /* owned: request.txt, cut into NUL-terminated pieces */
    struct pitr_buf unfold; /* owned: unfolded multi-line header values */
    const char *method;
    const char *path;
    const char *query;
    struct pitr_http_header headers[MAX_HEADERS];
    size_t n_headers;
    const char *body;
    size_t body_len;
};

/*
 * Parse "METHOD SP target SP HTTP/1.1", then "Name:value" lines (a line
 * starting with a blank continues the previous value), then an empty line and
 * the body. The target may hold spaces (get-space-*), so the method ends at
 * the first space and the version starts at the last one.
 */
static int parse_request(struct suite_request *r)
{
    char *p = r->text.data, *end = r->text.data + r->text.len;
    char *line, *eol, *sp, *q;
    size_t folded[MAX_HEADERS];
    size_t i;
    struct pitr_err err;

    eol = memchr(p, '\n', (size_t)(end - p));
    if (eol == NULL)
        return -1;
    *eol = '\0';
    if (eol > p && eol[-1] == '\r')
        eol[-1] = '\0';
    line = p;
    p = eol + 1;
    sp = strchr(line, ' ');
    q = strrchr(line, ' ');
    if (sp == NULL || q == sp)
        return -1;
    *sp = '\0';
    *q = '\0';
    r->method = line;
    r->path = sp + 1;
    q = strchr(sp + 1, '?');
    if (q != NULL) {
        *q = '\0';
        r->query = q + 1;
    }

    /* Headers; a continuation line is recorded and unfolded below. */
    memset(folded, 0, sizeof(folded));
    while (p < end) {
        char *colon;

        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        *eol = '\0';
        if (eol > p && eol[-1] == '\r')
            eol[-1] = '\0';
        line = p;
        p = eol < end ? eol + 1 : end;
        if (line[0] == '\0')
            break; /* the empty line before the body */
        if (line[0] == ' ' || line[0] == '\t') {
            if (r->n_headers == 0)
                return -1;
            folded[r->n_headers - 1]++;
            continue; /* the text stays in place; unfolded below */
        }
        if (r->n_headers == MAX_HEADERS)
            return -1;
        colon = strchr(line, ':');
        if (colon == NULL)
            return -1;
        *colon = '\0';
        r->headers[r->n_headers].name = line;
        r->headers[r->n_headers].value = colon + 1;
        r->n_headers++;
    }
    r->body = p;
    r->body_len = (size_t)(end - p);

    /*
     * Unfold: a value followed by k continuation lines is the value, then for
     * each line a single space and the line (its leading blanks included).
     * The pieces are NUL-separated in text, one after the other.
     */
    for (i = 0; i < r->n_headers; i++) {
        const char *piece = r->headers[i].value;
        size_t k, start = r->unfold.len;

        if (folded[i] == 0)
            continue;
        if (pitr_buf_append_str(&r->unfold, piece, &err) != PITR_OK)
            return -1;
        for (k = 0; k < folded[i]; k++) {
            piece += strlen(piece) + 1;
            if (*piece == '\0') /* the "\r" of a CRLF line became a second NUL */
                piece++;
            if (pitr_buf_append(&r->unfold, " ", 1, &err) != PITR_OK ||
                pitr_buf_append_str(&r->unfold, piece, &err) != PITR_OK)
                return -1;
        }
        if (pitr_buf_append(&r->unfold, "", 1, &err) != PITR_OK)
            return -1;
        folded[i] = start + 1; /* remember the offset (+1: 0 means "not folded") */
    }
    /* unfold no longer grows: point the values into it. */
    for (i = 0; i < r->n_headers; i++) {
        if (folded[i] != 0)
            r->headers[i].value = r->unfold.data + folded[i] - 1;
    }
    return 0;
}

static void run_aws_case(void **state)
{
    const char *name = *state;
    struct pitr_buf ctx, creq_want, sts_want, sig_want, signed_req, enc_path, got;
    struct suite_request r;
    struct pitr_sigv4_request req;
    struct pitr_sigv4_params p;
    struct pitr_err err;
    char dir[512];
    char amz_date[17];
    char payload_hash[PITR_SHA256_HEX_LEN + 1];
    char sig[65];
    char *access_key = NULL, *secret = NULL, *token = NULL, *region = NULL, *service = NULL,
         *stamp = NULL;
    const char *auth;
    char *eol;
    int normalize, sign_body, omit_token;
    pitr_rc rc;

    pitr_err_clear(&err);
    memset(&r, 0, sizeof(r));
    pitr_buf_init(&r.text, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&r.unfold, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&ctx, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&creq_want, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&sts_want, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&sig_want, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&signed_req, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&enc_path, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&got, PITR_BUF_LIMIT_SMALL);
    snprintf(dir, sizeof(dir), "%s/%s", SUITE_DIR, name);

    if (read_file(dir, "context.json", &ctx) != 0 || read_file(dir, "request.txt", &r.text) != 0 ||
        read_file(dir, "header-canonical-request.txt", &creq_want) != 0 ||
        read_file(dir, "header-string-to-sign.txt", &sts_want) != 0 ||
        read_file(dir, "header-signature.txt", &sig_want) != 0 ||
        read_file(dir, "header-signed-request.txt", &signed_req) != 0) {
        print_error("%s: reading the case files failed\n", name);
        fail();
    }
    chomp(&creq_want);
    chomp(&sts_want);
    chomp(&sig_want);

    /* context.json */
    access_key = json_string(ctx.data, "access_key_id");
    secret = json_string(ctx.data, "secret_access_key");
    token = json_string(ctx.data, "token");
    region = json_string(ctx.data, "region");
    service = json_string(ctx.data, "service");
    stamp = json_string(ctx.data, "timestamp");
    normalize = json_bool(ctx.data, "normalize", 1);
    sign_body = json_bool(ctx.data, "sign_body", 0);
    omit_token = json_bool(ctx.data, "omit_session_token", 0);
    if (access_key == NULL || secret == NULL || region == NULL || service == NULL ||
        stamp == NULL) {
        print_error("%s: context.json lacks a required field\n", name);
        fail();
    }
    memset(&p, 0, sizeof(p));
    p.access_key = access_key;
    p.secret_key = secret;
    p.session_token = omit_token ? NULL : token;
    p.region = region;
    p.service = service;
    p.when = parse_iso8601(stamp);
    p.normalize_path = normalize;
    if (p.when == (time_t)-1) {
        print_error("%s: bad timestamp '%s'\n", name, stamp);
        fail();
    }

    /* request.txt, plus the headers the suite's signer adds itself. */
    if (parse_request(&r) != 0) {
        print_error("%s: request.txt is malformed\n", name);
        fail();
    }
    rc = pitr_sha256_hex(r.body, r.body_len, payload_hash, &err);
    expect_rc(name, "payload hash", rc, &err);
    pitr_sigv4_amz_date(p.when, amz_date);
    assert_true(r.n_headers + 2 <= MAX_HEADERS);
    r.headers[r.n_headers].name = "X-Amz-Date";
    r.headers[r.n_headers].value = amz_date;
    r.n_headers++;
    if (sign_body) {
        r.headers[r.n_headers].name = "x-amz-content-sha256";
        r.headers[r.n_headers].value = payload_hash;
        r.n_headers++;
    }

    memset(&req, 0, sizeof(req));
    req.method = r.method;
    req.path = r.path;
    if (!normalize) {
        /* The S3 mode takes the wire path: encode the request-line path once. */
        rc = pitr_sigv4_uri_encode(r.path, strlen(r.path), 1, &enc_path, &err);
        expect_rc(name, "path encoding", rc, &err);
        req.path = enc_path.data;
    }
    req.query = r.query;
    req.headers = r.headers;
    req.n_headers = r.n_headers;
    req.payload_hash = payload_hash;

    /* Each step gets the suite's expected input, so a failure names its own step. */
    rc = pitr_sigv4_canonical_request(&req, &p, &got, &err);
    expect_rc(name, "canonical request", rc, &err);
    expect_text(name, "canonical request", creq_want.data, got.data);

    pitr_buf_reset(&got);
    rc = pitr_sigv4_string_to_sign(creq_want.data, &p, &got, &err);
    expect_rc(name, "string to sign", rc, &err);
    expect_text(name, "string to sign", sts_want.data, got.data);

    rc = pitr_sigv4_signature(sts_want.data, &p, sig, &err);
    expect_rc(name, "signature", rc, &err);
    expect_text(name, "signature", sig_want.data, sig);

    auth = strstr(signed_req.data, "\nAuthorization:");
    if (auth == NULL) {
        print_error("%s: no Authorization line in header-signed-request.txt\n", name);
        fail();
    }
    auth += strlen("\nAuthorization:");
    eol = strchr(auth, '\n');
    if (eol != NULL) {
        *eol = '\0';
        if (eol > auth && eol[-1] == '\r')
            eol[-1] = '\0';
    }
    pitr_buf_reset(&got);
    rc = pitr_sigv4_authorization(&req, &p, &got, &err);
    expect_rc(name, "authorization", rc, &err);
    expect_text(name, "authorization", auth, got.data);

    pitr_free(access_key);
    pitr_free(secret);
    pitr_free(token);
    pitr_free(region);
    pitr_free(service);
    pitr_free(stamp);
    pitr_buf_release(&got);
    pitr_buf_release(&enc_path);
    pitr_buf_release(&signed_req);
    pitr_buf_release(&sig_want);
    pitr_buf_release(&sts_want);
    pitr_buf_release(&creq_want);
    pitr_buf_release(&ctx);
    pitr_buf_release(&r.unfold);
    pitr_buf_release(&r.text);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The case folder names, sorted; *n receives the count. Free with free_case_names(). */
static char **list_cases(size_t *n)
{
    DIR *d = opendir(SUITE_DIR);
    struct dirent *e;
    char **names = NULL;
    size_t cap = 0;

    *n = 0;
    if (d == NULL)
        return NULL;
    while ((e = readdir(d)) != NULL) {
        char probe[1024];
        FILE *f;

        if (e->d_name[0] == '.')
            continue;
        snprintf(probe, sizeof(probe), "%s/%s/request.txt", SUITE_DIR, e->d_name);
        f = fopen(probe, "rb");
        if (f == NULL)
            continue; /* LICENSE, ORIGIN.md */
        fclose(f);
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            names = pitr_realloc(names, cap * sizeof(*names));
        }
        names[(*n)++] = pitr_strdup(e->d_name);
    }
    closedir(d);
    if (*n > 1)
        qsort(names, *n, sizeof(*names), name_cmp);
    return names;
}

static void free_case_names(char **names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        pitr_free(names[i]);
    pitr_free(names);
}

static size_t suite_case_count;

/* Guards against a missing or emptied fixtures folder passing silently. */
static void aws_suite__all_cases_found(void **state)
{
    (void)state;
    if (suite_case_count < SUITE_MIN_CASES) {
        print_error("found %zu case folders in %s, expected at least %d (run from the repository "
                    "root)\n",
                    suite_case_count,
                    SUITE_DIR,
                    SUITE_MIN_CASES);
        fail();
    }
}

/* ---------------------------------------------------------------------------
 * Part 2: S3 (normalize_path=0) and AWS's S3 documentation examples
 */

#define S3_ACCESS    "AKIAIOSFODNN7EXAMPLE"
#define S3_SECRET    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_HOST      "examplebucket.s3.amazonaws.com"
#define S3_AMZ_DATE  "20130524T000000Z"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static struct pitr_sigv4_params s3_params(void)
{
    struct pitr_sigv4_params p;

    memset(&p, 0, sizeof(p));
    p.access_key = S3_ACCESS;
    p.secret_key = S3_SECRET;
    p.region = "us-east-1";
    p.service = "s3";
    p.when = parse_iso8601("2013-05-24T00:00:00Z");
    p.normalize_path = 0;
    return p;
}

/* Sign and check the signature, and that the Authorization value ends with it. */
static void check_s3_example(const char *what,
                             const struct pitr_sigv4_request *req,
                             const char *want_signed_headers,
                             const char *want_signature)
{
    struct pitr_sigv4_params p = s3_params();
    struct pitr_buf creq, sts, auth, want;
    struct pitr_err err;
    char sig[65];
    pitr_rc rc;

    pitr_err_clear(&err);
    pitr_buf_init(&creq, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&sts, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&auth, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&want, PITR_BUF_LIMIT_SMALL);

    rc = pitr_sigv4_canonical_request(req, &p, &creq, &err);
    expect_rc(what, "canonical request", rc, &err);
    rc = pitr_sigv4_string_to_sign(creq.data, &p, &sts, &err);
    expect_rc(what, "string to sign", rc, &err);
    rc = pitr_sigv4_signature(sts.data, &p, sig, &err);
    expect_rc(what, "signature", rc, &err);
    expect_text(what, "signature", want_signature, sig);

    rc = pitr_sigv4_authorization(req, &p, &auth, &err);
    expect_rc(what, "authorization", rc, &err);
    assert_int_equal(pitr_buf_appendf(&want,
                                      &err,
                                      "AWS4-HMAC-SHA256 Credential=" S3_ACCESS
                                      "/20130524/us-east-1/s3/aws4_request, SignedHeaders=%s, "
                                      "Signature=%s",
                                      want_signed_headers,
                                      want_signature),
                     PITR_OK);
    expect_text(what, "authorization", want.data, auth.data);

    pitr_buf_release(&want);
    pitr_buf_release(&auth);
    pitr_buf_release(&sts);
    pitr_buf_release(&creq);
}

/* GET /test.txt with "Range: bytes=0-9" (the documented canonical request too). */
static void pitr_sigv4_authorization__s3_doc_get_object(void **state)
{
    const struct pitr_http_header h[] = {
        { "Host", S3_HOST },
        { "x-amz-date", S3_AMZ_DATE },
        { "Range", "bytes=0-9" },
        { "x-amz-content-sha256", EMPTY_SHA256 },
    };
    struct pitr_sigv4_request req = { "GET", "/test.txt", NULL, h, 4, EMPTY_SHA256 };
    struct pitr_sigv4_params p = s3_params();
    struct pitr_buf creq;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&creq, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_sigv4_canonical_request(&req, &p, &creq, &err), PITR_OK);
    assert_string_equal(creq.data,
                        "GET\n/test.txt\n\n"
                        "host:examplebucket.s3.amazonaws.com\n"
                        "range:bytes=0-9\n"
                        "x-amz-content-sha256:" EMPTY_SHA256 "\n"
                        "x-amz-date:20130524T000000Z\n\n"
                        "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256);
    pitr_buf_release(&creq);
    check_s3_example("s3 get object",
                     &req,
                     "host;range;x-amz-content-sha256;x-amz-date",
                     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* PUT /test$file.text: the caller encodes '$' in the key; the body hash is signed. */
static void pitr_sigv4_authorization__s3_doc_put_object(void **state)
{
    static const char body[] = "Welcome to Amazon S3.";
    char hash[PITR_SHA256_HEX_LEN + 1];
    struct pitr_buf path;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&path, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_sha256_hex(body, strlen(body), hash, &err), PITR_OK);
    assert_string_equal(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    assert_int_equal(pitr_sigv4_uri_encode("/test$file.text", 15, 1, &path, &err), PITR_OK);
    assert_string_equal(path.data, "/test%24file.text");
    {
        const struct pitr_http_header h[] = {
            { "Host", S3_HOST },
            { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
            { "x-amz-date", S3_AMZ_DATE },
            { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
            { "x-amz-content-sha256", hash },
        };
        struct pitr_sigv4_request req = { "PUT", path.data, NULL, h, 5, hash };

        check_s3_example("s3 put object",
                         &req,
                         "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                         "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    }
    pitr_buf_release(&path);
}

/*
 * UNSIGNED-PAYLOAD: AWS's documented presigned-URL example (GET /test.txt,
 * query authentication, the payload not signed) gives its published
 * signature when the canonical request ends with "UNSIGNED-PAYLOAD".
 */
static void pitr_sigv4_signature__s3_doc_presigned_unsigned_payload(void **state)
{
    const struct pitr_http_header h[] = { { "Host", S3_HOST } };
    struct pitr_sigv4_request req = {
        "GET",
        "/test.txt",
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
        "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
        "X-Amz-SignedHeaders=host",
        h,
        1,
        "UNSIGNED-PAYLOAD"
    };
    struct pitr_sigv4_params p = s3_params();
    struct pitr_buf creq, sts;
    struct pitr_err err;
    char sig[65];

    (void)state;
    pitr_buf_init(&creq, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&sts, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_sigv4_canonical_request(&req, &p, &creq, &err), PITR_OK);
    assert_non_null(strstr(creq.data, "\nhost\nUNSIGNED-PAYLOAD"));
    assert_int_equal(pitr_sigv4_string_to_sign(creq.data, &p, &sts, &err), PITR_OK);
    assert_int_equal(pitr_sigv4_signature(sts.data, &p, sig, &err), PITR_OK);
    assert_string_equal(sig, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    pitr_buf_release(&sts);
    pitr_buf_release(&creq);
}

/*
 * payload-signing = unsigned: AWS's S3 PUT example signed the way pgpitr
 * then sends it (UNSIGNED-PAYLOAD, Content-MD5 signed); the expected
 * signature was computed independently (Python hmac/hashlib, the
 * documented algorithm) from this canonical request.
 */
static void pitr_sigv4_authorization__s3_put_unsigned_payload_with_content_md5(void **state)
{
    const struct pitr_http_header h[] = {
        { "Host", S3_HOST },
        { "x-amz-content-sha256", "UNSIGNED-PAYLOAD" },
        { "x-amz-date", S3_AMZ_DATE },
        { "Content-MD5", "1EfQ6PKJ8WoS/2AnznfCWA==" },
    };
    struct pitr_sigv4_request req = { "PUT", "/test%24file.text", NULL, h, 4, "UNSIGNED-PAYLOAD" };
    struct pitr_sigv4_params p = s3_params();
    struct pitr_buf creq;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&creq, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_sigv4_canonical_request(&req, &p, &creq, &err), PITR_OK);
    assert_string_equal(creq.data,
                        "PUT\n/test%24file.text\n\n"
                        "content-md5:1EfQ6PKJ8WoS/2AnznfCWA==\n"
                        "host:examplebucket.s3.amazonaws.com\n"
                        "x-amz-content-sha256:UNSIGNED-PAYLOAD\n"
                        "x-amz-date:20130524T000000Z\n\n"
                        "content-md5;host;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD");
    pitr_buf_release(&creq);
    check_s3_example("s3 put object, unsigned payload",
                     &req,
                     "content-md5;host;x-amz-content-sha256;x-amz-date",
                     "4f936820f84953991fd8f4aa3d55e97d48bf5118d93e487dae8f2c5d3c846b0e");
}

/* GET /?lifecycle: a parameter without '=' is signed as "lifecycle=". */
static void pitr_sigv4_authorization__s3_doc_get_lifecycle(void **state)
{
    const struct pitr_http_header h[] = {
        { "Host", S3_HOST },
        { "x-amz-date", S3_AMZ_DATE },
        { "x-amz-content-sha256", EMPTY_SHA256 },
    };
    struct pitr_sigv4_request req = { "GET", "/", "lifecycle", h, 3, EMPTY_SHA256 };

    (void)state;
    check_s3_example("s3 get bucket lifecycle",
                     &req,
                     "host;x-amz-content-sha256;x-amz-date",
                     "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

/* GET /?max-keys=2&prefix=J, sent in either order: the query is sorted. */
static void pitr_sigv4_authorization__s3_doc_list_objects(void **state)
{
    const struct pitr_http_header h[] = {
        { "Host", S3_HOST },
        { "x-amz-date", S3_AMZ_DATE },
        { "x-amz-content-sha256", EMPTY_SHA256 },
    };
    struct pitr_sigv4_request req = { "GET", "/", "max-keys=2&prefix=J", h, 3, EMPTY_SHA256 };
    static const char want[] = "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";

    (void)state;
    check_s3_example("s3 list objects", &req, "host;x-amz-content-sha256;x-amz-date", want);
    req.query = "prefix=J&max-keys=2";
    check_s3_example(
      "s3 list objects, reordered query", &req, "host;x-amz-content-sha256;x-amz-date", want);
}

/* The second line of a canonical request for path under normalize. */
static void canonical_uri_of(const char *path, int normalize, struct pitr_buf *line)
{
    const struct pitr_http_header h[] = { { "host", "h" } };
    struct pitr_sigv4_request req = { "GET", path, NULL, h, 1, EMPTY_SHA256 };
    struct pitr_sigv4_params p = s3_params();
    struct pitr_buf creq;
    struct pitr_err err;
    const char *s, *e;

    p.normalize_path = normalize;
    pitr_buf_init(&creq, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_sigv4_canonical_request(&req, &p, &creq, &err), PITR_OK);
    s = strchr(creq.data, '\n');
    assert_non_null(s);
    s++;
    e = strchr(s, '\n');
    assert_non_null(e);
    pitr_buf_reset(line);
    assert_int_equal(pitr_buf_append(line, s, (size_t)(e - s), &err), PITR_OK);
    pitr_buf_release(&creq);
}

static void pitr_sigv4_canonical_request__s3_path_not_normalized(void **state)
{
    struct pitr_buf line;

    (void)state;
    pitr_buf_init(&line, PITR_BUF_LIMIT_SMALL);
    canonical_uri_of("/a//b/./c", 0, &line);
    assert_string_equal(line.data, "/a//b/./c");
    canonical_uri_of("/a/b/../c/", 0, &line);
    assert_string_equal(line.data, "/a/b/../c/");
    /* Encoded once by the caller, never encoded again. */
    canonical_uri_of("/my%20key/%E1%88%B4%2B", 0, &line);
    assert_string_equal(line.data, "/my%20key/%E1%88%B4%2B");
    canonical_uri_of("", 0, &line);
    assert_string_equal(line.data, "/");
    pitr_buf_release(&line);
}

static void pitr_sigv4_canonical_request__generic_path_normalized(void **state)
{
    struct pitr_buf line;

    (void)state;
    pitr_buf_init(&line, PITR_BUF_LIMIT_SMALL);
    canonical_uri_of("/a//b/./c", 1, &line);
    assert_string_equal(line.data, "/a/b/c");
    canonical_uri_of("/a/b/../c/", 1, &line);
    assert_string_equal(line.data, "/a/c/");
    canonical_uri_of("/a/b/..", 1, &line);
    assert_string_equal(line.data, "/a/");
    canonical_uri_of("/../../a", 1, &line);
    assert_string_equal(line.data, "/a");
    /* Each segment is encoded again: an encoded space becomes %2520. */
    canonical_uri_of("/my%20key", 1, &line);
    assert_string_equal(line.data, "/my%2520key");
    pitr_buf_release(&line);
}

/* ---------------------------------------------------------------------------
 * Part 3: individual rules and error paths
 */

static void check_encode(const char *in, size_t n, int keep_slash, const char *want)
{
    struct pitr_buf b;
    struct pitr_err err;

    pitr_buf_init(&b, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_sigv4_uri_encode(in, n, keep_slash, &b, &err), PITR_OK);
    assert_string_equal(b.data, want);
    pitr_buf_release(&b);
}

static void pitr_sigv4_uri_encode__s3_rules(void **state)
{
    (void)state;
    check_encode("a b", 3, 0, "a%20b"); /* never '+' */
    check_encode("a+b", 3, 0, "a%2Bb");
    check_encode("k=v", 3, 0, "k%3Dv");
    check_encode("~tilde", 6, 0, "~tilde");
    check_encode("100%", 4, 0, "100%25");
    check_encode("\xe1\x88\xb4", 3, 0, "%E1%88%B4"); /* UTF-8 bytes, uppercase hex */
    check_encode("caf\xc3\xa9", 5, 0, "caf%C3%A9");
    check_encode("a/b/c", 5, 1, "a/b/c");
    check_encode("a/b/c", 5, 0, "a%2Fb%2Fc");
    check_encode("-._~09AZaz", 10, 0, "-._~09AZaz");
    check_encode("!*'();:@&$,?#[]", 15, 0, "%21%2A%27%28%29%3B%3A%40%26%24%2C%3F%23%5B%5D");
    check_encode("a\0b", 3, 0, "a%00b"); /* binary-safe: n counts, not NUL */
    check_encode("", 0, 1, "");
}

static void pitr_sigv4_uri_encode__appends_and_respects_limit(void **state)
{
    struct pitr_buf b;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&b, 8);
    assert_int_equal(pitr_buf_append_str(&b, "x=", &err), PITR_OK);
    assert_int_equal(pitr_sigv4_uri_encode("a b", 3, 0, &b, &err), PITR_OK);
    assert_string_equal(b.data, "x=a%20b");
    /* Too long for the limit: fails and leaves the buffer as it was. */
    assert_int_equal(pitr_sigv4_uri_encode("  ", 2, 0, &b, &err), PITR_ELIMIT);
    assert_string_equal(b.data, "x=a%20b");
    pitr_buf_release(&b);
}

/* The third line (canonical query) of a canonical request for query. */
static void canonical_query_of(const char *query, struct pitr_buf *line)
{
    const struct pitr_http_header h[] = { { "host", "h" } };
    struct pitr_sigv4_request req = { "GET", "/", query, h, 1, EMPTY_SHA256 };
    struct pitr_sigv4_params p = s3_params();
    struct pitr_buf creq;
    struct pitr_err err;
    const char *s, *e;

    pitr_buf_init(&creq, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_sigv4_canonical_request(&req, &p, &creq, &err), PITR_OK);
    s = strchr(creq.data, '\n');
    assert_non_null(s);
    s = strchr(s + 1, '\n');
    assert_non_null(s);
    s++;
    e = strchr(s, '\n');
    assert_non_null(e);
    pitr_buf_reset(line);
    assert_int_equal(pitr_buf_append(line, s, (size_t)(e - s), &err), PITR_OK);
    pitr_buf_release(&creq);
}

static void pitr_sigv4_canonical_request__query_rules(void **state)
{
    struct pitr_buf q;

    (void)state;
    pitr_buf_init(&q, PITR_BUF_LIMIT_SMALL);
    canonical_query_of("b=2&a=1&a=0&c&d=", &q); /* key, then value; no '=' -> empty */
    assert_string_equal(q.data, "a=0&a=1&b=2&c=&d=");
    canonical_query_of("uploads", &q);
    assert_string_equal(q.data, "uploads=");
    canonical_query_of("prefix=a%2fb&delimiter=%2F", &q); /* re-encoded, uppercase hex */
    assert_string_equal(q.data, "delimiter=%2F&prefix=a%2Fb");
    canonical_query_of("k=a+b&s=a%20b", &q); /* '+' is literal, never a space */
    assert_string_equal(q.data, "k=a%2Bb&s=a%20b");
    canonical_query_of("x=a=b&&y=%zz&z=%4", &q); /* '=' in value; bad escapes kept */
    assert_string_equal(q.data, "x=a%3Db&y=%25zz&z=%254");
    canonical_query_of("Z=1&a=2&_=3&~=4", &q); /* byte order: upper < '_' < lower < '~' */
    assert_string_equal(q.data, "Z=1&_=3&a=2&~=4");
    canonical_query_of("a=1&ab=0&a-=2", &q); /* a prefix sorts first */
    assert_string_equal(q.data, "a=1&a-=2&ab=0");
    canonical_query_of("", &q);
    assert_string_equal(q.data, "");
    canonical_query_of("&&", &q);
    assert_string_equal(q.data, "");
    pitr_buf_release(&q);
}

static void pitr_sigv4_canonical_request__header_rules(void **state)
{
    const struct pitr_http_header h[] = {
        { "X-Amz-Meta-B", "  two   words\there  " },
        { "Host", "example.com" },
        { "x-amz-meta-a", "\t1" },
        { "X-AMZ-META-B", "second" },
        { "x-amz-meta-empty", "   " },
        { "x-amz-meta-b", "third" },
    };
    struct pitr_sigv4_request req = { "HEAD", "/k", NULL, h, 6, "UNSIGNED-PAYLOAD" };
    struct pitr_sigv4_params p = s3_params();
    struct pitr_buf creq;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&creq, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_sigv4_canonical_request(&req, &p, &creq, &err), PITR_OK);
    assert_string_equal(creq.data,
                        "HEAD\n/k\n\n"
                        "host:example.com\n"
                        "x-amz-meta-a:1\n"
                        "x-amz-meta-b:two words here,second,third\n"
                        "x-amz-meta-empty:\n\n"
                        "host;x-amz-meta-a;x-amz-meta-b;x-amz-meta-empty\n"
                        "UNSIGNED-PAYLOAD");
    pitr_buf_release(&creq);
}

static void pitr_sigv4_canonical_request__session_token_signed(void **state)
{
    const struct pitr_http_header h[] = { { "host", "h" }, { "x-amz-date", "20130524T000000Z" } };
    const struct pitr_http_header h2[] = { { "host", "h" },
                                           { "X-Amz-Security-Token", "TOKEN" },
                                           { "x-amz-date", "20130524T000000Z" } };
    const struct pitr_http_header h3[] = { { "host", "h" }, { "x-amz-security-token", "OTHER" } };
    static const char want[] = "GET\n/\n\nhost:h\nx-amz-date:20130524T000000Z\n"
                               "x-amz-security-token:TOKEN\n\n"
                               "host;x-amz-date;x-amz-security-token\n" EMPTY_SHA256;
    struct pitr_sigv4_request req = { "GET", "/", NULL, h, 2, EMPTY_SHA256 };
    struct pitr_sigv4_params p = s3_params();
    struct pitr_buf creq, auth;
    struct pitr_err err;

    (void)state;
    pitr_buf_init(&creq, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&auth, PITR_BUF_LIMIT_SMALL);
    p.session_token = "TOKEN";
    /* Added by the signer when the caller's list lacks it. */
    assert_int_equal(pitr_sigv4_canonical_request(&req, &p, &creq, &err), PITR_OK);
    assert_string_equal(creq.data, want);
    assert_int_equal(pitr_sigv4_authorization(&req, &p, &auth, &err), PITR_OK);
    assert_non_null(strstr(auth.data, "SignedHeaders=host;x-amz-date;x-amz-security-token, "));
    /* Listed by the caller too: signed once. */
    pitr_buf_reset(&creq);
    req.headers = h2;
    req.n_headers = 3;
    assert_int_equal(pitr_sigv4_canonical_request(&req, &p, &creq, &err), PITR_OK);
    assert_string_equal(creq.data, want);
    /* Listed with another value: refused. */
    pitr_buf_reset(&creq);
    req.headers = h3;
    req.n_headers = 2;
    assert_int_equal(pitr_sigv4_canonical_request(&req, &p, &creq, &err), PITR_EUSAGE);
    assert_string_equal(creq.data, "");
    pitr_buf_release(&auth);
    pitr_buf_release(&creq);
}

static void pitr_sigv4_amz_date__formats_utc(void **state)
{
    char out[17];

    (void)state;
    pitr_sigv4_amz_date((time_t)1440938160, out);
    assert_string_equal(out, "20150830T123600Z");
    pitr_sigv4_amz_date((time_t)0, out);
    assert_string_equal(out, "19700101T000000Z");
    pitr_sigv4_amz_date((time_t)951782400, out); /* a leap day */
    assert_string_equal(out, "20000229T000000Z");
}

static void pitr_sigv4_string_to_sign__format(void **state)
{
    struct pitr_sigv4_params p = s3_params();
    struct pitr_buf sts;
    struct pitr_err err;
    char hash[PITR_SHA256_HEX_LEN + 1], want[256];

    (void)state;
    pitr_buf_init(&sts, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_sha256_hex("CR", 2, hash, &err), PITR_OK);
    assert_int_equal(pitr_sigv4_string_to_sign("CR", &p, &sts, &err), PITR_OK);
    snprintf(want,
             sizeof(want),
             "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n%s",
             hash);
    assert_string_equal(sts.data, want);
    pitr_buf_release(&sts);
}

/* Every failure leaves out as it was, with a usage error. */
static void pitr_sigv4_authorization__rejects_bad_input(void **state)
{
    const struct pitr_http_header ok[] = { { "host", "h" } };
    const struct pitr_http_header nohost[] = { { "x-amz-date", "20130524T000000Z" } };
    const struct pitr_http_header badname[] = { { "host", "h" }, { "bad name", "v" } };
    const struct pitr_http_header emptyname[] = { { "host", "h" }, { "", "v" } };
    const struct pitr_http_header crlf[] = { { "host", "h" }, { "x-a", "v\r\nx-b: injected" } };
    const struct pitr_http_header nullval[] = { { "host", NULL } };
    struct pitr_sigv4_request req;
    struct pitr_sigv4_params p;
    struct pitr_buf out;
    struct pitr_err err;
    char sig[65];

    (void)state;
    pitr_buf_init(&out, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_buf_append_str(&out, "keep", &err), PITR_OK);

#define EXPECT_USAGE()                                                                             \
    do {                                                                                           \
        pitr_err_clear(&err);                                                                      \
        assert_int_equal(pitr_sigv4_authorization(&req, &p, &out, &err), PITR_EUSAGE);             \
        assert_int_equal(err.code, PITR_EUSAGE);                                                   \
        assert_string_equal(out.data, "keep");                                                     \
    } while (0)

    req = (struct pitr_sigv4_request){ "GET", "/", NULL, nohost, 1, EMPTY_SHA256 };
    p = s3_params();
    EXPECT_USAGE();
    req.headers = badname;
    req.n_headers = 2;
    EXPECT_USAGE();
    req.headers = emptyname;
    EXPECT_USAGE();
    req.headers = crlf;
    EXPECT_USAGE();
    req.headers = nullval;
    req.n_headers = 1;
    EXPECT_USAGE();
    req.headers = ok;
    req.payload_hash = NULL;
    EXPECT_USAGE();
    req.payload_hash = EMPTY_SHA256;
    req.method = "";
    EXPECT_USAGE();
    req.method = "GET";
    req.path = "relative/key";
    EXPECT_USAGE();
    req.path = "/";
    p.secret_key = NULL;
    EXPECT_USAGE();
    p = s3_params();
    p.region = "us/east";
    EXPECT_USAGE();
    p = s3_params();
    p.service = "";
    EXPECT_USAGE();
    p = s3_params();
    p.access_key = "";
    EXPECT_USAGE();
#undef EXPECT_USAGE

    /* And the same inputs, fixed, succeed. */
    p = s3_params();
    assert_int_equal(pitr_sigv4_authorization(&req, &p, &out, &err), PITR_OK);
    assert_true(strncmp(out.data, "keepAWS4-HMAC-SHA256 Credential=", 32) == 0);

    p.secret_key = NULL;
    assert_int_equal(pitr_sigv4_signature("sts", &p, sig, &err), PITR_EUSAGE);
    pitr_buf_release(&out);
}

/* A different secret, date, region or service changes the signature. */
static void pitr_sigv4_signature__depends_on_scope(void **state)
{
    struct pitr_sigv4_params p = s3_params();
    struct pitr_err err;
    char base[65], sig[65];

    (void)state;
    assert_int_equal(pitr_sigv4_signature("x", &p, base, &err), PITR_OK);
    p.secret_key = "other";
    assert_int_equal(pitr_sigv4_signature("x", &p, sig, &err), PITR_OK);
    assert_string_not_equal(base, sig);
    p = s3_params();
    p.when += 86400;
    assert_int_equal(pitr_sigv4_signature("x", &p, sig, &err), PITR_OK);
    assert_string_not_equal(base, sig);
    p = s3_params();
    p.when += 3600; /* same day: same signing key, same signature of the same text */
    assert_int_equal(pitr_sigv4_signature("x", &p, sig, &err), PITR_OK);
    assert_string_equal(base, sig);
    p = s3_params();
    p.region = "eu-west-1";
    assert_int_equal(pitr_sigv4_signature("x", &p, sig, &err), PITR_OK);
    assert_string_not_equal(base, sig);
    p = s3_params();
    p.service = "sts";
    assert_int_equal(pitr_sigv4_signature("x", &p, sig, &err), PITR_OK);
    assert_string_not_equal(base, sig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(aws_suite__all_cases_found),
        cmocka_unit_test(pitr_sigv4_authorization__s3_doc_get_object),
        cmocka_unit_test(pitr_sigv4_authorization__s3_doc_put_object),
        cmocka_unit_test(pitr_sigv4_signature__s3_doc_presigned_unsigned_payload),
        cmocka_unit_test(pitr_sigv4_authorization__s3_put_unsigned_payload_with_content_md5),
        cmocka_unit_test(pitr_sigv4_authorization__s3_doc_get_lifecycle),
        cmocka_unit_test(pitr_sigv4_authorization__s3_doc_list_objects),
        cmocka_unit_test(pitr_sigv4_canonical_request__s3_path_not_normalized),
        cmocka_unit_test(pitr_sigv4_canonical_request__generic_path_normalized),
        cmocka_unit_test(pitr_sigv4_uri_encode__s3_rules),
        cmocka_unit_test(pitr_sigv4_uri_encode__appends_and_respects_limit),
        cmocka_unit_test(pitr_sigv4_canonical_request__query_rules),
        cmocka_unit_test(pitr_sigv4_canonical_request__header_rules),
        cmocka_unit_test(pitr_sigv4_canonical_request__session_token_signed),
        cmocka_unit_test(pitr_sigv4_amz_date__formats_utc),
        cmocka_unit_test(pitr_sigv4_string_to_sign__format),
        cmocka_unit_test(pitr_sigv4_authorization__rejects_bad_input),
        cmocka_unit_test(pitr_sigv4_signature__depends_on_scope),
    };
    struct CMUnitTest *suite;
    char **names;
    char **test_names;
    size_t n, i;
    int failed;

    names = list_cases(&n);
    suite_case_count = n;
    failed = cmocka_run_group_tests_name("sigv4", tests, NULL, NULL);

    /* One test per case folder, named after it. */
    suite = pitr_calloc(n, sizeof(*suite));
    test_names = pitr_calloc(n, sizeof(*test_names));
    for (i = 0; i < n; i++) {
        test_names[i] = pitr_asprintf("pitr_sigv4_authorization__aws_%s", names[i]);
        suite[i].name = test_names[i];
        suite[i].test_func = run_aws_case;
        suite[i].initial_state = names[i];
    }
    if (n > 0)
        failed += _cmocka_run_group_tests("aws-sigv4-test-suite", suite, n, NULL, NULL);
    for (i = 0; i < n; i++)
        pitr_free(test_names[i]);
    pitr_free(test_names);
    pitr_free(suite);
    free_case_names(names, n);
    return failed != 0;
}
