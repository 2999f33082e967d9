
/*
 * ngx_http_tickets_metrics_module: the counters and histograms of the
 * ticket API in a shared memory zone, the "tickets_metrics" handler that
 * shows them in the Prometheus text format, and the $tickets_* variables
 * of the access log.  The hooks below are what ngx_http_tickets_module and
 * ngx_http_tickets_jobs_module call; each takes NULL for "no metrics".
 */


#ifndef _NGX_HTTP_TICKETS_METRICS_H_INCLUDED_
#define _NGX_HTTP_TICKETS_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <tickets.h>


/* What one request spent where; in the request's pool. */
typedef struct {
    uint64_t                    start;
    uint64_t                    queued;
    uint64_t                    run;
    uint64_t                    done;
    tk_conn_stats_t             before;
    tk_conn_stats_t             after;
    u_char                     *user;
    /* 1 + the index of the route in the table; 0: none matched */
    ngx_uint_t                  route;
    ngx_uint_t                  op;
    unsigned                    ran:1;
} ngx_http_tickets_metrics_req_t;


/* monotonic nanoseconds */
uint64_t ngx_http_tickets_metrics_now(void);

/* In the event loop. */
ngx_http_tickets_metrics_req_t *ngx_http_tickets_metrics_begin(
    ngx_http_request_t *r);
void ngx_http_tickets_metrics_route(ngx_http_tickets_metrics_req_t *m,
    ngx_uint_t route, ngx_uint_t op);
void ngx_http_tickets_metrics_user(ngx_http_tickets_metrics_req_t *m,
    char *user);
/* a token refused: why is tk_jwt_verify's reason or the module's own */
void ngx_http_tickets_metrics_refused(ngx_http_request_t *r,
    const char *why);
/* the thread pool's queue was full: the request is answered 503 */
void ngx_http_tickets_metrics_overload(ngx_http_request_t *r);
void ngx_http_tickets_metrics_queued(ngx_http_tickets_metrics_req_t *m);
/* the task is done; code is the library's, login: the token endpoint,
 * auth: the route needs a token */
void ngx_http_tickets_metrics_task_done(ngx_http_request_t *r,
    ngx_http_tickets_metrics_req_t *m, int code, ngx_uint_t login,
    ngx_uint_t auth);

/* In a pool thread: only the fields of m are written. */
void ngx_http_tickets_metrics_task_start(ngx_http_tickets_metrics_req_t *m,
    tk_conn_t *conn);
void ngx_http_tickets_metrics_task_end(ngx_http_tickets_metrics_req_t *m,
    tk_conn_t *conn);

/* The jobs, in the event loop: what a task met on its connection, and a
 * run of the escalation job. */
void ngx_http_tickets_metrics_db(const tk_conn_stats_t *before,
    const tk_conn_stats_t *after);
void ngx_http_tickets_metrics_escalation(ngx_uint_t ok, uint64_t ns,
    ngx_int_t escalated);

/*
 * Defined by ngx_http_tickets_module.c: the pattern of the i-th route and
 * the name of the i-th operation, NULL past the last.
 */
ngx_str_t *ngx_http_tickets_route_pattern(ngx_uint_t i);
const char *ngx_http_tickets_op_name(ngx_uint_t op);


#endif /* _NGX_HTTP_TICKETS_METRICS_H_INCLUDED_ */
