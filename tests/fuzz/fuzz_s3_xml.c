/*
 * fuzz_s3_xml.c - every S3 answer the client parses: ListObjectsV2, Error,
 * InitiateMultipartUpload, CompleteMultipartUpload (result or error inside
 * a 200), DeleteObjects results and ListMultipartUploads. The first byte
 * chooses the parser; the rest is the document.
 */
#include "fuzz.h"

#include <string.h>

#include "pgpitr/core/mem.h"
#include "s3/xml_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pitr_err err = { 0 };
    char *xml;
    size_t len;

    if (size < 1)
        return 0;
    fuzz_quiet();
    xml = fuzz_cstr(data + 1, size - 1);
    len = size - 1;
    switch (data[0] % 6) {
    case 0: {
        struct pitr_s3_list_page page;

        pitr_s3_list_page_init(&page);
        (void)pitr_s3_xml_parse_list(xml, len, &page, &err);
        pitr_s3_list_page_release(&page);
        break;
    }
    case 1: {
        struct pitr_s3_error_doc doc;

        memset(&doc, 0, sizeof(doc));
        (void)pitr_s3_xml_parse_error(xml, len, &doc, &err);
        break;
    }
    case 2: {
        char *upload_id = NULL;

        if (pitr_s3_xml_parse_initiate(xml, len, &upload_id, &err) == PITR_OK)
            pitr_free(upload_id);
        break;
    }
    case 3: {
        struct pitr_s3_complete_result r;

        memset(&r, 0, sizeof(r));
        (void)pitr_s3_xml_parse_complete(xml, len, &r, &err);
        break;
    }
    case 4: {
        struct pitr_s3_delete_result r;

        pitr_s3_delete_result_init(&r);
        (void)pitr_s3_xml_parse_delete(xml, len, &r, &err);
        pitr_s3_delete_result_release(&r);
        break;
    }
    default: {
        struct pitr_s3_uploads_page page;

        pitr_s3_uploads_page_init(&page);
        (void)pitr_s3_xml_parse_uploads(xml, len, &page, &err);
        pitr_s3_uploads_page_release(&page);
        break;
    }
    }
    pitr_free(xml);
    return 0;
}
