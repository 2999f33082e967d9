-- ngx_tickets: webhook subscriptions (docs/webhooks.md).
--
-- A subscription names a target and the events it wants.  Each event of a
-- ticket is written as one outbox row per active subscription that wants
-- it, channel 'subscription', in the transaction of the change: deferred
-- triggers on history and conversations run at COMMIT, once per ticket
-- and transaction, and read what the transaction wrote.

CREATE TABLE webhooks (
    id              bigserial PRIMARY KEY,
    url             text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    events          text[] NOT NULL CHECK (cardinality(events) > 0),
    -- kept to sign; shown once, when the subscription is made
    secret          text NOT NULL,
    is_active       boolean NOT NULL DEFAULT true,
    paused_reason   text,
    paused_on       timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_success_on timestamptz,
    last_failure_on timestamptz,
    last_error      text,
    created_by_id   text REFERENCES users ON DELETE SET NULL,
    created_on      timestamptz NOT NULL DEFAULT now(),
    updated_on      timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE outbox DROP CONSTRAINT outbox_channel_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_channel_check
    CHECK (channel IN ('email', 'push', 'tpi', 'webhook', 'subscription'));
ALTER TABLE outbox ADD COLUMN webhook_id bigint
    REFERENCES webhooks ON DELETE CASCADE;
ALTER TABLE outbox ADD COLUMN last_attempt_on timestamptz;
ALTER TABLE outbox ADD CHECK ((channel = 'subscription')
                              = (webhook_id IS NOT NULL));

CREATE INDEX outbox_webhook_idx ON outbox (webhook_id, id)
    WHERE webhook_id IS NOT NULL;

-- the general webhook_url copies the notifications, not the deliveries
DROP TRIGGER outbox_webhook_copy ON outbox;
CREATE TRIGGER outbox_webhook_copy AFTER INSERT ON outbox
    FOR EACH ROW WHEN (NEW.channel NOT IN ('webhook', 'subscription'))
    EXECUTE FUNCTION outbox_webhook_copy();

INSERT INTO setting_keys (key, kind, description) VALUES
  ('webhook_pause_after_failures', 'int',
   'consecutive failed attempts after which a webhook subscription is '
   'paused; 0: never');

INSERT INTO settings (key, value) VALUES
  ('webhook_pause_after_failures', '10');


-- The events of ticket t that this transaction made, one outbox row per
-- event and subscription.  History rows and conversations of this
-- transaction are those of now() (the transaction's start): a ticket's
-- writes are serialized by its row lock, so no other transaction's rows
-- of the same ticket carry the same instant.
CREATE FUNCTION webhook_emit(t bigint) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    done    text;
    tk      jsonb;
    ch      jsonb;
    by_id   text;
    ev      record;
BEGIN
    IF NOT EXISTS (SELECT FROM webhooks WHERE is_active) THEN
        RETURN;
    END IF;

    -- once per ticket and transaction: the tickets done so far, in one
    -- transaction-local setting (one name, so a pooled session does not
    -- collect a setting per ticket)
    done := coalesce(current_setting('tickets.webhook_done', true), '');
    IF position(',' || t || ',' IN done) > 0 THEN
        RETURN;
    END IF;
    PERFORM set_config('tickets.webhook_done',
                       CASE WHEN done = '' THEN ',' ELSE done END
                       || t || ',', true);

    SELECT jsonb_build_object('id', x.id, 'guid', x.guid, 'title', x.title,
               'status', s.name, 'statusType', s.status_type,
               'priority', p.name, 'requesterId', x.requester_id,
               'assigneeId', x.assignee_id, 'groupId', x.group_id,
               'isEscalated', x.is_escalated, 'isDeleted', x.is_deleted,
               'dueDate', iso_utc(x.due_date),
               'createdOn', iso_utc(x.created_on),
               'updatedOn', iso_utc(x.updated_on),
               'resolvedOn', iso_utc(x.resolved_on),
               'closedOn', iso_utc(x.closed_on), 'version', x.version)
      INTO tk
      FROM tickets x JOIN statuses s ON s.id = x.status_id
      LEFT JOIN priorities p ON p.id = x.priority_id
     WHERE x.id = t;

    IF tk IS NULL THEN
        RETURN;
    END IF;

    SELECT coalesce(jsonb_agg(jsonb_build_object('field', h.field,
               'oldValue', h.old_value, 'newValue', h.new_value)
               ORDER BY h.id), '[]'),
           (array_agg(h.changed_by_id ORDER BY h.id))[1]
      INTO ch, by_id
      FROM history h WHERE h.ticket_id = t AND h.changed_on = now();

    FOR ev IN
        WITH h AS (
            SELECT * FROM history
             WHERE ticket_id = t AND changed_on = now()
        ), e(event, extra) AS (
            SELECT 'ticket.created', '{}'::jsonb
             WHERE EXISTS (SELECT FROM h WHERE field = 'Created')
            UNION ALL
            SELECT 'ticket.updated', '{}'::jsonb
             WHERE EXISTS (SELECT FROM h WHERE field <> 'Created')
               AND NOT EXISTS (SELECT FROM h WHERE field = 'Created')
            UNION ALL
            SELECT 'ticket.status_changed', jsonb_build_object(
                       'oldStatus', old_value, 'newStatus', new_value)
              FROM h WHERE field = 'status'
            UNION ALL
            SELECT 'ticket.assigned', jsonb_build_object(
                       'assigneeId', tk->'assigneeId')
             WHERE (EXISTS (SELECT FROM h WHERE field = 'assignee'
                            AND new_value IS NOT NULL)
                    OR EXISTS (SELECT FROM h WHERE field = 'Created'))
               AND tk->>'assigneeId' IS NOT NULL
            UNION ALL
            SELECT 'ticket.resolved', '{}'::jsonb
             WHERE EXISTS (SELECT FROM h WHERE field = 'resolvedOn'
                           AND new_value IS NOT NULL)
            UNION ALL
            SELECT 'ticket.closed', '{}'::jsonb
             WHERE EXISTS (SELECT FROM h WHERE field = 'closedOn'
                           AND new_value IS NOT NULL)
            UNION ALL
            SELECT 'ticket.reopened', '{}'::jsonb
             WHERE EXISTS (SELECT FROM h WHERE field IN ('resolvedOn',
                           'closedOn') AND old_value IS NOT NULL
                           AND new_value IS NULL)
                OR EXISTS (SELECT FROM h
                           JOIN statuses os ON os.name = h.old_value
                           JOIN statuses ns ON ns.name = h.new_value
                           WHERE h.field = 'status'
                           AND os.status_type IN ('Resolved', 'Closed')
                           AND ns.status_type NOT IN ('Resolved', 'Closed'))
            UNION ALL
            SELECT 'ticket.escalated', jsonb_build_object(
                       'automatic', changed_by_id IS NULL)
              FROM h WHERE field = 'isEscalated' AND new_value = 'true'
            UNION ALL
            SELECT 'ticket.sla_breached', jsonb_build_object(
                       'dueDate', tk->'dueDate')
              FROM h WHERE field = 'isEscalated' AND new_value = 'true'
               AND changed_by_id IS NULL
            UNION ALL
            SELECT 'ticket.deleted', '{}'::jsonb
             WHERE EXISTS (SELECT FROM h WHERE field = 'deletedOn'
                           AND new_value IS NOT NULL)
            UNION ALL
            SELECT 'conversation.added', jsonb_build_object(
                       'conversation', jsonb_build_object('id', c.id,
                           'type', c.type, 'title', c.title,
                           'message', c.message, 'isPrivate', c.is_private,
                           'createdById', c.created_by_id,
                           'createdOn', iso_utc(c.created_on)))
              FROM conversations c
             WHERE c.ticket_id = t AND c.created_on = now()
        )
        SELECT e.event, e.extra, w.id AS webhook_id
          FROM e JOIN webhooks w ON w.is_active AND e.event = ANY (w.events)
         ORDER BY w.id
    LOOP
        INSERT INTO outbox (channel, event, ticket_id, payload, webhook_id)
        VALUES ('subscription', ev.event, t,
                jsonb_build_object('webhookId', ev.webhook_id,
                                   'ticket', tk, 'changes', ch,
                                   'changedById', by_id) || ev.extra,
                ev.webhook_id);
    END LOOP;
END $$;

CREATE FUNCTION webhook_emit_trigger() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_emit(NEW.ticket_id);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER webhook_emit_history AFTER INSERT ON history
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION webhook_emit_trigger();

CREATE CONSTRAINT TRIGGER webhook_emit_conversation AFTER INSERT
    ON conversations DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION webhook_emit_trigger();
