-- Queries of the selection path: committing the gate's changes, and the students' reads.

-- name: commit_batch
-- The whole group commit, in one call (migrations/0003_commit_batch_json.sql): the rounds' shared
-- locks, their generations, the fresh jobs' changes and answers. Returns the stale jobs.
-- The documents are sent as text: they are encoded once, by msgspec, whatever codec the connection has for json.
SELECT commit_batch($1::text::json, $2::text::json);

-- name: recorded_answer
SELECT fingerprint, status, body FROM idempotency_keys WHERE student_id = $1 AND round_id = $2 AND key = $3;

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

-- name: visible_rounds
SELECT r.id, r.name, r.mode, r.state, r.opens_at, r.closes_at, r.eligibility, r.limits, r.allow_drop, r.waitlist,
       coalesce(array_agg(ro.offering_id ORDER BY ro.position) FILTER (WHERE ro.offering_id IS NOT NULL), '{}')
           AS offering_ids
FROM rounds r LEFT JOIN round_offerings ro ON ro.round_id = r.id
WHERE r.state <> 'draft'
GROUP BY r.id
ORDER BY r.created_at, r.id;

-- name: round_header
SELECT id, mode, state, eligibility, waitlist FROM rounds WHERE id = $1;

-- name: round_offering_details
SELECT o.id, o.title, o.category, o.kind, o.teacher, o.campus, o.capacity, o.schedule, o.eligibility,
       o.description
FROM round_offerings ro JOIN offerings o ON o.id = ro.offering_id
WHERE ro.round_id = $1
ORDER BY ro.position;

-- name: offering_exists
SELECT EXISTS (SELECT 1 FROM offerings WHERE id = $1);

-- name: round_ids
SELECT id, state FROM rounds;

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

-- name: student_exists
SELECT EXISTS (SELECT 1 FROM students WHERE id = $1);

-- name: audit_page
SELECT id, at, actor, role, action, round_id, student_id, offering_id, outcome, detail
FROM audit_events
WHERE ($1::text IS NULL OR round_id = $1)
  AND ($2::text IS NULL OR student_id = $2)
  AND ($3::bigint IS NULL OR id < $3)
ORDER BY id DESC
LIMIT $4;
