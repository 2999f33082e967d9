/*
 * The tasks of a ticket: list, create, complete (SPEC 3, beyond the seed).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "db.h"
#include "idem.h"
#include "model.h"
#include "result.h"
#include "ticket.h"
#include "valid.h"



/* The task k as the API shows one. */
#define TK__TASK_JSON                                                         \
    "json_build_object('id', k.id, 'ticketId', k.ticket_id,"                  \
    " 'title', k.title,"                                                      \
    " 'assignedUser', " TK__PERSON("k.assigned_user_id") ","                  \
    " 'dueDate', iso_utc(k.due_date), 'isCompleted', k.is_completed,"         \
    " 'completedOn', iso_utc(k.completed_on),"                                \
    " 'completedBy', " TK__PERSON("k.completed_by_id") ","                    \
    " 'createdBy', " TK__PERSON("k.created_by_id") ","                        \
    " 'createdOn', iso_utc(k.created_on))"


/* $1 the ticket, $2 a Member's id (NULL for staff): no row, no ticket. */
static const tk__stmt_t  tk__task_list_stmt = {
    "tk_task_list",
    "SELECT (SELECT coalesce(json_agg(" TK__TASK_JSON " ORDER BY k.id),"
    " '[]') FROM tasks k WHERE k.ticket_id = t.id)"
    " FROM tickets t WHERE t.id = $1::bigint AND NOT t.is_deleted"
    " AND ($2::text IS NULL OR t.requester_id = $2)",
    2
};

/*
 * $1 the ticket, $2 Title, $3 AssignedUser, $4 DueDate, $5 the principal.
 * No row when the assignee is not an active Admin or Technician.
 */
static const tk__stmt_t  tk__task_insert_stmt = {
    "tk_task_insert",
    "WITH k AS ("
    " INSERT INTO tasks (ticket_id, title, assigned_user_id, due_date,"
    " created_by_id)"
    " SELECT $1::bigint, $2::text, $3::text, $4::timestamptz, $5::text"
    " WHERE $3::text IS NULL OR EXISTS (SELECT FROM users WHERE id = $3"
    " AND is_active AND role IN ('Admin', 'Technician'))"
    " RETURNING *"
    ")"
    " SELECT " TK__TASK_JSON " FROM k",
    5
};

static const tk__stmt_t  tk__task_ticket_stmt = {
    "tk_task_ticket",
    "SELECT ticket_id FROM tasks WHERE id = $1::bigint",
    1
};

/*
 * Under the lock of the task's ticket, which every change of its tasks
 * takes: $1 the task, $2 the principal, $3 whether they hold
 * Tickets.Update.  One row: the title, whether the principal may complete
 * it, whether it was completed before, whether this completed it.
 */
static const tk__stmt_t  tk__task_complete_stmt = {
    "tk_task_complete",
    "WITH k AS ("
    " SELECT id, title, is_completed,"
    " $3::boolean OR coalesce(assigned_user_id = $2::text, false) AS allowed"
    " FROM tasks WHERE id = $1::bigint"
    "), c AS ("
    " UPDATE tasks x SET is_completed = true, completed_on = now(),"
    " completed_by_id = $2::text"
    " FROM k WHERE x.id = k.id AND k.allowed AND NOT k.is_completed"
    " RETURNING x.id"
    ")"
    " SELECT k.title, k.allowed, k.is_completed, EXISTS (SELECT FROM c)"
    " FROM k",
    3
};

/* what makes two requests the same for an Idempotency-Key */
static const char *const  tk__task_fields[] = {
    "Title", "AssignedUser", "DueDate", NULL
};


int
tk_task_list(tk_conn_t *c, const tk_principal_t *p, int64_t ticket_id,
    tk_result_t *res)
{
    if (ticket_id <= 0) {
        return tk__fail(res, TK_ENOTFOUND, "no ticket %lld",
                        (long long) ticket_id);
    }

    return tk__ticket_read(c, p, ticket_id, &tk__task_list_stmt, res);
}


/*
 * The form of a new task: v[1] Title, v[2] AssignedUser, v[3] DueDate
 * (normalized into due).
 */
static int
tk__task_validate(const tk_form_t *form, const char **v, char due[40],
    tk_result_t *res)
{
    const char  *s;
    cJSON       *errors = NULL;
    long         n;
    char         echo[68];
    int          rc = TK_OK;

    s = tk_form_get(form, "Title");
    if (tk__blank(s)) {
        rc |= tk__error_add(&errors, "Title", "The Title field is required.");
    } else if ((n = tk__utf8_count(s)) < 0) {
        rc |= tk__error_add(&errors, "Title",
                            "The field Title contains invalid UTF-8.");
    } else if (n > 255) {
        rc |= tk__error_add(&errors, "Title", "The field Title must be a "
                            "string with a maximum length of 255.");
    } else {
        v[1] = s;
    }

    s = tk_form_get(form, "AssignedUser");
    if (!tk__blank(s)) {
        if (tk__utf8_count(s) < 0) {
            rc |= tk__error_add(&errors, "AssignedUser", "The field "
                                "AssignedUser contains invalid UTF-8.");
        } else {
            v[2] = s;
        }
    }

    s = tk_form_get(form, "DueDate");
    if (!tk__blank(s)) {
        if (tk__parse_datetime(s, due) != TK_OK) {
            rc |= tk__error_add(&errors, "DueDate", "The value '%s' is not "
                                "valid for DueDate.",
                                tk__echo(s, strlen(s), echo));
        } else {
            v[3] = due;
        }
    }

    if (rc != TK_OK) {
        cJSON_Delete(errors);
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    return errors != NULL ? tk__errors_answer(&errors, res) : TK_OK;
}


/* The task with its history row, in one transaction. */
static int
tk__task_store(tk_conn_t *c, const tk_principal_t *p, int64_t ticket_id,
    const char **v, const char *key, const char *sha, tk_result_t *res)
{
    tk__ticket_row_t   t;
    PGresult          *r;
    cJSON             *errors = NULL;
    char               echo[68];
    int                rc;

    if (tk__write_begin(c, p, key, sha, res) != 0) {
        return res->code;
    }

    if (tk__ticket_lock(c, p, ticket_id, &t, res) != TK_OK) {
        goto failed;
    }

    r = tk__exec(c, &tk__task_insert_stmt, v, res);
    if (r == NULL) {
        goto failed;
    }

    if (PQntuples(r) == 0) {
        PQclear(r);
        tk__rollback(c);
        rc = tk__error_add(&errors, "AssignedUser", "AssignedUser %s is not "
                           "an active Admin or Technician.",
                           tk__echo(v[2], strlen(v[2]), echo));
        if (rc != TK_OK) {
            cJSON_Delete(errors);
            return tk__fail(res, TK_ENOMEM, "out of memory");
        }
        return tk__errors_answer(&errors, res);
    }

    if (tk__take_body(r, res) != TK_OK
        || tk__history_add(c, t.id, p->user_id, "Task", NULL, v[1], res)
           != TK_OK
        || tk__ticket_touch(c, t.id, res) != TK_OK)
    {
        goto failed;
    }

    res->id = ticket_id;
    res->code = TK_CREATED;
    return tk__write_commit(c, p, key, res);

failed:

    return tk__write_failed(c, res);
}


int
tk_task_create(tk_conn_t *c, const tk_principal_t *p, int64_t ticket_id,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res)
{
    const char  *v[5];
    char         ids[24], due[40], scope[40], sha[65];

    if (!(p->perms & TK_PERM_UPDATE)) {
        return tk__fail(res, TK_EFORBIDDEN, "Tickets.Update is required");
    }

    if (ticket_id <= 0) {
        return tk__fail(res, TK_ENOTFOUND, "no ticket %lld",
                        (long long) ticket_id);
    }

    snprintf(ids, sizeof(ids), "%lld", (long long) ticket_id);

    snprintf(scope, sizeof(scope), "task:%s", ids);
    if (tk__write_replay(c, p, idempotency_key, scope, form, tk__task_fields,
                         sha, res) != 0)
    {
        return res->code;
    }

    memset(v, 0, sizeof(v));
    v[0] = ids;
    v[4] = p->user_id;

    if (tk__task_validate(form, v, due, res) != TK_OK) {
        return res->code;
    }

    return tk__task_store(c, p, ticket_id, v, idempotency_key,
                          idempotency_key != NULL ? sha : NULL, res);
}


int
tk_task_complete(tk_conn_t *c, const tk_principal_t *p, int64_t task_id,
    const char *key, tk_result_t *res)
{
    tk__ticket_row_t   t;
    const char        *v[3];
    PGresult          *r;
    int64_t            ticket_id;
    char               ids[24], title[1024], sha[65], scope[40];
    int                allowed, done, changed;

    if (task_id <= 0) {
        return tk__fail(res, TK_ENOTFOUND, "no task %lld",
                        (long long) task_id);
    }

    snprintf(ids, sizeof(ids), "%lld", (long long) task_id);
    v[0] = ids;

    snprintf(scope, sizeof(scope), "task-complete:%s", ids);
    if (tk__write_replay(c, p, key, scope, NULL, NULL, sha, res) != 0) {
        return res->code;
    }

    r = tk__exec(c, &tk__task_ticket_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }
    ticket_id = tk__val(r, 0, 0) ? strtoll(tk__val(r, 0, 0), NULL, 10) : 0;
    PQclear(r);

    if (ticket_id <= 0) {
        return tk__fail(res, TK_ENOTFOUND, "no task %s", ids);
    }

    if (tk__write_begin(c, p, key, sha, res) != 0) {
        return res->code;
    }

    /* a deleted ticket, or another's for a Member, hides its tasks */
    if (tk__ticket_lock(c, p, ticket_id, &t, res) != TK_OK) {
        tk__rollback(c);
        return res->code == TK_ENOTFOUND
               ? tk__fail(res, TK_ENOTFOUND, "no task %s", ids) : res->code;
    }

    v[1] = p->user_id;
    v[2] = (p->perms & TK_PERM_UPDATE) ? "true" : "false";

    r = tk__exec(c, &tk__task_complete_stmt, v, res);
    if (r == NULL) {
        goto failed;
    }

    if (PQntuples(r) == 0) {
        PQclear(r);
        tk__rollback(c);
        return tk__fail(res, TK_ENOTFOUND, "no task %s", ids);
    }

    snprintf(title, sizeof(title), "%s", tk__val(r, 0, 0));
    allowed = tk__val(r, 0, 1)[0] == 't';
    done = tk__val(r, 0, 2)[0] == 't';
    changed = tk__val(r, 0, 3)[0] == 't';
    PQclear(r);

    if (!allowed) {
        tk__rollback(c);
        return tk__fail(res, TK_EFORBIDDEN, "only the task's assignee or "
                        "Tickets.Update may complete task %s", ids);
    }

    if (done || !changed) {
        /* completed before: nothing changes */
        tk__rollback(c);
        res->code = TK_NO_CONTENT;
        return TK_NO_CONTENT;
    }

    if (tk__history_add(c, t.id, p->user_id, "TaskCompleted", NULL, title,
                        res) != TK_OK
        || tk__ticket_touch(c, t.id, res) != TK_OK)
    {
        goto failed;
    }

    res->code = TK_NO_CONTENT;
    return tk__write_commit(c, p, key, res);

failed:

    return tk__write_failed(c, res);
}
