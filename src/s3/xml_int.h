/*
 * xml_int.h - the S3 XML documents the client reads (module-private).
 *
 * Two parsers over expat, each given the whole response body:
 *   - a ListObjectsV2 page (<ListBucketResult>): Key, Size and ETag of each
 *     <Contents>, plus <IsTruncated> and <NextContinuationToken>;
 *   - an error document (<Error>): <Code> and <Message>.
 * Bodies come from the network, so both are strict about shape and size:
 * input over PITR_S3_XML_MAX_INPUT or a text field over its own limit fails
 * with PITR_ELIMIT, a document type declaration (where entity expansion
 * attacks live) or anything that is not well-formed XML with the expected
 * root element fails with PITR_EFORMAT.
 */
#ifndef PGPITR_S3_XML_INT_H
#define PGPITR_S3_XML_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"

#define PITR_S3_XML_MAX_INPUT ((size_t)16 * 1024 * 1024)
#define PITR_S3_KEY_MAX       1024  /* S3's own limit on a key, in bytes */
#define PITR_S3_TOKEN_MAX     4096  /* continuation tokens */
#define PITR_S3_ETAG_MAX      128   /* size of the etag arrays, NUL included */
#define PITR_S3_MESSAGE_MAX   512   /* error messages; longer ones are cut */
#define PITR_S3_MAX_KEYS_PAGE 10000 /* entries in one page; S3 sends at most 1000 */

struct pitr_s3_list_entry {
    char *key; /* owned; raw (decoded) key, NUL-terminated */
    uint64_t size;
    char etag[PITR_S3_ETAG_MAX]; /* without the surrounding quotes, or "" */
};

struct pitr_s3_list_page {
    struct pitr_s3_list_entry *entries; /* owned; n of them, in document order */
    size_t n;
    size_t cap;
    int is_truncated;
    char *next_token; /* owned; NextContinuationToken, or NULL */
};

struct pitr_s3_error_doc {
    char code[64];                     /* <Code>, truncated, or "" */
    char message[PITR_S3_MESSAGE_MAX]; /* <Message>, truncated, or "" */
};

void pitr_s3_list_page_init(struct pitr_s3_list_page *page);
/* Free the entries and the token, and re-initialise the page. */
void pitr_s3_list_page_release(struct pitr_s3_list_page *page);

/*
 * Parse one ListObjectsV2 response into *page (which must be initialised
 * and empty). On failure *page holds nothing and may be released or reused.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_xml_parse_list(const char *xml,
                                               size_t len,
                                               struct pitr_s3_list_page *page,
                                               struct pitr_err *err);

/* Parse an <Error> document into *out (which is cleared first). */
PITR_MUST_CHECK pitr_rc pitr_s3_xml_parse_error(const char *xml,
                                                size_t len,
                                                struct pitr_s3_error_doc *out,
                                                struct pitr_err *err);

#endif
