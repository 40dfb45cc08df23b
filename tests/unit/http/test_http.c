/*
 * test_http.c - unit tests for src/http/http.c against a scripted HTTP
 * server on a loopback port (a thread of this process). Each scripted step
 * reads one request and writes one canned response; the server keeps the
 * connection open between steps unless the step says to close it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/http/http.h"

/* The HTTP layer sits below S3: its header must not pull in any S3 header. */
#if defined(PGPITR_S3_SIGV4_H) || defined(PGPITR_S3_CLIENT_H) || defined(PGPITR_S3_CREDS_H)
#error "pgpitr/http/http.h includes the S3 layer (an upward dependency)"
#endif

struct step {
    const char *response; /* written verbatim */
    int close_after;
};

struct server {
    int listen_fd;
    int port;
    const struct step *steps;
    size_t n_steps;
    int accepts;     /* connections accepted */
    char last[8192]; /* the last request (headers + body) */
    long trickle_ms; /* > 0: write responses one byte every trickle_ms */
    pthread_t thread;
};

/* Read one request: headers up to the blank line, then Content-Length bytes. */
static int read_request(int fd, char *buf, size_t size)
{
    size_t len = 0, want = 0;
    char *end = NULL, *cl;
    ssize_t r;

    while (len + 1 < size) {
        r = read(fd, buf + len, size - 1 - len);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            cl = strstr(buf, "\r\nContent-Length:"); /* as curl spells it */
            want = (size_t)(end + 4 - buf) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (end != NULL && len >= want)
            return 0;
    }
    return 0; /* a bigger request: the test only looks at its start */
}

static void *serve(void *ud)
{
    struct server *s = ud;
    int fd = -1;
    size_t i;
    char buf[sizeof(s->last)];

    for (i = 0; i < s->n_steps; i++) {
        if (fd < 0) {
            fd = accept(s->listen_fd, NULL, NULL);
            if (fd < 0)
                break;
            s->accepts++;
        }
        if (read_request(fd, buf, sizeof(buf)) != 0) {
            close(fd);
            fd = -1;
            i--; /* the client gave up on this connection: serve the step again */
            continue;
        }
        memcpy(s->last, buf, sizeof(buf));
        if (s->trickle_ms > 0) {
            const char *p;
            struct timespec ts = { s->trickle_ms / 1000, (s->trickle_ms % 1000) * 1000000L };

            /* Until the client hangs up (MSG_NOSIGNAL: no SIGPIPE then). */
            for (p = s->steps[i].response; *p != '\0'; p++) {
                if (send(fd, p, 1, MSG_NOSIGNAL) != 1)
                    break;
                nanosleep(&ts, NULL);
            }
        } else if (write(fd, s->steps[i].response, strlen(s->steps[i].response)) < 0) {
            break;
        }
        if (s->steps[i].close_after) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void server_start_trickle(struct server *s,
                                 const struct step *steps,
                                 size_t n,
                                 long trickle_ms)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int one = 1;

    memset(s, 0, sizeof(*s));
    s->steps = steps;
    s->n_steps = n;
    s->trickle_ms = trickle_ms;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->listen_fd >= 0);
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s->listen_fd, 4), 0);
    assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *)&sa, &len), 0);
    s->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_start(struct server *s, const struct step *steps, size_t n)
{
    server_start_trickle(s, steps, n, 0);
}

static void server_stop(struct server *s)
{
    shutdown(s->listen_fd, SHUT_RDWR);
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
}

static void pitr_http_perform__status_headers_body_keepalive(void **state)
{
    static const struct step steps[] = {
        { "HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nx-amz-request-id: req-1\r\n"
          "Content-Length: 5\r\n\r\nhello",
          0 },
        { "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0 },
        { "HTTP/1.1 404 Not Found\r\nContent-Length: 29\r\n\r\n<Error><Code>X</Code></Error>", 1 },
    };
    struct pitr_http_header hdrs[] = { { "X-Test", "one" }, { "X-Empty", "" } };
    struct server srv;
    struct pitr_http *h;
    struct pitr_http_request req;
    struct pitr_http_response resp;
    struct pitr_buf body, err_body;
    struct pitr_err err;
    char url[64];

    (void)state;
    server_start(&srv, steps, 3);
    pitr_err_clear(&err);
    assert_int_equal(pitr_http_new(NULL, &h, &err), PITR_OK);
    pitr_buf_init(&body, PITR_BUF_LIMIT_SMALL);
    pitr_buf_init(&err_body, PITR_BUF_LIMIT_SMALL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/b/k", srv.port);

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.headers = hdrs;
    req.n_headers = 2;
    req.resp_body = &body;
    req.err_body = &err_body;
    assert_int_equal(pitr_http_perform(h, &req, &resp, &err), PITR_OK);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.etag, "\"abc\"");
    assert_string_equal(resp.request_id, "req-1");
    assert_true(resp.content_length == 5);
    assert_string_equal(body.data, "hello");
    assert_non_null(strstr(srv.last, "GET /b/k HTTP/1.1\r\n"));
    assert_non_null(strstr(srv.last, "\r\nX-Test: one\r\n"));
    assert_non_null(strstr(srv.last, "\r\nX-Empty:"));

    /* A PUT from memory on the same connection. */
    memset(&req, 0, sizeof(req));
    req.method = "PUT";
    req.url = url;
    req.body = "payload";
    req.body_len = 7;
    assert_int_equal(pitr_http_perform(h, &req, &resp, &err), PITR_OK);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.etag, "");
    assert_non_null(strstr(srv.last, "PUT /b/k HTTP/1.1\r\n"));
    assert_non_null(strstr(srv.last, "\r\nContent-Length: 7\r\n"));
    assert_null(strstr(srv.last, "Expect:"));
    assert_non_null(strstr(srv.last, "\r\n\r\npayload"));

    /* An error status is not a transport failure; its body goes to err_body. */
    pitr_buf_reset(&body);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.resp_body = &body;
    req.err_body = &err_body;
    assert_int_equal(pitr_http_perform(h, &req, &resp, &err), PITR_OK);
    assert_int_equal(resp.status, 404);
    assert_int_equal(body.len, 0);
    assert_string_equal(err_body.data, "<Error><Code>X</Code></Error>");

    pitr_http_free(h);
    server_stop(&srv);
    assert_int_equal(srv.accepts, 1); /* three requests, one connection */
    pitr_buf_release(&body);
    pitr_buf_release(&err_body);
}

static void pitr_http_perform__body_limit(void **state)
{
    static const struct step steps[] = {
        { "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 1 },
    };
    struct server srv;
    struct pitr_http *h;
    struct pitr_http_request req;
    struct pitr_http_response resp;
    struct pitr_buf body;
    struct pitr_err err;
    char url[64];

    (void)state;
    server_start(&srv, steps, 1);
    pitr_err_clear(&err);
    assert_int_equal(pitr_http_new(NULL, &h, &err), PITR_OK);
    pitr_buf_init(&body, 4);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/big", srv.port);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.resp_body = &body;
    assert_int_equal(pitr_http_perform(h, &req, &resp, &err), PITR_ELIMIT);
    assert_int_equal(err.code, PITR_ELIMIT);
    pitr_http_free(h);
    server_stop(&srv);
    pitr_buf_release(&body);
}

static void pitr_http_perform__refused_is_enetwork(void **state)
{
    struct server srv;
    struct pitr_http *h;
    struct pitr_http_opts opts;
    struct pitr_http_request req;
    struct pitr_http_response resp;
    struct pitr_err err;
    char url[80];

    (void)state;
    /* A port that was just free: start a server with no steps and stop it. */
    server_start(&srv, NULL, 0);
    server_stop(&srv);
    memset(&opts, 0, sizeof(opts));
    opts.connect_timeout_ms = 2000;
    pitr_err_clear(&err);
    assert_int_equal(pitr_http_new(&opts, &h, &err), PITR_OK);
    snprintf(url, sizeof(url), "http://user:pw@127.0.0.1:%d/x", srv.port);
    memset(&req, 0, sizeof(req));
    req.method = "DELETE";
    req.url = url;
    assert_int_equal(pitr_http_perform(h, &req, &resp, &err), PITR_ENETWORK);
    assert_non_null(strstr(err.msg, "DELETE 'http://***@127.0.0.1:"));
    assert_non_null(strstr(err.msg, "connection failed"));
    assert_null(strstr(err.msg, "pw"));
    pitr_http_free(h);
}

static void pitr_http_redact_url__hides_userinfo(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "https://host/a@b", "https://host/a@b" },
        { "https://u:p@host:9/x?y=@", "https://***@host:9/x?y=@" },
        { "http://u@h", "http://***@h" },
        { "no-scheme", "no-scheme" },
    };
    struct pitr_buf b;
    struct pitr_err err;
    size_t i;

    (void)state;
    pitr_err_clear(&err);
    pitr_buf_init(&b, PITR_BUF_LIMIT_SMALL);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pitr_buf_reset(&b);
        assert_int_equal(pitr_http_redact_url(cases[i].in, &b, &err), PITR_OK);
        assert_string_equal(b.data, cases[i].out);
    }
    pitr_buf_release(&b);
}

/* One GET of url through a new client with opts; returns what perform returned. */
static pitr_rc get_once(const struct pitr_http_opts *opts,
                        const char *url,
                        int64_t deadline_ms,
                        uint64_t max_body,
                        struct pitr_buf *body,
                        struct pitr_http_response *resp,
                        struct pitr_err *err)
{
    struct pitr_http *h;
    struct pitr_http_request req;
    pitr_rc rc;

    pitr_err_clear(err);
    assert_int_equal(pitr_http_new(opts, &h, err), PITR_OK);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.resp_body = body;
    req.deadline_ms = deadline_ms;
    req.max_body = max_body;
    rc = pitr_http_perform(h, &req, resp, err);
    pitr_http_free(h);
    return rc;
}

static void pitr_http_perform__deadline_ends_a_trickle(void **state)
{
    /* 20 bytes/s: too fast for the low-speed limit to notice within the test. */
    static const struct step steps[] = {
        { "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
          "0123456789012345678901234567890123456789012345678901234567890123456789"
          "012345678901234567890123456789",
          1 },
    };
    struct server srv;
    struct pitr_http_response resp;
    struct pitr_buf body;
    struct pitr_err err;
    char url[64];
    int64_t t0;

    (void)state;
    server_start_trickle(&srv, steps, 1, 50);
    pitr_buf_init(&body, PITR_BUF_LIMIT_SMALL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", srv.port);
    t0 = pitr_http_now_ms();
    assert_int_equal(get_once(NULL, url, t0 + 1500, 0, &body, &resp, &err), PITR_ENETWORK);
    assert_true(pitr_http_now_ms() - t0 < 4000);
    assert_non_null(strstr(err.msg, "GET 'http://127.0.0.1:"));
    assert_non_null(strstr(err.msg, "timed out"));
    assert_int_equal(resp.transient, 1);

    /* A deadline already passed: nothing is sent. */
    assert_int_equal(get_once(NULL, url, pitr_http_now_ms() - 1, 0, &body, &resp, &err),
                     PITR_ENETWORK);
    assert_non_null(strstr(err.msg, "deadline passed"));
    server_stop(&srv);
    pitr_buf_release(&body);
}

static void pitr_http_perform__low_speed_cuts_a_trickle(void **state)
{
    /* 3 bytes/s, as a hostile endpoint might; the limit is 32 bytes/s. */
    static const struct step steps[] = {
        { "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
          "0123456789012345678901234567890123456789012345678901234567890123456789"
          "012345678901234567890123456789",
          1 },
    };
    struct server srv;
    struct pitr_http_opts opts;
    struct pitr_http_response resp;
    struct pitr_buf body;
    struct pitr_err err;
    char url[64];
    int64_t t0;

    (void)state;
    server_start_trickle(&srv, steps, 1, 333);
    memset(&opts, 0, sizeof(opts));
    opts.low_speed_time_s = 2;
    pitr_buf_init(&body, PITR_BUF_LIMIT_SMALL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", srv.port);
    t0 = pitr_http_now_ms();
    assert_int_equal(get_once(&opts, url, 0, 0, &body, &resp, &err), PITR_ENETWORK);
    assert_true(pitr_http_now_ms() - t0 < 6000);
    assert_non_null(strstr(err.msg, "timed out"));
    assert_non_null(strstr(err.msg, "too slow"));
    server_stop(&srv);
    pitr_buf_release(&body);
}

static void pitr_http_perform__slow_answer_has_no_low_speed_cut(void **state)
{
    /* 10 bytes/s for about 4 s, as a store thinking over DeleteObjects. */
    static const struct step steps[] = {
        { "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1 },
        { "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1 },
    };
    struct server srv;
    struct pitr_http_opts opts;
    struct pitr_http *h;
    struct pitr_http_request req;
    struct pitr_http_response resp;
    struct pitr_buf body;
    struct pitr_err err;
    char url[64];

    (void)state;
    server_start_trickle(&srv, steps, 2, 100);
    memset(&opts, 0, sizeof(opts));
    opts.low_speed_time_s = 1;
    pitr_err_clear(&err);
    assert_int_equal(pitr_http_new(&opts, &h, &err), PITR_OK);
    pitr_buf_init(&body, PITR_BUF_LIMIT_SMALL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/b?delete", srv.port);
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = url;
    req.body = "<Delete/>";
    req.body_len = 9;
    req.resp_body = &body;
    assert_int_equal(pitr_http_perform(h, &req, &resp, &err), PITR_ENETWORK);
    assert_non_null(strstr(err.msg, "too slow"));
    req.slow_answer = 1;
    req.deadline_ms = pitr_http_now_ms() + 20000;
    assert_int_equal(pitr_http_perform(h, &req, &resp, &err), PITR_OK);
    assert_string_equal(body.data, "ok");
    pitr_http_free(h);
    server_stop(&srv);
    pitr_buf_release(&body);
}

static pitr_rc count_bytes(const void *p, size_t n, void *ud, struct pitr_err *err)
{
    (void)p;
    (void)err;
    *(size_t *)ud += n;
    return PITR_OK;
}

static void pitr_http_perform__max_body(void **state)
{
    static const struct step steps[] = {
        /* Announced too big: refused before the body. */
        { "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 1 },
        /* No length: refused as the body passes the bound. */
        { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
          "a\r\n0123456789\r\n0\r\n\r\n",
          1 },
        /* The bound is for 2xx bodies: a bigger error document is fine. */
        { "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\n0123456789", 1 },
        /* HEAD: the length is the object's, there is no body. */
        { "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", 1 },
        /* Within the bound. */
        { "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd", 1 },
    };
    struct server srv;
    struct pitr_http *h;
    struct pitr_http_request req;
    struct pitr_http_response resp;
    struct pitr_buf err_body;
    struct pitr_err err;
    size_t got = 0;
    char url[64];

    (void)state;
    server_start(&srv, steps, 5);
    pitr_err_clear(&err);
    pitr_buf_init(&err_body, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_http_new(NULL, &h, &err), PITR_OK);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/obj", srv.port);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url;
    req.body_fn = count_bytes;
    req.body_ud = &got;
    req.err_body = &err_body;
    req.max_body = 4;
    assert_int_equal(pitr_http_perform(h, &req, &resp, &err), PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "announces 10 bytes, more than the 4 allowed"));
    assert_int_equal(got, 0);

    assert_int_equal(pitr_http_perform(h, &req, &resp, &err), PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "has at least 10 bytes, more than the 4 allowed"));
    assert_int_equal(got, 0);

    assert_int_equal(pitr_http_perform(h, &req, &resp, &err), PITR_OK);
    assert_int_equal(resp.status, 404);
    assert_int_equal(err_body.len, 10);

    req.method = "HEAD";
    assert_int_equal(pitr_http_perform(h, &req, &resp, &err), PITR_OK);
    assert_true(resp.content_length == 1000);

    req.method = "GET";
    assert_int_equal(pitr_http_perform(h, &req, &resp, &err), PITR_OK);
    assert_int_equal(got, 4);
    pitr_http_free(h);
    server_stop(&srv);
    pitr_buf_release(&err_body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_http_perform__status_headers_body_keepalive),
        cmocka_unit_test(pitr_http_perform__body_limit),
        cmocka_unit_test(pitr_http_perform__refused_is_enetwork),
        cmocka_unit_test(pitr_http_redact_url__hides_userinfo),
        cmocka_unit_test(pitr_http_perform__deadline_ends_a_trickle),
        cmocka_unit_test(pitr_http_perform__low_speed_cuts_a_trickle),
        cmocka_unit_test(pitr_http_perform__max_body),
        cmocka_unit_test(pitr_http_perform__slow_answer_has_no_low_speed_cut),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
