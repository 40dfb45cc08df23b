/*
 * buf.h - a growable, binary-safe byte buffer with a hard size limit.
 *
 * Invariants after pitr_buf_init():
 *   - data is never NULL (an empty buffer points at a static empty string),
 *   - data[len] == '\0', so text contents can be used as a C string,
 *   - len never exceeds limit; an append that would exceed it fails with
 *     PITR_ELIMIT and leaves the buffer as it was.
 *
 * The buffer owns data. Appending may move data: do not keep pointers into
 * it across an append. Release with pitr_buf_release(), or with
 * pitr_buf_release_secure() when it held a secret.
 */
#ifndef PGPITR_CORE_BUF_H
#define PGPITR_CORE_BUF_H

#include <stddef.h>

#include "pgpitr/core/err.h"

struct pitr_buf {
    char *data; /* owned, unless it points at the static empty string */
    size_t len;
    size_t cap;
    size_t limit;
};

/* A non-owning view of bytes. */
struct pitr_slice {
    const char *p;
    size_t n;
};

#define PITR_BUF_LIMIT_SMALL ((size_t)64 * 1024)
#define PITR_BUF_LIMIT_WAL   ((size_t)1024 * 1024 * 1024)

/* Initialise an empty buffer that may grow up to limit bytes. Cannot fail. */
void pitr_buf_init(struct pitr_buf *b, size_t limit);
/* Free the memory and re-initialise the buffer (same limit). */
void pitr_buf_release(struct pitr_buf *b);
/* Wipe the contents (OPENSSL_cleanse), then release. */
void pitr_buf_release_secure(struct pitr_buf *b);
/* Empty the buffer, keeping its memory. */
void pitr_buf_reset(struct pitr_buf *b);
/* Make room for at least n more bytes. */
PITR_MUST_CHECK pitr_rc pitr_buf_grow(struct pitr_buf *b, size_t n, struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_buf_append(struct pitr_buf *b,
                                        const void *p,
                                        size_t n,
                                        struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_buf_append_str(struct pitr_buf *b,
                                            const char *s,
                                            struct pitr_err *err);
PITR_MUST_CHECK pitr_rc pitr_buf_appendf(struct pitr_buf *b,
                                         struct pitr_err *err,
                                         const char *fmt,
                                         ...) PITR_PRINTF(3, 4);
/* Append n bytes as lowercase hexadecimal (2n characters). */
PITR_MUST_CHECK pitr_rc pitr_buf_append_hex(struct pitr_buf *b,
                                            const unsigned char *p,
                                            size_t n,
                                            struct pitr_err *err);
/* Mark n more bytes, written directly after data[len], as used (n <= cap-len). */
void pitr_buf_commit(struct pitr_buf *b, size_t n);
/*
 * Hand the contents to the caller, who must pitr_free() them; the buffer is
 * left empty and initialised. *len_out (optional) receives the length.
 */
char *pitr_buf_detach(struct pitr_buf *b, size_t *len_out);

#endif
