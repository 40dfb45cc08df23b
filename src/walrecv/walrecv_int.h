/* walrecv_int.h - private to walrecv/: what its files share. */
#ifndef PGPITR_WALRECV_WALRECV_INT_H
#define PGPITR_WALRECV_WALRECV_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/wal/wal.h"

/*
 * How many leading bytes of the segment w (seg[0..len), len <= seg_size)
 * can be kept: the start of the last page whose header is valid, 0 when
 * the first page is not. A multiple of the page size.
 */
size_t walrecv_valid_prefix(const uint8_t *seg,
                            size_t len,
                            const struct pitr_wal_name *w,
                            uint32_t seg_size);

#endif
