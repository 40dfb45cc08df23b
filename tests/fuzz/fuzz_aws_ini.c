/*
 * fuzz_aws_ini.c - the AWS shared files (~/.aws/config and credentials):
 * sections, properties, comments, sub-properties. The first byte chooses
 * the config or credentials style and the profile looked for.
 */
#include "fuzz.h"

#include "s3/creds_int.h"

static const char *const profiles[] = { "default", "dev", "prod", "" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pitr_creds_profile prof;
    struct pitr_err err = { 0 };

    if (size < 1)
        return 0;
    fuzz_quiet();
    pitr_creds_profile_init(&prof);
    (void)pitr_creds_profile_parse((const char *)data + 1,
                                   size - 1,
                                   data[0] & 1,
                                   profiles[(data[0] >> 1) % 4],
                                   "fuzz-input",
                                   &prof,
                                   &err);
    pitr_creds_profile_release(&prof);
    return 0;
}
