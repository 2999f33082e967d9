-- The arms of involving(U) (libtickets/src/list.c) are made disjoint
-- rather than merged: the assignee's arm and the unassigned arm leave out
-- the tickets U requested, on the index alone, so that collecting U's
-- active tickets needs no hash of them all.  MyEscalated walks and counts
-- U's escalated tickets without passing over the others.
CREATE INDEX tickets_unassigned_req_idx ON tickets (status_id, id)
    INCLUDE (requester_id) WHERE assignee_id IS NULL AND NOT is_deleted;
DROP INDEX tickets_unassigned_idx;

CREATE INDEX tickets_assignee_escalated_idx ON tickets (assignee_id, id)
    INCLUDE (requester_id) WHERE is_escalated AND NOT is_deleted;
CREATE INDEX tickets_requester_escalated_idx ON tickets (requester_id, id)
    WHERE is_escalated AND NOT is_deleted;
