-- The SLA functions that each ticket write and read calls, in PL/pgSQL:
-- the same statements as in 003, but a SQL function that cannot be
-- inlined is parsed and planned again at every call, while PL/pgSQL keeps
-- its plans for the connection.  Measured on the 1M-ticket bench
-- database, one client: register's insert 1.69 -> 1.07 ms.
CREATE OR REPLACE FUNCTION sla_policy_for(priority integer,
                                          category integer, client integer)
    RETURNS integer
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT p.id FROM sla_policies p
        WHERE p.is_active
          AND (p.priority_id IS NULL
               OR p.priority_id = sla_policy_for.priority)
          AND (p.category_id IS NULL
               OR p.category_id = sla_policy_for.category)
          AND (p.client_id IS NULL OR p.client_id = sla_policy_for.client)
        ORDER BY (p.priority_id IS NOT NULL)::int
               + (p.category_id IS NOT NULL)::int
               + (p.client_id IS NOT NULL)::int DESC, p.id
        LIMIT 1);
END
$$;

CREATE OR REPLACE FUNCTION sla_due(policy integer, created timestamptz,
                                   paused_seconds bigint,
                                   paused_minutes integer,
                                   OUT response_due timestamptz,
                                   OUT resolution_due timestamptz)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
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
    INTO response_due, resolution_due
    FROM sla_policies p
    WHERE p.id = policy;
END
$$;

CREATE OR REPLACE FUNCTION sla_business_minutes(calendar integer,
                                                a timestamptz, b timestamptz)
    RETURNS integer
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN (
        SELECT coalesce(floor(sum(extract(epoch FROM
                   least(w.ends, b) - greatest(w.starts, a))) / 60),
                        0)::integer
        FROM business_calendars c
        CROSS JOIN LATERAL sla_working_intervals(c.id,
            (a AT TIME ZONE c.time_zone)::date,
            (b AT TIME ZONE c.time_zone)::date) w
        WHERE c.id = calendar AND b > a AND w.ends > a AND w.starts < b);
END
$$;
