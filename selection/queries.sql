-- Queries of the selection package, in sections: the group commit and idempotency; reads of
-- selections; recovery; keeping the gate in step with the catalog; the invariant checker.

-- name: commit_batch
-- The whole group commit, in one call (migrations/0003_commit_batch_json.sql): the rounds' shared
-- locks, their generations, the fresh jobs' changes and answers. Returns the stale jobs.
-- The documents are sent as text: they are encoded once, by msgspec, whatever codec the connection has for json.
SELECT commit_batch($1::text::json, $2::text::json);

-- name: record_dead_letters
INSERT INTO dead_letters (round_id, stream_id, entry, error)
SELECT t.round_id, t.stream_id, t.entry, $4::text
FROM unnest($1::text[], $2::text[], $3::bytea[]) AS t(round_id, stream_id, entry)
ON CONFLICT (round_id, stream_id) DO NOTHING;

-- name: dead_letters
SELECT id, at, round_id, stream_id, convert_from(entry, 'UTF8') AS entry, error
FROM dead_letters
ORDER BY id DESC
LIMIT $1;

-- name: audit_refusals
-- Refusals, when operators asked for them (selection/refusal_log.py): outcome 'refused', the
-- contract code and what the gate saw in the detail.
INSERT INTO audit_events (at, actor, role, action, round_id, student_id, offering_id, outcome, detail)
SELECT to_timestamp(t.at), t.actor, t.role, t.action, t.round_id, t.student_id, t.offering_id, 'refused', t.detail
FROM unnest($1::float8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
     AS t(at, actor, role, action, round_id, student_id, offering_id, detail);

-- name: recorded_answer
SELECT fingerprint, status, body FROM idempotency_keys WHERE student_id = $1 AND round_id = $2 AND key = $3;

-- name: claim_idempotency_pruning
-- One process prunes at a time, per transaction: the others find the lock taken and skip their
-- turn. Keyed by the table's oid, in the two-key space, apart from the gate's one-key locks.
SELECT pg_try_advisory_xact_lock('idempotency_keys'::regclass::oid::integer, 0);

-- name: prune_idempotency_keys
-- Answers older than the retention ($1 seconds), at most $2 of them: a short transaction that
-- locks few rows, however many have expired. Returns how many it deleted.
WITH pruned AS (
    DELETE FROM idempotency_keys
    WHERE ctid IN (
        SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1) LIMIT $2
    )
    RETURNING 1
)
SELECT count(*) FROM pruned;

-- name: student_selections
SELECT s.round_id, s.offering_id, s.student_id, s.status, s.created_at,
       CASE WHEN s.status = 'waitlisted' THEN (
           SELECT count(*) FROM selections w
           WHERE w.round_id = s.round_id AND w.offering_id = s.offering_id
             AND w.status = 'waitlisted' AND w.wait_seq <= s.wait_seq)
       END AS position
FROM selections s
WHERE s.round_id = $1 AND s.student_id = $2 AND s.status <> 'dropped'
ORDER BY s.created_at, s.offering_id;

-- name: round_records
-- The highest committed sequence number from the audit trail's (round_id, seq) index: one short
-- backward index scan per round, cheap enough for every upkeep tick.
SELECT r.id, r.state, r.state_version, r.generation,
       coalesce((SELECT max(a.seq) FROM audit_events AS a WHERE a.round_id = r.id), 0) AS committed_seq,
       r.mode, r.fair_start_seconds, r.opened_at, r.opens_at, r.fair_start_seed, r.closes_at
FROM rounds AS r;

-- name: round_stats
SELECT ro.offering_id, o.capacity,
       count(s.student_id) FILTER (WHERE s.status = 'enrolled') AS enrolled,
       count(s.student_id) FILTER (WHERE s.status = 'waitlisted') AS waitlisted
FROM round_offerings ro
JOIN offerings o ON o.id = ro.offering_id
LEFT JOIN selections s ON s.round_id = ro.round_id AND s.offering_id = ro.offering_id AND s.status <> 'dropped'
WHERE ro.round_id = $1
GROUP BY ro.offering_id, o.capacity, ro.position
ORDER BY ro.position;

-- name: round_totals
SELECT count(*) AS selections, count(DISTINCT student_id) AS students
FROM selections WHERE round_id = $1 AND status <> 'dropped';

-- name: round_enrollments
SELECT s.round_id, s.offering_id, s.student_id, s.status,
       CASE WHEN s.status = 'waitlisted'
            THEN row_number() OVER (PARTITION BY s.offering_id, s.status ORDER BY s.wait_seq) END AS position,
       s.created_at
FROM selections s
WHERE s.round_id = $1 AND s.status <> 'dropped'
ORDER BY s.offering_id, s.status, s.wait_seq NULLS FIRST, s.student_id;

-- Keeping the gate in step with the catalog (selection/gate_sync.py).

-- name: round_state
SELECT state, state_version, mode, fair_start_seconds, opened_at, opens_at, fair_start_seed, closes_at FROM rounds WHERE id = $1;

-- name: offering_in_rounds
SELECT ro.round_id, ro.position, o.category, o.schedule, o.eligibility
FROM round_offerings ro JOIN offerings o ON o.id = ro.offering_id
WHERE ro.offering_id = $1;

-- name: lock_offering_capacity
SELECT capacity FROM offerings WHERE id = $1 FOR UPDATE;

-- name: set_capacity
UPDATE offerings SET capacity = $2, updated_at = now() WHERE id = $1;

-- name: audit_capacity
INSERT INTO audit_events (actor, role, action, offering_id, outcome, detail)
VALUES ($1, CASE WHEN $1 = 'system' THEN 'system' ELSE 'admin' END, $2, $3, 'ok', $4);

-- name: round_capacities
SELECT ro.offering_id, o.capacity
FROM round_offerings ro JOIN offerings o ON o.id = ro.offering_id
WHERE ro.round_id = $1;

-- The invariant checker (selection/invariants.py).

-- name: invariant_rounds
SELECT id, eligibility, limits FROM rounds ORDER BY id;

-- name: invariant_offerings
SELECT o.id, o.category, o.capacity, o.schedule, o.eligibility
FROM round_offerings ro JOIN offerings o ON o.id = ro.offering_id
WHERE ro.round_id = $1;

-- name: invariant_selections
-- With the action of each selection's last change, to tell administrators' overrides apart.
SELECT s.student_id, s.offering_id, s.status, s.wait_seq, st.cohort, st.degree, st.campus,
       coalesce(a.action, '') AS last_action
FROM selections s
JOIN students st ON st.id = s.student_id
LEFT JOIN audit_events a ON a.round_id = s.round_id AND a.seq = s.seq
WHERE s.round_id = $1 AND s.status <> 'dropped';

-- name: dead_letter_count
SELECT count(*) FROM dead_letters;

-- name: claim_attempt_copy
-- One process copies a round's attempts at a time (per transaction): two copying the same notes
-- would write every row twice. Keyed by the table's oid and the round, in the two-key space.
SELECT pg_try_advisory_xact_lock('select_attempts'::regclass::oid::integer, hashtext($1));

-- name: wait_attempt_copy
SELECT pg_advisory_xact_lock('select_attempts'::regclass::oid::integer, hashtext($1));

-- name: record_attempts
-- The earliest time of each (student, offering) stays, whichever copy arrives first.
INSERT INTO select_attempts AS sa (round_id, student_id, offering_id, first_at)
SELECT $1, a.student_id, a.offering_id, timestamptz 'epoch' + a.first_ms * interval '1 millisecond'
FROM unnest($2::text[], $3::text[], $4::bigint[]) AS a(student_id, offering_id, first_ms)
ON CONFLICT (round_id, student_id, offering_id) DO UPDATE SET first_at = excluded.first_at
    WHERE excluded.first_at < sa.first_at;

-- name: attempted_rounds
SELECT id FROM rounds WHERE mode = 'fcfs' AND state <> 'draft' ORDER BY id;

-- name: fairness_round
SELECT id, mode, state FROM rounds WHERE id = $1;

-- name: fairness_fcfs
-- Per student who tried: the first attempt (earliest, then the offering id) and what they got.
WITH firsts AS (
    SELECT DISTINCT ON (student_id) student_id, offering_id, first_at
    FROM select_attempts
    WHERE round_id = $1
    ORDER BY student_id, first_at, offering_id
)
SELECT st.id AS student_id, st.cohort, st.degree, st.campus, f.first_at,
       EXISTS (
           SELECT 1 FROM selections s
           WHERE s.round_id = $1 AND s.student_id = f.student_id AND s.offering_id = f.offering_id
             AND s.status = 'enrolled'
       ) AS got_first,
       EXISTS (
           SELECT 1 FROM selections s
           JOIN select_attempts a
             ON a.round_id = s.round_id AND a.student_id = s.student_id AND a.offering_id = s.offering_id
           WHERE s.round_id = $1 AND s.student_id = f.student_id AND s.status = 'enrolled'
       ) AS got_any
FROM firsts f JOIN students st ON st.id = f.student_id
ORDER BY f.first_at, st.id;

-- name: fairness_lottery
-- Per student with a wish list (not withdrawn): did they get their first wish, any wish.
SELECT st.id AS student_id, st.cohort, st.degree, st.campus, NULL::timestamptz AS first_at,
       EXISTS (
           SELECT 1 FROM selections s
           WHERE s.round_id = w.round_id AND s.student_id = w.student_id AND s.offering_id = w.offering_ids[1]
             AND s.status = 'enrolled'
       ) AS got_first,
       EXISTS (
           SELECT 1 FROM selections s
           WHERE s.round_id = w.round_id AND s.student_id = w.student_id AND s.offering_id = ANY (w.offering_ids)
             AND s.status = 'enrolled'
       ) AS got_any
FROM wishes w JOIN students st ON st.id = w.student_id
WHERE w.round_id = $1 AND cardinality(w.offering_ids) > 0
ORDER BY st.id;
