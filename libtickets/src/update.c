/*
 * Tickets: update, history, delete and escalate (SPEC 3.4, 3.12 and
 * "Beyond the seed").
 *
 * A history row names its field as the TicketApiModel does (status,
 * assignee, dueDate, ...) and keeps old and new values as text a person
 * reads: names for lookups, full names for people, ISO 8601 UTC for dates.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "assign.h"
#include "db.h"
#include "idem.h"
#include "outbox.h"
#include "model.h"
#include "result.h"
#include "settings.h"
#include "ticket.h"
#include "valid.h"


/* A person in a history row: the full name, else the user name. */
#define TK__WHO(id)                                                           \
    "(SELECT coalesce(nullif(u.full_name, ''), u.user_name)"                  \
    " FROM users u WHERE u.id = " id ")"

/* The text of a lookup in a history row. */
#define TK__NAME(table, col, id)                                              \
    "(SELECT x." col " FROM " table " x WHERE x.id = " id ")"

#define TK__TYPE_NAME(v)                                                      \
    "(ARRAY['Ticket', 'Problem', 'Incident', 'ServiceRequest', 'Change'])"    \
    "[" v " + 1]"

/* A nullable field: $n NULL is absent (kept), '' is cleared. */
#define TK__SET_INT(n, col)                                                   \
    " CASE WHEN $" n "::text IS NULL THEN o." col                             \
    " ELSE nullif($" n "::text, '')::int END AS " col

/* A checked field: absent, cleared or a row of table. */
#define TK__KNOWN(n, table, col)                                              \
    " (coalesce($" n "::text, '') = '' OR EXISTS (SELECT FROM " table " x"    \
    " WHERE x.id = n0." col "))"

/* A row of the changes: (order, field, old text, new text, changed). */
#define TK__CHANGE(ord, field, col, text_old, text_new)                       \
    " (" ord ", '" field "', " text_old ", " text_new ","                      \
    " o." col " IS DISTINCT FROM n." col ")"

#define TK__CHANGE_NAME(ord, field, col, table, tcol)                         \
    TK__CHANGE(ord, field, col, TK__NAME(table, tcol, "o." col),              \
               TK__NAME(table, tcol, "n." col))

#define TK__CHANGE_DATE(ord, field, col)                                      \
    TK__CHANGE(ord, field, col, "iso_utc(o." col ")", "iso_utc(n." col ")")


/*
 * The fields of TicketUpdateModel, in the order of the parameters $2 to
 * $18 of tk__upd_stmt.
 */
enum {
    TK__U_DUE = 0,
    TK__U_CATEGORY,
    TK__U_SUBCATEGORY,
    TK__U_ITEM,
    TK__U_TYPE,
    TK__U_TIER,
    TK__U_CLIENT,
    TK__U_SITE,
    TK__U_DEPARTMENT,
    TK__U_STATUS,
    TK__U_PRIORITY,
    TK__U_GROUP,
    TK__U_CREATOR,
    TK__U_ASSIGNEE,
    TK__U_SERVICE,
    TK__U_IMPACT,
    TK__U_URGENCY,
    TK__U_NFIELDS
};

typedef enum {
    TK__UK_ID = 0,              /* int, 1..2147483647 */
    TK__UK_STATUS,              /* int; applies only when > 0 */
    TK__UK_USER,
    TK__UK_TYPE,
    TK__UK_DATE
} tk__ukind_t;

typedef struct {
    const char  *name;
    tk__ukind_t  kind;
    int          nullable;      /* sent empty: cleared; else required */
    const char  *unknown;       /* (name, value) when the database says no */
} tk__upd_field_t;

static const tk__upd_field_t  tk__upd_fields[TK__U_NFIELDS] = {
    [TK__U_DUE]         = { "DueDate", TK__UK_DATE, 1, NULL },
    [TK__U_CATEGORY]    = { "TicketCategoryId", TK__UK_ID, 1, NULL },
    [TK__U_SUBCATEGORY] = { "TicketSubCategoryId", TK__UK_ID, 1, NULL },
    [TK__U_ITEM]        = { "ItemId", TK__UK_ID, 1, NULL },
    [TK__U_TYPE]        = { "TicketType", TK__UK_TYPE, 0, NULL },
    [TK__U_TIER]        = { "TierLevelId", TK__UK_ID, 1, NULL },
    [TK__U_CLIENT]      = { "ClientId", TK__UK_ID, 1, NULL },
    [TK__U_SITE]        = { "SiteId", TK__UK_ID, 0, NULL },
    [TK__U_DEPARTMENT]  = { "DepartmentId", TK__UK_ID, 0, NULL },
    [TK__U_STATUS]      = { "TicketStatusId", TK__UK_STATUS, 0, NULL },
    [TK__U_PRIORITY]    = { "TicketPriorityId", TK__UK_ID, 1, NULL },
    [TK__U_GROUP]       = { "GroupId", TK__UK_ID, 1, NULL },
    [TK__U_CREATOR]     = { "CreatorId", TK__UK_USER, 0, NULL },
    [TK__U_ASSIGNEE]    = { "AssignedUser", TK__UK_USER, 1,
                            "%s %s is not an active Admin or Technician." },
    [TK__U_SERVICE]     = { "ServiceId", TK__UK_ID, 1, NULL },
    [TK__U_IMPACT]      = { "ImpactId", TK__UK_ID, 1, NULL },
    [TK__U_URGENCY]     = { "UrgencyId", TK__UK_ID, 1, NULL }
};

static const char *const  tk__ticket_types[] = {
    "Ticket", "Problem", "Incident", "ServiceRequest", "Change"
};

/* One update request, checked and made into parameters. */
typedef struct {
    const char  *val[TK__U_NFIELDS];    /* NULL absent, "" cleared */
    char         num[TK__U_NFIELDS][40];
    cJSON       *errors;
} tk__upd_t;


/*
 * The whole update after the row is locked, in one statement: the new
 * values (o: the ticket as it is, n: as it will be), the checks of what
 * only the database knows, the SLA chosen again when the priority
 * changes, and, only when every check passes and something changes, the
 * ticket and a history row per changed field.  $19 is the principal.
 *
 * Columns: 0-16 the check of each field in enum order, 17 the
 * subcategory fits the category, 18 the item fits the subcategory, 19-21
 * the new category, subcategory and item, 22 rows written, 23 technician
 * changed, 24 its id, 25 its email, 26 its name, 27 every check passed.
 */
static const tk__stmt_t  tk__upd_stmt = {
    "tk_update",
    "WITH o AS ("
    " SELECT t.* FROM tickets t WHERE t.id = $1::bigint"
    "), n0 AS ("
    " SELECT o.id,"
    TK__SET_INT("3", "category_id") ","
    TK__SET_INT("4", "subcategory_id") ","
    TK__SET_INT("5", "item_id") ","
    " coalesce($6::text::smallint, o.ticket_type) AS ticket_type,"
    TK__SET_INT("7", "tier_level_id") ","
    TK__SET_INT("8", "client_id") ","
    " coalesce($9::text::int, o.site_id) AS site_id,"
    " coalesce($10::text::int, o.department_id) AS department_id,"
    " coalesce($11::text::int, o.status_id) AS status_id,"
    TK__SET_INT("12", "priority_id") ","
    TK__SET_INT("13", "group_id") ","
    " coalesce($14::text, o.requester_id) AS requester_id,"
    " CASE WHEN $15::text IS NULL THEN o.assignee_id"
    " ELSE nullif($15::text, '') END AS assignee_id,"
    TK__SET_INT("16", "service_id") ","
    TK__SET_INT("17", "impact_id") ","
    TK__SET_INT("18", "urgency_id")
    " FROM o"
    "), k AS ("
    " SELECT true AS due_ok,"
    TK__KNOWN("3", "categories", "category_id") " AS category_ok,"
    TK__KNOWN("4", "subcategories", "subcategory_id") " AS sub_ok,"
    TK__KNOWN("5", "items", "item_id") " AS item_ok,"
    " true AS type_ok,"
    TK__KNOWN("7", "tier_levels", "tier_level_id") " AS tier_ok,"
    TK__KNOWN("8", "clients", "client_id") " AS client_ok,"
    TK__KNOWN("9", "sites", "site_id") " AS site_ok,"
    TK__KNOWN("10", "departments", "department_id") " AS department_ok,"
    TK__KNOWN("11", "statuses", "status_id") " AS status_ok,"
    TK__KNOWN("12", "priorities", "priority_id") " AS priority_ok,"
    TK__KNOWN("13", "groups", "group_id") " AS group_ok,"
    " ($14::text IS NULL OR EXISTS (SELECT FROM users x"
    " WHERE x.id = n0.requester_id)) AS creator_ok,"
    " (coalesce($15::text, '') = '' OR EXISTS (SELECT FROM users x"
    " WHERE x.id = n0.assignee_id AND x.is_active"
    " AND x.role IN ('Admin', 'Technician'))) AS assignee_ok,"
    TK__KNOWN("16", "services", "service_id") " AS service_ok,"
    TK__KNOWN("17", "impacts", "impact_id") " AS impact_ok,"
    TK__KNOWN("18", "urgencies", "urgency_id") " AS urgency_ok,"
    " (n0.subcategory_id IS NULL OR sc.category_id = n0.category_id)"
    " IS TRUE AS sub_fits,"
    " (n0.item_id IS NULL OR it.subcategory_id = n0.subcategory_id)"
    " IS TRUE AS item_fits"
    " FROM n0"
    " LEFT JOIN subcategories sc ON sc.id = n0.subcategory_id"
    " LEFT JOIN items it ON it.id = n0.item_id"
    "), kk AS ("
    " SELECT k.*, (due_ok AND category_ok AND sub_ok AND item_ok"
    " AND type_ok AND tier_ok AND client_ok AND site_ok AND department_ok"
    " AND status_ok AND priority_ok AND group_ok AND creator_ok"
    " AND assignee_ok AND service_ok AND impact_ok AND urgency_ok"
    " AND sub_fits AND item_fits) AS all_ok FROM k"
    "), sla AS ("
    /* chosen again from createdOn, with the pause kept (SPEC 4) */
    " SELECT p.id, d.response_due, d.resolution_due"
    " FROM o, n0, LATERAL (SELECT sla_policy_for(n0.priority_id,"
    " n0.category_id, n0.client_id) AS id) p,"
    " sla_due(p.id, o.created_on, o.sla_paused_seconds,"
    " o.sla_paused_minutes) d"
    "), n AS ("
    " SELECT n0.*,"
    " CASE WHEN pc.changed AND sla.id IS NOT NULL THEN sla.resolution_due"
    " WHEN $2::text IS NULL THEN o.due_date"
    " ELSE nullif($2::text, '')::timestamptz END AS due_date,"
    " CASE WHEN pc.changed THEN sla.id ELSE o.sla_id END AS sla_id,"
    " CASE WHEN pc.changed THEN sla.response_due"
    " ELSE o.response_due_date END AS response_due_date,"
    " CASE WHEN n0.status_id <> o.status_id AND ns.status_type = 'Resolved'"
    " THEN now() ELSE o.resolved_on END AS resolved_on,"
    " CASE WHEN n0.status_id <> o.status_id AND ns.status_type = 'Closed'"
    " THEN now() ELSE o.closed_on END AS closed_on"
    " FROM o JOIN n0 ON true"
    " CROSS JOIN LATERAL (SELECT n0.priority_id IS DISTINCT FROM"
    " o.priority_id AS changed) pc"
    " LEFT JOIN sla ON true"
    " LEFT JOIN statuses ns ON ns.id = n0.status_id"
    "), ch AS ("
    " SELECT c.ord, c.field, c.old_value, c.new_value FROM o, n,"
    " LATERAL (VALUES"
    TK__CHANGE_DATE("1", "dueDate", "due_date") ","
    TK__CHANGE_NAME("2", "category", "category_id", "categories", "name") ","
    TK__CHANGE_NAME("3", "subCategory", "subcategory_id", "subcategories",
                    "name") ","
    TK__CHANGE_NAME("4", "item", "item_id", "items", "name") ","
    TK__CHANGE("5", "ticketType", "ticket_type",
               TK__TYPE_NAME("o.ticket_type"),
               TK__TYPE_NAME("n.ticket_type")) ","
    TK__CHANGE_NAME("6", "tierLevel", "tier_level_id", "tier_levels",
                    "title") ","
    TK__CHANGE_NAME("7", "client", "client_id", "clients", "name") ","
    TK__CHANGE_NAME("8", "site", "site_id", "sites", "title") ","
    TK__CHANGE_NAME("9", "department", "department_id", "departments",
                    "title") ","
    TK__CHANGE_NAME("10", "status", "status_id", "statuses", "name") ","
    TK__CHANGE_NAME("11", "priority", "priority_id", "priorities", "name") ","
    TK__CHANGE_NAME("12", "group", "group_id", "groups", "name") ","
    TK__CHANGE("13", "creator", "requester_id", TK__WHO("o.requester_id"),
               TK__WHO("n.requester_id")) ","
    TK__CHANGE("14", "assignee", "assignee_id", TK__WHO("o.assignee_id"),
               TK__WHO("n.assignee_id")) ","
    TK__CHANGE_NAME("15", "service", "service_id", "services", "name") ","
    TK__CHANGE_NAME("16", "impact", "impact_id", "impacts", "name") ","
    TK__CHANGE_NAME("17", "urgency", "urgency_id", "urgencies", "name") ","
    TK__CHANGE_NAME("18", "sla", "sla_id", "sla_policies", "name") ","
    TK__CHANGE_DATE("19", "responseDueDate", "response_due_date") ","
    TK__CHANGE_DATE("20", "resolvedOn", "resolved_on") ","
    TK__CHANGE_DATE("21", "closedOn", "closed_on")
    " ) AS c(ord, field, old_value, new_value, changed)"
    " WHERE c.changed"
    "), u AS ("
    " UPDATE tickets x SET due_date = n.due_date,"
    " category_id = n.category_id, subcategory_id = n.subcategory_id,"
    " item_id = n.item_id, ticket_type = n.ticket_type,"
    " tier_level_id = n.tier_level_id, client_id = n.client_id,"
    " site_id = n.site_id, department_id = n.department_id,"
    " status_id = n.status_id, priority_id = n.priority_id,"
    " group_id = n.group_id, requester_id = n.requester_id,"
    " assignee_id = n.assignee_id, service_id = n.service_id,"
    " impact_id = n.impact_id, urgency_id = n.urgency_id,"
    " sla_id = n.sla_id, response_due_date = n.response_due_date,"
    " resolved_on = n.resolved_on, closed_on = n.closed_on"
    " FROM n, kk"
    " WHERE x.id = n.id AND kk.all_ok AND EXISTS (SELECT FROM ch)"
    " RETURNING x.id"
    "), h AS ("
    " INSERT INTO history (ticket_id, field, old_value, new_value,"
    " changed_by_id)"
    " SELECT u.id, ch.field, ch.old_value, ch.new_value, $19::text"
    " FROM u, ch ORDER BY ch.ord"
    ")"
    " SELECT kk.due_ok, kk.category_ok, kk.sub_ok, kk.item_ok, kk.type_ok,"
    " kk.tier_ok, kk.client_ok, kk.site_ok, kk.department_ok, kk.status_ok,"
    " kk.priority_ok, kk.group_ok, kk.creator_ok, kk.assignee_ok,"
    " kk.service_ok, kk.impact_ok, kk.urgency_ok,"
    " kk.sub_fits, kk.item_fits,"
    " n.category_id, n.subcategory_id, n.item_id,"
    " (SELECT count(*) FROM u),"
    " n.assignee_id IS NOT NULL"
    " AND n.assignee_id IS DISTINCT FROM o.assignee_id,"
    " n.assignee_id, au.email, coalesce(nullif(au.full_name, ''),"
    " au.user_name), kk.all_ok"
    " FROM o CROSS JOIN n CROSS JOIN kk"
    " LEFT JOIN users au ON au.id = n.assignee_id",
    19
};

enum {
    TK__UC_SUB_FITS = TK__U_NFIELDS,
    TK__UC_ITEM_FITS,
    TK__UC_CATEGORY,
    TK__UC_SUBCATEGORY,
    TK__UC_ITEM,
    TK__UC_WRITTEN,
    TK__UC_ASSIGNED,
    TK__UC_ASSIGNEE_ID,
    TK__UC_ASSIGNEE_EMAIL,
    TK__UC_ASSIGNEE_NAME,
    TK__UC_ALL_OK
};


static const tk__stmt_t  tk__history_stmt = {
    "tk_ticket_history",
    "SELECT (SELECT coalesce(json_agg(json_build_object("
    "'field', h.field, 'oldValue', h.old_value, 'newValue', h.new_value,"
    " 'changedBy', " TK__PERSON("h.changed_by_id") ","
    " 'changedOn', iso_utc(h.changed_on)) ORDER BY h.id), '[]')"
    " FROM history h WHERE h.ticket_id = t.id)"
    " FROM tickets t"
    " WHERE t.id = $1::bigint AND NOT t.is_deleted"
    " AND ($2::text IS NULL OR t.requester_id = $2)",
    2
};


/*
 * After touch: the same now() for deletedOn and updatedOn, with the
 * deletedOn history row by $2 (a ticket not deleted has no deletedOn).
 */
static const tk__stmt_t  tk__delete_stmt = {
    "tk_ticket_delete",
    "WITH u AS ("
    " UPDATE tickets SET is_deleted = true, deleted_on = now()"
    " WHERE id = $1::bigint AND NOT is_deleted"
    " RETURNING id, iso_utc(deleted_on) AS deleted_on,"
    " iso_utc(updated_on) AS updated_on, version"
    "), h AS ("
    " INSERT INTO history (ticket_id, field, old_value, new_value,"
    " changed_by_id)"
    " SELECT u.id, 'deletedOn', NULL, u.deleted_on, $2::text FROM u"
    ")"
    " SELECT deleted_on, updated_on, version FROM u",
    2
};


/*
 * Escalation in one statement after the row is locked: checks GroupId
 * ($2) and TierLevelId ($3); when both pass, marks the ticket, writes a
 * history row per changed field and the Escalation conversation ($4 the
 * reason, $5 the principal).
 *
 * Columns: group known, tier known, the conversation id (NULL: nothing
 * written), the technician's id and email, the group's name and the
 * tier's title after the escalation.
 */
static const tk__stmt_t  tk__escalate_stmt = {
    "tk_ticket_escalate",
    "WITH o AS ("
    " SELECT t.* FROM tickets t WHERE t.id = $1::bigint"
    "), k AS ("
    " SELECT ($2::text IS NULL OR EXISTS (SELECT FROM groups x"
    " WHERE x.id = $2::text::int)) AS group_ok,"
    " ($3::text IS NULL OR EXISTS (SELECT FROM tier_levels x"
    " WHERE x.id = $3::text::int)) AS tier_ok"
    "), n AS ("
    " SELECT o.id, coalesce($2::text::int, o.group_id) AS group_id,"
    " coalesce($3::text::int, o.tier_level_id) AS tier_level_id FROM o"
    "), u AS ("
    " UPDATE tickets x SET is_escalated = true,"
    " escalated_on = coalesce(x.escalated_on, now()),"
    " group_id = n.group_id, tier_level_id = n.tier_level_id"
    " FROM n, k WHERE x.id = n.id AND k.group_ok AND k.tier_ok"
    " RETURNING x.id"
    "), ch AS ("
    " SELECT c.ord, c.field, c.old_value, c.new_value FROM o, n,"
    " LATERAL (VALUES"
    " (1, 'isEscalated', 'false', 'true', NOT o.is_escalated),"
    TK__CHANGE_NAME("2", "group", "group_id", "groups", "name") ","
    TK__CHANGE_NAME("3", "tierLevel", "tier_level_id", "tier_levels",
                    "title")
    " ) AS c(ord, field, old_value, new_value, changed)"
    " WHERE c.changed"
    "), h AS ("
    " INSERT INTO history (ticket_id, field, old_value, new_value,"
    " changed_by_id)"
    " SELECT u.id, ch.field, ch.old_value, ch.new_value, $5::text"
    " FROM u, ch ORDER BY ch.ord"
    "), cv AS ("
    " INSERT INTO conversations (ticket_id, type, title, message,"
    " is_private, created_by_id)"
    " SELECT u.id, 'Escalation', 'Ticket escalated', $4::text, true,"
    " $5::text FROM u"
    " RETURNING id"
    ")"
    " SELECT k.group_ok, k.tier_ok, (SELECT id FROM cv),"
    " o.assignee_id, au.email,"
    " " TK__NAME("groups", "name", "n.group_id") ","
    " " TK__NAME("tier_levels", "title", "n.tier_level_id")
    " FROM o CROSS JOIN n CROSS JOIN k"
    " LEFT JOIN users au ON au.id = o.assignee_id",
    5
};


enum {
    TK__EC_GROUP_OK = 0,
    TK__EC_TIER_OK,
    TK__EC_CONVERSATION,
    TK__EC_ASSIGNEE_ID,
    TK__EC_ASSIGNEE_EMAIL,
    TK__EC_GROUP,
    TK__EC_TIER
};


/* 1 when the If-Match header is "*" or names etag (strong comparison). */
static int
tk__if_match(const char *header, const char *etag)
{
    const char  *s, *e;
    size_t       n, len;

    len = strlen(etag);

    for (s = header; *s != '\0'; s = *e ? e + 1 : e) {
        e = s + strcspn(s, ",");
        for (; s < e && (*s == ' ' || *s == '\t'); s++) { /* trim */ }
        for (n = (size_t) (e - s); n > 0 && (s[n - 1] == ' '
                                            || s[n - 1] == '\t'); n--)
        {
            /* trim */
        }

        if ((n == 1 && *s == '*') || (n == len && memcmp(s, etag, n) == 0)) {
            return 1;
        }
    }

    return 0;
}


/* A JSON array of one string, or NULL when out of memory. */
static char *
tk__json_list1(const char *s)
{
    cJSON  *a, *v;
    char   *out;

    a = cJSON_CreateArray();
    v = cJSON_CreateString(s);
    if (a == NULL || v == NULL || !cJSON_AddItemToArray(a, v)) {
        cJSON_Delete(a);
        cJSON_Delete(v);
        return NULL;
    }

    out = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return out;
}


/*
 * One notification per recipient channel: email to addr when it is set,
 * push to user when it is set.  payload is a JSON object.
 */
static int
tk__notify(tk_conn_t *c, const char *event, const char *ticket_id,
    const char *addr, const char *user, cJSON *payload, tk_result_t *res)
{
    char  *json, *to;
    int    rc = TK_OK;

    json = cJSON_PrintUnformatted(payload);
    if (json == NULL) {
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    if (addr != NULL && addr[0] != '\0') {
        to = tk__json_list1(addr);
        rc = to == NULL ? tk__fail(res, TK_ENOMEM, "out of memory")
                        : tk__outbox_add(c, "email", event, ticket_id, to,
                                         json, res);
        free(to);
    }

    if (rc == TK_OK && user != NULL && user[0] != '\0') {
        to = tk__json_list1(user);
        rc = to == NULL ? tk__fail(res, TK_ENOMEM, "out of memory")
                        : tk__outbox_add(c, "push", event, ticket_id, to,
                                         json, res);
        free(to);
    }

    free(json);
    return rc;
}


/* The common part of a payload: ticketId, title, subject, message. */
static cJSON *
tk__payload(const char *ticket_id, const char *title, const char *subject,
    const char *message)
{
    cJSON  *o;

    o = cJSON_CreateObject();
    if (o == NULL
        || cJSON_AddNumberToObject(o, "ticketId", strtod(ticket_id, NULL))
           == NULL
        || cJSON_AddStringToObject(o, "title", title) == NULL
        || cJSON_AddStringToObject(o, "subject", subject) == NULL
        || cJSON_AddStringToObject(o, "message", message) == NULL)
    {
        cJSON_Delete(o);
        return NULL;
    }

    return o;
}


static int
tk__upd_invalid(tk__upd_t *u, const char *field, const char *s)
{
    char  echo[68];

    return tk__error_add(&u->errors, field, "The value '%s' is not valid "
                         "for %s.", tk__echo(s, strlen(s), echo), field);
}


/* A status id of 0 or below is no change (seed 4): "0", "-12". */
static int
tk__status_ignored(const char *s)
{
    int  negative = s[0] == '-';

    s += negative;
    return s[0] != '\0' && s[strspn(s, "0123456789")] == '\0'
           && (negative || s[strspn(s, "0")] == '\0');
}


/* One field from the form into u: a parameter, or an error entry. */
static int
tk__upd_parse(const tk_form_t *form, int i, tk__upd_t *u)
{
    const tk__upd_field_t  *f = &tk__upd_fields[i];
    const char             *raw;
    int64_t                 id;
    int                     type;

    raw = tk_form_get(form, f->name);
    if (raw == NULL) {
        return TK_OK;
    }

    if (tk__blank(raw)) {
        if (f->kind == TK__UK_STATUS) {
            return TK_OK;
        }
        if (!f->nullable) {
            return tk__error_add(&u->errors, f->name, "The %s field is "
                                 "required.", f->name);
        }
        u->val[i] = "";
        return TK_OK;
    }

    if (tk__utf8_count(raw) < 0) {
        return tk__error_add(&u->errors, f->name, "The field %s contains "
                             "invalid UTF-8.", f->name);
    }

    switch (f->kind) {

    case TK__UK_STATUS:
        if (strlen(raw) <= 11 && tk__status_ignored(raw)) {
            return TK_OK;
        }
        /* fall through */

    case TK__UK_ID:
        if (tk__parse_id(raw, INT32_MAX, &id) != TK_OK) {
            return tk__upd_invalid(u, f->name, raw);
        }
        snprintf(u->num[i], sizeof(u->num[i]), "%lld", (long long) id);
        raw = u->num[i];
        break;

    case TK__UK_TYPE:
        if (tk__parse_enum(raw, tk__ticket_types, 5, &type) != TK_OK) {
            return tk__upd_invalid(u, f->name, raw);
        }
        snprintf(u->num[i], sizeof(u->num[i]), "%d", type);
        raw = u->num[i];
        break;

    case TK__UK_DATE:
        if (tk__parse_datetime(raw, u->num[i]) != TK_OK) {
            return tk__upd_invalid(u, f->name, raw);
        }
        raw = u->num[i];
        break;

    case TK__UK_USER:
        break;
    }

    u->val[i] = raw;
    return TK_OK;
}


/* Everything the form alone can tell, before the database is asked. */
static int
tk__upd_validate(const tk_form_t *form, int64_t id, tk__upd_t *u)
{
    const char  *raw;
    int64_t      form_id;
    int          i, rc;

    raw = tk_form_get(form, "Id");
    if (!tk__blank(raw)) {
        if (tk__utf8_count(raw) < 0
            || tk__parse_id(raw, INT64_MAX, &form_id) != TK_OK)
        {
            rc = tk__error_add(&u->errors, "Id", "The field Id contains an "
                               "invalid ticket id.");
        } else if (form_id != id) {
            rc = tk__error_add(&u->errors, "Id", "The Id %lld does not match "
                               "the ticket %lld of the path.",
                               (long long) form_id, (long long) id);
        } else {
            rc = TK_OK;
        }
        if (rc != TK_OK) {
            return rc;
        }
    }

    /* no templates here: a TemplateId is only checked for its form */
    raw = tk_form_get(form, "TemplateId");
    if (!tk__blank(raw) && (tk__utf8_count(raw) < 0 || !tk__valid_uuid(raw))
        && tk__upd_invalid(u, "TemplateId", raw) != TK_OK)
    {
        return TK_ENOMEM;
    }

    for (i = 0; i < TK__U_NFIELDS; i++) {
        if (tk__upd_parse(form, i, u) != TK_OK) {
            return TK_ENOMEM;
        }
    }

    return TK_OK;
}


/*
 * The errors of the database's checks.  A subcategory or an item that
 * does not fit its parent is charged to the field that was sent: the
 * child when it was, else its parent.
 */
static int
tk__upd_check(tk__upd_t *u, PGresult *r)
{
    const tk__upd_field_t  *f;
    const char             *col, *value, *parent, *val;
    char                    echo[68];
    int                     i, child, rc = TK_OK;

    for (i = 0; i < TK__U_NFIELDS && rc == TK_OK; i++) {
        f = &tk__upd_fields[i];
        col = tk__val(r, 0, i);
        if (col != NULL && col[0] == 't') {
            continue;
        }

        val = u->val[i] != NULL ? u->val[i] : "";
        rc = tk__error_add(&u->errors, f->name, f->unknown ? f->unknown
                                                           : "Unknown %s %s.",
                           f->name, tk__echo(val, strlen(val), echo));
    }

    for (child = TK__U_SUBCATEGORY; child <= TK__U_ITEM && rc == TK_OK;
         child++)
    {
        col = tk__val(r, 0, child == TK__U_ITEM ? TK__UC_ITEM_FITS
                                                : TK__UC_SUB_FITS);

        /* an unknown child is an error of its own already */
        if ((col != NULL && col[0] == 't')
            || (u->errors != NULL
                && cJSON_GetObjectItemCaseSensitive(u->errors,
                       tk__upd_fields[child].name) != NULL))
        {
            continue;
        }

        value = tk__val(r, 0, child == TK__U_ITEM ? TK__UC_ITEM
                                                  : TK__UC_SUBCATEGORY);
        parent = tk__val(r, 0, child == TK__U_ITEM ? TK__UC_SUBCATEGORY
                                                   : TK__UC_CATEGORY);
        f = &tk__upd_fields[u->val[child] != NULL && u->val[child][0] != '\0'
                            ? child : child - 1];

        if (parent == NULL) {
            rc = tk__error_add(&u->errors, f->name, "%s %s requires %s.",
                               tk__upd_fields[child].name,
                               value ? value : "",
                               tk__upd_fields[child - 1].name);
        } else {
            rc = tk__error_add(&u->errors, f->name, "%s %s does not belong "
                               "to %s %s.", tk__upd_fields[child].name,
                               value ? value : "",
                               tk__upd_fields[child - 1].name, parent);
        }
    }

    return rc;
}


/* The technician's notifications: email and push, in the transaction. */
static int
tk__upd_notify(tk_conn_t *c, const tk_principal_t *p,
    const tk__ticket_row_t *t, PGresult *r, tk_result_t *res)
{
    const char  *to_id, *to_email, *to_name;
    cJSON       *payload;
    char         subject[1400], message[1700];
    int          rc;

    to_id = tk__val(r, 0, TK__UC_ASSIGNEE_ID);
    to_email = tk__val(r, 0, TK__UC_ASSIGNEE_EMAIL);
    to_name = tk__val(r, 0, TK__UC_ASSIGNEE_NAME);

    snprintf(subject, sizeof(subject), "Ticket #%s assigned to you: %s",
             t->id, t->title);
    snprintf(message, sizeof(message), "%s assigned ticket #%s \"%s\" to "
             "%s.", p->user_name, t->id, t->title, to_name ? to_name : "you");

    payload = tk__payload(t->id, t->title, subject, message);
    if (payload == NULL
        || cJSON_AddStringToObject(payload, "assignee", to_id) == NULL
        || cJSON_AddStringToObject(payload, "assignedBy", p->user_id)
           == NULL)
    {
        cJSON_Delete(payload);
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    rc = tk__notify(c, "TicketAssigned", t->id, to_email, to_id, payload,
                    res);
    cJSON_Delete(payload);
    return rc;
}


/*
 * Auto-assignment on update (SPEC 4): when the setting is on, the update
 * wrote something and left the ticket unassigned, and AssignedUser was
 * not in the form.  An AssignedUser sent, even empty (cleared), wins.
 */
static int
tk__upd_assign(tk_conn_t *c, const tk_principal_t *p, const tk__upd_t *u,
    const tk__ticket_row_t *t, tk_result_t *res)
{
    int  on;

    /* without AssignedUser, an assigned ticket stays so */
    if (u->val[TK__U_ASSIGNEE] != NULL || t->assignee_id[0] != '\0') {
        return TK_OK;
    }

    if (tk__setting_bool(c, "auto_assign_on_update", 0, &on, res) != TK_OK) {
        return res->code;
    }

    return on ? tk__auto_assign(c, t->id, p->user_id, res) : TK_OK;
}


int
tk_ticket_update(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *if_match, const char *key,
    tk_result_t *res)
{
    tk__ticket_row_t   t;
    tk__upd_t          u;
    const char        *v[TK__U_NFIELDS + 2];
    const char        *names[TK__U_NFIELDS + 2];
    const char        *col;
    PGresult          *r = NULL;
    char               etag[48], sha[65], scope[128];
    int                rc, i;

    if (!(p->perms & TK_PERM_UPDATE)) {
        return tk__fail(res, TK_EFORBIDDEN, "Tickets.Update is required");
    }

    /* the If-Match a request carries is part of what it is */
    for (i = 0; i < TK__U_NFIELDS; i++) {
        names[i] = tk__upd_fields[i].name;
    }
    names[TK__U_NFIELDS] = "Id";
    names[TK__U_NFIELDS + 1] = NULL;

    snprintf(scope, sizeof(scope), "update:%lld:%.48s", (long long) id,
             if_match ? if_match : "");
    if (tk__write_replay(c, p, key, scope, form, names, sha, res) != 0) {
        return res->code;
    }

    memset(&u, 0, sizeof(u));

    if (tk__upd_validate(form, id, &u) != TK_OK) {
        rc = tk__fail(res, TK_ENOMEM, "out of memory");
        goto done;
    }

    if (u.errors != NULL) {
        rc = tk__errors_answer(&u.errors, res);
        goto done;
    }

    if (tk__write_begin(c, p, key, sha, res) != 0) {
        rc = res->code;
        goto done;
    }

    /* compat: an unknown ticket is 400 */
    rc = tk__ticket_lock(c, p, id, &t, res);
    if (rc != TK_OK) {
        if (rc == TK_ENOTFOUND) {
            tk__fail(res, TK_EINVAL, "Ticket not found");
        }
        goto failed;
    }

    /* after the lock: of two updates with one ETag only one gets here */
    snprintf(etag, sizeof(etag), "\"%s-%d\"", t.id, t.version);
    if (if_match != NULL && !tk__if_match(if_match, etag)) {
        tk__fail(res, TK_EPRECOND, "If-Match does not match the ticket's "
                 "ETag %s", etag);
        goto failed;
    }

    if (p->role == TK_ROLE_MEMBER && u.val[TK__U_CREATOR] != NULL
        && strcmp(u.val[TK__U_CREATOR], p->user_id) != 0)
    {
        tk__fail(res, TK_EFORBIDDEN, "a Member may not give a ticket to "
                 "another requester");
        goto failed;
    }

    v[0] = t.id;
    memcpy(&v[1], u.val, sizeof(u.val));
    v[TK__U_NFIELDS + 1] = p->user_id;

    r = tk__exec(c, &tk__upd_stmt, v, res);
    if (r == NULL) {
        goto failed;
    }

    col = tk__val(r, 0, TK__UC_WRITTEN);
    if (col == NULL || strcmp(col, "0") == 0) {
        /* nothing written: invalid, or nothing changes */
        if (tk__upd_check(&u, r) != TK_OK) {
            tk__fail(res, TK_ENOMEM, "out of memory");
            goto failed;
        }

        col = tk__val(r, 0, TK__UC_ALL_OK);
        if (u.errors == NULL && (col == NULL || col[0] != 't')) {
            tk__fail(res, TK_EINTERNAL, "update of ticket %s: a check "
                     "failed without an error", t.id);
            goto failed;
        }

        PQclear(r);
        tk__rollback(c);

        if (u.errors != NULL) {
            rc = tk__errors_answer(&u.errors, res);
            goto done;
        }

        memcpy(res->etag, etag, sizeof(etag));
        res->code = TK_NO_CONTENT;
        rc = TK_NO_CONTENT;
        goto done;
    }

    /* before the touch: one new version for the update and its
     * assignment */
    if (tk__upd_assign(c, p, &u, &t, res) != TK_OK
        || tk__ticket_touch(c, t.id, res) != TK_OK)
    {
        goto failed;
    }

    col = tk__val(r, 0, TK__UC_ASSIGNED);
    if (col != NULL && col[0] == 't'
        && tk__upd_notify(c, p, &t, r, res) != TK_OK)
    {
        goto failed;
    }

    PQclear(r);
    snprintf(res->etag, sizeof(res->etag), "\"%s-%d\"", t.id, t.version + 1);
    res->code = TK_NO_CONTENT;
    rc = tk__write_commit(c, p, key, res);
    goto done;

failed:

    PQclear(r);
    rc = tk__write_failed(c, res);

done:

    cJSON_Delete(u.errors);
    return rc;
}


int
tk_ticket_history(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    tk_result_t *res)
{
    if (id <= 0) {
        return tk__fail(res, TK_ENOTFOUND, "no ticket %lld", (long long) id);
    }

    return tk__ticket_read(c, p, id, &tk__history_stmt, res);
}


/* The model built before the delete, as the delete left the ticket. */
static int
tk__mark_deleted(tk_result_t *res, PGresult *r)
{
    cJSON  *j;
    char   *body;
    int     ok;

    j = cJSON_ParseWithLength(res->body, res->body_len);
    ok = j != NULL && cJSON_IsObject(j)
         && cJSON_ReplaceItemInObjectCaseSensitive(j, "isDeleted",
                                                   cJSON_CreateTrue())
         && cJSON_ReplaceItemInObjectCaseSensitive(j, "deletedOn",
                cJSON_CreateString(tk__val(r, 0, 0)))
         && cJSON_ReplaceItemInObjectCaseSensitive(j, "updatedOn",
                cJSON_CreateString(tk__val(r, 0, 1)));

    body = ok ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);

    if (body == NULL) {
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    free(res->body);
    res->body = body;
    res->body_len = strlen(body);
    return TK_OK;
}


int
tk_ticket_delete(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const char *key, tk_result_t *res)
{
    tk__ticket_row_t   t;
    const char        *v[2];
    PGresult          *r = NULL;
    char               sha[65], scope[32];

    if (!(p->perms & TK_PERM_DELETE)) {
        return tk__fail(res, TK_EFORBIDDEN, "Tickets.Delete is required");
    }

    snprintf(scope, sizeof(scope), "delete:%lld", (long long) id);
    if (tk__write_replay(c, p, key, scope, NULL, NULL, sha, res) != 0
        || tk__write_begin(c, p, key, sha, res) != 0)
    {
        return res->code;
    }

    /* tk__ticket_json refuses a deleted ticket: the model comes first */
    if (tk__ticket_lock(c, p, id, &t, res) != TK_OK
        || tk__ticket_json(c, p, id, res) != TK_OK
        || tk__history_add(c, t.id, p->user_id, "isDeleted", "false", "true",
                           res) != TK_OK
        || tk__ticket_touch(c, t.id, res) != TK_OK)
    {
        goto failed;
    }

    v[0] = t.id;
    v[1] = p->user_id;
    r = tk__exec(c, &tk__delete_stmt, v, res);
    if (r == NULL) {
        goto failed;
    }

    if (PQntuples(r) != 1) {
        tk__fail(res, TK_ENOTFOUND, "no ticket %s", t.id);
        goto failed;
    }

    if (tk__mark_deleted(res, r) != TK_OK) {
        goto failed;
    }

    snprintf(res->etag, sizeof(res->etag), "\"%s-%s\"", t.id,
             tk__val(r, 0, 2) ? tk__val(r, 0, 2) : "");
    PQclear(r);

    res->code = TK_OK;
    return tk__write_commit(c, p, key, res);

failed:

    PQclear(r);
    return tk__write_failed(c, res);
}


/* The escalation email to the technician, when there is one. */
static int
tk__esc_notify(tk_conn_t *c, const tk_principal_t *p,
    const tk__ticket_row_t *t, const char *reason, PGresult *r,
    tk_result_t *res)
{
    const char  *email, *group, *tier;
    cJSON       *payload;
    char         subject[1400];
    char        *message;
    size_t       len;
    int          rc;

    email = tk__val(r, 0, TK__EC_ASSIGNEE_EMAIL);
    if (email == NULL || tk__val(r, 0, TK__EC_ASSIGNEE_ID) == NULL) {
        return TK_OK;
    }

    group = tk__val(r, 0, TK__EC_GROUP);
    tier = tk__val(r, 0, TK__EC_TIER);

    snprintf(subject, sizeof(subject), "Ticket #%s escalated: %s", t->id,
             t->title);

    len = strlen(reason) + 512;
    message = malloc(len);
    if (message == NULL) {
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }
    snprintf(message, len, "%s escalated ticket #%s: %s", p->user_name,
             t->id, reason);

    payload = tk__payload(t->id, t->title, subject, message);
    free(message);

    if (payload == NULL
        || cJSON_AddStringToObject(payload, "reason", reason) == NULL
        || cJSON_AddStringToObject(payload, "escalatedBy", p->user_id)
           == NULL
        || (group ? cJSON_AddStringToObject(payload, "group", group)
                  : cJSON_AddNullToObject(payload, "group")) == NULL
        || (tier ? cJSON_AddStringToObject(payload, "tierLevel", tier)
                 : cJSON_AddNullToObject(payload, "tierLevel")) == NULL)
    {
        cJSON_Delete(payload);
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    rc = tk__notify(c, "Escalated", t->id, email, NULL, payload, res);
    cJSON_Delete(payload);
    return rc;
}


/* An optional id of the escalate form: NULL when absent or blank. */
static int
tk__esc_id(const tk_form_t *form, const char *name, char out[24],
    const char **val, cJSON **errors)
{
    const char  *raw;
    int64_t      id;
    char         echo[68];

    *val = NULL;

    raw = tk_form_get(form, name);
    if (tk__blank(raw)) {
        return TK_OK;
    }

    if (tk__utf8_count(raw) < 0 || tk__parse_id(raw, INT32_MAX, &id) != TK_OK)
    {
        return tk__error_add(errors, name, "The value '%s' is not valid for "
                             "%s.", tk__echo(raw, strlen(raw), echo), name);
    }

    snprintf(out, 24, "%lld", (long long) id);
    *val = out;
    return TK_OK;
}


int
tk_ticket_escalate(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *key, tk_result_t *res)
{
    static const char *const  names[] = {
        "Reason", "GroupId", "TierLevelId", NULL
    };

    tk__ticket_row_t   t;
    const char        *v[5];
    const char        *reason, *col;
    PGresult          *r = NULL;
    cJSON             *errors = NULL;
    char               group[24], tier[24], sha[65], scope[32];
    int                rc;

    if (!(p->perms & TK_PERM_UPDATE)) {
        return tk__fail(res, TK_EFORBIDDEN, "Tickets.Update is required");
    }

    snprintf(scope, sizeof(scope), "escalate:%lld", (long long) id);
    if (tk__write_replay(c, p, key, scope, form, names, sha, res) != 0) {
        return res->code;
    }

    reason = tk_form_get(form, "Reason");
    if (tk__blank(reason)) {
        rc = tk__error_add(&errors, "Reason", "The Reason field is "
                           "required.");
    } else if (tk__utf8_count(reason) < 0) {
        rc = tk__error_add(&errors, "Reason", "The field Reason contains "
                           "invalid UTF-8.");
    } else {
        rc = TK_OK;
    }

    if (rc != TK_OK
        || tk__esc_id(form, "GroupId", group, &v[1], &errors) != TK_OK
        || tk__esc_id(form, "TierLevelId", tier, &v[2], &errors) != TK_OK)
    {
        cJSON_Delete(errors);
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    if (errors != NULL) {
        return tk__errors_answer(&errors, res);
    }

    if (tk__write_begin(c, p, key, sha, res) != 0) {
        return res->code;
    }

    if (tk__ticket_lock(c, p, id, &t, res) != TK_OK) {
        goto failed;
    }

    v[0] = t.id;
    v[3] = reason;
    v[4] = p->user_id;

    r = tk__exec(c, &tk__escalate_stmt, v, res);
    if (r == NULL) {
        goto failed;
    }

    if (tk__val(r, 0, TK__EC_CONVERSATION) == NULL) {
        /* nothing written: GroupId or TierLevelId unknown */
        col = tk__val(r, 0, TK__EC_GROUP_OK);
        rc = col != NULL && col[0] == 't'
             ? TK_OK : tk__error_add(&errors, "GroupId", "Unknown GroupId "
                                     "%s.", v[1] ? v[1] : "");
        col = tk__val(r, 0, TK__EC_TIER_OK);
        if (rc == TK_OK && (col == NULL || col[0] != 't')) {
            rc = tk__error_add(&errors, "TierLevelId", "Unknown TierLevelId "
                               "%s.", v[2] ? v[2] : "");
        }

        PQclear(r);
        tk__rollback(c);

        if (rc != TK_OK) {
            cJSON_Delete(errors);
            return tk__fail(res, TK_ENOMEM, "out of memory");
        }

        return errors != NULL ? tk__errors_answer(&errors, res)
                              : tk__fail(res, TK_EINTERNAL, "escalation of "
                                         "ticket %s wrote nothing", t.id);
    }

    if (tk__ticket_touch(c, t.id, res) != TK_OK
        || tk__esc_notify(c, p, &t, reason, r, res) != TK_OK)
    {
        goto failed;
    }

    PQclear(r);
    snprintf(res->etag, sizeof(res->etag), "\"%s-%d\"", t.id, t.version + 1);
    res->code = TK_NO_CONTENT;
    return tk__write_commit(c, p, key, res);

failed:

    PQclear(r);
    return tk__write_failed(c, res);
}
