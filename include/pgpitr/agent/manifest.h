/*
 * manifest.h - CloudNativePG manifests read from a directory with libyaml:
 * Cluster, ScheduledBackup and Backup (postgresql.cnpg.io/v1) and Secret
 * (v1) documents in *.yaml / *.yml files, several documents a file.
 *
 * Only what pgpitr acts on is kept (cnpg-semantics.md), including a
 * Cluster's spec.bootstrap.recovery and spec.externalClusters[] (whose
 * barmanObjectStore is read and resolved like spec.backup's). Every field pgpitr
 * does not support is reported once as a diagnostic with its file and line;
 * fields that do not change what a backup does (labels, annotations,
 * instances, storage, ...) are not reported. Secret references
 * (s3Credentials, endpointCA) are resolved against the Secrets of the same
 * namespace when the set is built; a missing Secret or key is a diagnostic
 * on the referring Cluster, which then has store.resolved = 0.
 *
 * A directory is watched with pitr_manifest_dir: every poll re-reads the
 * files whose size, mtime or inode changed, and a file that no longer parses
 * keeps its last good documents in force (its error is a diagnostic).
 *
 * Ownership: every char * in these structs is owned by the struct that holds
 * it; a pitr_mf_set owns its arrays and is released with
 * pitr_manifest_set_release. Sets returned by pitr_manifest_dir_snapshot are
 * independent copies.
 */
#ifndef PGPITR_AGENT_MANIFEST_H
#define PGPITR_AGENT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"

/* Where a document or field came from. */
struct pitr_mf_loc {
    char *file; /* owned */
    int line;   /* 1-based */
};

struct pitr_mf_meta {
    char *name;      /* owned; metadata.name */
    char *namespace; /* owned; metadata.namespace, "default" when absent */
    char *uid;       /* owned; metadata.uid or NULL */
    struct pitr_mf_loc loc;
};

/* A {name, key} reference to a Secret of the same namespace. */
struct pitr_mf_secret_ref {
    char *name; /* owned; NULL when the field is absent */
    char *key;  /* owned */
    struct pitr_mf_loc loc;
};

/* spec.backup.barmanObjectStore of a Cluster, with its Secrets resolved. */
struct pitr_mf_store {
    char *destination_path; /* owned; s3://bucket/prefix or file:///dir */
    char *endpoint_url;     /* owned or NULL */
    char *endpoint_ca_pem;  /* owned or NULL; PEM text from the endpointCA Secret key */
    char *server_name;      /* owned or NULL (then the Cluster's name) */
    int inherit_iam_role;   /* inheritFromIAMRole: use the credential chain */
    char *access_key_id;    /* owned or NULL; secrets: never logged */
    char *secret_access_key;
    char *session_token;
    char *region;
    char *wal_compression; /* owned or NULL: gzip, bzip2, snappy, ... */
    char *wal_encryption;  /* owned or NULL: AES256, aws:kms */
    int wal_max_parallel;  /* 0 = default */
    char *data_compression;
    char *data_encryption;
    int data_jobs; /* 0 = default */
    int data_immediate_checkpoint;
    char **tags; /* owned; "key=value" strings */
    size_t n_tags;
    char **history_tags;
    size_t n_history_tags;
    int resolved; /* 1 when every Secret reference was found (and nothing unsupported) */
    /* Added after the contract: where the resolved values come from. */
    struct pitr_mf_secret_ref endpoint_ca_ref;
    struct pitr_mf_secret_ref access_key_id_ref;
    struct pitr_mf_secret_ref secret_access_key_ref;
    struct pitr_mf_secret_ref session_token_ref;
    struct pitr_mf_secret_ref region_ref;
    int unsupported; /* azureCredentials/googleCredentials: never resolved */
};

/* spec.bootstrap.recovery.recoveryTarget (at most one of the five target kinds). */
struct pitr_mf_recovery_target {
    char *target_time; /* owned or NULL; as written (RFC 3339 or PostgreSQL form) */
    char *target_xid;  /* owned or NULL; a uint32 in decimal */
    char *target_name; /* owned or NULL; a restore point, 1..63 bytes */
    char *target_lsn;  /* owned or NULL; X/X */
    int target_immediate;
    char *target_tli; /* owned or NULL; "latest" or a timeline >= 1 */
    int exclusive;    /* recovery_target_inclusive = false */
    char *backup_id;  /* owned or NULL; the barman backup id to restore */
};

/* spec.bootstrap.recovery of a Cluster (cnpg-semantics.md section 4). */
struct pitr_mf_recovery {
    char *source;      /* owned or NULL; an externalClusters[].name */
    char *backup_name; /* owned or NULL; backup.name: parsed, not supported (error diag) */
    int has_target;    /* recoveryTarget present */
    struct pitr_mf_recovery_target target;
    int unsupported; /* something pgpitr cannot do: never acted on */
    struct pitr_mf_loc loc;
};

/* One spec.externalClusters[] entry; only its barmanObjectStore is used. */
struct pitr_mf_external {
    char *name;    /* owned */
    int has_store; /* barmanObjectStore present */
    struct pitr_mf_store store;
    struct pitr_mf_loc loc;
};

struct pitr_mf_cluster {
    struct pitr_mf_meta meta;
    int has_store; /* spec.backup.barmanObjectStore present */
    struct pitr_mf_store store;
    char *retention_policy; /* owned or NULL; "30d", ... */
    char *target;           /* owned or NULL; primary | prefer-standby */
    /* Added for issue 14 (recovery): bootstrap.recovery and externalClusters. */
    int has_recovery; /* spec.bootstrap.recovery present and valid */
    struct pitr_mf_recovery recovery;
    struct pitr_mf_external *externals; /* owned array; Secrets resolved like store */
    size_t n_externals;
};

struct pitr_mf_scheduled {
    struct pitr_mf_meta meta;
    char *schedule; /* owned; as written */
    struct pitr_mf_loc schedule_loc;
    char *cluster; /* owned; spec.cluster.name */
    int suspend;
    int immediate;
    char *owner_reference; /* owned; none (default) | self | cluster */
    char *method;          /* owned; always barmanObjectStore: other methods are an
                            * error diagnostic and the document is left out */
    char *target;          /* owned or NULL */
};

struct pitr_mf_backup {
    struct pitr_mf_meta meta;
    char *cluster; /* owned; spec.cluster.name */
    char *method;  /* owned; always barmanObjectStore (as pitr_mf_scheduled) */
    char *target;  /* owned or NULL */
};

/* A v1 Secret: data (base64-decoded) merged with stringData (which wins). */
struct pitr_mf_secret {
    struct pitr_mf_meta meta;
    char **keys;        /* owned */
    char **values;      /* owned; NUL-terminated, may hold NUL bytes (see lens); wiped on release */
    size_t *value_lens; /* owned */
    size_t n;
};

enum pitr_mf_severity { PITR_MF_WARNING, PITR_MF_ERROR };

struct pitr_mf_diag {
    enum pitr_mf_severity severity;
    struct pitr_mf_loc loc;
    char *msg; /* owned; "unsupported field 'spec.backup.volumeSnapshot'" ... */
};

struct pitr_mf_set {
    struct pitr_mf_cluster *clusters;
    size_t n_clusters;
    struct pitr_mf_scheduled *scheduled;
    size_t n_scheduled;
    struct pitr_mf_backup *backups;
    size_t n_backups;
    struct pitr_mf_diag *diags;
    size_t n_diags;
    struct pitr_mf_secret *secrets; /* added after the contract */
    size_t n_secrets;
};

/*
 * Hard limits on what one file may hold (hostile input). A file above the
 * size limit, or whose YAML goes past a depth, node, scalar or document
 * limit, fails with PITR_ELIMIT ("file:line: cause"); YAML aliases are
 * refused (PITR_EFORMAT): none is needed in a manifest and they are how an
 * expansion bomb is written.
 */
#define PITR_MF_MAX_FILE_BYTES ((size_t)1024 * 1024)
#define PITR_MF_MAX_DEPTH      32
#define PITR_MF_MAX_NODES      100000
#define PITR_MF_MAX_SCALAR     ((size_t)256 * 1024)
#define PITR_MF_MAX_DOCS       1000
#define PITR_MF_MAX_FILES      1000 /* per directory; more are ignored with an error diagnostic */

/* A struct pitr_mf_set is zero-initialised by its owner ({0}) before use. */

/* Parse one file's text (name is used in locations). Documents of other
 * kinds or apiVersions are diagnostics; a YAML syntax error fails the call
 * with PITR_EFORMAT and "file:line: cause" and adds nothing to *set. */
PITR_MUST_CHECK pitr_rc pitr_manifest_parse(const char *name,
                                            const char *text,
                                            size_t len,
                                            struct pitr_mf_set *set,
                                            struct pitr_err *err);

/* Resolve Secret references of every Cluster in *set (called by the dir
 * watcher after parsing all files). Each Cluster's resolved values are
 * replaced; a missing Secret or key adds an error diagnostic, so call it
 * once per set (snapshots are already resolved). Returns PITR_OK. */
PITR_MUST_CHECK pitr_rc pitr_manifest_resolve(struct pitr_mf_set *set, struct pitr_err *err);

const struct pitr_mf_cluster *pitr_manifest_find_cluster(const struct pitr_mf_set *set,
                                                         const char *ns,
                                                         const char *name);

/* The externalClusters[] entry of c named name, or NULL. */
const struct pitr_mf_external *pitr_manifest_find_external(const struct pitr_mf_cluster *c,
                                                           const char *name);

void pitr_manifest_set_release(struct pitr_mf_set *set);

/* "file:line: warning|error: msg" for a log line (owned by the caller). */
char *pitr_manifest_diag_str(const struct pitr_mf_diag *d);

/* A watched directory (docs/manifests.md: names, links, limits). */
struct pitr_manifest_dir;

/* PITR_ENOTFOUND when path does not exist, PITR_EUSAGE when it is no
 * folder. Reads nothing: the first poll does. Free with
 * pitr_manifest_dir_free. */
PITR_MUST_CHECK pitr_rc pitr_manifest_dir_new(const char *path,
                                              struct pitr_manifest_dir **out,
                                              struct pitr_err *err);
/* Re-read changed files; *changed = 1 when the resulting objects differ
 * (always on the first poll) or when there are new diagnostics (not
 * present after the previous poll), which the next snapshot's diags hold
 * so the caller logs each once. A folder that cannot be read fails the
 * poll (*changed = 0) and keeps the last set. */
PITR_MUST_CHECK pitr_rc pitr_manifest_dir_poll(struct pitr_manifest_dir *d,
                                               int *changed,
                                               struct pitr_err *err);
/* A copy of the current set (Secrets resolved; the Secrets themselves are
 * copied too); diags holds only the diagnostics first seen in the last
 * poll. The caller releases *out with pitr_manifest_set_release. */
PITR_MUST_CHECK pitr_rc pitr_manifest_dir_snapshot(const struct pitr_manifest_dir *d,
                                                   struct pitr_mf_set *out,
                                                   struct pitr_err *err);
void pitr_manifest_dir_free(struct pitr_manifest_dir *d);

#endif
