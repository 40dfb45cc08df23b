/* s3_int.h - test seams of the S3 storage driver (module-private). */
#ifndef PGPITR_STORAGE_S3_INT_H
#define PGPITR_STORAGE_S3_INT_H

#include "pgpitr/storage/storage.h"

/*
 * Keys per listing page for st, which must come from pitr_storage_s3_new();
 * 0 restores the store's default. Tests use small pages to exercise paging.
 */
void pitr_storage_s3_set_page_size(struct pitr_storage *st, unsigned n);

/* The storage's own S3 client (borrowed), for tests that inspect the bucket directly. */
struct pitr_s3_client *pitr_storage_s3_client(struct pitr_storage *st);

#endif
