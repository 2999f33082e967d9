
/*
 * GET /api/openapi.json: the OpenAPI document of docs/openapi.yaml, which
 * the build compiles in (build/ngx_http_tickets_openapi_doc.c).
 */


#ifndef _NGX_HTTP_TICKETS_OPENAPI_H_INCLUDED_
#define _NGX_HTTP_TICKETS_OPENAPI_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * Sends the document with the request id in X-Request-Id.  NGX_DECLINED
 * when "tickets_openapi off" (nothing is sent: the caller answers 404).
 */
ngx_int_t ngx_http_tickets_openapi_send(ngx_http_request_t *r,
    ngx_str_t *request_id);


#endif /* _NGX_HTTP_TICKETS_OPENAPI_H_INCLUDED_ */
