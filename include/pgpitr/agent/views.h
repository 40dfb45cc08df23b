/*
 * views.h - what `pgpitr get` and `pgpitr describe` print, from status
 * store objects (agent/status.h), in kubectl's shapes:
 *   - tables: Backups "NAME AGE CLUSTER METHOD PHASE ERROR" (a Backup whose
 *     backupId retention removed shows its phase as "completed (removed)");
 *     ScheduledBackups "NAME AGE CLUSTER LAST BACKUP NEXT SUSPEND";
 *     Clusters "NAME AGE LAST SUCCESSFUL FIRST RECOVERABILITY ARCHIVING
 *     LAST BACKUP RETENTION" (the two conditions' status and reason);
 *   - --output json: {"apiVersion": "v1", "kind": "List", "items": [...]};
 *     --output yaml: the same document as YAML;
 *   - describe: Name, Namespace, Labels, Kind, Spec, Status (keys in Title
 *     Case as kubectl prints them) and the Events table.
 * Output goes to a caller-owned buffer; nothing is kept.
 */
#ifndef PGPITR_AGENT_VIEWS_H
#define PGPITR_AGENT_VIEWS_H

#include <jansson.h>
#include <stdint.h>

#include "pgpitr/core/buf.h"
#include "pgpitr/core/err.h"

enum pitr_view_format { PITR_VIEW_TABLE, PITR_VIEW_JSON, PITR_VIEW_YAML };

/* "json", "yaml" or NULL (table); -1 for anything else. */
int pitr_views_parse_output(const char *s, enum pitr_view_format *out);

/* "clusters", "cluster", "scheduledbackups", "backup", ... -> "Cluster" etc.; NULL when unknown. */
const char *pitr_views_kind(const char *resource);

/* items: an array of objects (borrowed); only those of kind are printed, in order. */
PITR_MUST_CHECK pitr_rc pitr_views_get(json_t *items,
                                       const char *kind,
                                       enum pitr_view_format fmt,
                                       int64_t now,
                                       struct pitr_buf *out,
                                       struct pitr_err *err);

/* One object and its events (borrowed, may be NULL). */
PITR_MUST_CHECK pitr_rc pitr_views_describe(json_t *item,
                                            json_t *events,
                                            enum pitr_view_format fmt,
                                            int64_t now,
                                            struct pitr_buf *out,
                                            struct pitr_err *err);

/* kubectl's age: 45s, 3m12s, 15m, 5h20m, 2d3h, 40d; "<unknown>" for 0. */
void pitr_views_age(int64_t seconds, char out[32]);

/* The value as YAML (block style) appended to out, at indent. */
PITR_MUST_CHECK pitr_rc pitr_views_yaml(json_t *v,
                                        int indent,
                                        struct pitr_buf *out,
                                        struct pitr_err *err);

#endif
