
/*
 * The requests whose task runs in the thread pool, as the worker's event
 * loop sees them: what keeps an exiting worker until they are answered,
 * and the cancellation of those whose client went away.
 */


#ifndef _NGX_HTTP_TICKETS_INFLIGHT_H_INCLUDED_
#define _NGX_HTTP_TICKETS_INFLIGHT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <tickets.h>


/*
 * When a request's task is posted and when it is done.  While one is in
 * flight the worker holds a timer that is not cancelable: a worker that
 * exits (reload, graceful stop) waits for the tasks, their requests are
 * answered, and then it goes (ngx_event_no_timers_left()).
 */
void ngx_http_tickets_inflight_add(void);
void ngx_http_tickets_inflight_done(void);

/*
 * In the event loop: the handle is marked cancelled at once, and the
 * statement its connection runs is interrupted by the module's cancel
 * thread (PQcancel blocks: never in the event loop).
 */
void ngx_http_tickets_cancel_post(tk_cancel_t *cancel, ngx_log_t *log);


#endif /* _NGX_HTTP_TICKETS_INFLIGHT_H_INCLUDED_ */
