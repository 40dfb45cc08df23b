/*
 * fuzz_sts_xml.c - the STS AssumeRoleWithWebIdentity answer (credentials or
 * ErrorResponse). The parser is static in src/s3/creds.c, so that file is
 * compiled into this harness (the archive's creds.o is then never linked).
 */
#include "fuzz.h"

#include "s3/creds.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sts_doc doc;
    struct pitr_err err = { 0 };

    fuzz_quiet();
    sts_doc_init(&doc);
    if (sts_parse((const char *)data, size, &doc, &err) == PITR_OK) {
        if (doc.is_error) {
            (void)sts_rc(400, doc.f[SF_CODE].data);
        } else {
            struct pitr_s3_creds c;
            time_t exp = 0;

            memset(&c, 0, sizeof(c));
            if (pitr_creds_parse_time(doc.f[SF_EXP].data, &exp, &err) == PITR_OK)
                (void)fill_creds(&c,
                                 "web-identity",
                                 doc.f[SF_AK].data,
                                 doc.f[SF_SK].data,
                                 doc.f[SF_TOKEN].data,
                                 exp,
                                 &err);
            pitr_s3_creds_clear(&c);
        }
    }
    sts_doc_release(&doc);
    return 0;
}
