-- Queries of the gate's loader: a round's state as PostgreSQL records it.

-- name: lock_round_exclusive
-- Waits for every writer committing into this round (they hold the shared lock) to finish.
SELECT pg_advisory_xact_lock(hashtext('gate:' || $1::text));

-- name: bump_generation
UPDATE rounds SET generation = generation + 1 WHERE id = $1
RETURNING id, mode, state, state_version, opens_at, closes_at, eligibility, limits, allow_drop, waitlist, generation,
          fair_start_seconds, opened_at, fair_start_seed;

-- name: round_generation
SELECT generation FROM rounds WHERE id = $1;

-- name: round_offerings
SELECT o.id, o.category, o.capacity, o.schedule, o.eligibility, ro.position
FROM round_offerings ro JOIN offerings o ON o.id = ro.offering_id
WHERE ro.round_id = $1
ORDER BY ro.position;

-- name: current_selections
SELECT s.student_id, s.offering_id, s.status, s.wait_seq, st.cohort, st.degree, st.campus
FROM selections s JOIN students st ON st.id = s.student_id
WHERE s.round_id = $1 AND s.status <> 'dropped'
ORDER BY s.wait_seq NULLS FIRST;

-- name: max_seq
-- Every committed change has its audit event (by the round's (round_id, seq) index).
SELECT coalesce(max(seq), 0) FROM audit_events WHERE round_id = $1;

-- name: recent_claims
SELECT student_id, key, fingerprint,
       greatest(1, $2::integer - extract(epoch FROM now() - created_at)::integer) AS ttl
FROM idempotency_keys
WHERE round_id = $1 AND created_at > now() - make_interval(secs => $2::integer);
