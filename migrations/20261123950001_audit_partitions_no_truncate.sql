-- A statement trigger on the partitioned table does not reach its
-- partitions, so `TRUNCATE lock_events_p202611` was still allowed. Every
-- partition, existing and future, now refuses TRUNCATE too. (Retention drops
-- whole partitions, which no trigger sees.)
CREATE OR REPLACE FUNCTION lock_events_create_partitions(from_time timestamptz, to_time timestamptz)
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
            EXECUTE format(
                'CREATE TRIGGER lock_events_no_truncate BEFORE TRUNCATE ON %I
                 FOR EACH STATEMENT EXECUTE FUNCTION lock_events_refuse_change()', part);
            created := created + 1;
        END IF;
        m := m + interval '1 month';
    END LOOP;
    RETURN created;
END
$$;

DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'lock_events'::regclass LOOP
        EXECUTE format(
            'CREATE TRIGGER lock_events_no_truncate BEFORE TRUNCATE ON %s
             FOR EACH STATEMENT EXECUTE FUNCTION lock_events_refuse_change()', part);
    END LOOP;
END
$$;
