-- commit_batch keeps its signature and everything 0004 gave it; only how it finds the stale
-- jobs changes: the generations first, then the audit trail for the changes of another
-- generation alone. In one statement the planner was free to anti-join every change of a batch
-- with the whole audit trail before it looked at the generations, and did once the rounds table
-- grew columns (0006): a full scan of the trail on every batch, 2-3 times the PostgreSQL time
-- of a durable select, and more as the trail grows.

CREATE OR REPLACE FUNCTION commit_batch(changes json, answers json) RETURNS integer[]
-- VOLATILE (the default, spelled out because the fence below depends on it): in READ COMMITTED a
-- volatile function takes a new snapshot for each of its statements, where a STABLE one would
-- see everything through the calling statement's snapshot, taken before the lock was granted.
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    stale integer[];
    rewound integer[];
    rewound_rounds text[];
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
    --
    -- A change of an older generation that is already committed, exactly (a rebuild committed the
    -- redo log before it replaced the gate state), is done, not stale: its request is answered as
    -- committed, and its Idempotency-Key answer is there to replay.
    --
    -- (0009) In two steps: the generations first, and the audit trail only for the rare change of
    -- another generation. In one statement the planner was free to anti-join every change with
    -- the whole audit trail before it looked at the generations, and did, once the rounds table
    -- grew columns: a scan of the trail on every batch, slower as the trail grows.
    SELECT coalesce(array_agg(DISTINCT c.job), '{}') INTO stale
    FROM json_to_recordset(changes) AS c(job integer, round_id text, gen bigint)
    LEFT JOIN rounds ON rounds.id = c.round_id
    WHERE rounds.generation IS DISTINCT FROM c.gen;
    IF cardinality(stale) > 0 THEN
        SELECT coalesce(array_agg(DISTINCT c.job), '{}') INTO stale
        FROM json_to_recordset(changes) AS c(
             job integer, round_id text, student_id text, offering_id text, seq bigint, at bigint, action text,
             gen bigint
        )
        LEFT JOIN rounds ON rounds.id = c.round_id
        WHERE c.job = ANY (stale)
          AND rounds.generation IS DISTINCT FROM c.gen
          AND NOT EXISTS (SELECT 1 FROM audit_events AS a
                          WHERE a.round_id = c.round_id AND a.seq = c.seq
                            AND (a.student_id, a.offering_id, a.action, a.at)
                                = (c.student_id, c.offering_id, c.action, to_timestamp(c.at / 1000.0)));
    END IF;

    -- A gate that went back in time (Redis restored from a snapshot or an old AOF, a replica that
    -- lagged, a round's keys restored) hands out sequence numbers it had handed out before, and
    -- decides on counts that miss what came after. Such a change is fenced off: the round's
    -- highest committed change has a number at least as high and was decided before it (by the
    -- gate's own clock, which a healthy gate hands numbers out in the order of). A number handed
    -- out twice is caught the same way. (Each worker also stops a gate state whose numbers are
    -- below what it has seen, before it decides: common.lua.) Its job is not written, and the round's
    -- generation moves on, so that nothing else that gate decides is committed either; recovery
    -- then rebuilds the round's gate state from here.
    WITH batch AS (
        SELECT c.*
        FROM json_to_recordset(changes) AS c(
             job integer, round_id text, student_id text, offering_id text, seq bigint, at bigint, action text
        )
        WHERE c.job <> ALL (stale)
    ), highest AS (
        -- Each round's highest committed change: one backward probe of the (round_id, seq) index
        -- per round and batch, whatever the batch's size.
        SELECT r.round_id, top.seq, top.at
        FROM (SELECT DISTINCT round_id FROM batch) AS r
        CROSS JOIN LATERAL (
            SELECT a.seq, a.at FROM audit_events AS a
            WHERE a.round_id = r.round_id AND a.seq IS NOT NULL
            ORDER BY a.seq DESC LIMIT 1
        ) AS top
    )
    SELECT coalesce(array_agg(DISTINCT b.job), '{}'), coalesce(array_agg(DISTINCT b.round_id), '{}')
    INTO rewound, rewound_rounds
    FROM batch AS b
    JOIN highest AS h ON h.round_id = b.round_id
    WHERE (b.seq <= h.seq AND to_timestamp(b.at / 1000.0) > h.at);
    IF cardinality(rewound) > 0 THEN
        UPDATE rounds SET generation = generation + 1 WHERE id = ANY (rewound_rounds);
        stale := stale || rewound;
    END IF;

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
