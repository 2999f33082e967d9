/*
 * The lookups that populate ticket forms: metadata (sections 13 of the
 * seed) and appmetadata (14), each one statement building the JSON.
 */

#include <stdio.h>

#include "db.h"
#include "result.h"
#include "ticket.h"


/* A JSON array of rows of table, [] when there is none. */
#define TK__LIST(key, fields, table, order)                                  \
    "'" key "', (SELECT coalesce(json_agg(json_build_object(" fields ")"     \
    " ORDER BY " order "), '[]') FROM " table ")"

/* The keys both answers share, in the order of the seed. */
#define TK__META_HEAD                                                        \
    TK__LIST("groups", "'id', id, 'group', name", "groups", "id") ","        \
    TK__LIST("levels", "'id', id, 'title', title", "tier_levels", "id") "," \
    TK__LIST("priorities", "'id', id, 'priority', name", "priorities",      \
             "rank") ","                                                      \
    TK__LIST("categories", "'id', id, 'name', name", "categories", "id")

#define TK__META_TAIL                                                        \
    TK__LIST("status", "'id', id, 'status', name, 'statusType', status_type",\
             "statuses", "id") ","                                            \
    TK__LIST("clients", "'id', id, 'name', name", "clients", "id") ","      \
    TK__LIST("sites", "'id', id, 'title', title", "sites", "id") ","        \
    TK__LIST("departments", "'id', id, 'title', title", "departments", "id")

#define TK__USER_FIELDS  "'id', u.id, 'fullName', u.full_name, " \
                         "'userName', u.user_name"

static const tk__stmt_t  tk__appmetadata_stmt = {
    "tk_appmetadata",
    "SELECT json_build_object(" TK__META_HEAD "," TK__META_TAIL ")",
    0
};

/*
 * $1 the ticket id or NULL, $2 the Member's user id or NULL.  With a
 * ticket: no row when it is not there for this principal; lists scoped to
 * its category, subcategory and group; no requesters.  Nothing in these
 * objects is ever null, so json_strip_nulls drops only "requesters".
 */
static const tk__stmt_t  tk__metadata_stmt = {
    "tk_metadata",
    "WITH t AS (SELECT category_id, subcategory_id, group_id FROM tickets"
    " WHERE id = $1::bigint AND NOT is_deleted"
    " AND ($2::text IS NULL OR requester_id = $2))"
    " SELECT json_strip_nulls(json_build_object(" TK__META_HEAD ","
    TK__LIST("sub_categories", "'id', id, 'name', name", "subcategories"
             " WHERE $1 IS NULL OR category_id = (SELECT category_id"
             " FROM t)", "id") ","
    TK__LIST("items", "'id', id, 'name', name", "items"
             " WHERE $1 IS NULL OR subcategory_id = (SELECT subcategory_id"
             " FROM t)", "id") ","
    TK__META_TAIL ","
    TK__LIST("technicians", TK__USER_FIELDS, "users u"
             " WHERE u.is_active AND u.role IN ('Admin', 'Technician')"
             " AND ($1 IS NULL OR (SELECT group_id FROM t) IS NULL"
             " OR EXISTS (SELECT FROM group_members m"
             " WHERE m.user_id = u.id"
             " AND m.group_id = (SELECT group_id FROM t)))", "u.id") ","
    " 'requesters', CASE WHEN $1 IS NULL THEN (SELECT"
    " coalesce(json_agg(json_build_object(" TK__USER_FIELDS ")"
    " ORDER BY u.id), '[]') FROM users u"
    " WHERE u.is_active AND u.role <> 'Integration'"
    " AND ($2::text IS NULL OR u.id = $2)) END))"
    " WHERE $1 IS NULL OR EXISTS (SELECT FROM t)",
    2
};


int
tk_appmetadata(tk_conn_t *c, const tk_principal_t *p, tk_result_t *res)
{
    PGresult  *r;

    r = tk__exec(c, &tk__appmetadata_stmt, NULL, res);
    if (r == NULL) {
        return res->code;
    }

    if (tk__take_body(r, res) != TK_OK) {
        return res->code;
    }

    res->code = TK_OK;
    return TK_OK;
}


/* id 0: no ticket context */
int
tk_metadata(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    tk_result_t *res)
{
    if (id < 0) {
        return tk__fail(res, TK_ENOTFOUND, "no ticket %lld", (long long) id);
    }

    return tk__ticket_read(c, p, id, &tk__metadata_stmt, res);
}
