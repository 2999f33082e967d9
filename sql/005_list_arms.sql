-- Lists by involving(U) (libtickets/src/list.c): the requester's and the
-- assignee's tickets are two arms, each served by its own index.  Ordered
-- by status, these find U's tickets of a few statuses (the active lists)
-- without reading the others; the included columns let the count of an
-- arm run on the index alone: the assignee arm leaves out the tickets U
-- also requested (requester_id), MyEscalated counts is_escalated.  The
-- page walks tickets_requester_idx and tickets_assignee_idx by id.
CREATE INDEX tickets_assignee_status_idx
    ON tickets (assignee_id, status_id, id) INCLUDE (requester_id, is_escalated)
    WHERE NOT is_deleted;
CREATE INDEX tickets_requester_status_idx
    ON tickets (requester_id, status_id, id) INCLUDE (is_escalated)
    WHERE NOT is_deleted;
