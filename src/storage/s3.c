/* s3.c - placeholder until the S3 driver lands (same session); fails clearly. */
#include "pgpitr/storage/storage.h"

pitr_rc pitr_storage_s3_new(const struct pitr_config *cfg,
                            const char *bucket,
                            const char *prefix,
                            struct pitr_storage **out,
                            struct pitr_err *err)
{
    (void)cfg;
    (void)bucket;
    (void)prefix;
    *out = NULL;
    return pitr_err_set(err, PITR_EUSAGE, "s3:// repositories are not supported by this build");
}
