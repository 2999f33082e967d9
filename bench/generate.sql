-- bench/generate.sql: a million tickets for the benchmark (make bench).
--
-- Runs on a database that has the migrations (sql/*.sql) and the demo data
-- (sql/demo/demo.sql), once: bench/run drops and recreates the database
-- before running it again.  psql -v ON_ERROR_STOP=1 -f bench/generate.sql.
--
-- What it makes, set-based (INSERT ... SELECT generate_series), seeded so
-- that two runs give the same data but for the dates, which are relative
-- to now():
--
--   users          40 technicians (8 groups, a quarter of them in two)
--                  and 5,000 members; names from word lists, so that a
--                  requester search is a real substring search
--   tickets        1,000,000, ids 37 .. 1,000,036, created over two years
--                  (id order is creation order).  Active (Open, In
--                  Progress, On Hold, Waiting for Customer, Reopened) is
--                  ~1.5%, most of it recent, plus a tail of stale ones; the
--                  rest Resolved or Closed.  20% unassigned.  Requesters
--                  Zipf-like (a few people open many tickets).  Priorities
--                  Low/Normal/High/Urgent 20/47/20/8%, 5% none; due dates
--                  from the priority's SLA, so the active ones fall around
--                  now: some overdue, some due today, some later.
--                  Subjects from word lists (object, problem, context)
--                  with skewed frequencies.  Overdue active tickets are
--                  escalated, as the escalation job would have done, and
--                  a share of the completed ones that breached.  Every
--                  200th id (id % 200 = 0) is deleted: bench/wrk/*.lua
--                  skip those ids.
--   resolutions, closures   for every Resolved / Closed ticket
--   tasks          for ~5% of the tickets, 1-2 each, to technicians
--   conversations  a Reply on ~20%, a private Note on ~5%
--   attachments    a 1 KiB text file on ~1%
--   ticket_tags, history ('Created' for every ticket)
--
-- Foreign keys and secondary indexes of the loaded tables are dropped
-- first and re-created at the end (as pg_restore does): re-adding a
-- foreign key validates every row in one pass, so the data is checked
-- against every constraint of the schema, CHECKs at insert time.

\set ON_ERROR_STOP 1
\timing on

SET client_min_messages = warning;
SET synchronous_commit = off;
SET maintenance_work_mem = '1GB';
SET work_mem = '256MB';
SET max_parallel_maintenance_workers = 2;

BEGIN;

SELECT setseed(0.4242);

-- The webhook triggers (sql/010_webhooks.sql) are deferred constraint
-- triggers: a million queued events, and no index can be built while
-- they are pending.  The generated history is nobody's event: they are
-- off during the load and on again before the commit.
ALTER TABLE history DISABLE TRIGGER webhook_emit_history;
ALTER TABLE conversations DISABLE TRIGGER webhook_emit_conversation;

-- The tables this file fills, whose foreign keys and indexes go away
-- during the load.
CREATE TEMP TABLE bench_tables (name) AS VALUES
  ('tickets'), ('ticket_tags'), ('conversations'), ('attachments'),
  ('resolutions'), ('closures'), ('tasks'), ('history');

-- foreign keys from or to those tables
CREATE TEMP TABLE bench_fks AS
SELECT c.conrelid::regclass::text AS tab, c.conname AS name,
       pg_get_constraintdef(c.oid) AS def
FROM pg_constraint c
WHERE c.contype = 'f'
  AND (c.conrelid::regclass::text IN (SELECT name FROM bench_tables)
       OR c.confrelid::regclass::text IN (SELECT name FROM bench_tables));

-- indexes that back no constraint
CREATE TEMP TABLE bench_indexes AS
SELECT i.indexrelid::regclass::text AS name,
       pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i
WHERE i.indrelid::regclass::text IN (SELECT name FROM bench_tables)
  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid);

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM bench_fks LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tab, r.name);
    END LOOP;
    FOR r IN SELECT * FROM bench_indexes LOOP
        EXECUTE format('DROP INDEX %s', r.name);
    END LOOP;
END
$$;


-- Word lists ------------------------------------------------------------

CREATE TEMP TABLE w_first (i serial, w text);
INSERT INTO w_first (w) SELECT unnest(ARRAY[
  'James', 'Mary', 'John', 'Patricia', 'Robert', 'Jennifer', 'Michael',
  'Linda', 'William', 'Elizabeth', 'David', 'Barbara', 'Richard', 'Susan',
  'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Charles', 'Karen', 'Daniel',
  'Nancy', 'Matthew', 'Lisa', 'Anthony', 'Betty', 'Mark', 'Margaret',
  'Paul', 'Sandra', 'Steven', 'Ashley', 'Andrew', 'Kimberly', 'Kenneth',
  'Emily', 'Joshua', 'Donna', 'Kevin', 'Michelle', 'Brian', 'Carol',
  'George', 'Amanda', 'Timothy', 'Melissa', 'Ronald', 'Deborah', 'Jason',
  'Stephanie', 'Lukas', 'Sofia', 'Mateo', 'Yuki', 'Aisha', 'Olga', 'Piotr',
  'Ingrid', 'Rahul', 'Chen']);

CREATE TEMP TABLE w_last (i serial, w text);
INSERT INTO w_last (w) SELECT unnest(ARRAY[
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller',
  'Davis', 'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez',
  'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin',
  'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark',
  'Ramirez', 'Lewis', 'Robinson', 'Walker', 'Young', 'Allen', 'King',
  'Wright', 'Scott', 'Torres', 'Nguyen', 'Hill', 'Flores', 'Green',
  'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera', 'Campbell', 'Mitchell',
  'Carter', 'Roberts', 'Schneider', 'Kowalski', 'Tanaka', 'Okafor',
  'Petrov', 'Lindqvist', 'Sharma', 'Wang', 'Novak', 'Fischer']);

-- what breaks, most frequent first (picked with a skew)
CREATE TEMP TABLE w_object (i serial, w text);
INSERT INTO w_object (w) SELECT unnest(ARRAY[
  'Laptop', 'Outlook', 'Password', 'VPN', 'Printer', 'Teams', 'Wi-Fi',
  'Account', 'Monitor', 'Excel', 'OneDrive', 'SharePoint', 'Phone',
  'Docking station', 'Shared mailbox', 'Network drive', 'MFA token',
  'Keyboard', 'Headset', 'Calendar', 'Chrome', 'Zoom', 'SAP', 'Salesforce',
  'Jira', 'Confluence', 'Citrix', 'Remote desktop', 'Windows update',
  'Webcam', 'Mouse', 'Scanner', 'Projector', 'Badge reader', 'iPhone',
  'Android phone', 'Firefox', 'Adobe Reader', 'License', 'Backup',
  'Antivirus', 'Payroll system', 'CRM', 'ERP', 'Database', 'Firewall',
  'Server', 'LaserJet', 'Plotter', 'Kiosk']);

CREATE TEMP TABLE w_problem (i serial, w text);
INSERT INTO w_problem (w) SELECT unnest(ARRAY[
  'does not start', 'keeps crashing', 'is very slow', 'shows an error',
  'cannot connect', 'not working after update', 'freezes randomly',
  'needs to be replaced', 'access denied', 'request for access',
  'stopped syncing', 'makes a strange noise', 'login fails', 'is locked',
  'needs configuration', 'missing after migration', 'prints blank pages',
  'disconnects every hour', 'battery drains quickly', 'out of storage',
  'certificate expired', 'license expired', 'cannot install',
  'wrong permissions', 'duplicate entries', 'screen flickers',
  'no sound', 'cannot send email', 'cannot open attachment',
  'requests reset']);

CREATE TEMP TABLE w_context (i serial, w text);
INSERT INTO w_context (w) SELECT unnest(ARRAY[
  '', '', '', '', '', ' since Monday', ' after password change',
  ' when working from home', ' for new starter', ' on the 3rd floor',
  ' in meeting room B', ' at Branch Office', ' for the finance team',
  ' during month-end close', ' after the reboot', ' for two days now',
  ' on the guest network', ' (urgent)', ' again', ' for the whole team']);

CREATE TEMP TABLE w_resolution (i serial, w text);
INSERT INTO w_resolution (w) SELECT unnest(ARRAY[
  'Restarted the service.', 'Replaced the faulty part.',
  'Reset the password and confirmed login.', 'Reinstalled the application.',
  'Updated the driver.', 'Granted the requested access.',
  'Cleared the cache and profile.', 'Escalated to the vendor; fixed.',
  'User error; explained the procedure.', 'Duplicate of another ticket.']);


-- Organisation ----------------------------------------------------------

INSERT INTO groups (id, name) VALUES
  (3, 'Hardware'), (4, 'Software'), (5, 'Accounts & Access'),
  (6, 'Facilities'), (7, 'Security'), (8, 'Database');
SELECT setval(pg_get_serial_sequence('groups', 'id'), 8);

-- technician n: 00000000-0000-4000-b000-00000000000n, group 1 + (n-1) % 8,
-- and a second one for every fourth; password "demo" like the demo users
INSERT INTO users (id, user_name, email, full_name, role, time_zone,
                   password_hash, created_on)
SELECT '00000000-0000-4000-b000-' || lpad(n::text, 12, '0'),
       'tech.' || lower(l.w) || n,
       'tech.' || lower(l.w) || n || '@example.com',
       f.w || ' ' || l.w, 'Technician',
       (ARRAY[NULL, NULL, 'Europe/Berlin', 'America/New_York'])[1 + n % 4],
       (SELECT password_hash FROM users WHERE user_name = 'tech1'),
       now() - interval '3 years'
FROM generate_series(1, 40) AS n
JOIN w_first f ON f.i = 1 + (n * 7) % 60
JOIN w_last l ON l.i = 1 + (n * 13) % 60;

INSERT INTO group_members (group_id, user_id)
SELECT 1 + (n - 1) % 8, '00000000-0000-4000-b000-' || lpad(n::text, 12, '0')
FROM generate_series(1, 40) AS n
UNION ALL
SELECT 1 + (n + 2) % 8, '00000000-0000-4000-b000-' || lpad(n::text, 12, '0')
FROM generate_series(4, 40, 4) AS n;

-- member n: 00000000-0000-4000-c000-00000000000n
INSERT INTO users (id, user_name, email, full_name, role, time_zone,
                   created_on)
SELECT '00000000-0000-4000-c000-' || lpad(n::text, 12, '0'),
       lower(left(f.w, 1) || l.w) || n,
       lower(f.w || '.' || l.w) || n || '@example.com',
       f.w || ' ' || l.w, 'Member',
       CASE WHEN n % 10 = 0 THEN 'Asia/Tokyo' END,
       now() - interval '3 years'
FROM generate_series(1, 5000) AS n
JOIN w_first f ON f.i = 1 + (n * 31 + n / 60) % 60
JOIN w_last l ON l.i = 1 + (n * 17 + n / 3600) % 60;


-- Tickets ---------------------------------------------------------------

-- Every random choice of a ticket, drawn once (the subquery is not
-- flattened: its target list is volatile).
CREATE TEMP TABLE g AS
SELECT id, age, created_on, r
FROM (
    SELECT 36 + n AS id,
           730.0 * (1000000 - n) / 1000000 AS age,
           ARRAY[random(), random(), random(), random(), random(), random(),
                 random(), random(), random(), random(), random(), random(),
                 random(), random(), random(), random()] AS r,
           now() - 730 * interval '1 day' * (1000000 - n) / 1000000
               - random() * interval '30 minutes' AS created_on
    FROM generate_series(1, 1000000) AS n
    OFFSET 0
) x;

-- the attributes that others depend on
CREATE TEMP TABLE g2 AS
SELECT g.*,
       -- active: mostly the last weeks, plus a 0.5% stale tail
       CASE WHEN r[1] < 0.9 * exp(-age / 7) + 0.005 THEN
                CASE WHEN r[2] < 0.40 THEN 1 WHEN r[2] < 0.65 THEN 2
                     WHEN r[2] < 0.77 THEN 3 WHEN r[2] < 0.92 THEN 4
                     ELSE 7 END
            WHEN age < 10 AND r[2] < 0.6 THEN 5
            WHEN r[2] < 0.03 THEN 5
            ELSE 6 END AS status_id,
       CASE WHEN r[3] < 0.2 THEN NULL
            ELSE 1 + floor(40 * power(r[4], 1.2))::int END AS tech,
       1 + floor(5000 * power(r[6], 2))::int AS member,
       CASE WHEN r[8] < 0.05 THEN NULL WHEN r[8] < 0.25 THEN 1
            WHEN r[8] < 0.72 THEN 2 WHEN r[8] < 0.92 THEN 3 ELSE 4 END
           AS priority_id
FROM g;

CREATE TEMP TABLE g3 AS
SELECT g2.*,
       CASE priority_id WHEN 1 THEN interval '7 days'
                        WHEN 2 THEN interval '4 days'
                        WHEN 3 THEN interval '36 hours'
                        WHEN 4 THEN interval '4 hours'
            ELSE CASE WHEN r[9] < 0.5 THEN interval '5 days' END END
           * (0.8 + 0.4 * r[10]) AS due_in,
       status_id IN (1, 2, 3, 4, 7) AS active
FROM g2;

INSERT INTO tickets (id, guid, title, description, ticket_type, source,
                     requester_id, assignee_id, created_by_id, category_id,
                     subcategory_id, item_id, site_id, department_id,
                     group_id, client_id, status_id, priority_id,
                     tier_level_id, service_id, impact_id, urgency_id,
                     sla_id, due_date, response_due_date, first_responded_on,
                     cc, is_escalated, escalated_on, sla_paused_since,
                     is_deleted, deleted_on, created_on, updated_on,
                     resolved_on, closed_on, version)
SELECT x.id, gen_random_uuid(), x.title,
       'Reported via the portal. ' || x.title || '. '
           || repeat('The user describes the steps that lead to it and '
                     || 'attached no screenshot. ', 1 + (x.id % 3)::int),
       (ARRAY[2, 2, 2, 2, 2, 3, 3, 3, 0, 1, 4])[1 + floor(x.r[11] * 11)::int],
       CASE WHEN x.r[12] < 0.3 THEN 1 ELSE 0 END,
       x.requester_id, x.assignee_id,
       CASE WHEN x.r[13] < 0.7 THEN x.requester_id
            ELSE coalesce(x.assignee_id,
                          '00000000-0000-4000-a000-000000000001') END,
       x.cat, x.sub, x.item,
       CASE WHEN x.r[14] < 0.7 THEN 1 ELSE 2 END,
       CASE WHEN x.r[14] < 0.5 THEN 1 ELSE 2 END,
       x.group_id,
       CASE WHEN x.r[15] < 0.1 THEN 1 END,
       x.status_id, x.priority_id,
       CASE WHEN x.r[15] < 0.8 THEN 1 ELSE 2 END,
       CASE WHEN x.r[16] < 0.3 THEN 1 WHEN x.r[16] < 0.5 THEN 2 END,
       1 + floor(x.r[9] * 3)::int, 1 + floor(x.r[10] * 3)::int,
       x.priority_id,                       -- policy n is priority n
       x.due_date,
       CASE WHEN x.priority_id IS NOT NULL
            THEN x.created_on + x.due_in / 6 END,
       x.responded_on,
       CASE WHEN x.id % 23 = 0 THEN 'manager@example.com' END,
       x.escalated, CASE WHEN x.escalated THEN x.escalated_on END,
       CASE WHEN x.status_id IN (3, 4) THEN x.updated_on END,
       x.id % 200 = 0, CASE WHEN x.id % 200 = 0 THEN x.updated_on END,
       x.created_on, x.updated_on, x.resolved_on, x.closed_on,
       1 + (x.id % 5)::int
FROM (
    SELECT y.*,
           -- the escalation job's work: active, past due, clock running;
           -- and half of the completed that breached
           CASE WHEN y.active
                THEN coalesce(y.due_date < now() - interval '2 minutes', false)
                     AND (y.status_id NOT IN (3, 4) OR y.r[7] < 0.5)
                ELSE coalesce(y.resolved_on > y.due_date, false)
                     AND y.r[7] < 0.5 END AS escalated,
           y.due_date + interval '1 minute' AS escalated_on,
           CASE WHEN y.active
                THEN y.created_on + (now() - y.created_on) * y.r[12]
                ELSE coalesce(y.closed_on, y.resolved_on) END AS updated_on
    FROM (
        SELECT g3.*, t.w || ' ' || p.w || c.w AS title,
               '00000000-0000-4000-c000-' || lpad(member::text, 12, '0')
                   AS requester_id,
               '00000000-0000-4000-b000-' || lpad(tech::text, 12, '0')
                   AS assignee_id,
               CASE WHEN tech IS NOT NULL THEN 1 + (tech - 1) % 8
                    WHEN r[5] < 0.1 THEN NULL
                    ELSE 1 + floor(8 * r[5])::int END AS group_id,
               (ARRAY[NULL, 1, 1, 2, 2, 3])[1 + floor(r[9] * 6)::int]
                   AS cat,
               CASE WHEN r[9] >= 1.0 / 6 AND r[10] < 0.7 THEN
                   (ARRAY[NULL, 1, 2, 3, 4, 5])[1 + floor(r[9] * 6)::int]
               END AS sub,
               CASE WHEN r[9] >= 1.0 / 6 AND r[10] < 0.4 THEN
                   (ARRAY[NULL, 1, 3, 4, 5, 6])[1 + floor(r[9] * 6)::int]
               END AS item,
               g3.created_on + due_in AS due_date,
               CASE WHEN tech IS NOT NULL AND r[13] < 0.8
                    THEN least(now(), g3.created_on
                                      + interval '20 minutes' * (1 + 10 * r[14]))
               END AS responded_on,
               CASE WHEN NOT active THEN
                   least(now() - interval '1 minute',
                         g3.created_on + coalesce(due_in, interval '3 days')
                                         * (0.1 + 1.25 * r[15]))
               END AS resolved_on,
               CASE WHEN status_id = 6 THEN
                   least(now() - interval '1 minute',
                         g3.created_on + coalesce(due_in, interval '3 days')
                                         * (0.1 + 1.25 * r[15])
                         + interval '5 days' * r[16])
               END AS closed_on
        FROM g3
        JOIN w_object t ON t.i = 1 + floor(50 * power(r[11], 1.6))::int
        JOIN w_problem p ON p.i = 1 + floor(30 * r[12])::int
        JOIN w_context c ON c.i = 1 + floor(20 * r[13])::int
    ) y
) x;

SELECT setval(pg_get_serial_sequence('tickets', 'id'),
              (SELECT max(id) FROM tickets));


-- What hangs off the tickets --------------------------------------------

INSERT INTO resolutions (ticket_id, resolution, resolved_by_id, resolved_on)
SELECT t.id, w.w,
       coalesce(t.assignee_id, '00000000-0000-4000-b000-'
                || lpad((1 + t.id % 40)::text, 12, '0')),
       t.resolved_on
FROM tickets t JOIN w_resolution w ON w.i = 1 + (t.id % 10)::int
WHERE t.id > 36 AND t.status_id IN (5, 6);

INSERT INTO closures (ticket_id, status, comments, closed_by_id,
                      closing_date, acknowledged)
SELECT t.id, CASE WHEN t.id % 10 = 0 THEN 4 ELSE 0 END,
       'Closed after confirmation.',
       coalesce(t.assignee_id, '00000000-0000-4000-b000-'
                || lpad((1 + t.id % 40)::text, 12, '0')),
       t.closed_on, t.id % 10 <> 0
FROM tickets t
WHERE t.id > 36 AND t.status_id = 6;

-- tasks: ~5% of tickets, 1 or 2, to the assignee or a colleague of the
-- group; open on an active ticket for half of them, else completed
INSERT INTO tasks (ticket_id, title, assigned_user_id, due_date,
                   is_completed, completed_on, completed_by_id,
                   created_by_id, created_on)
SELECT t.id,
       (ARRAY['Order replacement part', 'Call the user back',
              'Check with the vendor', 'Update the documentation',
              'Schedule a visit'])[k],
       a.uid, t.created_on + interval '2 days',
       done, CASE WHEN done THEN least(now(), t.updated_on) END,
       CASE WHEN done THEN a.uid END,
       coalesce(t.assignee_id, '00000000-0000-4000-a000-000000000001'),
       t.created_on + interval '1 hour'
FROM tickets t
CROSS JOIN LATERAL generate_series(1, 1 + (t.id % 2)::int) AS k
CROSS JOIN LATERAL (
    SELECT '00000000-0000-4000-b000-'
           || lpad((1 + ((t.id / 20 + k * 8) % 40))::text, 12, '0') AS uid
) a
CROSS JOIN LATERAL (
    SELECT t.status_id NOT IN (1, 2, 3, 4, 7) OR (t.id / 20 + k) % 2 = 0
           AS done
) d
WHERE t.id > 36 AND t.id % 20 = 3;

INSERT INTO conversations (ticket_id, type, title, message, send_to,
                           is_private, created_by_id, created_on)
SELECT t.id, 'Reply', 'Re: ' || t.title,
       'Thanks for reporting this; we are looking into it.',
       u.email, false, t.assignee_id, t.first_responded_on
FROM tickets t JOIN users u ON u.id = t.requester_id
WHERE t.id > 36 AND t.first_responded_on IS NOT NULL AND t.id % 4 = 1;

INSERT INTO conversations (ticket_id, type, title, message, is_private,
                           created_by_id, created_on)
SELECT t.id, 'Note', 'Internal note', 'Checked the logs; see the history.',
       true, t.assignee_id, t.created_on + interval '90 minutes'
FROM tickets t
WHERE t.id > 36 AND t.assignee_id IS NOT NULL AND t.id % 20 = 7;

INSERT INTO attachments (ticket_id, file_name, content_type, size, sha256,
                         content, created_by_id, created_on)
SELECT t.id, 'log-' || t.id || '.txt', 'text/plain', 1024,
       encode(sha256(c.b), 'hex'), c.b, t.created_by_id, t.created_on
FROM tickets t
CROSS JOIN LATERAL (SELECT convert_to(rpad('log of ticket ' || t.id, 1024,
                                           '.'), 'UTF8') AS b) c
WHERE t.id > 36 AND t.id % 100 = 11;

INSERT INTO ticket_tags (ticket_id, tag_id)
SELECT t.id, 1 + (t.id / 10 % 3)::int
FROM tickets t WHERE t.id > 36 AND t.id % 10 = 5;

INSERT INTO history (ticket_id, field, new_value, changed_by_id, changed_on)
SELECT t.id, 'Created', t.title, t.created_by_id, t.created_on
FROM tickets t WHERE t.id > 36;

DROP TABLE g, g2, g3;


-- Constraints and indexes back ------------------------------------------

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM bench_indexes LOOP
        EXECUTE r.def;
    END LOOP;
    FOR r IN SELECT * FROM bench_fks LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', r.tab, r.name,
                       r.def);
    END LOOP;
END
$$;

ALTER TABLE history ENABLE TRIGGER webhook_emit_history;
ALTER TABLE conversations ENABLE TRIGGER webhook_emit_conversation;

-- What bench/run needs to undo a run's writes and to tell a complete
-- generation from an interrupted one.
CREATE TABLE bench_meta (
    key             text PRIMARY KEY,
    value           text NOT NULL
);

INSERT INTO bench_meta (key, value)
SELECT 'generated_on', now()::text
UNION ALL SELECT 'max_ticket_id', (SELECT max(id) FROM tickets)::text
UNION ALL SELECT 'max_history_id', (SELECT coalesce(max(id), 0) FROM history)::text
UNION ALL SELECT 'max_outbox_id', (SELECT coalesce(max(id), 0) FROM outbox)::text
UNION ALL SELECT 'max_conversation_id',
                 (SELECT coalesce(max(id), 0) FROM conversations)::text
UNION ALL SELECT 'max_attachment_id',
                 (SELECT coalesce(max(id), 0) FROM attachments)::text
UNION ALL SELECT 'max_task_id', (SELECT coalesce(max(id), 0) FROM tasks)::text;

COMMIT;

VACUUM (FREEZE, ANALYZE);
