/*
 * Internal: SQL fragments of the models the API shows, written once.
 * Each expects the aliases its comment names.
 */

#ifndef TK_MODEL_H
#define TK_MODEL_H


/* A person as the API shows one; NULL when id is NULL. */
#define TK__PERSON(id)                                                        \
    "(SELECT json_build_object('id', u.id, 'fullName', u.full_name,"          \
    " 'userName', u.user_name, 'email', u.email)"                             \
    " FROM users u WHERE u.id = " id ")"

/* A lookup of the ticket t as {id, key}; NULL when the ticket has none. */
#define TK__LOOKUP(table, key, col, fk)                                       \
    "(SELECT json_build_object('id', x.id, '" key "', x." col ")"             \
    " FROM " table " x WHERE x.id = t." fk ")"

/* The attachments a where cond holds, as [{id, fileName, ...}]. */
#define TK__ATTACHMENTS(cond)                                                 \
    "(SELECT coalesce(json_agg(json_build_object("                            \
    "'id', a.id, 'fileName', a.file_name, 'contentType', a.content_type,"     \
    " 'size', a.size, 'sha256', a.sha256) ORDER BY a.id), '[]')"              \
    " FROM attachments a WHERE " cond ")"

/*
 * Whether the ticket t of status s is locked: Closed, and closed_on at
 * least lock_closed_after_days ago.  An unset or unreadable setting never
 * locks.
 */
#define TK__IS_LOCKED                                                         \
    "coalesce(s.status_type = 'Closed' AND t.closed_on"                       \
    " + make_interval(days => (SELECT CASE WHEN value ~ '^[0-9]{1,5}$'"       \
    " THEN value::int END FROM settings"                                      \
    " WHERE key = 'lock_closed_after_days')) <= now(), false)"

/* The TicketApiModel of the ticket t with its status s. */
#define TK__TICKET_MODEL                                                      \
    "json_build_object("                                                      \
    "'id', t.id, 'guid', t.guid, 'title', t.title,"                           \
    " 'description', t.description,"                                          \
    " 'ticketType', (ARRAY['Ticket', 'Problem', 'Incident',"                  \
    " 'ServiceRequest', 'Change'])[t.ticket_type + 1],"                       \
    " 'source', (ARRAY['Manual', 'Api', 'Email'])"                            \
    " [t.source + 1],"                                                        \
    " 'creator', " TK__PERSON("t.requester_id") ","                           \
    " 'assignee', " TK__PERSON("t.assignee_id") ","                           \
    " 'createdBy', " TK__PERSON("t.created_by_id") ","                        \
    " 'category', "                                                           \
    TK__LOOKUP("categories", "name", "name", "category_id") ","               \
    " 'subCategory', "                                                        \
    TK__LOOKUP("subcategories", "name", "name", "subcategory_id") ","         \
    " 'item', " TK__LOOKUP("items", "name", "name", "item_id") ","            \
    " 'site', " TK__LOOKUP("sites", "title", "title", "site_id") ","          \
    " 'department', "                                                         \
    TK__LOOKUP("departments", "title", "title", "department_id") ","          \
    " 'group', " TK__LOOKUP("groups", "group", "name", "group_id") ","        \
    " 'client', " TK__LOOKUP("clients", "name", "name", "client_id") ","      \
    " 'status', json_build_object('id', s.id, 'status', s.name,"              \
    " 'statusType', s.status_type),"                                          \
    " 'priority', "                                                           \
    TK__LOOKUP("priorities", "priority", "name", "priority_id") ","           \
    " 'tierLevel', "                                                          \
    TK__LOOKUP("tier_levels", "title", "title", "tier_level_id") ","          \
    " 'service', " TK__LOOKUP("services", "name", "name", "service_id") ","   \
    " 'impact', " TK__LOOKUP("impacts", "name", "name", "impact_id") ","      \
    " 'urgency', " TK__LOOKUP("urgencies", "name", "name", "urgency_id") ","  \
    " 'sla', " TK__LOOKUP("sla_policies", "name", "name", "sla_id") ","       \
    " 'slaState', sla_state(t),"                                              \
    " 'dueDate', iso_utc(t.due_date),"                                        \
    " 'responseDueDate', iso_utc(t.response_due_date),"                       \
    " 'firstRespondedOn', iso_utc(t.first_responded_on),"                     \
    " 'cc', t.cc,"                                                            \
    " 'tags', (SELECT coalesce(json_agg(json_build_object('id', g.id,"        \
    " 'name', g.name) ORDER BY g.id), '[]') FROM ticket_tags tt"              \
    " JOIN tags g ON g.id = tt.tag_id WHERE tt.ticket_id = t.id),"            \
    " 'isEscalated', t.is_escalated,"                                         \
    " 'isLocked', " TK__IS_LOCKED ","                                         \
    " 'isDeleted', t.is_deleted,"                                             \
    " 'createdOn', iso_utc(t.created_on),"                                    \
    " 'updatedOn', iso_utc(t.updated_on),"                                    \
    " 'resolvedOn', iso_utc(t.resolved_on),"                                  \
    " 'closedOn', iso_utc(t.closed_on),"                                      \
    " 'deletedOn', iso_utc(t.deleted_on),"                                    \
    " 'resolution', (SELECT json_build_object('resolution', r.resolution,"    \
    " 'resolvedBy', " TK__PERSON("r.resolved_by_id") ","                      \
    " 'resolvedOn', iso_utc(r.resolved_on))"                                  \
    " FROM resolutions r WHERE r.ticket_id = t.id),"                          \
    " 'closure', (SELECT json_build_object('status', (ARRAY['Successful',"    \
    " 'Unsuccessful', 'Cancelled', 'Duplicate', 'NoResponse'])"               \
    "[cl.status + 1],"                                                        \
    " 'comments', cl.comments, 'closureComments', cl.closure_comments,"       \
    " 'closedBy', " TK__PERSON("cl.closed_by_id") ","                         \
    " 'closingDate', iso_utc(cl.closing_date),"                               \
    " 'acknowledged', cl.acknowledged)"                                       \
    " FROM closures cl WHERE cl.ticket_id = t.id),"                           \
    " 'attachments', "                                                        \
    TK__ATTACHMENTS("a.ticket_id = t.id AND a.conversation_id IS NULL")      \
    ")"


#endif /* TK_MODEL_H */
