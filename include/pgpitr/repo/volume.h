/*
 * volume.h - the names of a backup's tar volumes: the one place that writes
 * and reads them (backup writes, restore and verify read).
 *
 *   <stream>.tar<sfx>          the first volume of a stream
 *   <stream>_NNNN.tar<sfx>     the next ones, NNNN = 0001..9999
 *
 * stream is "data" (PGDATA) or a tablespace oid in decimal; sfx is a codec
 * suffix of codec.h ("", ".gz", ".bz2", ".snappy", ".xz", ".zst", ".lz4").
 * barman-cloud writes the same names (without parts).
 */
#ifndef PGPITR_REPO_VOLUME_H
#define PGPITR_REPO_VOLUME_H

#include <stddef.h>

#define PITR_VOLUME_STREAM_MAX 32 /* stream buffer size, terminator included */
#define PITR_VOLUME_INDEX_MAX  9999u

/*
 * The name of volume index (0 for the first) of stream with codec suffix
 * sfx; NULL when index is above PITR_VOLUME_INDEX_MAX or stream is not
 * "data" or decimal digits. The result is owned by the caller (pitr_free).
 */
char *pitr_volume_name(const char *stream, unsigned index, const char *sfx);

/*
 * 1 when name is a volume name as pitr_volume_name writes them: *stream gets
 * the stream, *index the volume number (0 for the first). 0 for anything
 * else (another object, a path, an unknown suffix, a malformed part number).
 */
int pitr_volume_parse(const char *name, char stream[PITR_VOLUME_STREAM_MAX], unsigned *index);

#endif
