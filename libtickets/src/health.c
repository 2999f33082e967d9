/*
 * GET /api/health: the database answers, or it does not.
 */

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "result.h"


static const tk__stmt_t  tk__health_stmt = {
    "tk_health",
    "SELECT 1",
    0
};


int
tk_health(tk_conn_t *c, tk_result_t *res)
{
    static const char  ok[] = "{\"status\":\"ok\"}";
    PGresult          *r;

    r = tk__exec(c, &tk__health_stmt, NULL, res);
    if (r == NULL) {
        /* whatever went wrong, the database is not answering as it should */
        res->code = TK_EUNAVAIL;
        return TK_EUNAVAIL;
    }
    PQclear(r);

    free(res->body);
    res->body = malloc(sizeof(ok));
    if (res->body == NULL) {
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    memcpy(res->body, ok, sizeof(ok));
    res->body_len = sizeof(ok) - 1;
    res->code = TK_OK;
    return TK_OK;
}
