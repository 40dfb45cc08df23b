/*
 * fuzz_wal_name.c - WAL file names: segments, .partial, backup history
 * (.backup) and timeline history (.history), with compression suffixes and
 * as keys under <server>/wals/; then the derived names (hash folder, next
 * segment, position for every segment size) and the segment header check.
 * The first byte chooses the segment size (1 MiB .. 1 GiB).
 */
#include "fuzz.h"

#include "pgpitr/catalog/wals.h"
#include "pgpitr/codec/codec.h"
#include "pgpitr/core/mem.h"
#include "pgpitr/wal/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pitr_err err = { 0 };
    struct pitr_wal_name w, next;
    struct pitr_cat_wal cw;
    uint32_t seg_size, got_size, tli;
    uint64_t segno;
    char *name, hash[17], seg[25];
    size_t stem;

    if (size < 1 || size > 512)
        return 0;
    fuzz_quiet();
    seg_size = (uint32_t)1 << (20 + data[0] % 11);
    name = fuzz_cstr(data + 1, size - 1);
    if (pitr_wal_parse_name(name, &w, &err) == PITR_OK) {
        pitr_wal_hash_dir(name, &w, hash);
        if (w.kind == PITR_WAL_SEGMENT) {
            pitr_wal_format_segment(&w, seg);
            pitr_wal_next_segment(&w, seg_size, &next);
            pitr_wal_format_segment(&next, seg);
        }
    }
    (void)pitr_codec_from_suffix(name, &stem);
    if (pitr_cat_wal_segment_pos(name, seg_size, &tli, &segno, &err) == PITR_OK)
        pitr_cat_wal_segment_name(tli, segno, seg_size, seg);
    (void)pitr_cat_wal_parse_key("srv/wals/", name, size, seg_size, &cw);
    (void)pitr_wal_segment_size(data + 1, size - 1, &got_size, &err);
    pitr_free(name);
    return 0;
}
