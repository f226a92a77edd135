-- A group commit in one call: one round trip to PostgreSQL per batch instead of one per statement
-- plus BEGIN and COMMIT (see selection/writer.py). Called on its own (autocommit), the call is one
-- implicit transaction: all of it is committed, or nothing.
--
-- The changes come in parallel arrays, one element per change, each with the job it belongs to
-- (`change_jobs`) and the gate generation that decided it (`gens`); the answers likewise with
-- theirs (`answer_jobs`). A job is committed whole or not at all: one of its changes decided by
-- an older generation of its round's gate makes the whole job stale, and none of its changes or
-- answers is written. A job without changes (a refusal recorded under an Idempotency-Key) is never
-- stale. Returns the stale jobs.
CREATE FUNCTION commit_batch(
    change_jobs integer[],
    round_ids text[],
    student_ids text[],
    offering_ids text[],
    statuses text[],
    seqs bigint[],
    wait_seqs bigint[],
    ats timestamptz[],
    actors text[],
    roles text[],
    actions text[],
    details text[],
    gens bigint[],
    answer_jobs integer[],
    answer_students text[],
    answer_keys text[],
    answer_rounds text[],
    answer_fingerprints text[],
    answer_statuses integer[],
    answer_bodies bytea[]
) RETURNS integer[]
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
    FROM (SELECT DISTINCT r FROM unnest(round_ids) AS r ORDER BY r) AS batch_rounds;

    -- The generations are read by a statement of their own, after the locks: its snapshot is taken
    -- once they are granted, so it sees the generation a rebuild committed before releasing its
    -- lock. Read by the statement that takes the locks, or by one that shares its snapshot, they
    -- could be those from before that rebuild, and this batch would commit changes the rebuilt
    -- gate does not count.
    SELECT coalesce(array_agg(DISTINCT c.job), '{}') INTO stale
    FROM unnest(change_jobs, round_ids, gens) AS c(job, round_id, gen)
    LEFT JOIN rounds ON rounds.id = c.round_id
    WHERE rounds.generation IS DISTINCT FROM c.gen;

    -- Selections (an older change never overwrites a newer one), their audit events (once per
    -- change, however often it is committed: a dead process's redo log is committed again).
    WITH input AS (
        SELECT *
        FROM unnest(change_jobs, round_ids, student_ids, offering_ids, statuses, seqs, wait_seqs, ats,
                    actors, roles, actions, details)
             AS t(job, round_id, student_id, offering_id, status, seq, wait_seq, at, actor, role, action, detail)
        WHERE t.job <> ALL (stale)
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
    SELECT a.student_id, a.key, a.round_id, a.fingerprint, a.status, a.body
    FROM unnest(answer_jobs, answer_students, answer_keys, answer_rounds, answer_fingerprints, answer_statuses,
                answer_bodies) AS a(job, student_id, key, round_id, fingerprint, status, body)
    WHERE a.job <> ALL (stale)
    ON CONFLICT (student_id, round_id, key) DO NOTHING;

    RETURN stale;
END
$$;
