-- ngx_tickets: the data model.  Forward-only; ticketsctl migrate runs each
-- file in one transaction and records it in schema_migrations.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Dates in the API: ISO 8601, UTC, with Z.
CREATE FUNCTION iso_utc(t timestamptz) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;

-- Identity ---------------------------------------------------------------

CREATE TABLE roles (
    name            text PRIMARY KEY
                    CHECK (name IN ('Admin', 'Technician', 'Member',
                                    'Integration'))
);

CREATE TABLE permissions (
    name            text PRIMARY KEY
                    CHECK (name ~ '^Tickets\.[A-Z][a-z]+$')
);

CREATE TABLE role_permissions (
    role            text NOT NULL REFERENCES roles ON DELETE CASCADE,
    permission      text NOT NULL REFERENCES permissions ON DELETE CASCADE,
    PRIMARY KEY (role, permission)
);

CREATE TABLE users (
    id              text PRIMARY KEY DEFAULT gen_random_uuid()::text
                    CHECK (length(id) BETWEEN 1 AND 63),
    user_name       text NOT NULL
                    CHECK (length(user_name) BETWEEN 1 AND 255
                           AND user_name !~ '[[:space:][:cntrl:]]'),
    email           text CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    full_name       text NOT NULL DEFAULT '' CHECK (length(full_name) <= 255),
    role            text NOT NULL REFERENCES roles,
    is_active       boolean NOT NULL DEFAULT true,
    time_zone       text,
    password_hash   text,
    created_on      timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_user_name_key ON users (lower(user_name));
CREATE INDEX users_email_idx ON users (lower(email));
CREATE INDEX users_role_idx ON users (role) WHERE is_active;

CREATE TABLE push_device_tokens (
    id              bigserial PRIMARY KEY,
    user_id         text NOT NULL REFERENCES users ON DELETE CASCADE,
    token           text NOT NULL UNIQUE CHECK (length(token) BETWEEN 1 AND 4096),
    platform        text NOT NULL DEFAULT 'fcm',
    created_on      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX push_device_tokens_user_idx ON push_device_tokens (user_id);

-- Throttling of password logins, per lower-cased user name (known or not).
CREATE TABLE login_failures (
    user_name       text PRIMARY KEY,
    failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    first_failed_on timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz
);

-- Organisation and lookups ----------------------------------------------

CREATE TABLE sites (
    id              serial PRIMARY KEY,
    title           text NOT NULL UNIQUE CHECK (length(title) BETWEEN 1 AND 255)
);

CREATE TABLE departments (
    id              serial PRIMARY KEY,
    title           text NOT NULL UNIQUE CHECK (length(title) BETWEEN 1 AND 255)
);

CREATE TABLE groups (
    id              serial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255)
);

CREATE TABLE group_members (
    group_id        integer NOT NULL REFERENCES groups ON DELETE CASCADE,
    user_id         text NOT NULL REFERENCES users ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);

CREATE INDEX group_members_user_idx ON group_members (user_id);

CREATE TABLE clients (
    id              serial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255)
);

CREATE TABLE categories (
    id              serial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255)
);

CREATE TABLE subcategories (
    id              serial PRIMARY KEY,
    category_id     integer NOT NULL REFERENCES categories,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    UNIQUE (category_id, name),
    UNIQUE (id, category_id)
);

CREATE TABLE items (
    id              serial PRIMARY KEY,
    subcategory_id  integer NOT NULL REFERENCES subcategories,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    UNIQUE (subcategory_id, name),
    UNIQUE (id, subcategory_id)
);

CREATE TABLE statuses (
    id              serial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
    status_type     text NOT NULL
                    CHECK (status_type IN ('Open', 'OnHold', 'Pending',
                                           'Resolved', 'Closed'))
);

CREATE TABLE priorities (
    id              serial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
    rank            integer NOT NULL UNIQUE
);

CREATE TABLE tier_levels (
    id              serial PRIMARY KEY,
    title           text NOT NULL UNIQUE CHECK (length(title) BETWEEN 1 AND 255)
);

CREATE TABLE services (
    id              serial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255)
);

CREATE TABLE impacts (
    id              serial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255)
);

CREATE TABLE urgencies (
    id              serial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255)
);

CREATE TABLE tags (
    id              serial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100)
);

-- SLA and the business calendar ------------------------------------------

CREATE TABLE business_calendars (
    id              serial PRIMARY KEY,
    name            text NOT NULL UNIQUE,
    time_zone       text NOT NULL DEFAULT 'UTC'
);

-- Working hours per ISO weekday (1 = Monday .. 7 = Sunday); a day without a
-- row is not a working day.
CREATE TABLE business_hours (
    calendar_id     integer NOT NULL REFERENCES business_calendars
                    ON DELETE CASCADE,
    iso_weekday     smallint NOT NULL CHECK (iso_weekday BETWEEN 1 AND 7),
    start_time      time NOT NULL,
    end_time        time NOT NULL,
    CHECK (start_time < end_time),
    PRIMARY KEY (calendar_id, iso_weekday, start_time)
);

CREATE TABLE holidays (
    calendar_id     integer NOT NULL REFERENCES business_calendars
                    ON DELETE CASCADE,
    day             date NOT NULL,
    name            text NOT NULL DEFAULT '',
    PRIMARY KEY (calendar_id, day)
);

CREATE TABLE sla_policies (
    id              serial PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
    is_active       boolean NOT NULL DEFAULT true,
    priority_id     integer REFERENCES priorities,
    category_id     integer REFERENCES categories,
    client_id       integer REFERENCES clients,
    response_minutes   integer NOT NULL CHECK (response_minutes > 0),
    resolution_minutes integer NOT NULL CHECK (resolution_minutes > 0),
    business_hours_only boolean NOT NULL DEFAULT false,
    calendar_id     integer REFERENCES business_calendars,
    CHECK (NOT business_hours_only OR calendar_id IS NOT NULL)
);

-- Settings ----------------------------------------------------------------

-- The known keys and how their values are checked by the library.
CREATE TABLE setting_keys (
    key             text PRIMARY KEY,
    kind            text NOT NULL
                    CHECK (kind IN ('text', 'int', 'bool', 'url', 'status',
                                    'site', 'priority', 'category',
                                    'tier_level', 'calendar', 'method',
                                    'time_zone', 'secret')),
    description     text NOT NULL
);

CREATE TABLE settings (
    key             text PRIMARY KEY REFERENCES setting_keys,
    value           text
);

INSERT INTO setting_keys (key, kind, description) VALUES
  ('allowed_extensions', 'text',
   'comma-separated file extensions accepted for uploads'),
  ('max_file_size', 'int', 'largest accepted upload, in bytes'),
  ('default_site_id', 'site', 'site of a ticket created without one'),
  ('default_status_id', 'status', 'status of a ticket created without one'),
  ('default_priority_id', 'priority', 'priority of a new ticket without one'),
  ('default_category_id', 'category', 'category of a new ticket without one'),
  ('default_tier_level_id', 'tier_level', 'tier of a new ticket without one'),
  ('resolved_status_id', 'status', 'status set by resolve'),
  ('closed_status_id', 'status', 'status set by close'),
  ('reopen_status_id', 'status', 'status set by reopen and requester reply'),
  ('auto_assign_on_create', 'bool', 'auto-assign new unassigned tickets'),
  ('auto_assign_on_update', 'bool', 'auto-assign unassigned tickets on update'),
  ('auto_assign_method', 'method', 'RoundRobin or LeastLoaded'),
  ('lock_closed_after_days', 'int',
   'a Closed ticket is locked this many days after closedOn (0: at once)'),
  ('notify_technician_on_requester_reply', 'bool',
   'email the assignee when the requester replies'),
  ('smtp_url', 'url', 'smtp:// or smtps:// server for outgoing email'),
  ('smtp_username', 'text', 'SMTP user name'),
  ('smtp_password', 'secret', 'SMTP password'),
  ('smtp_from', 'text', 'sender address of outgoing email'),
  ('push_url', 'url', 'endpoint receiving push notifications'),
  ('tpi_callback_url', 'url', 'third-party integration callback on resolve'),
  ('webhook_url', 'url', 'general webhook receiving every event'),
  ('webhook_secret', 'secret', 'HMAC-SHA256 key signing outgoing HTTP calls'),
  ('public_base_url', 'url', 'base URL of the API used in close links'),
  ('time_zone', 'time_zone', 'system time zone'),
  ('business_calendar_id', 'calendar', 'default business calendar'),
  ('sla_pause_on_hold', 'bool', 'pause the SLA clock while OnHold or Pending'),
  ('escalation_interval_seconds', 'int', 'period of the escalation job'),
  ('close_link_ttl_hours', 'int', 'lifetime of the close link of a resolution'),
  ('close_link_secret', 'secret', 'HMAC key signing close links'),
  ('login_max_failures', 'int', 'failed logins before a user name is throttled'),
  ('login_lockout_seconds', 'int', 'how long a throttled user name waits');

INSERT INTO settings (key, value) VALUES
  ('allowed_extensions',
   '.pdf,.png,.jpg,.jpeg,.gif,.txt,.log,.csv,.doc,.docx,.xls,.xlsx,.zip'),
  ('max_file_size', '10485760'),
  ('default_site_id', NULL),
  ('default_status_id', NULL),
  ('default_priority_id', NULL),
  ('default_category_id', NULL),
  ('default_tier_level_id', NULL),
  ('resolved_status_id', NULL),
  ('closed_status_id', NULL),
  ('reopen_status_id', NULL),
  ('auto_assign_on_create', 'false'),
  ('auto_assign_on_update', 'false'),
  ('auto_assign_method', 'RoundRobin'),
  ('lock_closed_after_days', '7'),
  ('notify_technician_on_requester_reply', 'true'),
  ('smtp_url', NULL),
  ('smtp_username', NULL),
  ('smtp_password', NULL),
  ('smtp_from', 'helpdesk@localhost'),
  ('push_url', NULL),
  ('tpi_callback_url', NULL),
  ('webhook_url', NULL),
  ('webhook_secret', NULL),
  ('public_base_url', 'http://127.0.0.1:8080'),
  ('time_zone', 'UTC'),
  ('business_calendar_id', NULL),
  ('sla_pause_on_hold', 'true'),
  ('escalation_interval_seconds', '60'),
  ('close_link_ttl_hours', '168'),
  ('close_link_secret', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')),
  ('login_max_failures', '5'),
  ('login_lockout_seconds', '300');

-- Tickets -----------------------------------------------------------------

CREATE TABLE tickets (
    id              bigserial PRIMARY KEY,
    guid            uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
    description     text NOT NULL,
    ticket_type     smallint NOT NULL DEFAULT 0 CHECK (ticket_type BETWEEN 0 AND 4),
    source          smallint NOT NULL DEFAULT 0 CHECK (source IN (0, 1)),
    requester_id    text NOT NULL REFERENCES users,
    assignee_id     text REFERENCES users,
    created_by_id   text NOT NULL REFERENCES users,
    category_id     integer REFERENCES categories,
    subcategory_id  integer,
    item_id         integer,
    site_id         integer NOT NULL REFERENCES sites,
    department_id   integer NOT NULL REFERENCES departments,
    group_id        integer REFERENCES groups,
    client_id       integer REFERENCES clients,
    status_id       integer NOT NULL REFERENCES statuses,
    priority_id     integer REFERENCES priorities,
    tier_level_id   integer REFERENCES tier_levels,
    service_id      integer REFERENCES services,
    impact_id       integer REFERENCES impacts,
    urgency_id      integer REFERENCES urgencies,
    sla_id          integer REFERENCES sla_policies,
    due_date        timestamptz,
    response_due_date timestamptz,
    first_responded_on timestamptz,
    cc              text,
    is_escalated    boolean NOT NULL DEFAULT false,
    escalated_on    timestamptz,
    sla_paused_since timestamptz,
    sla_paused_seconds bigint NOT NULL DEFAULT 0 CHECK (sla_paused_seconds >= 0),
    is_deleted      boolean NOT NULL DEFAULT false,
    deleted_on      timestamptz,
    created_on      timestamptz NOT NULL DEFAULT now(),
    updated_on      timestamptz NOT NULL DEFAULT now(),
    resolved_on     timestamptz,
    closed_on       timestamptz,
    version         integer NOT NULL DEFAULT 1 CHECK (version > 0),
    FOREIGN KEY (subcategory_id, category_id)
        REFERENCES subcategories (id, category_id),
    FOREIGN KEY (item_id, subcategory_id) REFERENCES items (id, subcategory_id),
    CHECK (subcategory_id IS NULL OR category_id IS NOT NULL),
    CHECK (item_id IS NULL OR subcategory_id IS NOT NULL),
    CHECK (is_deleted = (deleted_on IS NOT NULL)),
    CHECK (is_escalated = (escalated_on IS NOT NULL))
);

CREATE INDEX tickets_requester_idx ON tickets (requester_id, id)
    WHERE NOT is_deleted;
CREATE INDEX tickets_assignee_idx ON tickets (assignee_id, id)
    WHERE NOT is_deleted;
CREATE INDEX tickets_group_idx ON tickets (group_id, id) WHERE NOT is_deleted;
CREATE INDEX tickets_status_idx ON tickets (status_id, id) WHERE NOT is_deleted;
CREATE INDEX tickets_due_idx ON tickets (due_date) WHERE NOT is_deleted;
CREATE INDEX tickets_created_idx ON tickets (created_on) WHERE NOT is_deleted;
CREATE INDEX tickets_escalated_idx ON tickets (id)
    WHERE is_escalated AND NOT is_deleted;
CREATE INDEX tickets_title_trgm_idx ON tickets USING gin (title gin_trgm_ops);

CREATE TABLE ticket_tags (
    ticket_id       bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    tag_id          integer NOT NULL REFERENCES tags,
    PRIMARY KEY (ticket_id, tag_id)
);

CREATE TABLE conversations (
    id              bigserial PRIMARY KEY,
    ticket_id       bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    type            text NOT NULL
                    CHECK (type IN ('Reply', 'Forward', 'Note', 'RequesterReply',
                                    'Resolution', 'Closure', 'Reopen',
                                    'Escalation')),
    title           text CHECK (length(title) <= 255),
    message         text,
    send_to         text,
    cc_to           text,
    is_private      boolean NOT NULL DEFAULT false,
    has_draft       boolean NOT NULL DEFAULT false,
    created_by_id   text REFERENCES users,
    created_on      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX conversations_ticket_idx ON conversations (ticket_id, id);

CREATE TABLE attachments (
    id              bigserial PRIMARY KEY,
    ticket_id       bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    conversation_id bigint REFERENCES conversations ON DELETE CASCADE,
    file_name       text NOT NULL CHECK (length(file_name) BETWEEN 1 AND 255
                                         AND file_name !~ '[/\\[:cntrl:]]'),
    content_type    text NOT NULL,
    size            bigint NOT NULL CHECK (size >= 0),
    sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content         bytea NOT NULL,
    created_by_id   text REFERENCES users,
    created_on      timestamptz NOT NULL DEFAULT now(),
    CHECK (size = octet_length(content))
);

CREATE INDEX attachments_ticket_idx ON attachments (ticket_id, id);
CREATE INDEX attachments_conversation_idx ON attachments (conversation_id)
    WHERE conversation_id IS NOT NULL;

-- One resolution per ticket, updated when it is resolved again.
CREATE TABLE resolutions (
    ticket_id       bigint PRIMARY KEY REFERENCES tickets ON DELETE CASCADE,
    resolution      text NOT NULL,
    resolved_by_id  text NOT NULL REFERENCES users,
    resolved_on     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE closures (
    ticket_id       bigint PRIMARY KEY REFERENCES tickets ON DELETE CASCADE,
    status          smallint CHECK (status BETWEEN 0 AND 4),
    comments        text,
    closure_comments text,
    closed_by_id    text NOT NULL REFERENCES users,
    closing_date    timestamptz NOT NULL DEFAULT now(),
    acknowledged    boolean NOT NULL DEFAULT false
);

-- Close links of resolution emails: only the hash of the token is kept.
CREATE TABLE close_links (
    id              bigserial PRIMARY KEY,
    ticket_id       bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    token_sha256    text NOT NULL UNIQUE,
    expires_on      timestamptz NOT NULL,
    used_on         timestamptz
);

CREATE INDEX close_links_ticket_idx ON close_links (ticket_id);

CREATE TABLE tasks (
    id              bigserial PRIMARY KEY,
    ticket_id       bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
    assigned_user_id text REFERENCES users,
    due_date        timestamptz,
    is_completed    boolean NOT NULL DEFAULT false,
    completed_on    timestamptz,
    completed_by_id text REFERENCES users,
    created_by_id   text NOT NULL REFERENCES users,
    created_on      timestamptz NOT NULL DEFAULT now(),
    CHECK (is_completed = (completed_on IS NOT NULL))
);

CREATE INDEX tasks_ticket_idx ON tasks (ticket_id, id);
CREATE INDEX tasks_assigned_idx ON tasks (assigned_user_id, is_completed,
                                          ticket_id);

CREATE TABLE history (
    id              bigserial PRIMARY KEY,
    ticket_id       bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    field           text NOT NULL,
    old_value       text,
    new_value       text,
    changed_by_id   text REFERENCES users,
    changed_on      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX history_ticket_idx ON history (ticket_id, id);

-- Auto-assignment: the round-robin cursor of each group.
CREATE TABLE assignment_cursors (
    group_id        integer PRIMARY KEY REFERENCES groups ON DELETE CASCADE,
    last_user_id    text REFERENCES users ON DELETE SET NULL,
    assigned_count  bigint NOT NULL DEFAULT 0
);

-- Idempotency-Key: the first answer, kept 24 hours.
CREATE TABLE idempotency_keys (
    principal_id    text NOT NULL,
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_sha256  text NOT NULL,
    status          integer NOT NULL,
    resource_id     bigint,
    body            text,
    etag            text,
    created_on      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal_id, key)
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_on);

-- The notification outbox, written in the transaction of its change.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    uuid            uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    channel         text NOT NULL
                    CHECK (channel IN ('email', 'push', 'tpi', 'webhook')),
    event           text NOT NULL,
    ticket_id       bigint REFERENCES tickets ON DELETE SET NULL,
    recipients      text[] NOT NULL DEFAULT '{}',
    payload         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_on timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    created_on      timestamptz NOT NULL DEFAULT now(),
    sent_on         timestamptz,
    CHECK ((status = 'sent') = (sent_on IS NOT NULL))
);

CREATE INDEX outbox_due_idx ON outbox (next_attempt_on)
    WHERE status = 'pending';
CREATE INDEX outbox_ticket_idx ON outbox (ticket_id);

-- Permissions of each role.
INSERT INTO roles (name) VALUES
  ('Admin'), ('Technician'), ('Member'), ('Integration');

INSERT INTO permissions (name) VALUES
  ('Tickets.Create'), ('Tickets.Update'), ('Tickets.Forward'),
  ('Tickets.Reply'), ('Tickets.Close'), ('Tickets.Resolve'),
  ('Tickets.Delete');

INSERT INTO role_permissions (role, permission)
SELECT 'Admin', name FROM permissions;

INSERT INTO role_permissions (role, permission) VALUES
  ('Technician', 'Tickets.Create'), ('Technician', 'Tickets.Update'),
  ('Technician', 'Tickets.Forward'), ('Technician', 'Tickets.Reply'),
  ('Technician', 'Tickets.Close'), ('Technician', 'Tickets.Resolve'),
  ('Member', 'Tickets.Create');
