/*
 * The integration API: a ticket created for a requester named by user name
 * or email (seed 15), and the latest tickets of a user (seed 16).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "assign.h"
#include "db.h"
#include "idem.h"
#include "model.h"
#include "result.h"
#include "settings.h"
#include "sla.h"
#include "ticket.h"
#include "upload.h"
#include "valid.h"


#define TK__LIST_PAGE_SIZE  25
#define TK__STR(x)          #x
#define TK__XSTR(x)         TK__STR(x)


/* The id setting key names, when it names a row of table; else NULL. */
#define TK__DEFAULT(table, key)                                               \
    "(SELECT x.id FROM " table " x WHERE x.id = (SELECT CASE WHEN value"      \
    " ~ '^[0-9]{1,9}$' THEN value::int END FROM settings"                     \
    " WHERE key = '" key "'))"


/*
 * The ids of ICreateTicketVM in the order of the parameters of the
 * statements below.  notnull: the ticket cannot be without one, so an
 * omitted field without a default is required.
 */
typedef struct {
    const char  *name;
    int          notnull;
} tk__new_id_t;

static const tk__new_id_t  tk__new_ids[] = {
    { "TierLevelId", 0 },
    { "GroupId", 0 },
    { "SiteId", 1 },
    { "DepartmentId", 1 },
    { "ClientId", 0 },
    { "TicketStatusId", 1 },
    { "TicketPriorityId", 0 },
    { "TicketCategoryId", 0 }
};

#define TK__NEW_NIDS  (sizeof(tk__new_ids) / sizeof(tk__new_ids[0]))

/* what makes two requests the same for an Idempotency-Key */
static const char *const  tk__new_fields[] = {
    "Title", "Description", "Requester", "Email", "TierLevelId", "GroupId",
    "SiteId", "DepartmentId", "ClientId", "TicketStatusId",
    "TicketPriorityId", "TicketCategoryId", NULL
};

/*
 * $1 Requester, $2 Email, $3.. the ids.  One row: the requester's id (by
 * user name, else by email; NULL when neither names a user), then each id
 * as the ticket will have it: the given one when it exists, the default
 * when it was omitted (the setting, or for the department the lowest id),
 * NULL otherwise.
 */
static const tk__stmt_t  tk__new_check_stmt = {
    "tk_new_check",
    "SELECT coalesce((SELECT id FROM users"
    " WHERE lower(user_name) = lower($1::text)),"
    " (SELECT id FROM users WHERE lower(email) = lower($2::text)"
    " ORDER BY is_active DESC, created_on, id LIMIT 1)),"
    " CASE WHEN $3::int IS NULL"
    " THEN " TK__DEFAULT("tier_levels", "default_tier_level_id")
    " ELSE (SELECT id FROM tier_levels WHERE id = $3) END,"
    " (SELECT id FROM groups WHERE id = $4::int),"
    " CASE WHEN $5::int IS NULL"
    " THEN " TK__DEFAULT("sites", "default_site_id")
    " ELSE (SELECT id FROM sites WHERE id = $5) END,"
    " CASE WHEN $6::int IS NULL THEN (SELECT min(id) FROM departments)"
    " ELSE (SELECT id FROM departments WHERE id = $6) END,"
    " (SELECT id FROM clients WHERE id = $7::int),"
    " CASE WHEN $8::int IS NULL"
    " THEN " TK__DEFAULT("statuses", "default_status_id")
    " ELSE (SELECT id FROM statuses WHERE id = $8) END,"
    " CASE WHEN $9::int IS NULL"
    " THEN " TK__DEFAULT("priorities", "default_priority_id")
    " ELSE (SELECT id FROM priorities WHERE id = $9) END,"
    " CASE WHEN $10::int IS NULL"
    " THEN " TK__DEFAULT("categories", "default_category_id")
    " ELSE (SELECT id FROM categories WHERE id = $10) END",
    2 + TK__NEW_NIDS
};

/*
 * The ticket with its history row.  $1 Title, $2 Description, $3 the
 * requester, $4 the principal, $5.. the ids as above.  Its SLA comes
 * after, from tk__sla_apply(), as for every ticket.
 */
static const tk__stmt_t  tk__new_insert_stmt = {
    "tk_new_insert",
    "WITH t AS ("
    " INSERT INTO tickets (title, description, ticket_type, source,"
    " requester_id, created_by_id, tier_level_id, group_id, site_id,"
    " department_id, client_id, status_id, priority_id, category_id)"
    " VALUES ($1::text, $2::text, 0, 1, $3::text, $4::text, $5::int,"
    " $6::int, $7::int, $8::int, $9::int, $10::int, $11::int, $12::int)"
    " RETURNING id, title"
    "), h AS ("
    " INSERT INTO history (ticket_id, field, new_value, changed_by_id)"
    " SELECT id, 'Created', title, $4::text FROM t"
    ")"
    " SELECT id FROM t",
    4 + TK__NEW_NIDS
};


/*
 * $1 user name, $2 the offset, $3 a Member's own id (NULL for others).
 * One row: the page (of a Member, only their own tickets), and whether
 * the principal may list the user's tickets at all.
 */
static const tk__stmt_t  tk__list_by_user_stmt = {
    "tk_list_by_user",
    "SELECT (SELECT coalesce(json_agg(q.m ORDER BY q.created_on DESC,"
    " q.id DESC), '[]')"
    " FROM (SELECT " TK__TICKET_MODEL " AS m, t.created_on, t.id"
    " FROM tickets t JOIN statuses s ON s.id = t.status_id"
    " WHERE t.requester_id = (SELECT id FROM users"
    " WHERE lower(user_name) = lower($1::text))"
    " AND NOT t.is_deleted AND ($3::text IS NULL OR t.requester_id = $3)"
    " ORDER BY t.created_on DESC, t.id DESC"
    " LIMIT " TK__XSTR(TK__LIST_PAGE_SIZE) " OFFSET $2::bigint) q),"
    " $3::text IS NULL OR EXISTS (SELECT FROM users"
    " WHERE id = $3 AND lower(user_name) = lower($1::text))",
    3
};


/* The parameters of the insert, in its order. */
enum {
    TK__NEW_TITLE = 0,
    TK__NEW_DESCRIPTION,
    TK__NEW_REQUESTER,
    TK__NEW_PRINCIPAL,
    TK__NEW_IDS,
    TK__NEW_NPARAMS = TK__NEW_IDS + TK__NEW_NIDS
};

typedef struct {
    const char  *v[TK__NEW_NPARAMS];
    char         num[TK__NEW_NIDS][24];
    char         requester[64];
} tk__new_t;


/*
 * The form, checked, into the parameters of the insert.  Every field is
 * reported at once: what the form gets wrong, then what only the
 * database knows of the rest.
 */
static int
tk__new_validate(tk_conn_t *c, const tk_form_t *form, tk__new_t *nt,
    tk_result_t *res)
{
    const char     *cv[2 + TK__NEW_NIDS];
    const char     *raw, *col;
    PGresult       *r;
    cJSON          *errors = NULL;
    int64_t         id;
    size_t          i;
    char            echo[68], echo2[68];
    unsigned char   bad[TK__NEW_NIDS];
    int             rc = TK_OK;

    memset(cv, 0, sizeof(cv));
    memset(bad, 0, sizeof(bad));

    rc |= tk__text_field(form, "Title", 1, 255, &nt->v[TK__NEW_TITLE],
                         &errors);
    rc |= tk__text_field(form, "Description", 1, 0,
                         &nt->v[TK__NEW_DESCRIPTION], &errors);
    rc |= tk__text_field(form, "Requester", 1, 0, &cv[0], &errors);
    rc |= tk__text_field(form, "Email", 0, 0, &cv[1], &errors);

    for (i = 0; i < TK__NEW_NIDS; i++) {
        raw = tk_form_get(form, tk__new_ids[i].name);
        if (tk__blank(raw)) {
            continue;
        }
        if (tk__parse_id(raw, INT32_MAX, &id) != TK_OK) {
            bad[i] = 1;
            rc |= tk__error_add(&errors, tk__new_ids[i].name,
                                "The value '%s' is not valid for %s.",
                                tk__echo(raw, strlen(raw), echo),
                                tk__new_ids[i].name);
            continue;
        }
        snprintf(nt->num[i], sizeof(nt->num[i]), "%lld", (long long) id);
        cv[2 + i] = nt->num[i];
    }

    if (rc != TK_OK) {
        cJSON_Delete(errors);
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    r = tk__exec(c, &tk__new_check_stmt, cv, res);
    if (r == NULL) {
        cJSON_Delete(errors);
        return res->code;
    }

    col = tk__val(r, 0, 0);
    if (col != NULL && strlen(col) < sizeof(nt->requester)) {
        memcpy(nt->requester, col, strlen(col) + 1);
        nt->v[TK__NEW_REQUESTER] = nt->requester;

    } else if (cv[0] != NULL && cv[1] != NULL) {
        rc |= tk__error_add(&errors, "Requester", "No user has the user name "
                            "'%s' or the email '%s'.",
                            tk__echo(cv[0], strlen(cv[0]), echo),
                            tk__echo(cv[1], strlen(cv[1]), echo2));
    } else if (cv[0] != NULL) {
        rc |= tk__error_add(&errors, "Requester",
                            "No user has the user name '%s'.",
                            tk__echo(cv[0], strlen(cv[0]), echo));
    }

    for (i = 0; i < TK__NEW_NIDS; i++) {
        col = tk__val(r, 0, (int) i + 1);

        if (bad[i]) {
            continue;

        } else if (col != NULL) {
            snprintf(nt->num[i], sizeof(nt->num[i]), "%s", col);
            nt->v[TK__NEW_IDS + i] = nt->num[i];

        } else if (cv[2 + i] != NULL) {
            rc |= tk__error_add(&errors, tk__new_ids[i].name,
                                "Unknown %s %s.", tk__new_ids[i].name,
                                cv[2 + i]);

        } else if (tk__new_ids[i].notnull) {
            /* omitted, and no default to take its place */
            rc |= tk__error_add(&errors, tk__new_ids[i].name,
                                "The %s field is required.",
                                tk__new_ids[i].name);
        }
    }

    PQclear(r);

    if (rc != TK_OK) {
        cJSON_Delete(errors);
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    return errors != NULL ? tk__errors_answer(&errors, res) : TK_OK;
}


/* The ticket, its uploads and the key's answer, in one transaction. */
static int
tk__new_store(tk_conn_t *c, const tk_principal_t *p, const tk_form_t *form,
    tk__new_t *nt, const char *key, const char *sha, tk_result_t *res)
{
    PGresult  *r;
    int64_t    id;
    int        on;
    char       ids[24];

    if (tk__write_begin(c, p, key, sha, res) != 0) {
        return res->code;
    }

    nt->v[TK__NEW_PRINCIPAL] = p->user_id;

    r = tk__exec(c, &tk__new_insert_stmt, nt->v, res);
    if (r == NULL) {
        goto failed;
    }

    snprintf(ids, sizeof(ids), "%s", tk__val(r, 0, 0) ? tk__val(r, 0, 0)
                                                      : "0");
    PQclear(r);
    id = strtoll(ids, NULL, 10);

    if (tk__sla_apply(c, ids, NULL, res) != TK_OK
        || tk__uploads_store(c, p, form, ids, NULL, res) != TK_OK
        || tk__setting_bool(c, "auto_assign_on_create", 0, &on, res) != TK_OK
        || (on && tk__auto_assign(c, ids, p->user_id, res) != TK_OK)
        || tk__ticket_json(c, p, id, res) != TK_OK)
    {
        goto failed;
    }

    res->id = id;
    res->code = TK_CREATED;
    return tk__write_commit(c, p, key, res);

failed:

    return tk__write_failed(c, res);
}


int
tk_ticket_new(tk_conn_t *c, const tk_principal_t *p, const tk_form_t *form,
    const char *idempotency_key, tk_result_t *res)
{
    tk__new_t  nt;
    char       sha[65];

    if (tk__write_replay(c, p, idempotency_key, "new", form, tk__new_fields,
                         sha, res) != 0)
    {
        return res->code;
    }

    memset(&nt, 0, sizeof(nt));

    if (tk__new_validate(c, form, &nt, res) != TK_OK) {
        return res->code;
    }

    if (p->role == TK_ROLE_MEMBER
        && strcmp(nt.v[TK__NEW_REQUESTER], p->user_id) != 0)
    {
        return tk__fail(res, TK_EFORBIDDEN,
                        "a Member may create tickets only for themselves");
    }

    return tk__new_store(c, p, form, &nt, idempotency_key,
                         idempotency_key != NULL ? sha : NULL, res);
}


int
tk_ticket_list_by_user(tk_conn_t *c, const tk_principal_t *p,
    const tk_form_t *form, tk_result_t *res)
{
    const char  *v[3];
    const char  *name, *page, *allowed;
    PGresult    *r;
    cJSON       *errors = NULL;
    int64_t      n = 1;
    char         offset[32], echo[68];
    int          rc = TK_OK;

    if (tk__text_field(form, "username", 1, 0, &name, &errors) != TK_OK) {
        rc = TK_ENOMEM;
    }

    page = tk_form_get(form, "page");
    if (!tk__blank(page) && tk__parse_id(page, INT32_MAX, &n) != TK_OK) {
        rc |= tk__error_add(&errors, "page", "The value '%s' is not valid "
                            "for page.", tk__echo(page, strlen(page), echo));
    }

    if (rc != TK_OK) {
        cJSON_Delete(errors);
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    if (errors != NULL) {
        return tk__errors_answer(&errors, res);
    }

    snprintf(offset, sizeof(offset), "%lld",
             (long long) (n - 1) * TK__LIST_PAGE_SIZE);
    v[0] = name;
    v[1] = offset;
    v[2] = p->role == TK_ROLE_MEMBER ? p->user_id : NULL;

    r = tk__exec(c, &tk__list_by_user_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    allowed = tk__val(r, 0, 1);
    if (allowed == NULL || allowed[0] != 't') {
        PQclear(r);
        return tk__fail(res, TK_EFORBIDDEN,
                        "a Member may list only their own tickets");
    }

    if (tk__take_body(r, res) != TK_OK) {
        return res->code;
    }

    res->code = TK_OK;
    return TK_OK;
}
