
/*
 * Replicas and read-your-writes (docs/scale.md).
 *
 * The host's table: NGX_HTTP_TICKETS_LSN_SLOTS atomic words in shared
 * memory, each the newest write LSN of the principals whose id hashes to
 * it.  Two principals sharing a slot only make each other's reads more
 * careful (served by the primary a little more often), never stale.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <time.h>

#include "ngx_http_tickets_fleet.h"


#define NGX_HTTP_TICKETS_LSN_SLOTS   4096
#define NGX_HTTP_TICKETS_REPLICA_BACKOFF  1000


static ngx_int_t ngx_http_tickets_fleet_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_atomic_t *ngx_http_tickets_fleet_slot(const char *principal);
static int64_t ngx_http_tickets_fleet_now(void);


static ngx_shm_zone_t  *ngx_http_tickets_lsn_zone;

static __thread tk_conn_t  *ngx_http_tickets_rconn;
static __thread char       *ngx_http_tickets_rconn_info;
static __thread int64_t     ngx_http_tickets_rconn_down_until;


extern ngx_module_t  ngx_http_tickets_module;


ngx_int_t
ngx_http_tickets_fleet_init(ngx_conf_t *cf)
{
    ngx_str_t  name = ngx_string("tickets_lsn");

    ngx_http_tickets_lsn_zone = ngx_shared_memory_add(cf, &name,
                                 NGX_HTTP_TICKETS_LSN_SLOTS
                                 * sizeof(ngx_atomic_t) + 8 * ngx_pagesize,
                                 &ngx_http_tickets_module);
    if (ngx_http_tickets_lsn_zone == NULL) {
        return NGX_ERROR;
    }

    ngx_http_tickets_lsn_zone->init = ngx_http_tickets_fleet_init_zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tickets_fleet_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    void             *slots;
    ngx_slab_pool_t  *shpool;

    if (data) {
        /* a reload: the table goes on */
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    slots = ngx_slab_calloc(shpool,
                            NGX_HTTP_TICKETS_LSN_SLOTS * sizeof(ngx_atomic_t));
    if (slots == NULL) {
        return NGX_ERROR;
    }

    shpool->data = slots;
    shm_zone->data = slots;

    return NGX_OK;
}


static ngx_atomic_t *
ngx_http_tickets_fleet_slot(const char *principal)
{
    ngx_atomic_t  *slots;

    if (ngx_http_tickets_lsn_zone == NULL
        || ngx_http_tickets_lsn_zone->data == NULL
        || principal == NULL || *principal == '\0')
    {
        return NULL;
    }

    slots = ngx_http_tickets_lsn_zone->data;

    return &slots[ngx_crc32_short((u_char *) principal, ngx_strlen(principal))
                  % NGX_HTTP_TICKETS_LSN_SLOTS];
}


void
ngx_http_tickets_fleet_client_lsn(ngx_http_request_t *r, char *buf,
    size_t len)
{
    uint64_t          lsn;
    ngx_str_t         v, name = ngx_string("tickets_lsn");
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    buf[0] = '\0';
    v.len = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("X-Tickets-LSN") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "X-Tickets-LSN",
                               sizeof("X-Tickets-LSN") - 1) == 0)
        {
            v = h[i].value;
            break;
        }
    }

    if (v.len == 0) {
#if (nginx_version >= 1023000)
        if (ngx_http_parse_multi_header_lines(r, r->headers_in.cookie,
                                              &name, &v)
            == NULL)
        {
            v.len = 0;
        }
#else
        if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &name,
                                              &v)
            == NGX_DECLINED)
        {
            v.len = 0;
        }
#endif
    }

    if (v.len == 0 || v.len >= len) {
        return;
    }

    ngx_memcpy(buf, v.data, v.len);
    buf[v.len] = '\0';

    if (tk_lsn_parse(buf, &lsn) != TK_OK) {
        buf[0] = '\0';
    }
}


ngx_int_t
ngx_http_tickets_fleet_lsn_headers(ngx_http_request_t *r, const char *lsn)
{
    size_t            len;
    u_char           *cookie, *p;
    ngx_table_elt_t  *h;

    len = ngx_strlen(lsn);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Tickets-LSN");
    h->value.data = (u_char *) lsn;
    h->value.len = len;

    cookie = ngx_pnalloc(r->pool, len + 80);
    if (cookie == NULL) {
        return NGX_ERROR;
    }

    /* five minutes: far longer than any replica may lag and be used */
    p = ngx_sprintf(cookie, "tickets_lsn=%s; Path=/; Max-Age=300; HttpOnly;"
                    " SameSite=Lax", lsn);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Set-Cookie");
    h->value.data = cookie;
    h->value.len = p - cookie;

    return NGX_OK;
}


void
ngx_http_tickets_fleet_min_lsn(const char *principal,
    const char *client_lsn, char *buf, size_t len)
{
    uint64_t       mine, host;
    ngx_atomic_t  *slot;

    mine = 0;
    if (client_lsn[0] && tk_lsn_parse(client_lsn, &mine) != TK_OK) {
        mine = 0;
    }

    slot = ngx_http_tickets_fleet_slot(principal);
    host = slot ? (uint64_t) *slot : 0;

    if (host > mine) {
        mine = host;
    }

    if (mine == 0) {
        buf[0] = '\0';
        return;
    }

    *ngx_snprintf((u_char *) buf, len - 1, "%uXD/%uXD",
                  (uint32_t) (mine >> 32), (uint32_t) mine) = '\0';
}


void
ngx_http_tickets_fleet_wrote(const char *principal, const char *lsn)
{
    uint64_t           v;
    ngx_atomic_t      *slot;
    ngx_atomic_uint_t  old;

    slot = ngx_http_tickets_fleet_slot(principal);
    if (slot == NULL || tk_lsn_parse(lsn, &v) != TK_OK) {
        return;
    }

    for ( ;; ) {
        old = *slot;

        if ((uint64_t) old >= v
            || ngx_atomic_cmp_set(slot, old, (ngx_atomic_uint_t) v))
        {
            return;
        }
    }
}


static int64_t
ngx_http_tickets_fleet_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


tk_conn_t *
ngx_http_tickets_fleet_replica(const char *conninfo, int prepared,
    const char *min_lsn, ngx_msec_t max_lag)
{
    int          rc;
    int64_t      now;
    tk_result_t  res;

    now = ngx_http_tickets_fleet_now();

    if (now < ngx_http_tickets_rconn_down_until) {
        return NULL;
    }

    if (ngx_http_tickets_rconn != NULL
        && ngx_strcmp(ngx_http_tickets_rconn_info, conninfo) != 0)
    {
        tk_conn_close(ngx_http_tickets_rconn);
        ngx_http_tickets_rconn = NULL;
    }

    if (ngx_http_tickets_rconn == NULL) {
        if (tk_conn_open(&ngx_http_tickets_rconn, conninfo) != TK_OK) {
            return NULL;
        }

        ngx_http_tickets_rconn_info = (char *) conninfo;
    }

    tk_conn_set_prepared(ngx_http_tickets_rconn, prepared);

    tk_result_init(&res);
    rc = tk_conn_replica_check(ngx_http_tickets_rconn,
                               min_lsn[0] ? min_lsn : NULL,
                               (int64_t) max_lag, &res);

    if (rc != TK_OK && res.retry_after) {
        /* unreachable (not merely behind): leave it alone for a while */
        ngx_http_tickets_rconn_down_until = now
                                            + NGX_HTTP_TICKETS_REPLICA_BACKOFF;
    }

    tk_result_clear(&res);

    return rc == TK_OK ? ngx_http_tickets_rconn : NULL;
}
