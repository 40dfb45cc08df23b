/*
 * xml_int.h - the S3 XML documents the client reads and writes (module-private).
 *
 * Parsers over expat, each given the whole response body:
 *   - a ListObjectsV2 page (<ListBucketResult>): Key, Size and ETag of each
 *     <Contents>, plus <IsTruncated> and <NextContinuationToken>;
 *   - an error document (<Error>): <Code> and <Message>;
 *   - CreateMultipartUpload's <InitiateMultipartUploadResult>: <UploadId>;
 *   - CompleteMultipartUpload's answer, which is <CompleteMultipartUploadResult>
 *     or, even with status 200, an <Error>;
 *   - DeleteObjects' <DeleteResult>: the <Error> entries (Key, Code, Message);
 *   - a ListMultipartUploads page: Key and UploadId of each <Upload>.
 * Bodies come from the network, so all are strict about shape and size:
 * input over PITR_S3_XML_MAX_INPUT, elements nested deeper than
 * PITR_S3_XML_MAX_DEPTH or a text field over its own limit fails with
 * PITR_ELIMIT, a document type declaration (where entity expansion
 * attacks live) or anything that is not well-formed XML with the expected
 * root element fails with PITR_EFORMAT.
 */
#ifndef PGPITR_S3_XML_INT_H
#define PGPITR_S3_XML_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/s3/client.h"

#define PITR_S3_XML_MAX_INPUT ((size_t)16 * 1024 * 1024)
#define PITR_S3_KEY_MAX       1024  /* S3's own limit on a key, in bytes */
#define PITR_S3_TOKEN_MAX     4096  /* continuation tokens */
#define PITR_S3_ETAG_MAX      128   /* size of the etag arrays, NUL included */
#define PITR_S3_MESSAGE_MAX   512   /* error messages; longer ones are cut */
#define PITR_S3_MAX_KEYS_PAGE 10000 /* entries in one page; S3 sends at most 1000 */
/*
 * Elements open at once. S3's documents nest 3 deep (ListBucketResult,
 * Contents, Owner, ID); expat keeps state for each open element, so a body
 * of nothing but opening tags would cost many times its size without this.
 */
#define PITR_S3_XML_MAX_DEPTH 16

struct pitr_s3_list_entry {
    char *key; /* owned; raw (decoded) key, NUL-terminated */
    uint64_t size;
    char etag[PITR_S3_ETAG_MAX]; /* without the surrounding quotes, or "" */
    int64_t mtime;               /* <LastModified>, seconds since the epoch; 0: unknown */
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

/* A multipart upload in progress, from ListMultipartUploads. */
struct pitr_s3_upload_entry {
    char *key;         /* owned */
    char *upload_id;   /* owned */
    int64_t initiated; /* <Initiated>, seconds since the epoch; 0: unknown */
};

struct pitr_s3_uploads_page {
    struct pitr_s3_upload_entry *entries; /* owned; n of them */
    size_t n;
    size_t cap;
    int is_truncated;
    char *next_key_marker;    /* owned, or NULL */
    char *next_upload_marker; /* owned, or NULL */
};

/* One key DeleteObjects did not delete. */
struct pitr_s3_delete_failure {
    char *key;                         /* owned */
    char code[64];                     /* <Code>, truncated, or "" */
    char message[PITR_S3_MESSAGE_MAX]; /* <Message>, truncated, or "" */
};

struct pitr_s3_delete_result {
    struct pitr_s3_delete_failure *failed; /* owned; n_failed of them */
    size_t n_failed;
    size_t cap;
    size_t n_deleted; /* <Deleted> entries (0 in quiet mode) */
};

/* CompleteMultipartUpload's answer body. */
struct pitr_s3_complete_result {
    int is_error;                 /* 1: the body was an <Error> (whatever the status) */
    struct pitr_s3_error_doc err; /* when is_error */
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

void pitr_s3_uploads_page_init(struct pitr_s3_uploads_page *page);
void pitr_s3_uploads_page_release(struct pitr_s3_uploads_page *page);
void pitr_s3_delete_result_init(struct pitr_s3_delete_result *r);
void pitr_s3_delete_result_release(struct pitr_s3_delete_result *r);

/* <UploadId> of an <InitiateMultipartUploadResult>; *upload_id is owned by the caller. */
PITR_MUST_CHECK pitr_rc pitr_s3_xml_parse_initiate(const char *xml,
                                                   size_t len,
                                                   char **upload_id,
                                                   struct pitr_err *err);
/*
 * The answer to CompleteMultipartUpload. Leading white space is skipped (S3
 * sends spaces to keep the connection alive while it assembles the object).
 * An empty body or another root element is PITR_EFORMAT.
 */
PITR_MUST_CHECK pitr_rc pitr_s3_xml_parse_complete(const char *xml,
                                                   size_t len,
                                                   struct pitr_s3_complete_result *out,
                                                   struct pitr_err *err);
/* A <DeleteResult> into *out (initialised and empty). */
PITR_MUST_CHECK pitr_rc pitr_s3_xml_parse_delete(const char *xml,
                                                 size_t len,
                                                 struct pitr_s3_delete_result *out,
                                                 struct pitr_err *err);
/* A <ListMultipartUploadsResult> page into *page (initialised and empty). */
PITR_MUST_CHECK pitr_rc pitr_s3_xml_parse_uploads(const char *xml,
                                                  size_t len,
                                                  struct pitr_s3_uploads_page *page,
                                                  struct pitr_err *err);

/* Append text with &, <, >, " and ' escaped; control bytes other than tab/LF/CR fail. */
PITR_MUST_CHECK pitr_rc pitr_s3_xml_escape(const char *s,
                                           size_t n,
                                           struct pitr_buf *out,
                                           struct pitr_err *err);
/* The CompleteMultipartUpload request body for n parts (ascending part numbers). */
PITR_MUST_CHECK pitr_rc pitr_s3_xml_complete_body(const struct pitr_s3_part *parts,
                                                  size_t n,
                                                  struct pitr_buf *out,
                                                  struct pitr_err *err);
/* The DeleteObjects request body for n keys (quiet mode: only failures come back). */
PITR_MUST_CHECK pitr_rc pitr_s3_xml_delete_body(const char *const *keys,
                                                size_t n,
                                                struct pitr_buf *out,
                                                struct pitr_err *err);

#endif
