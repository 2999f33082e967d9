/*
 * The SLA of a ticket: thin wrappers of sla_apply and sla_pause_update
 * (sql/003_sla.sql), which hold the rules and the calendar arithmetic.
 */

#include <stddef.h>
#include <string.h>

#include "db.h"
#include "result.h"
#include "sla.h"


static const tk__stmt_t  tk__sla_apply_stmt = {
    "tk_sla_apply",
    "SELECT sla_id FROM sla_apply($1::bigint, $2::integer)",
    2
};

static const tk__stmt_t  tk__sla_pause_stmt = {
    "tk_sla_pause_update",
    "SELECT sla_pause_update($1::bigint)",
    1
};


int
tk__sla_apply(tk_conn_t *c, const char *ticket_id,
    const char *explicit_sla_id, tk_result_t *res)
{
    const char  *v[2];
    const char  *state;
    PGresult    *r;

    v[0] = ticket_id;
    v[1] = explicit_sla_id != NULL && explicit_sla_id[0] != '\0'
           ? explicit_sla_id : NULL;

    r = tk__exec(c, &tk__sla_apply_stmt, v, res);
    if (r == NULL) {
        state = tk__sqlstate(c);

        /* not an integer, or no such policy (the foreign key) */
        if (v[1] != NULL
            && (strncmp(state, "22", 2) == 0 || strcmp(state, "23503") == 0))
        {
            return tk__fail(res, TK_EINVAL, "no SLA policy %s", v[1]);
        }

        return res->code;
    }

    if (PQntuples(r) == 0) {
        PQclear(r);
        return tk__fail(res, TK_ENOTFOUND, "no ticket %s", ticket_id);
    }

    PQclear(r);
    return TK_OK;
}


int
tk__sla_status_changed(tk_conn_t *c, const char *ticket_id,
    tk_result_t *res)
{
    const char  *v[1];
    PGresult    *r;

    v[0] = ticket_id;

    r = tk__exec(c, &tk__sla_pause_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (tk__val(r, 0, 0) == NULL) {
        PQclear(r);
        return tk__fail(res, TK_ENOTFOUND, "no ticket %s", ticket_id);
    }

    PQclear(r);
    return TK_OK;
}
