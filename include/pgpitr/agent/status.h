/*
 * status.h - the agent's status store: the Cluster, ScheduledBackup and
 * Backup objects with their status and last events, as one JSON document
 * per server at "<server>/pgpitr/status.json" in the repository.
 *
 * The document (jansson) is {"apiVersion": "pgpitr.io/v1", "kind":
 * "StatusStore", "items": [objects as kubectl prints them: apiVersion,
 * kind, metadata{name, namespace, creationTimestamp, labels,
 * ownerReferences}, spec, status], "events": {"<Kind>/<name>": [{type,
 * reason, message, firstTimestamp, lastTimestamp, count}]}}.
 *
 * It is written whole with one storage put (atomic on every driver: S3 PUT,
 * posix temp + rename), and a copy goes to a local file (temp + rename) so
 * the state survives an object store that refuses us (a wrong secret); the
 * store copy survives the loss of the node. barman-cloud lists only
 * <server>/base/ and <server>/wals/, and pgpitr's catalog and retention do
 * the same, so neither sees or removes <server>/pgpitr/.
 *
 * Bounds: the document is read with a 16 MiB limit; items without a string
 * kind and metadata.name are dropped on load; at most PITR_STATUS_EVENTS_MAX
 * events per object and PITR_STATUS_BACKUPS_MAX Backup objects (the oldest
 * finished ones go first).
 *
 * Ownership: json_t documents returned are new references the caller
 * decrefs; json_t * returned by the find functions are borrowed from doc.
 */
#ifndef PGPITR_AGENT_STATUS_H
#define PGPITR_AGENT_STATUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "pgpitr/core/err.h"

struct pitr_storage;

#define PITR_STATUS_DOC_MAX     ((size_t)16 * 1024 * 1024)
#define PITR_STATUS_EVENTS_MAX  10
#define PITR_STATUS_BACKUPS_MAX 500
#define PITR_STATUS_API_CNPG    "postgresql.cnpg.io/v1"

/* An empty document. */
json_t *pitr_status_new(void);

/*
 * Read "<server>/pgpitr/status.json" from st (NULL: skip), else local_path
 * (NULL: skip), else start empty. *source (optional) is "store", "local" or
 * "new". A store that fails for another reason than a missing object sets
 * *store_err (optional, cleared otherwise) and falls back to the local copy.
 */
PITR_MUST_CHECK pitr_rc pitr_status_load(struct pitr_storage *st,
                                         const char *server,
                                         const char *local_path,
                                         json_t **doc,
                                         const char **source,
                                         struct pitr_err *store_err,
                                         struct pitr_err *err);

/*
 * Write doc to the local copy (when local_path) and then to the store
 * (when st). The local write failing is an error; the store failing too.
 */
PITR_MUST_CHECK pitr_rc pitr_status_save(struct pitr_storage *st,
                                         const char *server,
                                         const char *local_path,
                                         json_t *doc,
                                         struct pitr_err *err);

/* Parse a document's text (bounded by the caller); PITR_EFORMAT when it is not a store. */
PITR_MUST_CHECK pitr_rc pitr_status_parse(const char *text,
                                          size_t len,
                                          json_t **doc,
                                          struct pitr_err *err);

/* The object kind/name, or NULL (borrowed). */
json_t *pitr_status_find(json_t *doc, const char *kind, const char *name);

/*
 * The object kind/name, created (with apiVersion, metadata.name,
 * namespace, creationTimestamp = now, empty spec and status) when missing.
 */
json_t *pitr_status_ensure(json_t *doc,
                           const char *kind,
                           const char *name,
                           const char *ns,
                           int64_t now);

/* The items array (borrowed). */
json_t *pitr_status_items(json_t *doc);

/*
 * Record an event on kind/name (type "Normal" or "Warning"); the same
 * reason and message as the last event bumps its count. Also logs it as
 * one line ("Kind/name: reason: message"), at warn for Warning.
 */
void pitr_status_event(json_t *doc,
                       const char *kind,
                       const char *name,
                       const char *type,
                       const char *reason,
                       const char *message,
                       int64_t now);

/* The events of kind/name (borrowed array, or NULL). */
json_t *pitr_status_events(json_t *doc, const char *kind, const char *name);

/* Drop the oldest finished Backups (and their events) beyond PITR_STATUS_BACKUPS_MAX. */
void pitr_status_trim(json_t *doc);

/* RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" of t into out[32]. */
void pitr_status_time(int64_t t, char out[32]);

/* Parse an RFC 3339 time back; 0 when absent or malformed. */
int64_t pitr_status_time_parse(const char *s);

/* Set obj[key] to the time t (0: remove it). */
void pitr_status_set_time(json_t *obj, const char *key, int64_t t);

/* obj[key] as a string, or NULL (borrowed). */
const char *pitr_status_str(json_t *obj, const char *key);

/* Set or replace a condition (type, status "True"/"False", reason, message) in status.conditions.
 */
void pitr_status_condition(json_t *status,
                           const char *type,
                           const char *cstatus,
                           const char *reason,
                           const char *message,
                           int64_t now);

#endif
