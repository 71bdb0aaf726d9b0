-- lock_events becomes a table partitioned by month of occurred_at, so that
-- retention drops whole partitions and time-bounded queries read only the
-- months they cover. Every column the table has now is kept (LIKE), whichever
-- migration added it; the events gain `force_released` and its `reason`.

ALTER TABLE lock_events RENAME TO lock_events_unpartitioned;

-- PostgreSQL < 17 has no identity columns on partitioned tables: ids come
-- from a sequence that continues where the old identity stopped.
CREATE SEQUENCE lock_event_ids AS bigint;
SELECT setval('lock_event_ids', coalesce(max(id), 0) + 1, false) FROM lock_events_unpartitioned;

CREATE TABLE lock_events (LIKE lock_events_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (occurred_at);
ALTER TABLE lock_events ALTER COLUMN id SET DEFAULT nextval('lock_event_ids');
ALTER SEQUENCE lock_event_ids OWNED BY lock_events.id;
ALTER TABLE lock_events ADD COLUMN reason text;

-- Widen every CHECK on the event column (whichever migration last extended
-- it) with 'force_released'.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT conname, pg_get_constraintdef(oid) AS def
        FROM pg_constraint
        WHERE conrelid = 'lock_events'::regclass AND contype = 'c'
          AND pg_get_constraintdef(oid) LIKE '%event%ARRAY[%'
          AND pg_get_constraintdef(oid) NOT LIKE '%force_released%'
    LOOP
        EXECUTE format('ALTER TABLE lock_events DROP CONSTRAINT %I', c.conname);
        EXECUTE format('ALTER TABLE lock_events ADD CONSTRAINT %I %s', c.conname,
                       replace(c.def, 'ARRAY[', 'ARRAY[''force_released''::text, '));
    END LOOP;
END
$$;

-- Monthly partitions named lock_events_pYYYYMM, bounds in UTC. Creates every
-- month from the one holding `from_time` through the one holding `to_time`;
-- existing ones are left alone. Returns how many it created.
CREATE FUNCTION lock_events_create_partitions(from_time timestamptz, to_time timestamptz)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    m timestamp := date_trunc('month', from_time AT TIME ZONE 'UTC');
    created integer := 0;
    part text;
BEGIN
    WHILE m <= to_time AT TIME ZONE 'UTC' LOOP
        part := 'lock_events_p' || to_char(m, 'YYYYMM');
        IF to_regclass(part) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF lock_events FOR VALUES FROM (%L) TO (%L)',
                part, m || '+00', (m + interval '1 month') || '+00');
            created := created + 1;
        END IF;
        m := m + interval '1 month';
    END LOOP;
    RETURN created;
END
$$;

-- Drops every monthly partition whose months lie wholly before `cutoff`, and
-- returns their names. Rows are never deleted one by one.
CREATE FUNCTION lock_events_drop_partitions_before(cutoff timestamptz)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    part text;
BEGIN
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'lock_events'::regclass
          AND c.relname ~ '^lock_events_p[0-9]{6}$'
          AND (to_timestamp(substr(c.relname, 14), 'YYYYMM')::timestamp + interval '1 month')
              <= cutoff AT TIME ZONE 'UTC'
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part);
        RETURN NEXT part;
    END LOOP;
END
$$;

SELECT lock_events_create_partitions(
    coalesce((SELECT min(occurred_at) FROM lock_events_unpartitioned), now()),
    now() + interval '3 months');

INSERT INTO lock_events SELECT * FROM lock_events_unpartitioned;

-- Recreate the non-unique indexes other migrations put on the old table
-- (besides the two rebuilt below), then drop it.
DO $$
DECLARE
    definition text;
    indexes text[];
BEGIN
    SELECT coalesce(array_agg(pg_get_indexdef(x.indexrelid)), '{}') INTO indexes
    FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
    WHERE x.indrelid = 'lock_events_unpartitioned'::regclass AND NOT x.indisunique
      AND c.relname NOT IN ('lock_events_lock_time', 'lock_events_account_time');
    DROP TABLE lock_events_unpartitioned;
    FOREACH definition IN ARRAY indexes LOOP
        EXECUTE replace(definition, 'lock_events_unpartitioned', 'lock_events');
    END LOOP;
END
$$;

-- The key starts with the partition key, as it must, and is also the index
-- for audit queries without a filter. Every index ends in (occurred_at, id):
-- the audit keyset, so a page is an index range read in order, not a sort.
ALTER TABLE lock_events ADD PRIMARY KEY (occurred_at, id);
-- One lock's history.
CREATE INDEX lock_events_lock_time ON lock_events (namespace, name, occurred_at, id);
-- One account's events.
CREATE INDEX lock_events_account_time ON lock_events (account_id, occurred_at, id);
-- One lock name across all namespaces.
CREATE INDEX lock_events_name_time ON lock_events (name, occurred_at, id);
-- The latest events of a namespace.
CREATE INDEX lock_events_namespace_time ON lock_events (namespace, occurred_at, id);
