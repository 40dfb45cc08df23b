/* test_xml.c - unit tests for src/s3/xml.c (ListObjectsV2 and <Error> parsing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"
#include "pgpitr/core/mem.h"
#include "s3/xml_int.h"

static const char list_page1[] =
  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
  "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
  "  <Name>pgpitr-test</Name><Prefix>pg1/</Prefix><KeyCount>2</KeyCount>\n"
  "  <MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>\n"
  "  <Contents><Key>pg1/a b+c&amp;d</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>\n"
  "    <ETag>&quot;0123456789abcdef0123456789abcdef&quot;</ETag><Size>42</Size>\n"
  "    <StorageClass>STANDARD</StorageClass></Contents>\n"
  "  <Contents><Key>pg1/\xc3\xa9t\xc3\xa9</Key><Size>18446744073709551615</Size>"
  "<ETag>\"e\"</ETag></Contents>\n"
  "  <NextContinuationToken>tok/+=en</NextContinuationToken>\n"
  "</ListBucketResult>\n";

static pitr_rc parse_list(const char *xml, struct pitr_s3_list_page *page, struct pitr_err *err)
{
    pitr_s3_list_page_init(page);
    pitr_err_clear(err);
    return pitr_s3_xml_parse_list(xml, strlen(xml), page, err);
}

static void pitr_s3_xml_parse_list__entries_token_truncated(void **state)
{
    struct pitr_s3_list_page page;
    struct pitr_err err;

    (void)state;
    assert_int_equal(parse_list(list_page1, &page, &err), PITR_OK);
    assert_int_equal(page.n, 2);
    assert_string_equal(page.entries[0].key, "pg1/a b+c&d");
    assert_int_equal(page.entries[0].size, 42);
    assert_string_equal(page.entries[0].etag, "0123456789abcdef0123456789abcdef");
    assert_string_equal(page.entries[1].key, "pg1/\xc3\xa9t\xc3\xa9");
    assert_true(page.entries[1].size == UINT64_MAX);
    assert_string_equal(page.entries[1].etag, "e");
    assert_true(page.is_truncated);
    assert_non_null(page.next_token);
    assert_string_equal(page.next_token, "tok/+=en");
    pitr_s3_list_page_release(&page);
    assert_null(page.entries);
    assert_int_equal(page.n, 0);
}

static void pitr_s3_xml_parse_list__last_page_and_empty(void **state)
{
    struct pitr_s3_list_page page;
    struct pitr_err err;

    (void)state;
    assert_int_equal(parse_list("<ListBucketResult><IsTruncated>false</IsTruncated>"
                                "<Contents><Key>k</Key><Size>0</Size></Contents>"
                                "</ListBucketResult>",
                                &page,
                                &err),
                     PITR_OK);
    assert_int_equal(page.n, 1);
    assert_string_equal(page.entries[0].etag, "");
    assert_false(page.is_truncated);
    assert_null(page.next_token);
    pitr_s3_list_page_release(&page);

    assert_int_equal(parse_list("<ListBucketResult/>", &page, &err), PITR_OK);
    assert_int_equal(page.n, 0);
    assert_false(page.is_truncated);
    pitr_s3_list_page_release(&page);
}

static void pitr_s3_xml_parse_list__many_entries_grow(void **state)
{
    struct pitr_s3_list_page page;
    struct pitr_buf xml;
    struct pitr_err err;
    size_t i;

    (void)state;
    pitr_err_clear(&err);
    pitr_buf_init(&xml, PITR_S3_XML_MAX_INPUT);
    assert_int_equal(pitr_buf_append_str(&xml, "<ListBucketResult>", &err), PITR_OK);
    for (i = 0; i < 1000; i++)
        assert_int_equal(
          pitr_buf_appendf(
            &xml, &err, "<Contents><Key>k%04zu</Key><Size>%zu</Size></Contents>", i, i),
          PITR_OK);
    assert_int_equal(pitr_buf_append_str(&xml, "</ListBucketResult>", &err), PITR_OK);
    pitr_s3_list_page_init(&page);
    assert_int_equal(pitr_s3_xml_parse_list(xml.data, xml.len, &page, &err), PITR_OK);
    assert_int_equal(page.n, 1000);
    assert_string_equal(page.entries[999].key, "k0999");
    assert_int_equal(page.entries[999].size, 999);
    pitr_s3_list_page_release(&page);
    pitr_buf_release(&xml);
}

static void pitr_s3_xml_parse_list__malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "not xml",
        "<ListBucketResult><Contents><Key>k</Key><Size>1</Size></Contents>",        /* unclosed */
        "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",   /* no Size */
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", /* no Key */
        "<ListBucketResult><Contents><Key></Key><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>1x</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>18446744073709551616</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
        "<ListBucketResult><Contents><Key>a<b/></Key><Size>1</Size></Contents></ListBucketResult>",
        "<Error><Code>NoSuchBucket</Code></Error>", /* wrong root */
        "<ListBucketResult></ListBucketResul>",
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><ListBucketResult>&a;"
        "</ListBucketResult>",
    };
    struct pitr_s3_list_page page;
    struct pitr_err err;
    size_t i;
    pitr_rc rc;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rc = parse_list(bad[i], &page, &err);
        if (rc != PITR_EFORMAT)
            fail_msg("case %zu: rc %d (%s), want EFORMAT", i, (int)rc, err.msg);
        assert_int_equal(err.code, PITR_EFORMAT);
        assert_true(strstr(err.msg, "malformed S3 response") != NULL);
        assert_int_equal(page.n, 0);
        assert_null(page.entries);
        assert_null(page.next_token);
        pitr_s3_list_page_release(&page);
    }
}

static void pitr_s3_xml_parse_list__size_limits(void **state)
{
    struct pitr_s3_list_page page;
    struct pitr_buf xml;
    struct pitr_err err;
    size_t i;

    (void)state;
    pitr_err_clear(&err);
    pitr_buf_init(&xml, 2 * PITR_S3_XML_MAX_INPUT);

    /* A key of exactly the S3 maximum is fine, one byte more is not. */
    assert_int_equal(pitr_buf_append_str(&xml, "<ListBucketResult><Contents><Key>", &err), PITR_OK);
    for (i = 0; i < PITR_S3_KEY_MAX; i++)
        assert_int_equal(pitr_buf_append(&xml, "k", 1, &err), PITR_OK);
    assert_int_equal(
      pitr_buf_append_str(&xml, "</Key><Size>1</Size></Contents></ListBucketResult>", &err),
      PITR_OK);
    pitr_s3_list_page_init(&page);
    assert_int_equal(pitr_s3_xml_parse_list(xml.data, xml.len, &page, &err), PITR_OK);
    assert_int_equal(strlen(page.entries[0].key), PITR_S3_KEY_MAX);
    pitr_s3_list_page_release(&page);

    pitr_buf_reset(&xml);
    assert_int_equal(pitr_buf_append_str(&xml, "<ListBucketResult><Contents><Key>", &err), PITR_OK);
    for (i = 0; i < PITR_S3_KEY_MAX + 1; i++)
        assert_int_equal(pitr_buf_append(&xml, "k", 1, &err), PITR_OK);
    assert_int_equal(
      pitr_buf_append_str(&xml, "</Key><Size>1</Size></Contents></ListBucketResult>", &err),
      PITR_OK);
    assert_int_equal(pitr_s3_xml_parse_list(xml.data, xml.len, &page, &err), PITR_ELIMIT);
    assert_true(strstr(err.msg, "too long") != NULL);
    assert_int_equal(page.n, 0);

    /* A whole document over the input limit is refused before parsing. */
    pitr_buf_reset(&xml);
    assert_int_equal(pitr_buf_grow(&xml, PITR_S3_XML_MAX_INPUT + 1, &err), PITR_OK);
    memset(xml.data, ' ', PITR_S3_XML_MAX_INPUT + 1);
    pitr_buf_commit(&xml, PITR_S3_XML_MAX_INPUT + 1);
    assert_int_equal(pitr_s3_xml_parse_list(xml.data, xml.len, &page, &err), PITR_ELIMIT);
    assert_int_equal(err.code, PITR_ELIMIT);
    pitr_buf_release(&xml);
}

static void pitr_s3_xml_parse_error__code_and_message(void **state)
{
    static const char xml[] =
      "<?xml version='1.0' encoding='UTF-8'?>\n"
      "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated "
      "does not match the signature you provided.</Message><RequestId>tx1</RequestId>"
      "<StringToSign>AWS4-HMAC-SHA256\n...</StringToSign></Error>";
    struct pitr_s3_error_doc doc;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_xml_parse_error(xml, strlen(xml), &doc, &err), PITR_OK);
    assert_string_equal(doc.code, "SignatureDoesNotMatch");
    assert_string_equal(
      doc.message,
      "The request signature we calculated does not match the signature you provided.");
}

static void pitr_s3_xml_parse_error__long_message_cut_and_bad_docs(void **state)
{
    struct pitr_s3_error_doc doc;
    struct pitr_buf xml;
    struct pitr_err err;
    size_t i;

    (void)state;
    pitr_err_clear(&err);
    pitr_buf_init(&xml, PITR_S3_XML_MAX_INPUT);
    assert_int_equal(pitr_buf_append_str(&xml, "<Error><Code>X</Code><Message>", &err), PITR_OK);
    for (i = 0; i < 3 * PITR_S3_MESSAGE_MAX; i++)
        assert_int_equal(pitr_buf_append(&xml, "m", 1, &err), PITR_OK);
    assert_int_equal(pitr_buf_append_str(&xml, "</Message></Error>", &err), PITR_OK);
    assert_int_equal(pitr_s3_xml_parse_error(xml.data, xml.len, &doc, &err), PITR_OK);
    assert_string_equal(doc.code, "X");
    assert_int_equal(strlen(doc.message), PITR_S3_MESSAGE_MAX - 1);
    pitr_buf_release(&xml);

    assert_int_equal(pitr_s3_xml_parse_error("<html>oops</html>", 17, &doc, &err), PITR_EFORMAT);
    assert_string_equal(doc.code, "");
    assert_int_equal(pitr_s3_xml_parse_error("<Error><Code>X", 14, &doc, &err), PITR_EFORMAT);
    assert_string_equal(doc.code, "");
    assert_int_equal(pitr_s3_xml_parse_error("", 0, &doc, &err), PITR_EFORMAT);
}

static void pitr_s3_xml_parse_initiate__upload_id(void **state)
{
    static const char ok[] =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE+/=</UploadId>"
      "</InitiateMultipartUploadResult>";
    static const char none[] = "<InitiateMultipartUploadResult><Key>k</Key>"
                               "</InitiateMultipartUploadResult>";
    struct pitr_err err;
    char *id = NULL;

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_xml_parse_initiate(ok, strlen(ok), &id, &err), PITR_OK);
    assert_string_equal(id, "VXBsb2FkIElE+/=");
    pitr_free(id);
    assert_int_equal(pitr_s3_xml_parse_initiate(none, strlen(none), &id, &err), PITR_EFORMAT);
    assert_null(id);
    assert_int_equal(pitr_s3_xml_parse_initiate("<Error/>", 8, &id, &err), PITR_EFORMAT);
    assert_null(id);
}

static void pitr_s3_xml_parse_complete__result_or_error_with_200(void **state)
{
    static const char ok[] =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Location>http://b.s3/k</Location><Bucket>b</Bucket><Key>k</Key>"
      "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>";
    /* S3 sends white space while it works, then (with status 200) an error. */
    static const char err200[] =
      "  \n    \n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try "
      "again.</Message><RequestId>656c76696e6727732072657175657374</RequestId></Error>";
    static const char other[] = "<ListBucketResult/>";
    struct pitr_s3_complete_result res;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    assert_int_equal(pitr_s3_xml_parse_complete(ok, strlen(ok), &res, &err), PITR_OK);
    assert_false(res.is_error);
    assert_int_equal(pitr_s3_xml_parse_complete(err200, strlen(err200), &res, &err), PITR_OK);
    assert_true(res.is_error);
    assert_string_equal(res.err.code, "InternalError");
    assert_string_equal(res.err.message, "We encountered an internal error. Please try again.");
    assert_int_equal(pitr_s3_xml_parse_complete(other, strlen(other), &res, &err), PITR_EFORMAT);
    assert_int_equal(pitr_s3_xml_parse_complete("  \n", 3, &res, &err), PITR_EFORMAT);
    assert_non_null(strstr(err.msg, "empty"));
}

static void pitr_s3_xml_parse_delete__errors_per_key(void **state)
{
    static const char body[] =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Deleted><Key>ok1</Key></Deleted>"
      "<Error><Key>a&amp;b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
      "<Deleted><Key>ok2</Key></Deleted>"
      "<Error><Key>c</Key><Code>InternalError</Code></Error>"
      "</DeleteResult>";
    static const char no_key[] = "<DeleteResult><Error><Code>X</Code></Error></DeleteResult>";
    struct pitr_s3_delete_result res;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    pitr_s3_delete_result_init(&res);
    assert_int_equal(pitr_s3_xml_parse_delete(body, strlen(body), &res, &err), PITR_OK);
    assert_int_equal(res.n_deleted, 2);
    assert_int_equal(res.n_failed, 2);
    assert_string_equal(res.failed[0].key, "a&b");
    assert_string_equal(res.failed[0].code, "AccessDenied");
    assert_string_equal(res.failed[0].message, "Access Denied");
    assert_string_equal(res.failed[1].key, "c");
    assert_string_equal(res.failed[1].code, "InternalError");
    assert_string_equal(res.failed[1].message, "");
    pitr_s3_delete_result_release(&res);
    assert_int_equal(pitr_s3_xml_parse_delete(no_key, strlen(no_key), &res, &err), PITR_EFORMAT);
    assert_int_equal(res.n_failed, 0);
}

static void pitr_s3_xml_parse_uploads__entries_and_markers(void **state)
{
    static const char body[] =
      "<ListMultipartUploadsResult><Bucket>b</Bucket><KeyMarker/>"
      "<NextKeyMarker>p/k2</NextKeyMarker><NextUploadIdMarker>id2</NextUploadIdMarker>"
      "<IsTruncated>true</IsTruncated>"
      "<Upload><Key>p/k1</Key><UploadId>id1</UploadId><Initiator><ID>x</ID></Initiator>"
      "<Initiated>2026-11-26T01:32:14.000Z</Initiated></Upload>"
      "<Upload><Key>p/k2</Key><UploadId>id2</UploadId><Initiated>yesterday</Initiated></Upload>"
      "</ListMultipartUploadsResult>";
    struct pitr_s3_uploads_page page;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    pitr_s3_uploads_page_init(&page);
    assert_int_equal(pitr_s3_xml_parse_uploads(body, strlen(body), &page, &err), PITR_OK);
    assert_int_equal(page.n, 2);
    assert_string_equal(page.entries[0].key, "p/k1");
    assert_string_equal(page.entries[0].upload_id, "id1");
    assert_string_equal(page.entries[1].upload_id, "id2");
    assert_int_equal(page.entries[0].initiated, 1795656734); /* date -d 2026-11-26T01:32:14Z +%s */
    assert_int_equal(page.entries[1].initiated, 0);          /* unreadable: unknown */
    assert_true(page.is_truncated);
    assert_string_equal(page.next_key_marker, "p/k2");
    assert_string_equal(page.next_upload_marker, "id2");
    pitr_s3_uploads_page_release(&page);
}

static void pitr_s3_xml_parse_list__last_modified(void **state)
{
    static const char body[] =
      "<ListBucketResult><IsTruncated>false</IsTruncated>"
      "<Contents><Key>a</Key><LastModified>2026-11-26T01:32:14.000Z</LastModified>"
      "<Size>1</Size></Contents>"
      "<Contents><Key>b</Key><Size>2</Size></Contents>"
      "</ListBucketResult>";
    struct pitr_s3_list_page page;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    pitr_s3_list_page_init(&page);
    assert_int_equal(pitr_s3_xml_parse_list(body, strlen(body), &page, &err), PITR_OK);
    assert_int_equal(page.n, 2);
    assert_int_equal(page.entries[0].mtime, 1795656734);
    assert_int_equal(page.entries[1].mtime, 0);
    pitr_s3_list_page_release(&page);
}

static void pitr_s3_xml_bodies__complete_and_delete_escaped(void **state)
{
    struct pitr_s3_part parts[2] = { { 1, "\"aa\"" }, { 2, "\"b<b\"" } };
    const char *keys[] = { "x/a&b", "q'\"<>\t" };
    struct pitr_buf out;
    struct pitr_err err;

    (void)state;
    pitr_err_clear(&err);
    pitr_buf_init(&out, PITR_BUF_LIMIT_SMALL);
    assert_int_equal(pitr_s3_xml_complete_body(parts, 2, &out, &err), PITR_OK);
    assert_string_equal(
      out.data,
      "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Part><PartNumber>1</PartNumber><ETag>&quot;aa&quot;</ETag></Part>"
      "<Part><PartNumber>2</PartNumber><ETag>&quot;b&lt;b&quot;</ETag></Part>"
      "</CompleteMultipartUpload>");
    pitr_buf_reset(&out);
    assert_int_equal(pitr_s3_xml_delete_body(keys, 2, &out, &err), PITR_OK);
    assert_string_equal(
      out.data,
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
      "<Object><Key>x/a&amp;b</Key></Object>"
      "<Object><Key>q&apos;&quot;&lt;&gt;&#9;</Key></Object></Delete>");
    pitr_buf_reset(&out);
    assert_int_equal(pitr_s3_xml_escape("a\x01", 2, &out, &err), PITR_EUSAGE);
    pitr_buf_release(&out);
}

/* Open `depth` elements below the root named root, and close them all. */
static void nest(struct pitr_buf *xml, const char *root, size_t depth)
{
    struct pitr_err err;
    size_t i;

    pitr_err_clear(&err);
    pitr_buf_reset(xml);
    assert_int_equal(pitr_buf_appendf(xml, &err, "<%s>", root), PITR_OK);
    for (i = 0; i < depth; i++)
        assert_int_equal(pitr_buf_append_str(xml, "<x>", &err), PITR_OK);
    for (i = 0; i < depth; i++)
        assert_int_equal(pitr_buf_append_str(xml, "</x>", &err), PITR_OK);
    assert_int_equal(pitr_buf_appendf(xml, &err, "</%s>", root), PITR_OK);
}

static void pitr_s3_xml_parse__depth_limit(void **state)
{
    struct pitr_s3_list_page page;
    struct pitr_s3_uploads_page uploads;
    struct pitr_s3_delete_result del;
    struct pitr_s3_error_doc edoc;
    struct pitr_s3_complete_result cres;
    struct pitr_buf xml;
    struct pitr_err err;
    char *id = NULL;

    (void)state;
    pitr_err_clear(&err);
    pitr_buf_init(&xml, PITR_S3_XML_MAX_INPUT);

    /* PITR_S3_XML_MAX_DEPTH levels (the root is one) parse; one more does not. */
    nest(&xml, "ListBucketResult", PITR_S3_XML_MAX_DEPTH - 1);
    pitr_s3_list_page_init(&page);
    assert_int_equal(pitr_s3_xml_parse_list(xml.data, xml.len, &page, &err), PITR_OK);
    assert_int_equal(page.n, 0);
    pitr_s3_list_page_release(&page);
    nest(&xml, "ListBucketResult", PITR_S3_XML_MAX_DEPTH);
    assert_int_equal(pitr_s3_xml_parse_list(xml.data, xml.len, &page, &err), PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "nests elements deeper than 16 levels"));

    /*
     * Nothing but opening tags up to the input limit: refused at the limit
     * depth, not after expat has kept state for millions of open elements.
     */
    pitr_buf_reset(&xml);
    while (xml.len + 3 <= PITR_S3_XML_MAX_INPUT)
        assert_int_equal(pitr_buf_append_str(&xml, "<a>", &err), PITR_OK);
    pitr_err_clear(&err);
    memcpy(xml.data, "<Error>", 7);
    assert_int_equal(pitr_s3_xml_parse_error(xml.data, xml.len, &edoc, &err), PITR_ELIMIT);
    assert_non_null(strstr(err.msg, "deeper than"));
    memcpy(xml.data, "<ListBucketResult>", 18);
    assert_int_equal(pitr_s3_xml_parse_list(xml.data, xml.len, &page, &err), PITR_ELIMIT);
    memcpy(xml.data, "<ListMultipartUploadsResult>", 28);
    pitr_s3_uploads_page_init(&uploads);
    assert_int_equal(pitr_s3_xml_parse_uploads(xml.data, xml.len, &uploads, &err), PITR_ELIMIT);
    memcpy(xml.data, "<DeleteResult>", 14);
    pitr_s3_delete_result_init(&del);
    assert_int_equal(pitr_s3_xml_parse_delete(xml.data, xml.len, &del, &err), PITR_ELIMIT);
    memcpy(xml.data, "<InitiateMultipartUploadResult>", 31);
    assert_int_equal(pitr_s3_xml_parse_initiate(xml.data, xml.len, &id, &err), PITR_ELIMIT);
    assert_null(id);
    memcpy(xml.data, "<CompleteMultipartUploadResult>", 31);
    assert_int_equal(pitr_s3_xml_parse_complete(xml.data, xml.len, &cres, &err), PITR_ELIMIT);
    assert_int_equal(err.code, PITR_ELIMIT);
    pitr_buf_release(&xml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pitr_s3_xml_parse_list__entries_token_truncated),
        cmocka_unit_test(pitr_s3_xml_parse_list__last_page_and_empty),
        cmocka_unit_test(pitr_s3_xml_parse_list__many_entries_grow),
        cmocka_unit_test(pitr_s3_xml_parse_list__malformed),
        cmocka_unit_test(pitr_s3_xml_parse_list__size_limits),
        cmocka_unit_test(pitr_s3_xml_parse_error__code_and_message),
        cmocka_unit_test(pitr_s3_xml_parse_error__long_message_cut_and_bad_docs),
        cmocka_unit_test(pitr_s3_xml_parse_initiate__upload_id),
        cmocka_unit_test(pitr_s3_xml_parse_complete__result_or_error_with_200),
        cmocka_unit_test(pitr_s3_xml_parse_delete__errors_per_key),
        cmocka_unit_test(pitr_s3_xml_parse_uploads__entries_and_markers),
        cmocka_unit_test(pitr_s3_xml_parse_list__last_modified),
        cmocka_unit_test(pitr_s3_xml_bodies__complete_and_delete_escaped),
        cmocka_unit_test(pitr_s3_xml_parse__depth_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
