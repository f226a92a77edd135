-- commit_batch takes its batch as two JSON documents instead of twenty typed arrays (see
-- 0002_commit_batch.sql for the function's first form, kept as it was applied). The body is the
-- same otherwise: one round trip to PostgreSQL per batch; called on its own (autocommit), the call
-- is one implicit transaction: all of it is committed, or nothing.
--
-- For a while 0002 itself was this JSON form, so a database may already hold it and no array
-- form: IF EXISTS and OR REPLACE let this migration run on either.
DROP FUNCTION IF EXISTS commit_batch(
    integer[], text[], text[], text[], text[], bigint[], bigint[], timestamptz[], text[], text[], text[],
    text[], bigint[], integer[], text[], text[], text[], text[], integer[], bytea[]
);

-- The changes come as one JSON array of objects, one per change, with the fields
--   job, round_id, student_id, offering_id, status, seq, wait_seq, at (ms since the epoch), actor,
--   role, action, gen, detail
-- where `job` is the job it belongs to and `gen` the gate generation that decided it; the answers
-- likewise: job, student_id, key, round_id, fingerprint, status, body (UTF-8 text). Each document
-- is parsed into typed rows in one pass (json_to_recordset), by each statement that reads it.
-- (One JSON document per side, encoded by the caller in one step, costs the caller half of what
-- twenty typed arrays did, element by element.) A job is committed whole or not at all: one of
-- its changes decided by an older generation of its round's gate makes the whole job stale, and
-- none of its changes or answers is written. A job without changes (a refusal recorded under an
-- Idempotency-Key) is never stale. Returns the stale jobs.
CREATE OR REPLACE FUNCTION commit_batch(changes json, answers json) RETURNS integer[]
-- VOLATILE (the default, spelled out because the fence below depends on it): in READ COMMITTED a
-- volatile function takes a new snapshot for each of its statements, where a STABLE one would
-- see everything through the calling statement's snapshot, taken before the lock was granted.
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    stale integer[];
BEGIN
    -- Held until commit: a rebuild of one of these rounds (exclusive lock) waits for this batch,
    -- and this batch waits for a rebuild under way. Always in the same order. In a transaction
    -- that already holds a round's lock exclusively (a rebuild committing the redo log before it
    -- reloads the gate), the shared lock is granted at once.
    PERFORM pg_advisory_xact_lock_shared(hashtext('gate:' || r))
    FROM (SELECT DISTINCT c.round_id AS r FROM json_to_recordset(changes) AS c(round_id text) ORDER BY 1)
         AS batch_rounds;

    -- The generations are read by a statement of their own, after the locks: its snapshot is taken
    -- once they are granted, so it sees the generation a rebuild committed before releasing its
    -- lock. Read by the statement that takes the locks, or by one that shares its snapshot, they
    -- could be those from before that rebuild, and this batch would commit changes the rebuilt
    -- gate does not count.
    SELECT coalesce(array_agg(DISTINCT c.job), '{}') INTO stale
    FROM json_to_recordset(changes) AS c(job integer, round_id text, gen bigint)
    LEFT JOIN rounds ON rounds.id = c.round_id
    WHERE rounds.generation IS DISTINCT FROM c.gen;

    -- Selections (an older change never overwrites a newer one), their audit events (once per
    -- change, however often it is committed: a dead process's redo log is committed again).
    WITH input AS (
        SELECT c.job, c.round_id, c.student_id, c.offering_id, c.status, c.seq, c.wait_seq,
               to_timestamp(c.at / 1000.0) AS at, c.actor, c.role, c.action, c.detail
        FROM json_to_recordset(changes) AS c(
             job integer, round_id text, student_id text, offering_id text, status text, seq bigint,
             wait_seq bigint, at bigint, actor text, role text, action text, gen bigint, detail text
        )
        WHERE c.job <> ALL (stale)
    ), latest AS (
        SELECT DISTINCT ON (round_id, student_id, offering_id) *
        FROM input
        ORDER BY round_id, student_id, offering_id, seq DESC
    ), applied AS (
        INSERT INTO selections AS s (round_id, student_id, offering_id, status, seq, wait_seq, created_at, updated_at)
        SELECT l.round_id, l.student_id, l.offering_id, l.status, l.seq, l.wait_seq, l.at, l.at FROM latest AS l
        ON CONFLICT (round_id, student_id, offering_id) DO UPDATE
            SET status = excluded.status,
                seq = excluded.seq,
                wait_seq = excluded.wait_seq,
                -- A selection made anew after a drop is a new selection; a promotion is not.
                created_at = CASE WHEN s.status = 'dropped' THEN excluded.created_at ELSE s.created_at END,
                updated_at = excluded.updated_at
            WHERE s.seq < excluded.seq
        RETURNING 1
    )
    INSERT INTO audit_events (at, actor, role, action, round_id, student_id, offering_id, outcome, detail, seq)
    SELECT i.at, i.actor, i.role, i.action, i.round_id, i.student_id, i.offering_id, 'ok', i.detail, i.seq
    FROM input AS i
    ON CONFLICT (round_id, seq) DO NOTHING;

    -- The first answer to an Idempotency-Key stays the answer.
    INSERT INTO idempotency_keys (student_id, key, round_id, fingerprint, status, body)
    SELECT a.student_id, a.key, a.round_id, a.fingerprint, a.status, convert_to(a.body, 'UTF8')
    FROM json_to_recordset(answers)
         AS a(job integer, student_id text, key text, round_id text, fingerprint text, status integer, body text)
    WHERE a.job <> ALL (stale)
    ON CONFLICT (student_id, round_id, key) DO NOTHING;

    RETURN stale;
END
$$;
