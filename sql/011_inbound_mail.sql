-- ngx_tickets: inbound email (docs/email.md).
--
-- Every message that ticketsctl mail-deliver or POST /api/TicketsApi/inbound
-- accepted is kept whole, for audit, with what became of it: a new ticket,
-- a conversation on a ticket, or nothing (a robot, a loop).  The row is
-- written in the transaction of the ticket or conversation it made, so a
-- message is either stored with its effect or not at all; the Message-ID
-- is unique, so a message delivered twice has one effect.

-- a ticket that came by email (TicketSource Email, an extension)
ALTER TABLE tickets DROP CONSTRAINT tickets_source_check;
ALTER TABLE tickets ADD CONSTRAINT tickets_source_check
    CHECK (source IN (0, 1, 2));

CREATE TABLE inbound_mail (
    id              bigserial PRIMARY KEY,
    message_id      text NOT NULL UNIQUE
                    CHECK (length(message_id) BETWEEN 1 AND 998),
    received_on     timestamptz NOT NULL DEFAULT now(),
    sender          text NOT NULL DEFAULT '',
    subject         text NOT NULL DEFAULT '',
    outcome         text NOT NULL
                    CHECK (outcome IN ('ticket', 'reply', 'ignored')),
    reason          text,
    ticket_id       bigint REFERENCES tickets ON DELETE SET NULL,
    conversation_id bigint REFERENCES conversations ON DELETE SET NULL,
    size            integer NOT NULL CHECK (size >= 0),
    raw             bytea NOT NULL
);

CREATE INDEX inbound_mail_ticket_idx ON inbound_mail (ticket_id)
    WHERE ticket_id IS NOT NULL;

-- POST /api/TicketsApi/inbound needs it: the role of the service accounts
-- of mail relays has it, no other (an Admin's token is not a relay's)
INSERT INTO permissions (name) VALUES ('Tickets.Inbound');
INSERT INTO role_permissions (role, permission) VALUES
  ('Integration', 'Tickets.Inbound');

INSERT INTO setting_keys (key, kind, description) VALUES
  ('mail_ticket_tag', 'text',
   'the tag before the ticket number in the subject of a mail, as in '
   '"Ticket #123"; a reply whose subject carries it goes to that ticket'),
  ('mail_create_requesters', 'bool',
   'mail from an unknown address creates a Member as its requester; '
   'else it is refused'),
  ('mail_max_bytes', 'int',
   'largest inbound message accepted, in bytes');

INSERT INTO settings (key, value) VALUES
  ('mail_ticket_tag', 'Ticket #'),
  ('mail_create_requesters', 'false'),
  ('mail_max_bytes', '26214400');
