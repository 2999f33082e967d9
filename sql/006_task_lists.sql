-- MyOpenTasks and MyCompletedTasks (libtickets/src/list.c) page and count
-- on the tasks index alone: whether the task's ticket is deleted is kept
-- on the task, so that no ticket is read to leave deleted ones out.  The
-- triggers keep it right for every writer: a task takes its ticket's
-- state when inserted, and follows it when the ticket is deleted (or
-- restored by hand).
ALTER TABLE tasks ADD COLUMN ticket_deleted boolean NOT NULL DEFAULT false;

UPDATE tasks k SET ticket_deleted = true
FROM tickets t WHERE t.id = k.ticket_id AND t.is_deleted;

CREATE FUNCTION tasks_ticket_deleted_init() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.ticket_deleted := coalesce((SELECT t.is_deleted FROM tickets t
                                    WHERE t.id = NEW.ticket_id), false);
    RETURN NEW;
END
$$;

CREATE TRIGGER tasks_ticket_deleted_init
    BEFORE INSERT OR UPDATE OF ticket_id ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_ticket_deleted_init();

CREATE FUNCTION tickets_deleted_to_tasks() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE tasks SET ticket_deleted = NEW.is_deleted
    WHERE ticket_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER tickets_deleted_to_tasks
    AFTER UPDATE OF is_deleted ON tickets
    FOR EACH ROW WHEN (OLD.is_deleted IS DISTINCT FROM NEW.is_deleted)
    EXECUTE FUNCTION tickets_deleted_to_tasks();

-- the page walks it backward by ticket id, the count stops at the limit
CREATE INDEX tasks_assigned_live_idx
    ON tasks (assigned_user_id, is_completed, ticket_id)
    WHERE NOT ticket_deleted;

DROP INDEX tasks_assigned_idx;
