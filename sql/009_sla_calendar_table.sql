-- The SLA calendar arithmetic from a table instead of a walk: every
-- working interval of each calendar from 400 days back to 1100 days ahead
-- is kept with the working time before it (a running sum), so that adding
-- working minutes to an instant, or counting them between two, is two
-- index lookups instead of a walk over the days with their hours and
-- holidays.  On the 1M-ticket bench database the walk was ~45% of
-- register's insert.  Outside the kept span (an older ticket, a target
-- past it, or a calendar changed by a statement that bypassed the
-- triggers below) the walk of 003 answers, as before: the two agree, and
-- t/unit/check_sla.c holds them to it.

CREATE TABLE sla_calendar_intervals (
    calendar_id integer NOT NULL
        REFERENCES business_calendars ON DELETE CASCADE,
    starts      timestamptz NOT NULL,
    ends        timestamptz NOT NULL,
    work_before bigint NOT NULL,        -- microseconds of work before it
    work_end    bigint NOT NULL         -- ... and up to its end
);
CREATE INDEX sla_calendar_intervals_ends_idx
    ON sla_calendar_intervals (calendar_id, ends);
CREATE INDEX sla_calendar_intervals_work_idx
    ON sla_calendar_intervals (calendar_id, work_end);

-- the span each calendar's intervals cover, whole local days
CREATE TABLE sla_calendar_spans (
    calendar_id integer PRIMARY KEY
        REFERENCES business_calendars ON DELETE CASCADE,
    covers_from timestamptz NOT NULL,
    covers_to   timestamptz NOT NULL
);

-- Computes a calendar's intervals again (all calendars: NULL).
CREATE FUNCTION sla_calendar_refresh(calendar integer) RETURNS void
    LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    c          record;
    first_day  date;
    last_day   date;
BEGIN
    DELETE FROM sla_calendar_intervals
    WHERE calendar IS NULL OR calendar_id = calendar;
    DELETE FROM sla_calendar_spans
    WHERE calendar IS NULL OR calendar_id = calendar;

    FOR c IN SELECT b.id, b.time_zone FROM business_calendars b
             WHERE calendar IS NULL OR b.id = calendar
    LOOP
        first_day := (now() AT TIME ZONE c.time_zone)::date - 400;
        last_day := (now() AT TIME ZONE c.time_zone)::date + 1100;

        INSERT INTO sla_calendar_intervals
            (calendar_id, starts, ends, work_before, work_end)
        SELECT c.id, i.starts, i.ends, i.total - i.len, i.total
        FROM (SELECT w.starts, w.ends, w.len,
                     sum(w.len) OVER (ORDER BY w.starts, w.ends
                                      ROWS UNBOUNDED PRECEDING) AS total
              FROM (SELECT x.starts, x.ends,
                           (extract(epoch FROM x.ends - x.starts)
                            * 1000000)::bigint AS len
                    FROM sla_working_intervals(c.id, first_day, last_day) x
                   ) w
             ) i;

        INSERT INTO sla_calendar_spans (calendar_id, covers_from, covers_to)
        VALUES (c.id, first_day::timestamp AT TIME ZONE c.time_zone,
                (last_day + 1)::timestamp AT TIME ZONE c.time_zone);
    END LOOP;
END
$$;

CREATE FUNCTION sla_calendar_changed() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM sla_calendar_refresh(NULL);
    RETURN NULL;
END
$$;

CREATE TRIGGER sla_calendar_changed AFTER INSERT OR UPDATE OR DELETE
    OR TRUNCATE ON business_hours
    FOR EACH STATEMENT EXECUTE FUNCTION sla_calendar_changed();
CREATE TRIGGER sla_calendar_changed AFTER INSERT OR UPDATE OR DELETE
    OR TRUNCATE ON holidays
    FOR EACH STATEMENT EXECUTE FUNCTION sla_calendar_changed();
CREATE TRIGGER sla_calendar_changed AFTER INSERT OR UPDATE
    ON business_calendars
    FOR EACH STATEMENT EXECUTE FUNCTION sla_calendar_changed();

-- The walk of 003, kept under its own name: what answers outside the span.
ALTER FUNCTION sla_business_add(integer, timestamptz, integer)
    RENAME TO sla_business_add_walk;


-- 003's contract, from the table when it covers the question.
CREATE FUNCTION sla_business_add(calendar integer,
                                            start timestamptz,
                                            minutes integer)
    RETURNS timestamptz
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    w0_starts  timestamptz;
    w0_before  bigint;
    w_starts   timestamptz;
    w_before   bigint;
    target     bigint;
BEGIN
    IF minutes > 0 AND EXISTS (SELECT FROM sla_calendar_spans s
                               WHERE s.calendar_id = calendar
                                 AND s.covers_from <= start)
    THEN
        -- the first interval that ends after start
        SELECT i.starts, i.work_before INTO w0_starts, w0_before
        FROM sla_calendar_intervals i
        WHERE i.calendar_id = calendar AND i.ends > start
        ORDER BY i.ends LIMIT 1;

        IF FOUND THEN
            target := w0_before
                + greatest((extract(epoch FROM start - w0_starts)
                            * 1000000)::bigint, 0)
                + minutes * 60000000::bigint;

            -- the first interval whose end reaches the target
            SELECT i.starts, i.work_before INTO w_starts, w_before
            FROM sla_calendar_intervals i
            WHERE i.calendar_id = calendar AND i.work_end >= target
            ORDER BY i.work_end LIMIT 1;

            IF FOUND THEN
                RETURN w_starts
                       + (target - w_before) * interval '1 microsecond';
            END IF;
        END IF;
    END IF;

    RETURN sla_business_add_walk(calendar, start, minutes);
END
$$;

-- The walk of sla_business_minutes (008), kept under its own name.
ALTER FUNCTION sla_business_minutes(integer, timestamptz, timestamptz)
    RENAME TO sla_business_minutes_walk;

-- The working time before an instant, in the calendar's table: the
-- interval that ends after it, else all of the span's work.
CREATE FUNCTION sla_calendar_work_at(calendar integer, at timestamptz)
    RETURNS bigint
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN coalesce(
        (SELECT i.work_before
                + least(greatest((extract(epoch FROM at - i.starts)
                                  * 1000000)::bigint, 0),
                        i.work_end - i.work_before)
         FROM sla_calendar_intervals i
         WHERE i.calendar_id = calendar AND i.ends > at
         ORDER BY i.ends LIMIT 1),
        (SELECT max(i.work_end) FROM sla_calendar_intervals i
         WHERE i.calendar_id = calendar),
        0);
END
$$;

CREATE FUNCTION sla_business_minutes(calendar integer,
                                                a timestamptz, b timestamptz)
    RETURNS integer
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    IF b <= a THEN
        RETURN 0;
    END IF;

    IF EXISTS (SELECT FROM sla_calendar_spans s
               WHERE s.calendar_id = calendar
                 AND s.covers_from <= a AND b <= s.covers_to)
    THEN
        RETURN floor((sla_calendar_work_at(calendar, b)
                      - sla_calendar_work_at(calendar, a))
                     / 60000000.0)::integer;
    END IF;

    RETURN sla_business_minutes_walk(calendar, a, b);
END
$$;

SELECT sla_calendar_refresh(NULL);
