/*
 * creds.h - where the S3 credentials come from: the AWS credential chain.
 *
 * The chain, first match wins:
 *   1. cfg->access_key/secret_key/session_token (flags and config file, with
 *      the AWS_* variables merged in by the config loader) - source "config",
 *      or "env" when they are the values of AWS_ACCESS_KEY_ID and
 *      AWS_SECRET_ACCESS_KEY;
 *   2. AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN - "env";
 *   3. the shared files: the profile (the profile argument, else AWS_PROFILE,
 *      else "default") in AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials)
 *      and AWS_CONFIG_FILE (~/.aws/config); the credentials file wins for a
 *      key found in both. Static keys give "profile:NAME"; role_arn plus
 *      web_identity_token_file give web identity (step 4) with that role;
 *   4. web identity: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, exchanged
 *      with STS AssumeRoleWithWebIdentity (the EKS IRSA path) -
 *      "web-identity";
 *   5. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on
 *      http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI, with an
 *      Authorization header from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN - "container";
 *   6. EC2 instance metadata (IMDSv2), unless AWS_EC2_METADATA_DISABLED is
 *      "true" - "imds".
 *
 * Which source applies is decided in pitr_creds_provider_new(), from the
 * environment and the local files only: it reads the environment once (so
 * later gets never call getenv()) and reads the shared files. Static
 * credentials (1-3) are final there. The network sources (4-6) are asked on
 * the first pitr_creds_get() and again whenever the credentials they gave
 * expire within PITR_CREDS_REFRESH_MARGIN_S seconds. A source that was
 * chosen and then fails is an error: the chain does not go on to the next.
 * The one exception is IMDS reached by elimination: when its first fetch
 * fails, the error is the "no S3 credentials found" one below.
 *
 * When no source applies: PITR_EUSAGE "no S3 credentials found: tried ..."
 * naming each source and why it did not apply.
 *
 * Secrets (secret key, session token, web identity token, container
 * authorization token, IMDS session token) never appear in a log line, an
 * error message or a URL; they are wiped from memory we own when freed.
 * TLS to STS and the container endpoint uses the system CA store.
 */
#ifndef PGPITR_S3_CREDS_H
#define PGPITR_S3_CREDS_H

#include <time.h>

#include "pgpitr/core/config.h"
#include "pgpitr/core/err.h"

/* Credentials expiring within this many seconds are fetched again. */
#define PITR_CREDS_REFRESH_MARGIN_S 300

/* A snapshot; plain storage, wipe with pitr_s3_creds_clear(). */
struct pitr_s3_creds {
    char access_key[256];
    char secret_key[256];     /* secret */
    char session_token[4096]; /* secret; "" when none */
    time_t expires;           /* UTC seconds; 0: does not expire */
    char source[32];          /* "config", "env", "profile:NAME" (cut), "web-identity",
                                 "container", "imds" - for logs */
};

/* Wipe every field (OPENSSL_cleanse). */
void pitr_s3_creds_clear(struct pitr_s3_creds *c);

/*
 * A reference-counted provider; thread-safe: upload workers share one and
 * call pitr_creds_get() concurrently. A refresh happens under the
 * provider's mutex, so one worker fetches while the others wait for it.
 */
struct pitr_creds_provider;

/*
 * Walk the chain (see above) and return a provider holding one reference
 * (*out; release with pitr_creds_provider_unref). cfg and profile are
 * borrowed for the call. profile: a profile name for step 3, or NULL for
 * AWS_PROFILE or "default". A profile named explicitly (argument or
 * AWS_PROFILE) that is in neither file, or that holds no usable credentials,
 * is PITR_EUSAGE; a missing "default" profile is not. No network request.
 */
PITR_MUST_CHECK pitr_rc pitr_creds_provider_new(const struct pitr_config *cfg,
                                                const char *profile,
                                                struct pitr_creds_provider **out,
                                                struct pitr_err *err);

/*
 * Copy the current credentials into *out (the caller wipes it with
 * pitr_s3_creds_clear). Fetches them first when there are none yet or they
 * expire within PITR_CREDS_REFRESH_MARGIN_S. When a refresh fails while the
 * current credentials have not expired yet, logs a warning and returns them.
 * Errors name the source; *out is cleared on failure.
 */
PITR_MUST_CHECK pitr_rc pitr_creds_get(struct pitr_creds_provider *p,
                                       struct pitr_s3_creds *out,
                                       struct pitr_err *err);

/*
 * The source chosen by pitr_creds_provider_new() ("config", "env",
 * "profile:NAME", "web-identity", "container", "imds"). Borrowed; lives as
 * long as p.
 */
const char *pitr_creds_provider_source(const struct pitr_creds_provider *p);

/* Take one more reference; returns p. */
struct pitr_creds_provider *pitr_creds_provider_ref(struct pitr_creds_provider *p);
/* Drop one reference; the last one wipes and frees. NULL is a no-op. */
void pitr_creds_provider_unref(struct pitr_creds_provider *p);

#endif
