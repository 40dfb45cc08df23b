/* hash.c - SHA-256 and HMAC-SHA256 over OpenSSL EVP; see include/pgpitr/crypto/hash.h. */
#include "pgpitr/crypto/hash.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* Fill *err with a message and the newest OpenSSL error, then clear OpenSSL's queue. */
static pitr_rc ssl_fail(struct pitr_err *err, const char *what)
{
    unsigned long e = ERR_get_error();
    char ebuf[256];

    if (e == 0) {
        ERR_clear_error();
        return pitr_err_set(err, PITR_EINTERNAL, "%s failed", what);
    }
    ERR_error_string_n(e, ebuf, sizeof(ebuf));
    ERR_clear_error();
    return pitr_err_set(err, PITR_EINTERNAL, "%s failed: %s", what, ebuf);
}

pitr_rc pitr_sha256_init(struct pitr_sha256 *h, struct pitr_err *err)
{
    EVP_MD_CTX *ctx;

    h->ctx = NULL;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return ssl_fail(err, "EVP_MD_CTX_new");
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return ssl_fail(err, "sha-256 init");
    }
    h->ctx = ctx;
    return PITR_OK;
}

pitr_rc pitr_sha256_update(struct pitr_sha256 *h, const void *p, size_t n, struct pitr_err *err)
{
    if (h->ctx == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "sha-256 update on an uninitialised context");
    if (n == 0)
        return PITR_OK;
    if (EVP_DigestUpdate(h->ctx, p, n) != 1)
        return ssl_fail(err, "sha-256 update");
    return PITR_OK;
}

pitr_rc pitr_sha256_final(struct pitr_sha256 *h,
                          unsigned char out[PITR_SHA256_LEN],
                          struct pitr_err *err)
{
    unsigned int len = 0;

    if (h->ctx == NULL)
        return pitr_err_set(err, PITR_EINTERNAL, "sha-256 final on an uninitialised context");
    if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1)
        return ssl_fail(err, "sha-256 final");
    if (len != PITR_SHA256_LEN)
        return pitr_err_set(err, PITR_EINTERNAL, "sha-256 produced %u bytes", len);
    return PITR_OK;
}

void pitr_sha256_release(struct pitr_sha256 *h)
{
    EVP_MD_CTX_free(h->ctx); /* NULL is a no-op */
    h->ctx = NULL;
}

pitr_rc pitr_sha256(const void *p,
                    size_t n,
                    unsigned char out[PITR_SHA256_LEN],
                    struct pitr_err *err)
{
    struct pitr_sha256 h = { NULL };
    pitr_rc rc;

    rc = pitr_sha256_init(&h, err);
    if (rc != PITR_OK)
        goto out;
    rc = pitr_sha256_update(&h, p, n, err);
    if (rc != PITR_OK)
        goto out;
    rc = pitr_sha256_final(&h, out, err);
out:
    pitr_sha256_release(&h);
    return rc;
}

pitr_rc pitr_sha256_hex(const void *p,
                        size_t n,
                        char out[PITR_SHA256_HEX_LEN + 1],
                        struct pitr_err *err)
{
    unsigned char md[PITR_SHA256_LEN];
    pitr_rc rc;

    rc = pitr_sha256(p, n, md, err);
    if (rc != PITR_OK)
        return rc;
    pitr_hex_encode(md, sizeof(md), out);
    return PITR_OK;
}

pitr_rc pitr_hmac_sha256(const void *key,
                         size_t key_len,
                         const void *msg,
                         size_t msg_len,
                         unsigned char out[PITR_SHA256_LEN],
                         struct pitr_err *err)
{
    static const unsigned char empty[1] = { 0 };
    unsigned int len = 0;

    if (key_len > (size_t)INT_MAX)
        return pitr_err_set(err, PITR_ELIMIT, "hmac key of %zu bytes is too large", key_len);
    /* HMAC() treats a NULL key as "reuse the previous key"; never pass NULL. */
    if (key == NULL || key_len == 0)
        key = empty;
    if (msg == NULL || msg_len == 0) {
        msg = empty;
        msg_len = 0;
    }
    if (HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &len) == NULL)
        return ssl_fail(err, "hmac-sha256");
    if (len != PITR_SHA256_LEN)
        return pitr_err_set(err, PITR_EINTERNAL, "hmac-sha256 produced %u bytes", len);
    return PITR_OK;
}

void pitr_hex_encode(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

pitr_rc pitr_md5_base64(const void *p,
                        size_t n,
                        char out[PITR_MD5_B64_LEN + 1],
                        struct pitr_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    out[0] = '\0';
    if (EVP_Digest(p, n, md, &len, EVP_md5(), NULL) != 1)
        return ssl_fail(err, "md5");
    if (len != 16)
        return pitr_err_set(err, PITR_EINTERNAL, "md5 produced %u bytes", len);
    if (EVP_EncodeBlock((unsigned char *)out, md, 16) != PITR_MD5_B64_LEN)
        return pitr_err_set(err, PITR_EINTERNAL, "base64 of an md5 digest failed");
    return PITR_OK;
}
