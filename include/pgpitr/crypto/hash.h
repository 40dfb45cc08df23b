/*
 * hash.h - SHA-256 and HMAC-SHA256 behind our own API (OpenSSL EVP inside).
 */
#ifndef PGPITR_CRYPTO_HASH_H
#define PGPITR_CRYPTO_HASH_H

#include <stddef.h>

#include "pgpitr/core/err.h"

#define PITR_SHA256_LEN     32
#define PITR_SHA256_HEX_LEN 64

/* Incremental SHA-256. Owns an OpenSSL context: always pitr_sha256_release(). */
struct pitr_sha256 {
    void *ctx; /* owned EVP_MD_CTX */
};

PITR_MUST_CHECK pitr_rc pitr_sha256_init(struct pitr_sha256 *h, struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_sha256_update(struct pitr_sha256 *h,
                                           const void *p,
                                           size_t n,
                                           struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_sha256_final(struct pitr_sha256 *h,
                                          unsigned char out[PITR_SHA256_LEN],
                                          struct pitr_err *err);
void pitr_sha256_release(struct pitr_sha256 *h);

/* One-shot digest of p[0..n). */
PITR_MUST_CHECK pitr_rc pitr_sha256(const void *p,
                                    size_t n,
                                    unsigned char out[PITR_SHA256_LEN],
                                    struct pitr_err *err);
/* One-shot digest as 64 lowercase hex characters plus NUL. */
PITR_MUST_CHECK pitr_rc pitr_sha256_hex(const void *p,
                                        size_t n,
                                        char out[PITR_SHA256_HEX_LEN + 1],
                                        struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_hmac_sha256(const void *key,
                                         size_t key_len,
                                         const void *msg,
                                         size_t msg_len,
                                         unsigned char out[PITR_SHA256_LEN],
                                         struct pitr_err *err);
/*
 * The base64 of p[0..n)'s MD5 digest (24 characters plus NUL), as S3's
 * Content-MD5 header wants it (DeleteObjects requires one). MD5 is used for
 * that integrity header only, never for anything secret.
 */
#define PITR_MD5_B64_LEN 24
PITR_MUST_CHECK pitr_rc pitr_md5_base64(const void *p,
                                        size_t n,
                                        char out[PITR_MD5_B64_LEN + 1],
                                        struct pitr_err *err);

/* Lowercase hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void pitr_hex_encode(const unsigned char *p, size_t n, char *out);

#endif
