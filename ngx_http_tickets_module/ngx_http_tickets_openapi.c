
/*
 * ngx_http_tickets_openapi_module: the directives of GET /api/openapi.json
 * and the sending of the document, whose bytes the build generates from
 * docs/openapi.yaml.  The "servers" URL is tickets_openapi_server_url, else
 * the request's scheme and Host.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_tickets_openapi.h"


typedef struct {
    ngx_flag_t                  enable;
    ngx_str_t                   server_url;
} ngx_http_tickets_openapi_loc_conf_t;


/* build/ngx_http_tickets_openapi_doc.c */
extern const u_char  ngx_http_tickets_openapi_head[];
extern const size_t  ngx_http_tickets_openapi_head_len;
extern const u_char  ngx_http_tickets_openapi_tail[];
extern const size_t  ngx_http_tickets_openapi_tail_len;
extern const char    ngx_http_tickets_openapi_tag[];


static ngx_int_t ngx_http_tickets_openapi_header(ngx_http_request_t *r,
    const char *name, u_char *value, size_t len, ngx_table_elt_t **out);
static u_char *ngx_http_tickets_openapi_escape(u_char *dst, u_char *src,
    size_t len);
static void *ngx_http_tickets_openapi_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_tickets_openapi_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);


static ngx_command_t  ngx_http_tickets_openapi_commands[] = {

    { ngx_string("tickets_openapi"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_openapi_loc_conf_t, enable),
      NULL },

    { ngx_string("tickets_openapi_server_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_openapi_loc_conf_t, server_url),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_tickets_openapi_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_tickets_openapi_create_loc_conf, /* create location configuration */
    ngx_http_tickets_openapi_merge_loc_conf   /* merge location configuration */
};


ngx_module_t  ngx_http_tickets_openapi_module = {
    NGX_MODULE_V1,
    &ngx_http_tickets_openapi_module_ctx,  /* module context */
    ngx_http_tickets_openapi_commands,     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ngx_int_t
ngx_http_tickets_openapi_send(ngx_http_request_t *r, ngx_str_t *request_id)
{
    u_char                               *url, *p, *etag;
    size_t                                len;
    uint32_t                              crc;
    ngx_int_t                             rc;
    ngx_str_t                             host, scheme;
    ngx_buf_t                            *b;
    ngx_chain_t                           out[3];
    ngx_http_tickets_openapi_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_tickets_openapi_module);

    if (!olcf->enable) {
        return NGX_DECLINED;
    }

    if (olcf->server_url.len) {
        host = olcf->server_url;
        ngx_str_null(&scheme);

    } else {
#if (NGX_HTTP_SSL)
        if (r->connection->ssl) {
            ngx_str_set(&scheme, "https://");
        } else
#endif
        {
            ngx_str_set(&scheme, "http://");
        }

        if (r->headers_in.host) {
            host = r->headers_in.host->value;

        } else {
            host = r->headers_in.server;
        }
    }

    /* the URL as a JSON string's content: each byte at most \u00XX */
    url = ngx_pnalloc(r->pool, scheme.len + host.len * 6);
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(url, scheme.data, scheme.len);
    p = ngx_http_tickets_openapi_escape(p, host.data, host.len);
    len = p - url;

    /* one tag per document and server URL */
    crc = ngx_crc32_short(url, len);

    etag = ngx_pnalloc(r->pool, sizeof("\"-\"") + 16 + 8);
    if (etag == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(etag, "\"%s-%08xD\"", ngx_http_tickets_openapi_tag, crc);

    if (ngx_http_tickets_openapi_header(r, "ETag", etag, p - etag,
                                        &r->headers_out.etag)
           != NGX_OK
        || ngx_http_tickets_openapi_header(r, "Cache-Control",
                                           (u_char *) "no-cache", 8, NULL)
           != NGX_OK
        || ngx_http_tickets_openapi_header(r, "X-Request-Id",
                                           request_id->data,
                                           request_id->len, NULL)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = ngx_http_tickets_openapi_head_len + len
                                      + ngx_http_tickets_openapi_tail_len;
    ngx_str_set(&r->headers_out.content_type,
                "application/json; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) ngx_http_tickets_openapi_head;
    b->last = b->pos + ngx_http_tickets_openapi_head_len;
    b->memory = 1;
    out[0].buf = b;
    out[0].next = &out[1];

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = url;
    b->last = url + len;
    b->memory = 1;
    out[1].buf = b;
    out[1].next = &out[2];

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) ngx_http_tickets_openapi_tail;
    b->last = b->pos + ngx_http_tickets_openapi_tail_len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    out[2].buf = b;
    out[2].next = NULL;

    return ngx_http_output_filter(r, &out[0]);
}


static ngx_int_t
ngx_http_tickets_openapi_header(ngx_http_request_t *r, const char *name,
    u_char *value, size_t len, ngx_table_elt_t **out)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;

    if (out) {
        *out = h;
    }

    return NGX_OK;
}


static u_char *
ngx_http_tickets_openapi_escape(u_char *dst, u_char *src, size_t len)
{
    static u_char  hex[] = "0123456789abcdef";

    for ( /* void */ ; len; len--, src++) {

        if (*src == '"' || *src == '\\') {
            *dst++ = '\\';
            *dst++ = *src;

        } else if (*src < 0x20 || *src >= 0x7f) {
            dst = ngx_cpymem(dst, "\\u00", 4);
            *dst++ = hex[*src >> 4];
            *dst++ = hex[*src & 0xf];

        } else {
            *dst++ = *src;
        }
    }

    return dst;
}


static void *
ngx_http_tickets_openapi_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_tickets_openapi_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tickets_openapi_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->server_url = { 0, NULL };
     */

    conf->enable = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_tickets_openapi_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_tickets_openapi_loc_conf_t *prev = parent;
    ngx_http_tickets_openapi_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 1);
    ngx_conf_merge_str_value(conf->server_url, prev->server_url, "");

    /* a trailing slash would double the one every path starts with */
    while (conf->server_url.len > 1
           && conf->server_url.data[conf->server_url.len - 1] == '/')
    {
        conf->server_url.len--;
    }

    return NGX_CONF_OK;
}
