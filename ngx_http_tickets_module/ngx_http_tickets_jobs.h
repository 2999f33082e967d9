
/*
 * What ngx_http_tickets_module and ngx_http_tickets_jobs_module (the
 * background work: delivery of the outbox, the escalation job) share.
 */


#ifndef _NGX_HTTP_TICKETS_JOBS_H_INCLUDED_
#define _NGX_HTTP_TICKETS_JOBS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <tickets.h>


/*
 * From the merge of each location with "tickets": the jobs use the
 * database and the thread pool of the first one.
 */
ngx_int_t ngx_http_tickets_jobs_target(ngx_conf_t *cf, char *db,
    ngx_thread_pool_t *pool);

/* The database and thread pool of the jobs, for other tasks (the
 * metrics scrape): NGX_DECLINED when no location has "tickets". */
ngx_int_t ngx_http_tickets_jobs_database(char **db, ngx_thread_pool_t **pool);

/* In the event loop, after a write that queued notifications. */
void ngx_http_tickets_jobs_kick(void);

/*
 * In a pool thread: the thread's own PostgreSQL connection to conninfo,
 * opened when needed; NULL when out of memory.  Defined by
 * ngx_http_tickets_module.c, used by the tasks of both modules.
 */
tk_conn_t *ngx_http_tickets_thread_conn(const char *conninfo);


#endif /* _NGX_HTTP_TICKETS_JOBS_H_INCLUDED_ */
