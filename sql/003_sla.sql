-- ngx_tickets: the SLA engine (SPEC 4, SLA).  The business calendar
-- arithmetic lives here because PostgreSQL knows every time zone and its
-- daylight-saving rules and is safe to call from any thread; the library
-- calls sla_apply and sla_pause_update inside its own transactions, and the
-- TicketApiModel shows sla_state.  docs/sla.md has the rules with examples.

-- A calendar whose time zone PostgreSQL does not know would fail every
-- ticket write that uses it: refuse it here (an unknown name raises).
ALTER TABLE business_calendars
    ADD CONSTRAINT business_calendars_time_zone_known
    CHECK ((timestamptz '2000-01-01 00:00Z' AT TIME ZONE time_zone)
           IS NOT NULL);

-- The paused time of a ticket, kept in both units so that it survives a
-- change of policy: sla_paused_seconds is wall-clock seconds (what a 24x7
-- policy adds), sla_paused_minutes is working minutes (what a business-hours
-- policy adds), measured in the calendar of the ticket's policy at the time
-- of each resume, or in the setting business_calendar_id when the policy
-- has none (no calendar at all: 0).  The pause in progress, from
-- sla_paused_since, is added to both when it ends.
ALTER TABLE tickets
    ADD COLUMN sla_paused_minutes integer NOT NULL DEFAULT 0
        CHECK (sla_paused_minutes >= 0);

-- Tickets On Hold or Pending already: their clock stops from now on.
UPDATE tickets t SET sla_paused_since = now()
FROM statuses s
WHERE s.id = t.status_id AND s.status_type IN ('OnHold', 'Pending')
  AND t.sla_paused_since IS NULL AND NOT t.is_deleted
  AND coalesce((SELECT lower(trim(v.value)) NOT IN ('false', 'no', '0')
                FROM settings v WHERE v.key = 'sla_pause_on_hold'), true);


-- The working intervals of a calendar on the local dates first_day ..
-- last_day, in order: each business_hours row of the day's ISO weekday,
-- unless the day is a holiday, with its ends placed by the calendar's time
-- zone ((local date + local time) AT TIME ZONE tz), so a 09:00-17:00 day is
-- 8 hours on a daylight-saving change day too.  Intervals of one day that
-- overlap are merged (a later one starts where the earlier ones ended).
-- Not STRICT, so that the planner inlines it (a NULL gives no rows).
CREATE FUNCTION sla_working_intervals(calendar integer, first_day date,
                                      last_day date)
    RETURNS TABLE (starts timestamptz, ends timestamptz)
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT (w.day + w.from_time) AT TIME ZONE c.time_zone,
           (w.day + w.to_time) AT TIME ZONE c.time_zone
    FROM business_calendars c
    CROSS JOIN LATERAL (
        SELECT g.x::date AS day,
               greatest(h.start_time,
                        max(h.end_time) OVER (
                            PARTITION BY g.x ORDER BY h.start_time
                            ROWS BETWEEN UNBOUNDED PRECEDING
                                     AND 1 PRECEDING)) AS from_time,
               h.end_time AS to_time
        FROM generate_series(first_day::timestamp, last_day::timestamp,
                             interval '1 day') AS g(x)
        JOIN business_hours h
          ON h.calendar_id = c.id
         AND h.iso_weekday = extract(isodow FROM g.x)
        WHERE NOT EXISTS (SELECT FROM holidays o
                          WHERE o.calendar_id = c.id AND o.day = g.x::date)
    ) w
    WHERE c.id = calendar AND w.from_time < w.to_time
    ORDER BY 1
$$;


-- The instant when `minutes` working minutes of the calendar have elapsed
-- after start.  A start outside working hours begins at the next working
-- interval; a target that ends exactly at closing time is due at closing
-- time.  minutes = 0 is start itself; negative minutes are an error.  NULL
-- for an unknown calendar, one without working hours, or one that does not
-- reach the target within 3660 days (every day a holiday).
CREATE FUNCTION sla_business_add(calendar integer, start timestamptz,
                                 minutes integer)
    RETURNS timestamptz
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    zone       text;
    first_day  date;
    from_day   date;
    span       integer := 7;
    remaining  numeric;
    avail      numeric;
    s          timestamptz;
    w          record;
BEGIN
    IF minutes < 0 THEN
        RAISE EXCEPTION 'sla_business_add: minutes must not be negative: %',
            minutes USING ERRCODE = 'invalid_parameter_value';
    END IF;

    IF minutes = 0 THEN
        RETURN start;
    END IF;

    SELECT c.time_zone INTO zone FROM business_calendars c
    WHERE c.id = calendar;

    IF NOT FOUND OR NOT EXISTS (SELECT FROM business_hours h
                                WHERE h.calendar_id = calendar)
    THEN
        RETURN NULL;
    END IF;

    remaining := minutes * 60;
    first_day := (start AT TIME ZONE zone)::date;
    from_day := first_day;

    -- a week of intervals first, where most targets end, then more
    WHILE from_day <= first_day + 3660 LOOP
        FOR w IN SELECT i.starts, i.ends
                 FROM sla_working_intervals(calendar, from_day,
                          least(from_day + span - 1, first_day + 3660)) i
                 ORDER BY i.starts
        LOOP
            s := greatest(w.starts, start);
            CONTINUE WHEN w.ends <= s;

            avail := extract(epoch FROM w.ends - s);
            IF remaining <= avail THEN
                RETURN s + remaining * interval '1 second';
            END IF;

            remaining := remaining - avail;
        END LOOP;

        from_day := from_day + span;
        span := least(span * 4, 448);
    END LOOP;

    RETURN NULL;
END
$$;


-- Working minutes of the calendar between a and b, whole minutes rounded
-- down; 0 when b <= a and for an unknown calendar.  For any start and
-- n >= 0, sla_business_minutes(c, s, sla_business_add(c, s, n)) = n.
CREATE FUNCTION sla_business_minutes(calendar integer, a timestamptz,
                                     b timestamptz)
    RETURNS integer
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(floor(sum(extract(epoch FROM
               least(w.ends, b) - greatest(w.starts, a))) / 60), 0)::integer
    FROM business_calendars c
    CROSS JOIN LATERAL sla_working_intervals(c.id,
        (a AT TIME ZONE c.time_zone)::date,
        (b AT TIME ZONE c.time_zone)::date) w
    WHERE c.id = calendar AND b > a AND w.ends > a AND w.starts < b
$$;


-- The policy of a ticket with these attributes (NULL for an unset one):
-- the active policy whose set criteria all match, with the most criteria
-- set, ties to the lowest id; NULL when none matches.  A policy with a
-- criterion set never matches a ticket without that attribute.
CREATE FUNCTION sla_policy_for(priority integer, category integer,
                               client integer)
    RETURNS integer
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT p.id FROM sla_policies p
    WHERE p.is_active
      AND (p.priority_id IS NULL OR p.priority_id = sla_policy_for.priority)
      AND (p.category_id IS NULL OR p.category_id = sla_policy_for.category)
      AND (p.client_id IS NULL OR p.client_id = sla_policy_for.client)
    ORDER BY (p.priority_id IS NOT NULL)::int
           + (p.category_id IS NOT NULL)::int
           + (p.client_id IS NOT NULL)::int DESC, p.id
    LIMIT 1
$$;


-- The due dates of a ticket created at `created` under the policy, after
-- the pauses it has had.  A business-hours policy counts its targets in
-- working minutes of its calendar and adds paused_minutes (working
-- minutes); any other policy counts wall-clock minutes and adds
-- paused_seconds.  Both NULL for an unknown policy; NULL dates for a
-- business-hours calendar without working hours.
CREATE FUNCTION sla_due(policy integer, created timestamptz,
                        paused_seconds bigint, paused_minutes integer,
                        OUT response_due timestamptz,
                        OUT resolution_due timestamptz)
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN p.business_hours_only
                THEN sla_business_add(p.calendar_id, created,
                         p.response_minutes + coalesce(paused_minutes, 0))
                ELSE created + (p.response_minutes * 60::bigint
                                + coalesce(paused_seconds, 0))
                               * interval '1 second' END,
           CASE WHEN p.business_hours_only
                THEN sla_business_add(p.calendar_id, created,
                         p.resolution_minutes + coalesce(paused_minutes, 0))
                ELSE created + (p.resolution_minutes * 60::bigint
                                + coalesce(paused_seconds, 0))
                               * interval '1 second' END
    FROM sla_policies p
    WHERE p.id = policy
$$;


-- Pauses or resumes the SLA clock of a ticket after its status changed
-- (the caller's transaction; the ticket row is locked).  It pauses when the
-- status type is OnHold or Pending, the clock runs and the setting
-- sla_pause_on_hold is on (unset or unreadable: on).  It resumes when the
-- status type is any other and the clock is paused, whatever the setting
-- says now: the pause from sla_paused_since to now() is added to both
-- sla_paused_seconds and sla_paused_minutes (see tickets above), and a
-- ticket with a policy gets its due dates recomputed by sla_due from
-- created_on, so they move later by the paused time in the policy's unit.
-- A ticket without a policy keeps its manual due date, but its pause is
-- counted all the same, for a policy it may get later.
-- Returns 'paused', 'resumed' or 'unchanged'; NULL for no such ticket.
CREATE FUNCTION sla_pause_update(ticket bigint)
    RETURNS text
    LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    t        record;
    cal      integer;
    pausing  boolean;
BEGIN
    SELECT k.id, k.sla_id, k.sla_paused_since, s.status_type INTO t
    FROM tickets k JOIN statuses s ON s.id = k.status_id
    WHERE k.id = sla_pause_update.ticket
    FOR UPDATE OF k;

    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    IF t.status_type IN ('OnHold', 'Pending') THEN
        IF t.sla_paused_since IS NOT NULL THEN
            RETURN 'unchanged';
        END IF;

        SELECT coalesce(lower(trim(v.value)) NOT IN ('false', 'no', '0'),
                        true)
        INTO pausing
        FROM (SELECT) AS one
        LEFT JOIN settings v ON v.key = 'sla_pause_on_hold';

        IF NOT pausing THEN
            RETURN 'unchanged';
        END IF;

        UPDATE tickets SET sla_paused_since = now() WHERE id = t.id;
        RETURN 'paused';
    END IF;

    IF t.sla_paused_since IS NULL THEN
        RETURN 'unchanged';
    END IF;

    cal := coalesce(
        (SELECT p.calendar_id FROM sla_policies p WHERE p.id = t.sla_id),
        (SELECT v.value::integer FROM settings v
         WHERE v.key = 'business_calendar_id' AND v.value ~ '^[0-9]{1,9}$'));

    UPDATE tickets k
    SET sla_paused_seconds = k.sla_paused_seconds
            + greatest(0, round(extract(epoch FROM now() - k.sla_paused_since)))
              ::bigint,
        sla_paused_minutes = k.sla_paused_minutes
            + coalesce(sla_business_minutes(cal, k.sla_paused_since, now()),
                       0),
        sla_paused_since = NULL
    WHERE k.id = t.id;

    IF t.sla_id IS NOT NULL THEN
        UPDATE tickets k
        SET (response_due_date, due_date) =
            (SELECT d.response_due, d.resolution_due
             FROM sla_due(k.sla_id, k.created_on, k.sla_paused_seconds,
                          k.sla_paused_minutes) d)
        WHERE k.id = t.id;
    END IF;

    RETURN 'resumed';
END
$$;


-- (Re)computes the SLA of a ticket, in the caller's transaction: on create,
-- on a change of priority, category or client, and on an explicit SLAId.
-- First the clock follows the status (sla_pause_update).  Then the policy is
-- explicit_sla when given (not checked for is_active: the caller validated
-- it), else sla_policy_for the ticket's priority, category and client.
-- With a policy, due_date and response_due_date are sla_due from
-- created_on and the pauses already ended (a pause in progress moves them
-- when it ends), overriding a manual due date.  Without one, sla_id and
-- response_due_date become NULL and due_date stays as it was (the manual
-- one, or the last policy's).  No row for no such ticket.
CREATE FUNCTION sla_apply(ticket bigint, explicit_sla integer)
    RETURNS TABLE (sla_id integer, due_date timestamptz,
                   response_due_date timestamptz)
    LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
BEGIN
    PERFORM sla_pause_update(sla_apply.ticket);

    RETURN QUERY
    UPDATE tickets t
    SET (sla_id, due_date, response_due_date) =
        (SELECT n.policy,
                CASE WHEN n.policy IS NULL THEN t.due_date
                     ELSE d.resolution_due END,
                d.response_due
         FROM (SELECT coalesce(sla_apply.explicit_sla,
                               sla_policy_for(t.priority_id, t.category_id,
                                              t.client_id)) AS policy) n
         LEFT JOIN LATERAL sla_due(n.policy, t.created_on,
                                   t.sla_paused_seconds,
                                   t.sla_paused_minutes) d ON true)
    WHERE t.id = sla_apply.ticket
    RETURNING t.sla_id, t.due_date, t.response_due_date;
END
$$;


-- The SLA of a ticket for the TicketApiModel:
--   state: "none" (no policy), "running", "paused", or for a Resolved or
--     Closed ticket "met" (done by the due date) or "missed" (after it);
--   minutesLeft: to the resolution due date from now, from the start of
--     the pause while paused, from resolvedOn (else closedOn) when done;
--     negative past it; working minutes for a business-hours policy, else
--     wall-clock minutes, whole minutes towards zero; null without a due
--     date.  A ticket without a policy but with a manual due date gets its
--     wall-clock minutes;
--   breached: that instant is past the due date (authoritative: minutesLeft
--     is 0 in the first minute past it);
--   responseBreached: firstRespondedOn, or that instant when there was no
--     response, is past the response due date;
--   businessHours: whether minutesLeft counts working minutes.
CREATE FUNCTION sla_state(t tickets)
    RETURNS json
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    kind      text;
    cal       integer;
    business  boolean := false;
    done      boolean;
    ref_at    timestamptz;
    state     text;
    left_min  bigint;
BEGIN
    SELECT s.status_type INTO kind FROM statuses s WHERE s.id = t.status_id;
    SELECT p.business_hours_only, p.calendar_id INTO business, cal
    FROM sla_policies p WHERE p.id = t.sla_id;
    business := coalesce(business, false);
    done := kind IN ('Resolved', 'Closed');

    ref_at := CASE WHEN done THEN coalesce(t.resolved_on, t.closed_on, now())
               ELSE coalesce(t.sla_paused_since, now()) END;

    state := CASE WHEN t.sla_id IS NULL THEN 'none'
                  WHEN done AND (t.due_date IS NULL OR ref_at <= t.due_date)
                      THEN 'met'
                  WHEN done THEN 'missed'
                  WHEN t.sla_paused_since IS NOT NULL THEN 'paused'
                  ELSE 'running' END;

    IF t.due_date IS NULL THEN
        left_min := NULL;
    ELSIF business AND ref_at <= t.due_date THEN
        left_min := sla_business_minutes(cal, ref_at, t.due_date);
    ELSIF business THEN
        left_min := -sla_business_minutes(cal, t.due_date, ref_at);
    ELSE
        left_min := trunc(extract(epoch FROM t.due_date - ref_at) / 60);
    END IF;

    RETURN json_build_object(
        'state', state,
        'minutesLeft', left_min,
        'breached', coalesce(ref_at > t.due_date, false),
        'responseBreached',
            coalesce(coalesce(t.first_responded_on, ref_at)
                     > t.response_due_date, false),
        'businessHours', business);
END
$$;

-- the same by id; NULL for no such ticket
CREATE FUNCTION sla_state(ticket bigint)
    RETURNS json
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT sla_state(t) FROM tickets t WHERE t.id = sla_state.ticket
$$;
