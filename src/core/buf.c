/* buf.c - bounded growable buffer; see include/pgpitr/core/buf.h. */
#include "pgpitr/core/buf.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pgpitr/core/mem.h"

/* Every empty buffer points here, so data is never NULL. Never written. */
static char empty_byte[1];

void pitr_buf_init(struct pitr_buf *b, size_t limit)
{
    b->data = empty_byte;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
}

void pitr_buf_release(struct pitr_buf *b)
{
    if (b->cap != 0)
        pitr_free(b->data);
    pitr_buf_init(b, b->limit);
}

void pitr_buf_release_secure(struct pitr_buf *b)
{
    if (b->cap != 0)
        OPENSSL_cleanse(b->data, b->cap);
    pitr_buf_release(b);
}

void pitr_buf_reset(struct pitr_buf *b)
{
    b->len = 0;
    if (b->cap != 0)
        b->data[0] = '\0';
}

pitr_rc pitr_buf_grow(struct pitr_buf *b, size_t n, struct pitr_err *err)
{
    size_t want, cap;

    if (n > b->limit || b->len > b->limit - n)
        return pitr_err_set(err,
                            PITR_ELIMIT,
                            "buffer limit of %zu bytes reached (have %zu, need %zu more)",
                            b->limit,
                            b->len,
                            n);
    want = b->len + n + 1; /* room for the terminating NUL */
    if (want <= b->cap)
        return PITR_OK;
    cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap = cap > ((size_t)-1) / 2 ? want : cap * 2;
    if (cap > b->limit + 1)
        cap = b->limit + 1;
    if (b->cap == 0) {
        b->data = pitr_malloc(cap);
        b->data[0] = '\0';
    } else {
        b->data = pitr_realloc(b->data, cap);
    }
    b->cap = cap;
    return PITR_OK;
}

pitr_rc pitr_buf_append(struct pitr_buf *b, const void *p, size_t n, struct pitr_err *err)
{
    pitr_rc rc;

    if (n == 0)
        return PITR_OK;
    rc = pitr_buf_grow(b, n, err);
    if (rc != PITR_OK)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return PITR_OK;
}

pitr_rc pitr_buf_append_str(struct pitr_buf *b, const char *s, struct pitr_err *err)
{
    return pitr_buf_append(b, s, strlen(s), err);
}

pitr_rc pitr_buf_appendf(struct pitr_buf *b, struct pitr_err *err, const char *fmt, ...)
{
    va_list ap;
    int n;
    pitr_rc rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return pitr_err_set(err, PITR_EINTERNAL, "bad format string '%s'", fmt);
    rc = pitr_buf_grow(b, (size_t)n, err);
    if (rc != PITR_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return PITR_OK;
}

pitr_rc pitr_buf_append_hex(struct pitr_buf *b,
                            const unsigned char *p,
                            size_t n,
                            struct pitr_err *err)
{
    static const char digits[] = "0123456789abcdef";
    pitr_rc rc;
    size_t i;

    if (n > ((size_t)-1) / 2)
        return pitr_err_set(err, PITR_ELIMIT, "hex input of %zu bytes is too large", n);
    rc = pitr_buf_grow(b, 2 * n, err);
    if (rc != PITR_OK)
        return rc;
    for (i = 0; i < n; i++) {
        b->data[b->len++] = digits[p[i] >> 4];
        b->data[b->len++] = digits[p[i] & 0x0f];
    }
    b->data[b->len] = '\0';
    return PITR_OK;
}

void pitr_buf_commit(struct pitr_buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

char *pitr_buf_detach(struct pitr_buf *b, size_t *len_out)
{
    char *p;

    if (len_out != NULL)
        *len_out = b->len;
    if (b->cap == 0) {
        p = pitr_malloc(1);
        p[0] = '\0';
    } else {
        p = b->data;
    }
    pitr_buf_init(b, b->limit);
    return p;
}
