-- ngx_tickets: delivery of the outbox and the background jobs (SPEC 4,
-- Notifications and Escalation).  docs/notifications.md has the rules.

-- How delivery retries: attempt n that fails waits
-- min(outbox_retry_max_seconds, outbox_retry_base_seconds * 2^(n-1)),
-- jittered to between half and all of it; after outbox_max_attempts the
-- notification is failed with its last error.
INSERT INTO setting_keys (key, kind, description) VALUES
  ('outbox_max_attempts', 'int',
   'delivery attempts of a notification before it is marked failed'),
  ('outbox_retry_base_seconds', 'int',
   'wait after the first failed delivery; doubles with each attempt'),
  ('outbox_retry_max_seconds', 'int',
   'longest wait between two delivery attempts');

INSERT INTO settings (key, value) VALUES
  ('outbox_max_attempts', '8'),
  ('outbox_retry_base_seconds', '30'),
  ('outbox_retry_max_seconds', '3600');

-- ticketsctl outbox list shows the failed ones first.
CREATE INDEX outbox_failed_idx ON outbox (id) WHERE status = 'failed';

-- The general webhook receives every event: when webhook_url is set, the
-- first notification that a transaction writes for an event of a ticket
-- brings a 'webhook' row with the same payload, in the same transaction
-- (created_on is the transaction's start, so it tells the rows of one
-- transaction apart from those of another).
CREATE FUNCTION outbox_webhook_copy() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM settings WHERE key = 'webhook_url'
               AND coalesce(value, '') <> '')
       AND NOT EXISTS (SELECT FROM outbox o WHERE o.channel = 'webhook'
                       AND o.event = NEW.event
                       AND o.ticket_id IS NOT DISTINCT FROM NEW.ticket_id
                       AND o.created_on = NEW.created_on)
    THEN
        INSERT INTO outbox (channel, event, ticket_id, payload, created_on)
        VALUES ('webhook', NEW.event, NEW.ticket_id, NEW.payload,
                NEW.created_on);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_webhook_copy AFTER INSERT ON outbox
    FOR EACH ROW WHEN (NEW.channel <> 'webhook')
    EXECUTE FUNCTION outbox_webhook_copy();

-- Periodic jobs that must run in one place at a time across workers and
-- hosts: the row is the gate (its last run) and the lock (FOR UPDATE).
CREATE TABLE job_runs (
    name            text PRIMARY KEY,
    last_run_on     timestamptz NOT NULL DEFAULT '-infinity'
);

INSERT INTO job_runs (name) VALUES ('escalation');
