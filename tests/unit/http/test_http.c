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
        if (write(fd, s->steps[i].response, strlen(s->steps[i].response)) < 0)
            break;
        if (s->steps[i].close_after) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void server_start(struct server *s, const struct step *steps, size_t n)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int one = 1;

    memset(s, 0, sizeof(*s));
    s->steps = steps;
    s->n_steps = n;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_http_perform__status_headers_body_keepalive),
        cmocka_unit_test(pitr_http_perform__body_limit),
        cmocka_unit_test(pitr_http_perform__refused_is_enetwork),
        cmocka_unit_test(pitr_http_redact_url__hides_userinfo),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
