/*
 * snapcheck.h - judge a snappy framing-format stream in unit tests (linked
 * into every test binary).
 */
#ifndef PGPITR_TEST_SNAPCHECK_H
#define PGPITR_TEST_SNAPCHECK_H

#include <stddef.h>

#include "pgpitr/core/buf.h"

/*
 * Assert that z[0..n) is ONE snappy framing stream: it starts with the stream
 * identifier chunk, holds no other identifier chunk, and every data chunk
 * carries at most 64 KiB of data; decode it with pgpitr's streaming reader
 * (src/restore/snapframe.c, which checks every CRC-32C) and append the data
 * to out. Returns the number of data chunks.
 */
size_t pitr_test_snappy_one_stream(const void *z, size_t n, struct pitr_buf *out);

#endif
