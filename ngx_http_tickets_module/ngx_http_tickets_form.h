
/*
 * Request body parsers: multipart/form-data (RFC 7578) and
 * application/x-www-form-urlencoded, filling a tk_form_t.  Plain C, without
 * nginx headers, so that unit tests can link it alone.
 */


#ifndef _NGX_HTTP_TICKETS_FORM_H_INCLUDED_
#define _NGX_HTTP_TICKETS_FORM_H_INCLUDED_


#include <stddef.h>

#include "tickets.h"


#define NGX_HTTP_TICKETS_BOUNDARY_MAX  70


typedef struct ngx_http_tickets_multipart_s  ngx_http_tickets_multipart_t;


/*
 * Checks that a Content-Type value is multipart/form-data and copies its
 * boundary parameter, unquoted, NUL-terminated, to out.  Returns 0, or -1
 * for another media type, a missing, repeated, empty or longer than 70
 * bytes boundary, one that does not fit outsize, or a syntax error.
 */
int ngx_http_tickets_multipart_boundary(const char *content_type, size_t len,
    char *out, size_t outsize, size_t *outlen);

/*
 * A streaming parser that adds each part to form: a field, or a file when
 * the part has a filename (an empty filename skips the part).  At most
 * max_parts parts, and max_header_bytes for the header block of each, its
 * blank line included.  NULL when memory is short or the boundary is
 * empty, too long or holds CR.
 */
ngx_http_tickets_multipart_t *ngx_http_tickets_multipart_create(
    const char *boundary, size_t blen, tk_form_t *form, size_t max_parts,
    size_t max_header_bytes);
/* any chunk sizes; 0, or -1 with the error kept (every later call fails) */
int ngx_http_tickets_multipart_feed(ngx_http_tickets_multipart_t *mp,
    const unsigned char *data, size_t len);
/* 0 when the closing delimiter was seen, else -1: the form is partial */
int ngx_http_tickets_multipart_finish(ngx_http_tickets_multipart_t *mp);
/* a static message for the last failure, NULL when none */
const char *ngx_http_tickets_multipart_error(ngx_http_tickets_multipart_t *mp);
void ngx_http_tickets_multipart_destroy(ngx_http_tickets_multipart_t *mp);

/*
 * Adds the fields of an application/x-www-form-urlencoded body to form.
 * Returns 0, or -1 with *err set to a static message: a bad %-escape, more
 * than max_fields fields, or no memory.
 */
int ngx_http_tickets_urlencoded_parse(const unsigned char *data, size_t len,
    tk_form_t *form, size_t max_fields, const char **err);


#endif /* _NGX_HTTP_TICKETS_FORM_H_INCLUDED_ */
