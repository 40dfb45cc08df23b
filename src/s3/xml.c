/* xml.c - ListObjectsV2 and <Error> parsing over expat; see src/s3/xml_int.h. */
#include "s3/xml_int.h"

#include <errno.h>
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/mem.h"

enum doc_kind {
    DOC_LIST,
    DOC_ERROR,
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
};

struct state {
    XML_Parser parser;
    enum doc_kind kind;
    int depth;         /* elements open around the current position */
    int in_contents;   /* inside ListBucketResult/Contents */
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

/* Which field a list element at this depth is; F_NONE to skip its text. */
static enum field list_field(const struct state *st, const char *name)
{
    if (st->depth == 1) {
        if (strcmp(name, "IsTruncated") == 0)
            return F_TRUNCATED;
        if (strcmp(name, "NextContinuationToken") == 0)
            return F_TOKEN;
    } else if (st->depth == 2 && st->in_contents) {
        if (strcmp(name, "Key") == 0)
            return F_KEY;
        if (strcmp(name, "Size") == 0)
            return F_SIZE;
        if (strcmp(name, "ETag") == 0)
            return F_ETAG;
    }
    return F_NONE;
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
        return PITR_S3_TOKEN_MAX;
    case F_CODE:
    case F_MESSAGE:
        return PITR_BUF_LIMIT_SMALL;
    case F_NONE:
        break;
    }
    return 0;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct state *st = ud;
    const char *root = st->kind == DOC_LIST ? "ListBucketResult" : "Error";
    enum field f = F_NONE;

    (void)attrs;
    if (st->rc != PITR_OK)
        return; /* expat may still report events after XML_StopParser */
    if (st->field != F_NONE) {
        fail_format(st, "unexpected element inside a text field");
        return;
    }
    if (st->depth == 0) {
        if (strcmp(name, root) != 0) {
            pitr_err_set(st->err,
                         PITR_EFORMAT,
                         "malformed S3 response: expected <%s>, got <%.64s>",
                         root,
                         name);
            fail(st, PITR_EFORMAT);
            return;
        }
    } else if (st->kind == DOC_LIST) {
        if (st->depth == 1 && strcmp(name, "Contents") == 0) {
            if (st->page->n >= PITR_S3_MAX_KEYS_PAGE) {
                pitr_err_set(st->err,
                             PITR_ELIMIT,
                             "S3 listing page has more than %d keys",
                             PITR_S3_MAX_KEYS_PAGE);
                fail(st, PITR_ELIMIT);
                return;
            }
            st->in_contents = 1;
            memset(&st->entry, 0, sizeof(st->entry));
            st->have_key = 0;
            st->have_size = 0;
        } else {
            f = list_field(st, name);
        }
    } else if (st->depth == 1) {
        if (strcmp(name, "Code") == 0)
            f = F_CODE;
        else if (strcmp(name, "Message") == 0)
            f = F_MESSAGE;
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
        pitr_free(st->entry.key);
        st->entry.key = pitr_strndup(t, n);
        st->have_key = 1;
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
    case F_TRUNCATED:
        if (strcmp(t, "true") == 0) {
            st->page->is_truncated = 1;
        } else if (strcmp(t, "false") == 0) {
            st->page->is_truncated = 0;
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
        copy_cut(st->edoc->code, sizeof(st->edoc->code), t, n);
        break;
    case F_MESSAGE:
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

    st->in_contents = 0;
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

static void on_end(void *ud, const XML_Char *name)
{
    struct state *st = ud;

    if (st->rc != PITR_OK)
        return;
    st->depth--;
    if (st->field != F_NONE) {
        finish_field(st);
        return;
    }
    if (st->kind == DOC_LIST && st->depth == 1 && st->in_contents && strcmp(name, "Contents") == 0)
        finish_contents(st);
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
