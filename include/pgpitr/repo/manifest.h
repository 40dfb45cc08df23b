/*
 * manifest.h - pgpitr.manifest.json, the one place that writes, reads and
 * validates it (backup writes it, restore and verify read it).
 *
 * Format 1, a JSON object:
 *   format, backup_id, backup_name, compression, systemid, version,
 *   timeline, begin_wal, end_wal, begin_lsn, end_lsn,
 *   tablespaces: [{oid, name, location}],
 *   volumes:     ["data.tar.gz", ...],
 *   files:       [{path, volume, size, sha256}]   every regular tar member
 *   objects:     [{name, size, sha256}]           every stored object, as stored
 * ("objects" is missing in manifests of older pgpitr versions).
 *
 * The manifest comes from the repository, so the reader trusts none of it:
 * a file path must be relative, free of ".." and of control characters; a
 * file's volume must be a volume name (volume.h); an object name must be a
 * plain object name; sizes are non-negative integers; SHA-256 values are
 * 64 lowercase hex digits.
 */
#ifndef PGPITR_REPO_MANIFEST_H
#define PGPITR_REPO_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"

#define PITR_REPO_MANIFEST_NAME  "pgpitr.manifest.json"
#define PITR_REPO_MANIFEST_LIMIT ((size_t)1024 * 1024 * 1024)

struct pitr_repo_mf_file {
    const char *path;   /* tar member name; the reader strips leading "./" */
    const char *volume; /* the volume's object name, e.g. "data_0001.tar.gz" */
    uint64_t size;
    const char *sha256; /* lowercase hex */
};

struct pitr_repo_mf_object {
    const char *name;
    uint64_t size;
    const char *sha256; /* lowercase hex; NULL when not recorded */
};

struct pitr_repo_mf_tablespace {
    uint32_t oid;
    const char *name;
    const char *location;
};

/* What the writer puts in; every pointer borrowed for the call. NULL strings become null. */
struct pitr_repo_manifest_out {
    const char *backup_id, *backup_name, *compression, *systemid;
    long long version, timeline;
    const char *begin_wal, *end_wal, *begin_lsn, *end_lsn;
    const struct pitr_repo_mf_tablespace *tablespaces;
    size_t ntablespaces;
    const char *const *volumes;
    size_t nvolumes;
    const struct pitr_repo_mf_file *files;
    size_t nfiles;
    const struct pitr_repo_mf_object *objects;
    size_t nobjects;
};

/* The manifest's text (owned by the caller, pitr_free), or NULL when it cannot be serialised. */
char *pitr_repo_manifest_write(const struct pitr_repo_manifest_out *m);

/* A parsed manifest. Every string is borrowed from the parsed document (doc). */
struct pitr_repo_manifest {
    void *doc; /* owned; the JSON document */
    const char *backup_id, *begin_wal, *end_wal;
    struct pitr_repo_mf_file *files; /* owned array; valid entries only */
    size_t nfiles;
    struct pitr_repo_mf_object *objects; /* owned array; valid entries only */
    size_t nobjects;
    int has_objects; /* the manifest has an "objects" array */
    char **problems; /* owned; one message per invalid entry, which was left out */
    size_t nproblems;
};

/*
 * Parse text[0..len). PITR_EFORMAT when it is not a JSON object or has no
 * "files" array; an invalid entry is left out and described in
 * m->problems (the caller decides whether that is fatal). Release m with
 * pitr_repo_manifest_release in every case.
 */
PITR_MUST_CHECK pitr_rc pitr_repo_manifest_parse(const char *text,
                                                 size_t len,
                                                 struct pitr_repo_manifest *m,
                                                 struct pitr_err *err);
void pitr_repo_manifest_release(struct pitr_repo_manifest *m);

/* The recorded object named name, or NULL. */
const struct pitr_repo_mf_object *pitr_repo_manifest_object(const struct pitr_repo_manifest *m,
                                                            const char *name);

/*
 * 1 when p is a safe relative member path: not empty, not absolute, no ".."
 * component, no control character, under 4096 bytes.
 */
int pitr_repo_safe_relpath(const char *p);

#endif
