/*
 * tarstream.h - the backup pipeline: entries in, compressed tar volumes out.
 *
 *   producer (the caller's thread): walker entries -> libarchive (PAX tar)
 *        -> the tar byte stream cut into chunks
 *   compressor workers (jobs threads): each chunk compressed on its own as
 *        a codec piece (codec.h: gzip with the previous 32 KiB as its
 *        dictionary, bzip2 blocks, a zstd or lz4 frame), so every core works
 *   writer (one thread): the pieces in order joined into ONE gzip member or
 *        ONE bzip2 stream per volume (Python's tarfile stream mode, which
 *        barman-cloud-restore uses, stops after the first) -> struct
 *        pitr_sink (one object per volume: open, write, commit)
 *
 * Memory is bounded: at most 2 * jobs + 4 chunks are in flight, and the
 * producer waits when the writer falls behind. Nothing is staged on disk.
 *
 * A stream ("data", or a tablespace oid) is split into volumes like
 * barman's: before an entry is added, if the current volume's stored
 * (compressed) bytes exceed max_volume, the volume is closed (its own tar
 * end blocks, its own compressed stream) and "<stream>_0001.tar<sfx>" etc.
 * begins. Files are never split, so a volume may overshoot by one file.
 *
 * Files are read at most to the size lstat() gave; a file that shrinks is
 * padded with zeros to that size, a file that vanished before it was opened
 * is skipped. Every regular file's member name, size, SHA-256 and volume are
 * recorded for the manifest.
 *
 * Errors of any thread come back from the next producer call. After an
 * error only pitr_tarstream_free() is useful; it aborts the open volume.
 */
#ifndef PGPITR_BACKUP_TARSTREAM_H
#define PGPITR_BACKUP_TARSTREAM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "pgpitr/backup/sink.h"
#include "pgpitr/backup/walker.h"
#include "pgpitr/codec/codec.h"
#include "pgpitr/core/err.h"

struct pitr_tarstream_stats {
    uint64_t raw_bytes;    /* tar bytes produced */
    uint64_t stored_bytes; /* bytes handed to the sink */
    uint64_t file_bytes;   /* contents of regular files */
    unsigned volumes;      /* volumes committed */
};

struct pitr_tarstream_opts {
    struct pitr_sink *sink; /* borrowed; only the writer thread uses it */
    const char *key_prefix; /* borrowed; e.g. "<server>/base/<id>/" */
    enum pitr_codec codec;  /* none, gzip, zstd, lz4 or bzip2 */
    int level;              /* 0: the codec's fast default */
    int jobs;               /* compressor threads, >= 1 */
    uint64_t max_volume;    /* bytes; see above */
    size_t chunk_size;      /* 0: 1 MiB */
    /* Optional: when it becomes non-zero, the next producer call fails. */
    volatile sig_atomic_t *cancel;
    /* Optional: called on the producer's thread at most twice a second. */
    void (*progress)(const struct pitr_tarstream_stats *st, void *ud);
    void *progress_ud;
};

struct pitr_manifest_file {
    char *path;   /* owned; the tar member name */
    char *volume; /* owned; the volume's object name, e.g. "data_0001.tar.gz" */
    uint64_t size;
    char sha256[65];
};

struct pitr_tarstream;

/* Start the threads. *out is freed with pitr_tarstream_free(). */
PITR_MUST_CHECK pitr_rc pitr_tarstream_new(const struct pitr_tarstream_opts *o,
                                           struct pitr_tarstream **out,
                                           struct pitr_err *err);
/* Begin stream name ("data" or "16384"): opens its first volume. */
PITR_MUST_CHECK pitr_rc pitr_tarstream_begin(struct pitr_tarstream *ts,
                                             const char *name,
                                             struct pitr_err *err);
/* Add one entry (a directory, a file read from e->path, or a symlink). */
PITR_MUST_CHECK pitr_rc pitr_tarstream_add(struct pitr_tarstream *ts,
                                           const struct pitr_walk_entry *e,
                                           struct pitr_err *err);
/*
 * Where pitr_tarstream_add_from() reads a file's contents: up to cap bytes
 * into p, *got = 0 at the end. A short source is padded with zeros to
 * e->st.st_size, as a shrinking file is.
 */
typedef pitr_rc (
  *pitr_tarstream_read_fn)(void *ud, void *p, size_t cap, size_t *got, struct pitr_err *err);
/*
 * Add one entry whose contents come from rd (e->path is not opened): a
 * member of another tar being re-packed. e->st needs st_mode, st_uid,
 * st_gid, st_mtim and, for files, st_size.
 */
PITR_MUST_CHECK pitr_rc pitr_tarstream_add_from(struct pitr_tarstream *ts,
                                                const struct pitr_walk_entry *e,
                                                pitr_tarstream_read_fn rd,
                                                void *ud,
                                                struct pitr_err *err);
/* Add a regular file with the given contents (backup_label). */
PITR_MUST_CHECK pitr_rc pitr_tarstream_add_bytes(struct pitr_tarstream *ts,
                                                 const char *name,
                                                 const void *data,
                                                 size_t n,
                                                 mode_t mode,
                                                 uid_t uid,
                                                 gid_t gid,
                                                 time_t mtime,
                                                 struct pitr_err *err);
/* End the stream: close its last volume and wait until the sink committed it. */
PITR_MUST_CHECK pitr_rc pitr_tarstream_end(struct pitr_tarstream *ts, struct pitr_err *err);

void pitr_tarstream_get_stats(struct pitr_tarstream *ts, struct pitr_tarstream_stats *out);
/* The files added so far (borrowed; valid until the next add or free). */
const struct pitr_manifest_file *pitr_tarstream_files(const struct pitr_tarstream *ts, size_t *n);
/* The volume object names begun so far, in order (borrowed, like files). */
const char *const *pitr_tarstream_volumes(const struct pitr_tarstream *ts, size_t *n);

/* Stop the threads, abort an open volume, free everything. NULL is fine. */
void pitr_tarstream_free(struct pitr_tarstream *ts);

#endif
