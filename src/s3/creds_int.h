/*
 * creds_int.h - pieces of src/s3/creds.c exposed to its unit tests.
 */
#ifndef PGPITR_S3_CREDS_INT_H
#define PGPITR_S3_CREDS_INT_H

#include <stddef.h>
#include <time.h>

#include "pgpitr/core/err.h"

/* What one profile holds, merged over the shared files. */
struct pitr_creds_profile {
    char *access_key;              /* owned, or NULL */
    char *secret_key;              /* owned, or NULL; secret: wiped on release */
    char *session_token;           /* owned, or NULL; secret: wiped on release */
    char *role_arn;                /* owned, or NULL */
    char *web_identity_token_file; /* owned, or NULL */
    char *role_session_name;       /* owned, or NULL */
    char unsupported[32];          /* first key we know of but cannot use (source_profile, ...) */
    int found;                     /* a section of this profile was seen */
};

void pitr_creds_profile_init(struct pitr_creds_profile *prof);
/* Wipe the secrets, free everything and re-initialise. */
void pitr_creds_profile_release(struct pitr_creds_profile *prof);

/*
 * Merge the keys of profile name from one shared file's text into *prof; a
 * key seen later replaces an earlier value. config_style: the config file's
 * section names ("[default]", "[profile NAME]"); else the credentials
 * file's ("[NAME]"). Whole-line comments start with '#' or ';'; a property
 * value is taken verbatim (trimmed), so '#' inside a value is kept. Indented
 * lines under a property with an empty value (sub-properties) are skipped.
 * A line that is neither a section, a property nor a comment is
 * PITR_EFORMAT naming path and the line number (never the line's text).
 * text, name and path are borrowed.
 */
PITR_MUST_CHECK pitr_rc pitr_creds_profile_parse(const char *text,
                                                 size_t len,
                                                 int config_style,
                                                 const char *name,
                                                 const char *path,
                                                 struct pitr_creds_profile *prof,
                                                 struct pitr_err *err);

/*
 * Parse an ISO 8601 UTC time as AWS sends it: "2024-05-01T12:34:56Z",
 * optionally with fractional seconds and a "+hh:mm"/"-hh:mm" offset instead
 * of "Z". PITR_EFORMAT otherwise.
 */
PITR_MUST_CHECK pitr_rc pitr_creds_parse_time(const char *s, time_t *out, struct pitr_err *err);

#endif
