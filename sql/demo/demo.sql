-- Demo data for make run and the tests.  Not a migration: ticketsctl load
-- runs it once.  Every account's password is "demo".

INSERT INTO users (id, user_name, email, full_name, role, time_zone,
                   password_hash) VALUES
  ('00000000-0000-4000-a000-000000000001', 'admin', 'admin@example.com',
   'Ada Admin', 'Admin', 'Europe/Berlin', 'pbkdf2_sha256$210000$bmd4X3RpY2tldHMvZGVtbw==$Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE='),
  ('00000000-0000-4000-a000-000000000002', 'tech1', 'tech1@example.com',
   'Tom Technician', 'Technician', NULL, 'pbkdf2_sha256$210000$bmd4X3RpY2tldHMvZGVtbw==$Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE='),
  ('00000000-0000-4000-a000-000000000003', 'tech2', 'tech2@example.com',
   'Tina Technician', 'Technician', 'America/New_York', 'pbkdf2_sha256$210000$bmd4X3RpY2tldHMvZGVtbw==$Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE='),
  ('00000000-0000-4000-a000-000000000004', 'tech3', 'tech3@example.com',
   'Nick Network', 'Technician', NULL, 'pbkdf2_sha256$210000$bmd4X3RpY2tldHMvZGVtbw==$Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE='),
  ('00000000-0000-4000-a000-000000000005', 'member1', 'member1@example.com',
   'Mary Member', 'Member', NULL, 'pbkdf2_sha256$210000$bmd4X3RpY2tldHMvZGVtbw==$Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE='),
  ('00000000-0000-4000-a000-000000000006', 'member2', 'member2@example.com',
   'Mark Member', 'Member', 'Asia/Tokyo', 'pbkdf2_sha256$210000$bmd4X3RpY2tldHMvZGVtbw==$Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE='),
  ('00000000-0000-4000-a000-000000000007', 'integration',
   'integration@example.com', 'Integration Service', 'Integration', NULL,
   'pbkdf2_sha256$210000$bmd4X3RpY2tldHMvZGVtbw==$Db9cLJYl5bGIfQNgvfU0TzqqEvVKgy2h5iguvE23VPE=');

INSERT INTO sites (id, title) VALUES (1, 'Headquarters'), (2, 'Branch Office');
INSERT INTO departments (id, title) VALUES (1, 'IT'), (2, 'Finance');
INSERT INTO groups (id, name) VALUES (1, 'Service Desk'), (2, 'Network');

INSERT INTO group_members (group_id, user_id) VALUES
  (1, '00000000-0000-4000-a000-000000000002'),
  (1, '00000000-0000-4000-a000-000000000003'),
  (2, '00000000-0000-4000-a000-000000000004');

INSERT INTO clients (id, name) VALUES (1, 'Acme Corp');

INSERT INTO categories (id, name) VALUES
  (1, 'Hardware'), (2, 'Software'), (3, 'Network');
INSERT INTO subcategories (id, category_id, name) VALUES
  (1, 1, 'Laptop'), (2, 1, 'Printer'), (3, 2, 'Email'), (4, 2, 'VPN'),
  (5, 3, 'Wi-Fi');
INSERT INTO items (id, subcategory_id, name) VALUES
  (1, 1, 'Dell XPS 13'), (2, 1, 'ThinkPad X1'), (3, 2, 'HP LaserJet'),
  (4, 3, 'Outlook'), (5, 4, 'AnyConnect'), (6, 5, 'Office AP');

INSERT INTO statuses (id, name, status_type) VALUES
  (1, 'Open', 'Open'), (2, 'In Progress', 'Open'), (3, 'On Hold', 'OnHold'),
  (4, 'Waiting for Customer', 'Pending'), (5, 'Resolved', 'Resolved'),
  (6, 'Closed', 'Closed'), (7, 'Reopened', 'Open');

INSERT INTO priorities (id, name, rank) VALUES
  (1, 'Low', 1), (2, 'Normal', 2), (3, 'High', 3), (4, 'Urgent', 4);
INSERT INTO tier_levels (id, title) VALUES (1, 'Tier 1'), (2, 'Tier 2');
INSERT INTO services (id, name) VALUES (1, 'Email Service'), (2, 'Network Service');
INSERT INTO impacts (id, name) VALUES (1, 'Low'), (2, 'Medium'), (3, 'High');
INSERT INTO urgencies (id, name) VALUES (1, 'Low'), (2, 'Medium'), (3, 'High');
INSERT INTO tags (id, name) VALUES (1, 'vpn'), (2, 'hardware'), (3, 'vip');

INSERT INTO business_calendars (id, name, time_zone) VALUES
  (1, 'Office Hours', 'Europe/Berlin');
INSERT INTO business_hours (calendar_id, iso_weekday, start_time, end_time)
SELECT 1, d, '09:00', '17:00' FROM generate_series(1, 5) AS d;
INSERT INTO holidays (calendar_id, day, name) VALUES
  (1, '2026-12-25', 'Christmas Day'), (1, '2026-12-26', 'Boxing Day'),
  (1, '2027-01-01', 'New Year''s Day');

INSERT INTO sla_policies (id, name, priority_id, response_minutes,
                          resolution_minutes, business_hours_only,
                          calendar_id) VALUES
  (1, 'Low priority', 1, 480, 2400, true, 1),
  (2, 'Normal priority', 2, 240, 1440, true, 1),
  (3, 'High priority', 3, 60, 480, true, 1),
  (4, 'Urgent priority', 4, 15, 240, false, NULL);

UPDATE settings SET value = v FROM (VALUES
  ('default_site_id', '1'), ('default_status_id', '1'),
  ('default_priority_id', '2'), ('default_category_id', '1'),
  ('default_tier_level_id', '1'), ('resolved_status_id', '5'),
  ('closed_status_id', '6'), ('reopen_status_id', '7'),
  ('business_calendar_id', '1')) AS s(k, v)
WHERE key = k;

-- 36 tickets in varied states, deterministic from their number.
INSERT INTO tickets (id, title, description, ticket_type, source,
                     requester_id, assignee_id, created_by_id, category_id,
                     subcategory_id, item_id, site_id, department_id,
                     group_id, client_id, status_id, priority_id,
                     tier_level_id, sla_id, due_date, cc, is_escalated,
                     escalated_on, created_on, updated_on, resolved_on,
                     closed_on)
SELECT i,
       (ARRAY['Laptop does not boot', 'Printer jams on every page',
              'Cannot receive email', 'VPN disconnects hourly',
              'Wi-Fi slow in meeting room', 'New starter needs a laptop'])
           [1 + i % 6] || ' #' || i,
       'Reported by phone. Details for ticket ' || i || '.',
       i % 5, i % 2,
       '00000000-0000-4000-a000-00000000000' || (ARRAY[5, 6, 5, 2, 6, 3])[1 + i % 6],
       CASE WHEN i % 4 = 0 THEN NULL
            ELSE '00000000-0000-4000-a000-00000000000'
                 || (ARRAY[2, 3, 4])[1 + i % 3] END,
       '00000000-0000-4000-a000-000000000001',
       c.cat, c.sub, c.item,
       1 + i % 2, 1 + (i / 2) % 2,
       CASE WHEN i % 3 = 2 THEN 2 ELSE 1 END,
       CASE WHEN i % 5 = 0 THEN 1 END,
       s.status, 1 + i % 4, 1 + i % 2, 1 + i % 4,
       now() + ((i % 9) - 4) * interval '1 day',
       CASE WHEN i % 7 = 0 THEN 'boss@example.com' END,
       i % 11 = 0, CASE WHEN i % 11 = 0 THEN now() - interval '1 hour' END,
       now() - (40 - i) * interval '1 day',
       now() - (40 - i) * interval '1 day' + interval '2 hours',
       CASE WHEN s.status IN (5, 6) THEN now() - interval '1 day' END,
       CASE WHEN s.status = 6 THEN now() - (i % 3) * interval '5 days' END
FROM generate_series(1, 36) AS i,
     LATERAL (SELECT (ARRAY[1, 2, 3, 4, 5, 6, 1, 2, 7])[1 + i % 9] AS status) s,
     LATERAL (SELECT (ARRAY[1, 1, 2, 2, 3])[1 + i % 5] AS cat,
                     (ARRAY[1, 2, 3, 4, 5])[1 + i % 5] AS sub,
                     (ARRAY[1, 3, 4, 5, 6])[1 + i % 5] AS item) c;

INSERT INTO ticket_tags (ticket_id, tag_id)
SELECT i, 1 + i % 3 FROM generate_series(1, 36, 4) AS i;

INSERT INTO conversations (ticket_id, type, title, message, send_to,
                           is_private, created_by_id, created_on)
SELECT t.id, 'Reply', 'Re: ' || t.title, 'We are looking into it.',
       u.email, false, t.assignee_id, t.created_on + interval '1 hour'
FROM tickets t JOIN users u ON u.id = t.requester_id
WHERE t.assignee_id IS NOT NULL AND t.id % 2 = 1;

INSERT INTO conversations (ticket_id, type, title, message, is_private,
                           created_by_id, created_on)
SELECT id, 'Note', 'Internal note', 'Checked the logs; hardware fault likely.',
       true, assignee_id, created_on + interval '90 minutes'
FROM tickets WHERE assignee_id IS NOT NULL AND id % 3 = 0;

UPDATE tickets t SET first_responded_on = c.created_on
FROM conversations c WHERE c.ticket_id = t.id AND c.type = 'Reply';

INSERT INTO resolutions (ticket_id, resolution, resolved_by_id, resolved_on)
SELECT t.id, 'Replaced the faulty part.',
       coalesce(t.assignee_id, '00000000-0000-4000-a000-000000000002'),
       t.resolved_on
FROM tickets t WHERE t.status_id IN (5, 6);

INSERT INTO closures (ticket_id, status, comments, closed_by_id, closing_date,
                      acknowledged)
SELECT t.id, 0, 'Confirmed by the requester.',
       coalesce(t.assignee_id, '00000000-0000-4000-a000-000000000002'),
       t.closed_on, true
FROM tickets t WHERE t.status_id = 6;

INSERT INTO tasks (ticket_id, title, assigned_user_id, due_date,
                   is_completed, completed_on, created_by_id)
SELECT t.id, 'Order replacement part', t.assignee_id, t.due_date,
       t.id % 2 = 0, CASE WHEN t.id % 2 = 0 THEN now() END,
       '00000000-0000-4000-a000-000000000001'
FROM tickets t WHERE t.assignee_id IS NOT NULL AND t.id % 5 IN (1, 2);

UPDATE tickets SET is_deleted = true, deleted_on = now() WHERE id = 36;

-- Explicit ids above: move every sequence past them.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sites', 'departments', 'groups', 'clients',
        'categories', 'subcategories', 'items', 'statuses', 'priorities',
        'tier_levels', 'services', 'impacts', 'urgencies', 'tags',
        'business_calendars', 'sla_policies', 'tickets']
    LOOP
        EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, ''id''), '
                       '(SELECT max(id) FROM %I))', t, t);
    END LOOP;
END
$$;
