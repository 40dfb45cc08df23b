/*
 * header.h - one HTTP request header, as the SigV4 signer reads it and the
 * HTTP client sends it.
 *
 * Its own header so that the S3 layer (s3/sigv4.h) and the HTTP layer
 * (http/http.h) share the type while http/ depends on nothing above it.
 */
#ifndef PGPITR_HTTP_HEADER_H
#define PGPITR_HTTP_HEADER_H

struct pitr_http_header {
    const char *name;  /* borrowed; any case */
    const char *value; /* borrowed; raw, may hold runs of spaces */
};

#endif
