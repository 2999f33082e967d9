/*
 * Internal: the SLA of a ticket (SPEC 4, SLA; docs/sla.md), computed by
 * the SQL functions of sql/003_sla.sql inside the caller's transaction.
 * The caller writes the history and bumps the version (tk__ticket_touch).
 *
 *   create             insert the ticket (with its manual DueDate, if
 *                      any), then tk__sla_apply(id, SLAId or NULL)
 *   priority, category or client changed, or an explicit SLAId:
 *                      tk__sla_apply(id, SLAId or NULL)
 *   status changed     tk__sla_status_changed(id), after the new status
 *                      (and resolvedOn/closedOn) is written
 */

#ifndef TK_SLA_H
#define TK_SLA_H

#include "tickets.h"


/*
 * Re-selects the policy of the ticket (explicit_sla_id wins; NULL or ""
 * for none) and recomputes dueDate and responseDueDate from createdOn and
 * the pauses so far; a manual dueDate stands when no policy applies.  The
 * SLA clock first follows the ticket's status, as tk__sla_status_changed.
 * TK_OK; TK_ENOTFOUND for no such ticket; TK_EINVAL for an explicit id
 * that is not a policy's; TK_EUNAVAIL or TK_EINTERNAL.
 */
int tk__sla_apply(tk_conn_t *c, const char *ticket_id,
    const char *explicit_sla_id, tk_result_t *res);

/*
 * Pauses the SLA clock when the ticket's status type is OnHold or Pending
 * (and the setting sla_pause_on_hold is on), resumes it when it is any
 * other, moving the due dates later by the paused time.  TK_OK;
 * TK_ENOTFOUND for no such ticket; TK_EUNAVAIL or TK_EINTERNAL.
 */
int tk__sla_status_changed(tk_conn_t *c, const char *ticket_id,
    tk_result_t *res);


#endif /* TK_SLA_H */
