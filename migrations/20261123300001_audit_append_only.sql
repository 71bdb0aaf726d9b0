-- The audit trail is append-only: no session, whatever its role, may change
-- or delete an event row. Retention drops whole monthly partitions
-- (lock_events_drop_partitions_before), which row triggers do not see.
CREATE FUNCTION lock_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'lock_events is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER lock_events_append_only
    BEFORE UPDATE OR DELETE ON lock_events
    FOR EACH ROW EXECUTE FUNCTION lock_events_refuse_change();

CREATE TRIGGER lock_events_no_truncate
    BEFORE TRUNCATE ON lock_events
    FOR EACH STATEMENT EXECUTE FUNCTION lock_events_refuse_change();
