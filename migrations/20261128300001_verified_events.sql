-- A resource verifying a writer's lease (`POST {lock}/verify`) may leave a
-- note of the write in the audit trail: a 'verified' event with its note.
ALTER TABLE lock_events ADD COLUMN note text;

-- Widen every CHECK on the event column (whichever migration last extended
-- it) with 'verified'.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT conname, pg_get_constraintdef(oid) AS def
        FROM pg_constraint
        WHERE conrelid = 'lock_events'::regclass AND contype = 'c'
          AND pg_get_constraintdef(oid) LIKE '%event%ARRAY[%'
          AND pg_get_constraintdef(oid) NOT LIKE '%verified%'
    LOOP
        EXECUTE format('ALTER TABLE lock_events DROP CONSTRAINT %I', c.conname);
        EXECUTE format('ALTER TABLE lock_events ADD CONSTRAINT %I %s', c.conname,
                       replace(c.def, 'ARRAY[', 'ARRAY[''verified''::text, '));
    END LOOP;
END
$$;
