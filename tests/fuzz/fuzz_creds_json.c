/*
 * fuzz_creds_json.c - the JSON credential documents: the container
 * endpoint's and IMDS's answers and a credential_process's output
 * (AccessKeyId, SecretAccessKey, Token, Expiration, Code), and the error
 * detail taken from a JSON error body. Both are static in src/s3/creds.c,
 * which is compiled into this harness.
 */
#include "fuzz.h"

#include "s3/creds.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pitr_buf body;
    struct pitr_s3_creds c;
    struct pitr_err err = { 0 };
    char detail[512];

    fuzz_quiet();
    pitr_buf_init(&body, size + 1);
    memset(&c, 0, sizeof(c));
    if (pitr_buf_append(&body, data, size, &err) == PITR_OK) {
        (void)parse_json_creds(&body, "container", &c, &err);
        json_error_detail(&body, detail, sizeof(detail));
    }
    pitr_s3_creds_clear(&c);
    pitr_buf_release(&body);
    return 0;
}
