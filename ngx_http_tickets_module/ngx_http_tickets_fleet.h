
/*
 * Replicas and read-your-writes for ngx_http_tickets_module
 * (docs/scale.md): the second connection of each pool thread, the host's
 * table of each principal's last write LSN in shared memory, and the
 * X-Tickets-LSN header and cookie.
 */


#ifndef _NGX_HTTP_TICKETS_FLEET_H_INCLUDED_
#define _NGX_HTTP_TICKETS_FLEET_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <tickets.h>


#define NGX_HTTP_TICKETS_LSN_LEN  32


/* postconfiguration: the shared table of the last write LSNs */
ngx_int_t ngx_http_tickets_fleet_init(ngx_conf_t *cf);

/* In the event loop: the LSN the client echoes (X-Tickets-LSN, else the
 * tickets_lsn cookie) into buf, "" when none or not an LSN. */
void ngx_http_tickets_fleet_client_lsn(ngx_http_request_t *r, char *buf,
    size_t len);
/* In the event loop: X-Tickets-LSN and the cookie on a write's answer */
ngx_int_t ngx_http_tickets_fleet_lsn_headers(ngx_http_request_t *r,
    const char *lsn);

/*
 * In a pool thread.  The LSN a read of this principal must see: the
 * newest of the client's and of the host's table ("" when none).
 */
void ngx_http_tickets_fleet_min_lsn(const char *principal,
    const char *client_lsn, char *buf, size_t len);
/* keeps a write's LSN for its principal */
void ngx_http_tickets_fleet_wrote(const char *principal, const char *lsn);
/*
 * The thread's connection to the replicas when it may serve a read that
 * must see min_lsn and lags max_lag ms at most; NULL when the read goes to
 * the primary.  A replica that could not be reached is not tried again for
 * a second.
 */
tk_conn_t *ngx_http_tickets_fleet_replica(const char *conninfo,
    int prepared, const char *min_lsn, ngx_msec_t max_lag);


#endif /* _NGX_HTTP_TICKETS_FLEET_H_INCLUDED_ */
