-- Lists and search at a million tickets (SPEC 3.1, libtickets/src/list.c).
-- Forward-only; runs in one transaction, so no CONCURRENTLY.
--
-- What 001 already serves: involving(U) by tickets_requester_idx and
-- tickets_assignee_idx (a BitmapOr; "no assignee" is an IS NULL range of
-- the latter), AllMyGroups by tickets_group_idx, status types by
-- tickets_status_idx, escalated by tickets_escalated_idx, "today" by
-- tickets_due_idx, the createdOn sort by tickets_created_idx, Subject by
-- tickets_title_trgm_idx, the task lists by tasks_assigned_idx.  What
-- follows fills the gaps.  status_type stays on statuses: each list joins
-- the handful of status rows it wants instead of a denormalized copy that
-- a trigger would have to keep right.

-- Overdue: due_date < now() is most of the table (every old completed
-- ticket is past due), so the scan goes per active status instead.
CREATE INDEX tickets_status_due_idx ON tickets (status_id, due_date)
    WHERE NOT is_deleted;

-- UnassignedTickets and the "no assignee" of MyOpenOrUnassigned: few
-- rows, by status like the overdue scan.
CREATE INDEX tickets_unassigned_idx ON tickets (status_id, id)
    WHERE assignee_id IS NULL AND NOT is_deleted;

-- The updatedOn sort, with id as the tie-breaker the list orders by.
CREATE INDEX tickets_updated_idx ON tickets (updated_on, id)
    WHERE NOT is_deleted;

-- The dueDate sort: unset due dates come last in both directions, which
-- the ascending tickets_due_idx gives forward but not backward.
CREATE INDEX tickets_due_desc_idx ON tickets (due_date DESC NULLS LAST,
                                              id DESC)
    WHERE NOT is_deleted;

-- The Priority search field: priority_id = ANY (ids of the named one).
CREATE INDEX tickets_priority_idx ON tickets (priority_id, id)
    WHERE NOT is_deleted;

-- The Requester search field: a substring of the full name, the user name
-- or the email; each column is searched on its own, so that a term never
-- matches across two of them.
CREATE INDEX users_search_trgm_idx ON users USING gin (
    full_name gin_trgm_ops, user_name gin_trgm_ops, email gin_trgm_ops);

-- The time zone of "today" for a user: theirs, else the system setting,
-- else UTC.  A name PostgreSQL does not know (users.time_zone is free
-- text) is passed over rather than failing the list.
CREATE FUNCTION user_time_zone(user_id text) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
    AS $$
DECLARE
    zone  text;
BEGIN
    FOR zone IN
        SELECT z FROM (
            SELECT 1, u.time_zone FROM users u WHERE u.id = user_id
            UNION ALL
            SELECT 2, s.value FROM settings s WHERE s.key = 'time_zone'
        ) AS candidates (rank, z)
        WHERE z IS NOT NULL
        ORDER BY rank
    LOOP
        BEGIN
            PERFORM now() AT TIME ZONE zone;
            RETURN zone;
        EXCEPTION WHEN invalid_parameter_value THEN
            NULL;
        END;
    END LOOP;

    RETURN 'UTC';
END
$$;
