/* xml.c - the S3 XML documents over expat, and the request bodies; see src/s3/xml_int.h. */
#include "s3/xml_int.h"

#include <errno.h>
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/log.h"
#include "pgpitr/core/mem.h"
#include "s3/creds_int.h"

enum doc_kind {
    DOC_LIST,
    DOC_ERROR,
    DOC_INITIATE,
    DOC_COMPLETE,
    DOC_DELETE,
    DOC_UPLOADS,
};

/* The depth-1 element whose children are being read. */
enum container {
    C_NONE = 0,
    C_CONTENTS, /* ListBucketResult/Contents */
    C_UPLOAD,   /* ListMultipartUploadsResult/Upload */
    C_DEL_ERR,  /* DeleteResult/Error */
    C_DELETED,  /* DeleteResult/Deleted */
};

/* The text field being collected, if any. */
enum field {
    F_NONE = 0,
    F_KEY,
    F_SIZE,
    F_ETAG,
    F_TRUNCATED,
    F_TOKEN,
    F_CODE,
    F_MESSAGE,
    F_UPLOAD_ID,
    F_NEXT_KEY_MARKER,
    F_NEXT_UPLOAD_MARKER,
    F_TIME, /* Contents/LastModified, Upload/Initiated */
};

struct state {
    XML_Parser parser;
    enum doc_kind kind;
    int depth;         /* elements open around the current position */
    enum container in; /* inside this depth-1 element */
    enum field field;  /* collecting this element's text */
    int truncate_text; /* error documents: cut long text instead of failing */
    struct pitr_buf text;
    pitr_rc rc;
    struct pitr_err *err;

    struct pitr_s3_list_page *page;
    struct pitr_s3_list_entry entry; /* the <Contents> being read */
    int have_key;
    int have_size;

    struct pitr_s3_error_doc *edoc;

    char **upload_id;                      /* DOC_INITIATE */
    struct pitr_s3_complete_result *cres;  /* DOC_COMPLETE */
    struct pitr_s3_delete_result *dres;    /* DOC_DELETE */
    struct pitr_s3_delete_failure failure; /* the DeleteResult/Error being read */
    struct pitr_s3_uploads_page *uploads;  /* DOC_UPLOADS */
    struct pitr_s3_upload_entry upload;    /* the Upload being read */
};

void pitr_s3_list_page_init(struct pitr_s3_list_page *page)
{
    memset(page, 0, sizeof(*page));
}

void pitr_s3_list_page_release(struct pitr_s3_list_page *page)
{
    size_t i;

    for (i = 0; i < page->n; i++)
        pitr_free(page->entries[i].key);
    pitr_free(page->entries);
    pitr_free(page->next_token);
    pitr_s3_list_page_init(page);
}

void pitr_s3_uploads_page_init(struct pitr_s3_uploads_page *page)
{
    memset(page, 0, sizeof(*page));
}

void pitr_s3_uploads_page_release(struct pitr_s3_uploads_page *page)
{
    size_t i;

    for (i = 0; i < page->n; i++) {
        pitr_free(page->entries[i].key);
        pitr_free(page->entries[i].upload_id);
    }
    pitr_free(page->entries);
    pitr_free(page->next_key_marker);
    pitr_free(page->next_upload_marker);
    pitr_s3_uploads_page_init(page);
}

void pitr_s3_delete_result_init(struct pitr_s3_delete_result *r)
{
    memset(r, 0, sizeof(*r));
}

void pitr_s3_delete_result_release(struct pitr_s3_delete_result *r)
{
    size_t i;

    for (i = 0; i < r->n_failed; i++)
        pitr_free(r->failed[i].key);
    pitr_free(r->failed);
    pitr_s3_delete_result_init(r);
}

/* Record the first failure and make expat stop at once. */
static void fail(struct state *st, pitr_rc rc)
{
    if (st->rc == PITR_OK)
        st->rc = rc;
    XML_StopParser(st->parser, XML_FALSE);
}

static void fail_format(struct state *st, const char *what)
{
    pitr_err_set(st->err,
                 PITR_EFORMAT,
                 "malformed S3 response at line %lu: %s",
                 (unsigned long)XML_GetCurrentLineNumber(st->parser),
                 what);
    fail(st, PITR_EFORMAT);
}

static void collect(struct state *st, enum field f, size_t limit)
{
    st->field = f;
    pitr_buf_release(&st->text);
    pitr_buf_init(&st->text, limit);
}

/* Which field an element at this depth is; F_NONE to skip its text. */
static enum field field_of(const struct state *st, const char *name)
{
    if (st->depth == 1) {
        switch (st->kind) {
        case DOC_LIST:
            if (strcmp(name, "IsTruncated") == 0)
                return F_TRUNCATED;
            if (strcmp(name, "NextContinuationToken") == 0)
                return F_TOKEN;
            break;
        case DOC_UPLOADS:
            if (strcmp(name, "IsTruncated") == 0)
                return F_TRUNCATED;
            if (strcmp(name, "NextKeyMarker") == 0)
                return F_NEXT_KEY_MARKER;
            if (strcmp(name, "NextUploadIdMarker") == 0)
                return F_NEXT_UPLOAD_MARKER;
            break;
        case DOC_INITIATE:
            if (strcmp(name, "UploadId") == 0)
                return F_UPLOAD_ID;
            break;
        case DOC_ERROR:
        case DOC_COMPLETE: /* only an <Error> root has fields we read */
            if (st->kind == DOC_COMPLETE && !st->cres->is_error)
                break;
            if (strcmp(name, "Code") == 0)
                return F_CODE;
            if (strcmp(name, "Message") == 0)
                return F_MESSAGE;
            break;
        case DOC_DELETE:
            break;
        }
    } else if (st->depth == 2) {
        switch (st->in) {
        case C_CONTENTS:
            if (strcmp(name, "Key") == 0)
                return F_KEY;
            if (strcmp(name, "Size") == 0)
                return F_SIZE;
            if (strcmp(name, "ETag") == 0)
                return F_ETAG;
            if (strcmp(name, "LastModified") == 0)
                return F_TIME;
            break;
        case C_UPLOAD:
            if (strcmp(name, "Key") == 0)
                return F_KEY;
            if (strcmp(name, "UploadId") == 0)
                return F_UPLOAD_ID;
            if (strcmp(name, "Initiated") == 0)
                return F_TIME;
            break;
        case C_DEL_ERR:
            if (strcmp(name, "Key") == 0)
                return F_KEY;
            if (strcmp(name, "Code") == 0)
                return F_CODE;
            if (strcmp(name, "Message") == 0)
                return F_MESSAGE;
            break;
        case C_DELETED:
        case C_NONE:
            break;
        }
    }
    return F_NONE;
}

/* The depth-1 element name opens a container we read, or C_NONE. */
static enum container container_of(const struct state *st, const char *name)
{
    if (st->kind == DOC_LIST && strcmp(name, "Contents") == 0)
        return C_CONTENTS;
    if (st->kind == DOC_UPLOADS && strcmp(name, "Upload") == 0)
        return C_UPLOAD;
    if (st->kind == DOC_DELETE && strcmp(name, "Error") == 0)
        return C_DEL_ERR;
    if (st->kind == DOC_DELETE && strcmp(name, "Deleted") == 0)
        return C_DELETED;
    return C_NONE;
}

static const char *root_name(enum doc_kind kind)
{
    switch (kind) {
    case DOC_LIST:
        return "ListBucketResult";
    case DOC_ERROR:
        return "Error";
    case DOC_INITIATE:
        return "InitiateMultipartUploadResult";
    case DOC_COMPLETE:
        return "CompleteMultipartUploadResult";
    case DOC_DELETE:
        return "DeleteResult";
    case DOC_UPLOADS:
        return "ListMultipartUploadsResult";
    }
    return "";
}

static size_t field_limit(enum field f)
{
    switch (f) {
    case F_KEY:
        return PITR_S3_KEY_MAX;
    case F_SIZE:
        return 20; /* UINT64_MAX has 20 digits */
    case F_ETAG:
        return PITR_S3_ETAG_MAX - 1;
    case F_TRUNCATED:
        return 5;
    case F_TOKEN:
    case F_UPLOAD_ID:
    case F_NEXT_UPLOAD_MARKER:
        return PITR_S3_TOKEN_MAX;
    case F_NEXT_KEY_MARKER:
        return PITR_S3_KEY_MAX;
    case F_CODE:
    case F_MESSAGE:
        return PITR_BUF_LIMIT_SMALL;
    case F_TIME:
        return 64;
    case F_NONE:
        break;
    }
    return 0;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct state *st = ud;
    const char *root = root_name(st->kind);
    enum field f = F_NONE;

    (void)attrs;
    if (st->rc != PITR_OK)
        return; /* expat may still report events after XML_StopParser */
    if (st->field != F_NONE) {
        fail_format(st, "unexpected element inside a text field");
        return;
    }
    if (st->depth >= PITR_S3_XML_MAX_DEPTH) {
        pitr_err_set(st->err,
                     PITR_ELIMIT,
                     "S3 response nests elements deeper than %d levels (line %lu)",
                     PITR_S3_XML_MAX_DEPTH,
                     (unsigned long)XML_GetCurrentLineNumber(st->parser));
        fail(st, PITR_ELIMIT);
        return;
    }
    if (st->depth == 0) {
        /* CompleteMultipartUpload may answer 200 with an <Error> document. */
        if (st->kind == DOC_COMPLETE && strcmp(name, "Error") == 0) {
            st->cres->is_error = 1;
        } else if (strcmp(name, root) != 0) {
            pitr_err_set(st->err,
                         PITR_EFORMAT,
                         "malformed S3 response: expected <%s>, got <%.64s>",
                         root,
                         name);
            fail(st, PITR_EFORMAT);
            return;
        }
    } else if (st->depth == 1 && container_of(st, name) != C_NONE) {
        st->in = container_of(st, name);
        switch (st->in) {
        case C_CONTENTS:
            if (st->page->n >= PITR_S3_MAX_KEYS_PAGE) {
                pitr_err_set(st->err,
                             PITR_ELIMIT,
                             "S3 listing page has more than %d keys",
                             PITR_S3_MAX_KEYS_PAGE);
                fail(st, PITR_ELIMIT);
                return;
            }
            memset(&st->entry, 0, sizeof(st->entry));
            st->have_key = 0;
            st->have_size = 0;
            break;
        case C_UPLOAD:
            if (st->uploads->n >= PITR_S3_MAX_KEYS_PAGE) {
                pitr_err_set(st->err,
                             PITR_ELIMIT,
                             "S3 uploads page has more than %d entries",
                             PITR_S3_MAX_KEYS_PAGE);
                fail(st, PITR_ELIMIT);
                return;
            }
            break;
        case C_DEL_ERR:
            if (st->dres->n_failed >= PITR_S3_MAX_KEYS_PAGE) {
                pitr_err_set(st->err,
                             PITR_ELIMIT,
                             "S3 delete result has more than %d errors",
                             PITR_S3_MAX_KEYS_PAGE);
                fail(st, PITR_ELIMIT);
                return;
            }
            break;
        case C_DELETED:
            st->dres->n_deleted++;
            break;
        case C_NONE:
            break;
        }
    } else {
        f = field_of(st, name);
    }
    if (f != F_NONE)
        collect(st, f, field_limit(f));
    st->depth++;
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    struct state *st = ud;
    size_t n = (size_t)len;
    size_t room;

    if (st->rc != PITR_OK || st->field == F_NONE || len <= 0)
        return;
    room = st->text.limit - st->text.len;
    if (st->truncate_text && n > room)
        n = room;
    if (n == 0)
        return;
    if (pitr_buf_append(&st->text, s, n, st->err) != PITR_OK) {
        pitr_err_prefix(st->err,
                        "S3 response field at line %lu too long",
                        (unsigned long)XML_GetCurrentLineNumber(st->parser));
        fail(st, PITR_ELIMIT);
    }
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* Copy text into a fixed array, cutting what does not fit. */
static void copy_cut(char *dst, size_t size, const char *s, size_t n)
{
    if (n >= size)
        n = size - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static void finish_field(struct state *st)
{
    const char *t = st->text.data;
    size_t n = st->text.len;

    switch (st->field) {
    case F_KEY:
        if (n == 0) {
            fail_format(st, "empty <Key>");
            return;
        }
        if (st->in == C_UPLOAD) {
            pitr_free(st->upload.key);
            st->upload.key = pitr_strndup(t, n);
        } else if (st->in == C_DEL_ERR) {
            pitr_free(st->failure.key);
            st->failure.key = pitr_strndup(t, n);
        } else {
            pitr_free(st->entry.key);
            st->entry.key = pitr_strndup(t, n);
            st->have_key = 1;
        }
        break;
    case F_UPLOAD_ID:
        if (n == 0) {
            fail_format(st, "empty <UploadId>");
            return;
        }
        if (st->in == C_UPLOAD) {
            pitr_free(st->upload.upload_id);
            st->upload.upload_id = pitr_strndup(t, n);
        } else {
            pitr_free(*st->upload_id);
            *st->upload_id = pitr_strndup(t, n);
        }
        break;
    case F_NEXT_KEY_MARKER:
        pitr_free(st->uploads->next_key_marker);
        st->uploads->next_key_marker = pitr_strndup(t, n);
        break;
    case F_NEXT_UPLOAD_MARKER:
        pitr_free(st->uploads->next_upload_marker);
        st->uploads->next_upload_marker = pitr_strndup(t, n);
        break;
    case F_SIZE:
        if (parse_u64(t, &st->entry.size) != 0) {
            fail_format(st, "<Size> is not a number");
            return;
        }
        st->have_size = 1;
        break;
    case F_ETAG:
        if (n >= 2 && t[0] == '"' && t[n - 1] == '"') {
            t++;
            n -= 2;
        }
        copy_cut(st->entry.etag, sizeof(st->entry.etag), t, n);
        break;
    case F_TIME: {
        struct pitr_err terr;
        time_t when;

        /* A time we cannot read stays 0 ("unknown"): callers then treat the entry as new. */
        pitr_err_clear(&terr);
        if (pitr_creds_parse_time(t, &when, &terr) != PITR_OK)
            pitr_log_debug("s3: %s in a listing", terr.msg);
        else if (st->in == C_UPLOAD)
            st->upload.initiated = (int64_t)when;
        else
            st->entry.mtime = (int64_t)when;
        break;
    }
    case F_TRUNCATED:
        if (strcmp(t, "true") == 0 || strcmp(t, "false") == 0) {
            if (st->kind == DOC_UPLOADS)
                st->uploads->is_truncated = t[0] == 't';
            else
                st->page->is_truncated = t[0] == 't';
        } else {
            fail_format(st, "<IsTruncated> is neither true nor false");
            return;
        }
        break;
    case F_TOKEN:
        pitr_free(st->page->next_token);
        st->page->next_token = pitr_strndup(t, n);
        break;
    case F_CODE:
        if (st->in == C_DEL_ERR)
            copy_cut(st->failure.code, sizeof(st->failure.code), t, n);
        else
            copy_cut(st->edoc->code, sizeof(st->edoc->code), t, n);
        break;
    case F_MESSAGE:
        if (st->in == C_DEL_ERR)
            copy_cut(st->failure.message, sizeof(st->failure.message), t, n);
        else
            copy_cut(st->edoc->message, sizeof(st->edoc->message), t, n);
        break;
    case F_NONE:
        break;
    }
    st->field = F_NONE;
}

static void finish_contents(struct state *st)
{
    struct pitr_s3_list_page *page = st->page;

    if (!st->have_key || !st->have_size) {
        fail_format(st, "<Contents> without <Key> or <Size>");
        return;
    }
    if (page->n == page->cap) {
        page->cap = page->cap ? page->cap * 2 : 64;
        page->entries = pitr_realloc(page->entries, page->cap * sizeof(*page->entries));
    }
    page->entries[page->n++] = st->entry;
    memset(&st->entry, 0, sizeof(st->entry)); /* the page owns the key now */
}

static void finish_upload(struct state *st)
{
    struct pitr_s3_uploads_page *page = st->uploads;

    if (st->upload.key == NULL || st->upload.upload_id == NULL) {
        fail_format(st, "<Upload> without <Key> or <UploadId>");
        return;
    }
    if (page->n == page->cap) {
        page->cap = page->cap ? page->cap * 2 : 16;
        page->entries = pitr_realloc(page->entries, page->cap * sizeof(*page->entries));
    }
    page->entries[page->n++] = st->upload;
    memset(&st->upload, 0, sizeof(st->upload));
}

static void finish_failure(struct state *st)
{
    struct pitr_s3_delete_result *r = st->dres;

    if (st->failure.key == NULL) {
        fail_format(st, "<Error> without <Key> in a delete result");
        return;
    }
    if (r->n_failed == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->failed = pitr_realloc(r->failed, r->cap * sizeof(*r->failed));
    }
    r->failed[r->n_failed++] = st->failure;
    memset(&st->failure, 0, sizeof(st->failure));
}

static void on_end(void *ud, const XML_Char *name)
{
    struct state *st = ud;
    enum container c;

    (void)name;
    if (st->rc != PITR_OK)
        return;
    st->depth--;
    if (st->field != F_NONE) {
        finish_field(st);
        return;
    }
    if (st->depth != 1 || st->in == C_NONE)
        return;
    c = st->in;
    st->in = C_NONE;
    if (c == C_CONTENTS)
        finish_contents(st);
    else if (c == C_UPLOAD)
        finish_upload(st);
    else if (c == C_DEL_ERR)
        finish_failure(st);
}

static void on_doctype(void *ud,
                       const XML_Char *name,
                       const XML_Char *sysid,
                       const XML_Char *pubid,
                       int has_internal_subset)
{
    struct state *st = ud;

    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    fail_format(st, "document type declarations are not allowed");
}

static pitr_rc parse(struct state *st, const char *xml, size_t len)
{
    XML_Parser p;
    pitr_rc rc = PITR_OK;

    if (len > PITR_S3_XML_MAX_INPUT)
        return pitr_err_set(st->err,
                            PITR_ELIMIT,
                            "S3 response of %zu bytes is larger than the %zu bytes allowed",
                            len,
                            PITR_S3_XML_MAX_INPUT);
    p = XML_ParserCreate("UTF-8");
    if (p == NULL)
        return pitr_err_set(st->err, PITR_ENOMEM, "unable to create an XML parser");
    st->parser = p;
    pitr_buf_init(&st->text, PITR_BUF_LIMIT_SMALL);
    XML_SetUserData(p, st);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);

    if (XML_Parse(p, xml, (int)len, XML_TRUE) != XML_STATUS_OK) {
        if (st->rc != PITR_OK) {
            rc = st->rc;
            goto out;
        }
        rc = pitr_err_set(st->err,
                          PITR_EFORMAT,
                          "malformed S3 response at line %lu column %lu: %s",
                          (unsigned long)XML_GetCurrentLineNumber(p),
                          (unsigned long)XML_GetCurrentColumnNumber(p),
                          XML_ErrorString(XML_GetErrorCode(p)));
        goto out;
    }
    rc = st->rc;
out:
    pitr_free(st->entry.key);
    st->entry.key = NULL;
    pitr_free(st->upload.key);
    pitr_free(st->upload.upload_id);
    memset(&st->upload, 0, sizeof(st->upload));
    pitr_free(st->failure.key);
    st->failure.key = NULL;
    pitr_buf_release(&st->text);
    XML_ParserFree(p);
    return rc;
}

pitr_rc pitr_s3_xml_parse_list(const char *xml,
                               size_t len,
                               struct pitr_s3_list_page *page,
                               struct pitr_err *err)
{
    struct state st;
    pitr_rc rc;

    memset(&st, 0, sizeof(st));
    st.kind = DOC_LIST;
    st.page = page;
    st.err = err;
    rc = parse(&st, xml, len);
    if (rc != PITR_OK)
        pitr_s3_list_page_release(page);
    return rc;
}

pitr_rc pitr_s3_xml_parse_error(const char *xml,
                                size_t len,
                                struct pitr_s3_error_doc *out,
                                struct pitr_err *err)
{
    struct state st;
    pitr_rc rc;

    memset(out, 0, sizeof(*out));
    memset(&st, 0, sizeof(st));
    st.kind = DOC_ERROR;
    st.truncate_text = 1;
    st.edoc = out;
    st.err = err;
    rc = parse(&st, xml, len);
    if (rc != PITR_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

pitr_rc pitr_s3_xml_parse_initiate(const char *xml,
                                   size_t len,
                                   char **upload_id,
                                   struct pitr_err *err)
{
    struct state st;
    pitr_rc rc;

    *upload_id = NULL;
    memset(&st, 0, sizeof(st));
    st.kind = DOC_INITIATE;
    st.upload_id = upload_id;
    st.err = err;
    rc = parse(&st, xml, len);
    if (rc == PITR_OK && *upload_id == NULL)
        rc = pitr_err_set(err, PITR_EFORMAT, "malformed S3 response: no <UploadId>");
    if (rc != PITR_OK) {
        pitr_free(*upload_id);
        *upload_id = NULL;
    }
    return rc;
}

pitr_rc pitr_s3_xml_parse_complete(const char *xml,
                                   size_t len,
                                   struct pitr_s3_complete_result *out,
                                   struct pitr_err *err)
{
    struct state st;
    struct pitr_s3_error_doc edoc;

    memset(out, 0, sizeof(*out));
    while (len > 0 && (*xml == ' ' || *xml == '\t' || *xml == '\r' || *xml == '\n')) {
        xml++;
        len--;
    }
    if (len == 0)
        return pitr_err_set(
          err, PITR_EFORMAT, "malformed S3 response: empty CompleteMultipartUpload answer");
    memset(&st, 0, sizeof(st));
    memset(&edoc, 0, sizeof(edoc));
    st.kind = DOC_COMPLETE;
    st.truncate_text = 1;
    st.cres = out;
    st.edoc = &out->err;
    st.err = err;
    return parse(&st, xml, len);
}

pitr_rc pitr_s3_xml_parse_delete(const char *xml,
                                 size_t len,
                                 struct pitr_s3_delete_result *out,
                                 struct pitr_err *err)
{
    struct state st;
    pitr_rc rc;

    memset(&st, 0, sizeof(st));
    st.kind = DOC_DELETE;
    st.truncate_text = 1;
    st.dres = out;
    st.err = err;
    rc = parse(&st, xml, len);
    if (rc != PITR_OK)
        pitr_s3_delete_result_release(out);
    return rc;
}

pitr_rc pitr_s3_xml_parse_uploads(const char *xml,
                                  size_t len,
                                  struct pitr_s3_uploads_page *page,
                                  struct pitr_err *err)
{
    struct state st;
    pitr_rc rc;

    memset(&st, 0, sizeof(st));
    st.kind = DOC_UPLOADS;
    st.uploads = page;
    st.err = err;
    rc = parse(&st, xml, len);
    if (rc != PITR_OK)
        pitr_s3_uploads_page_release(page);
    return rc;
}

/* ---- request bodies ----------------------------------------------------- */

#define S3_XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"

pitr_rc pitr_s3_xml_escape(const char *s, size_t n, struct pitr_buf *out, struct pitr_err *err)
{
    pitr_rc rc = PITR_OK;
    size_t i, start = 0;

    for (i = 0; i < n && rc == PITR_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        char num[8];

        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        case '\t':
        case '\n':
        case '\r':
            /* Character references: a parser would normalise the raw bytes. */
            snprintf(num, sizeof(num), "&#%u;", (unsigned)c);
            rep = num;
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                return pitr_err_set(
                  err, PITR_EUSAGE, "a control character (0x%02x) cannot be sent in XML", c);
            break;
        }
        if (rep == NULL)
            continue;
        rc = pitr_buf_append(out, s + start, i - start, err);
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(out, rep, err);
        start = i + 1;
    }
    if (rc == PITR_OK)
        rc = pitr_buf_append(out, s + start, n - start, err);
    return rc;
}

pitr_rc pitr_s3_xml_complete_body(const struct pitr_s3_part *parts,
                                  size_t n,
                                  struct pitr_buf *out,
                                  struct pitr_err *err)
{
    pitr_rc rc;
    size_t i;

    rc = pitr_buf_append_str(out, "<CompleteMultipartUpload xmlns=\"" S3_XMLNS "\">", err);
    for (i = 0; i < n && rc == PITR_OK; i++) {
        rc = pitr_buf_appendf(out, err, "<Part><PartNumber>%u</PartNumber><ETag>", parts[i].number);
        if (rc == PITR_OK)
            rc = pitr_s3_xml_escape(parts[i].etag, strlen(parts[i].etag), out, err);
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(out, "</ETag></Part>", err);
    }
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "</CompleteMultipartUpload>", err);
    return rc;
}

pitr_rc pitr_s3_xml_delete_body(const char *const *keys,
                                size_t n,
                                struct pitr_buf *out,
                                struct pitr_err *err)
{
    pitr_rc rc;
    size_t i;

    rc = pitr_buf_append_str(out,
                             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                             "<Delete xmlns=\"" S3_XMLNS "\"><Quiet>true</Quiet>",
                             err);
    for (i = 0; i < n && rc == PITR_OK; i++) {
        rc = pitr_buf_append_str(out, "<Object><Key>", err);
        if (rc == PITR_OK)
            rc = pitr_s3_xml_escape(keys[i], strlen(keys[i]), out, err);
        if (rc == PITR_OK)
            rc = pitr_buf_append_str(out, "</Key></Object>", err);
    }
    if (rc == PITR_OK)
        rc = pitr_buf_append_str(out, "</Delete>", err);
    return rc;
}
