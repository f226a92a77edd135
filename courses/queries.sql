-- Queries of the catalog: students, offerings, rounds.

-- name: student_profile
SELECT id, cohort, degree, campus FROM students WHERE id = $1;

-- name: all_student_profiles
SELECT id, cohort, degree, campus FROM students;

-- name: upsert_students
-- One statement for the whole list: a re-import of unchanged rows touches nothing.
INSERT INTO students AS s (id, name, cohort, degree, campus, college)
SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::text[])
ON CONFLICT (id) DO UPDATE
    SET name = excluded.name, cohort = excluded.cohort, degree = excluded.degree,
        campus = excluded.campus, college = excluded.college, updated_at = now()
    WHERE (s.name, s.cohort, s.degree, s.campus, s.college)
          IS DISTINCT FROM (excluded.name, excluded.cohort, excluded.degree, excluded.campus, excluded.college);

-- name: lock_offerings
SELECT id, title, title_zh, category, kind, teacher, campus, capacity, schedule, eligibility, description
FROM offerings WHERE id = ANY($1::text[])
ORDER BY id
FOR UPDATE;

-- name: offering_rounds
-- FOR SHARE: a round cannot change state until the offerings' change commits.
SELECT ro.offering_id, r.id AS round_id, r.state
FROM round_offerings ro JOIN rounds r ON r.id = ro.round_id
WHERE ro.offering_id = ANY($1::text[])
ORDER BY ro.offering_id, r.id
FOR SHARE OF r;

-- name: enrolled_counts
SELECT round_id, offering_id, count(*) AS enrolled
FROM selections
WHERE offering_id = ANY($1::text[]) AND status = 'enrolled'
GROUP BY round_id, offering_id;

-- name: upsert_offerings
INSERT INTO offerings AS o
    (id, title, category, kind, teacher, campus, capacity, schedule, eligibility, description, title_zh)
SELECT id, title, category, kind, teacher, campus, capacity, schedule::jsonb, eligibility::jsonb, description,
       title_zh
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::integer[],
            $8::text[], $9::text[], $10::text[], $11::text[])
     AS t(id, title, category, kind, teacher, campus, capacity, schedule, eligibility, description, title_zh)
ON CONFLICT (id) DO UPDATE
    SET title = excluded.title, title_zh = excluded.title_zh, category = excluded.category, kind = excluded.kind,
        teacher = excluded.teacher, campus = excluded.campus, capacity = excluded.capacity,
        schedule = excluded.schedule, eligibility = excluded.eligibility,
        description = excluded.description, updated_at = now()
    WHERE (o.title, o.title_zh, o.category, o.kind, o.teacher, o.campus, o.capacity, o.schedule, o.eligibility,
           o.description)
          IS DISTINCT FROM (excluded.title, excluded.title_zh, excluded.category, excluded.kind, excluded.teacher,
                            excluded.campus, excluded.capacity, excluded.schedule, excluded.eligibility,
                            excluded.description);

-- name: offering
SELECT id, title, title_zh, category, kind, teacher, campus, capacity, schedule, eligibility, description
FROM offerings WHERE id = $1;

-- name: update_offering_details
-- Capacity is not here: it changes only through the admission gate.
UPDATE offerings
SET title = $2, category = $3, teacher = $4, campus = $5, schedule = $6::text::jsonb,
    eligibility = $7::text::jsonb, description = $8, title_zh = $9, updated_at = now()
WHERE id = $1;

-- name: audit_admin
INSERT INTO audit_events (actor, role, action, round_id, offering_id, outcome, detail)
VALUES ($1, 'admin', $2, $3, $4, 'ok', $5);

-- name: audit_page
SELECT id, at, actor, role, action, round_id, student_id, offering_id, outcome, detail
FROM audit_events
WHERE ($1::text IS NULL OR round_id = $1)
  AND ($2::text IS NULL OR student_id = $2)
  AND ($3::bigint IS NULL OR id < $3)
  AND ($5::text IS NULL OR offering_id = $5)
  AND ($6::text IS NULL OR action = $6)
  AND ($7::text IS NULL OR actor = $7)
  AND ($8::timestamptz IS NULL OR at >= $8)
  AND ($9::timestamptz IS NULL OR at < $9)
ORDER BY id DESC
LIMIT $4;

-- name: unknown_offerings
SELECT id FROM unnest($1::text[]) AS t(id)
WHERE NOT EXISTS (SELECT 1 FROM offerings o WHERE o.id = t.id)
ORDER BY id;

-- name: insert_round
INSERT INTO rounds (id, name, mode, state, opens_at, closes_at, eligibility, limits, allow_drop, waitlist,
                    fair_start_seconds, continues, seed_sha256)
VALUES ($1, $2, $3, 'draft', $4, $5, $6::text::jsonb, $7::text::jsonb, $8, $9, $10, $11, $12)
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: continued_round
-- The round a new round continues, with the offerings of its that the new round ($2) lacks.
SELECT r.id, r.mode, r.state, r.drawn_at,
       coalesce(array_agg(ro.offering_id ORDER BY ro.position)
                    FILTER (WHERE ro.offering_id IS NOT NULL AND NOT ro.offering_id = ANY ($2::text[])), '{}')
           AS missing
FROM rounds r LEFT JOIN round_offerings ro ON ro.round_id = r.id
WHERE r.id = $1
GROUP BY r.id;

-- name: round_for_open
SELECT id, mode, state, opened_at, continues, fair_start_seconds FROM rounds WHERE id = $1 FOR UPDATE;

-- name: open_round
-- The first opening stamps the time the fair-start window runs from, and its seed.
UPDATE rounds SET state = 'open', state_version = state_version + 1, updated_at = now(),
                  opened_at = coalesce(opened_at, now()),
                  fair_start_seed = coalesce(fair_start_seed, $2)
WHERE id = $1
RETURNING opened_at, fair_start_seed;

-- name: retire_gate_state
-- Selections written outside the gate: whatever state the gate holds for the round is now of an
-- older generation, so no worker decides with it, nor commits what it decided, until it is rebuilt.
UPDATE rounds SET generation = generation + 1 WHERE id = $1;

-- name: carry_over
-- Every current selection of round $2 copied into round $1, in the order it was made (a waiting
-- student keeps their place in line); each gets a sequence number of round $1 above any it has.
WITH base AS (
    SELECT greatest((SELECT coalesce(max(seq), 0) FROM selections WHERE round_id = $1),
                    (SELECT coalesce(max(seq), 0) FROM audit_events WHERE round_id = $1)) AS seq
), source AS (
    SELECT s.*, row_number() OVER (ORDER BY s.seq, s.student_id, s.offering_id) AS n
    FROM selections s
    WHERE s.round_id = $2 AND s.status IN ('enrolled', 'waitlisted')
), copied AS (
    INSERT INTO selections (round_id, offering_id, student_id, status, seq, wait_seq, created_at, updated_at)
    SELECT $1, source.offering_id, source.student_id, source.status, base.seq + source.n,
           CASE WHEN source.status = 'waitlisted' THEN base.seq + source.n END, source.created_at, now()
    FROM source, base
    ORDER BY source.n
    ON CONFLICT (round_id, student_id, offering_id) DO NOTHING
    RETURNING student_id, offering_id, status, seq
)
INSERT INTO audit_events (actor, role, action, round_id, student_id, offering_id, outcome, detail, seq)
SELECT $3, 'admin', 'carry_over', $1, student_id, offering_id, 'ok', 'from round ' || $2 || ' (' || status || ')', seq
FROM copied
RETURNING 1;

-- name: insert_round_offerings
INSERT INTO round_offerings (round_id, offering_id, position)
SELECT $1, t.id, t.position - 1
FROM unnest($2::text[]) WITH ORDINALITY AS t(id, position);

-- name: rounds
SELECT r.id, r.name, r.mode, r.state, r.opens_at, r.closes_at, r.eligibility, r.limits, r.allow_drop, r.waitlist,
       r.fair_start_seconds, r.continues, r.seed_sha256, r.fair_start_seed, r.drawn_seed,
       coalesce(array_agg(ro.offering_id ORDER BY ro.position) FILTER (WHERE ro.offering_id IS NOT NULL), '{}')
           AS offering_ids
FROM rounds r LEFT JOIN round_offerings ro ON ro.round_id = r.id
WHERE $1::text IS NULL OR r.id = $1
GROUP BY r.id
ORDER BY r.created_at, r.id;

-- name: move_round
-- Conditional on the state it leaves: of two concurrent moves, only one finds the state it expects.
UPDATE rounds SET state = $2, state_version = state_version + 1, updated_at = now()
WHERE id = $1 AND state = ANY($3::text[])
RETURNING state;

-- name: round_state
SELECT state FROM rounds WHERE id = $1;

-- name: visible_rounds
SELECT r.id, r.name, r.mode, r.state, r.opens_at, r.closes_at, r.eligibility, r.limits, r.allow_drop, r.waitlist,
       r.fair_start_seconds, r.continues, r.seed_sha256, r.fair_start_seed, r.drawn_seed,
       coalesce(array_agg(ro.offering_id ORDER BY ro.position) FILTER (WHERE ro.offering_id IS NOT NULL), '{}')
           AS offering_ids
FROM rounds r LEFT JOIN round_offerings ro ON ro.round_id = r.id
WHERE r.state <> 'draft'
GROUP BY r.id
ORDER BY r.created_at, r.id;

-- name: round_header
SELECT id, mode, state, eligibility, waitlist FROM rounds WHERE id = $1;

-- name: round_offering_details
SELECT o.id, o.title, o.title_zh, o.category, o.kind, o.teacher, o.campus, o.capacity, o.schedule,
       o.eligibility, o.description
FROM round_offerings ro JOIN offerings o ON o.id = ro.offering_id
WHERE ro.round_id = $1
ORDER BY ro.position;

-- name: offering_exists
SELECT EXISTS (SELECT 1 FROM offerings WHERE id = $1);

-- name: wish_round
SELECT id, mode, state, opens_at, closes_at, eligibility FROM rounds WHERE id = $1;

-- name: wish_round_locked
-- Held until the list is stored: a close waits for it, so its summary counts every list it let in.
SELECT id, mode, state, opens_at, closes_at, eligibility FROM rounds WHERE id = $1 FOR SHARE;

-- name: wish_offerings
-- The round's offerings among the wished ones, with their eligibility.
SELECT o.id, o.eligibility
FROM round_offerings ro JOIN offerings o ON o.id = ro.offering_id
WHERE ro.round_id = $1 AND ro.offering_id = ANY ($2::text[]);

-- name: put_wishes
-- The latest list wins; each hand-in is counted (the audit trail sums the counts, see courses/wishes.py).
INSERT INTO wishes (round_id, student_id, offering_ids, updated_at, edits)
VALUES ($1, $2, $3, now(), 1)
ON CONFLICT (round_id, student_id) DO UPDATE
    SET offering_ids = excluded.offering_ids, updated_at = excluded.updated_at, edits = wishes.edits + 1
RETURNING offering_ids, updated_at;

-- name: wishes_of
SELECT offering_ids, updated_at FROM wishes WHERE round_id = $1 AND student_id = $2;

-- name: wish_summary
-- A lottery round's wish lists in one line of the audit trail: lists, non-empty ones, hand-ins.
SELECT count(w.student_id) AS lists,
       count(w.student_id) FILTER (WHERE cardinality(w.offering_ids) > 0) AS non_empty,
       coalesce(sum(w.edits), 0)::bigint AS edits
FROM rounds r LEFT JOIN wishes w ON w.round_id = r.id
WHERE r.id = $1 AND r.mode = 'lottery'
GROUP BY r.id;

-- name: draw_round
SELECT id, mode, state, limits, eligibility, seed_sha256, drawn_seed, drawn_at, draw_result, draw_input
FROM rounds WHERE id = $1;

-- name: draw_round_locked
-- Concurrent draws of one round queue here; the second finds the round drawn.
SELECT id, mode, state, limits, eligibility, seed_sha256, drawn_seed, drawn_at, draw_result, draw_input
FROM rounds WHERE id = $1 FOR UPDATE;

-- name: lock_round_changes
-- The gate's lock on the round, taken exclusively (as quota/queries.sql's lock_round_exclusive):
-- every group commit into the round finishes first, and none starts until the draw is committed.
SELECT pg_advisory_xact_lock(hashtext('gate:' || $1::text));

-- name: draw_offerings
SELECT o.id, o.capacity, o.category, o.schedule, o.eligibility
FROM round_offerings ro JOIN offerings o ON o.id = ro.offering_id
WHERE ro.round_id = $1
ORDER BY ro.position;

-- name: held_seats
SELECT student_id, offering_id FROM selections
WHERE round_id = $1 AND status = 'enrolled'
ORDER BY student_id, offering_id;

-- name: wishers
SELECT s.id, s.cohort, s.degree, s.campus, w.offering_ids
FROM wishes w JOIN students s ON s.id = w.student_id
WHERE w.round_id = $1 AND cardinality(w.offering_ids) > 0
ORDER BY s.id;

-- name: insert_draw
-- The draw's placements ($2..$5, in the draw's order) as enrolled selections with sequence numbers
-- of the round above any it has, kept as drawn in draw_placements, one audit event each (every
-- data-modifying part of the statement runs, whether or not the last one reads it).
WITH base AS (
    SELECT greatest((SELECT coalesce(max(seq), 0) FROM selections WHERE round_id = $1),
                    (SELECT coalesce(max(seq), 0) FROM audit_events WHERE round_id = $1)) AS seq
), placed AS (
    SELECT p.student_id, p.offering_id, p.pass, p.rank, p.ordinal::integer AS ordinal, base.seq + p.ordinal AS seq
    FROM unnest($2::text[], $3::text[], $4::integer[], $5::integer[])
         WITH ORDINALITY AS p(student_id, offering_id, pass, rank, ordinal), base
), selected AS (
    INSERT INTO selections AS s (round_id, offering_id, student_id, status, seq, wait_seq, created_at, updated_at)
    SELECT $1, offering_id, student_id, 'enrolled', seq, NULL, now(), now() FROM placed
    ORDER BY ordinal
    -- A row left by an earlier drop (or a waitlist place) becomes the drawn seat.
    ON CONFLICT (round_id, student_id, offering_id) DO UPDATE
        SET status = 'enrolled', seq = excluded.seq, wait_seq = NULL,
            created_at = excluded.created_at, updated_at = excluded.updated_at
            WHERE s.status <> 'enrolled'
), kept AS (
    INSERT INTO draw_placements (round_id, ordinal, student_id, offering_id, pass, rank)
    SELECT $1, ordinal, student_id, offering_id, pass, rank FROM placed
)
INSERT INTO audit_events (actor, role, action, round_id, student_id, offering_id, outcome, detail, seq)
SELECT $6, 'admin', 'draw', $1, student_id, offering_id, 'enrolled',
       'pass ' || pass || ', wish ' || rank, seq
FROM placed
ORDER BY ordinal;

-- name: mark_drawn
-- Drawn, once; the generation moves on, so no gate state from before the draw is trusted again.
UPDATE rounds SET drawn_seed = $2, drawn_at = now(), draw_result = $3::text::jsonb, draw_input = $4::text::jsonb,
                  generation = generation + 1, updated_at = now()
WHERE id = $1 AND drawn_seed IS NULL
RETURNING drawn_at;

-- name: draw_placements
SELECT student_id, offering_id, pass, rank FROM draw_placements WHERE round_id = $1 ORDER BY ordinal;

-- Editing a round (RoundRegistry.edit).

-- name: lock_round_for_edit
SELECT state FROM rounds WHERE id = $1 FOR UPDATE;

-- name: update_round
-- Every edit is a new version of the round's state: the gate takes the closing time with it.
UPDATE rounds SET name = $2, mode = $3, opens_at = $4, closes_at = $5, eligibility = $6::text::jsonb,
                  limits = $7::text::jsonb, allow_drop = $8, waitlist = $9, fair_start_seconds = $10,
                  continues = $11, seed_sha256 = $12, state_version = state_version + 1, updated_at = now()
WHERE id = $1;

-- name: offerings_held_in_round
-- Offerings of round $1 that some selection row names (a dropped one too), other than those in $2.
SELECT DISTINCT offering_id FROM selections WHERE round_id = $1 AND NOT offering_id = ANY ($2::text[])
ORDER BY offering_id;

-- name: rounds_continuing
-- Rounds that continue round $1, each with the offerings of $2 it does not offer.
SELECT r.id,
       ARRAY(SELECT o FROM unnest($2::text[]) AS o
             WHERE o NOT IN (SELECT ro.offering_id FROM round_offerings ro WHERE ro.round_id = r.id)) AS missing
FROM rounds r WHERE r.continues = $1
ORDER BY r.id;

-- name: continues_chain
-- The rounds round $1 continues, directly or through others.
WITH RECURSIVE chain(id, continues) AS (
    SELECT id, continues FROM rounds WHERE id = $1
    UNION
    SELECT r.id, r.continues FROM rounds r JOIN chain c ON r.id = c.continues
)
SELECT id FROM chain;

-- name: remove_round_offerings
DELETE FROM round_offerings WHERE round_id = $1 AND NOT offering_id = ANY ($2::text[]);

-- name: place_round_offerings
INSERT INTO round_offerings (round_id, offering_id, position)
SELECT $1, t.id, t.position - 1
FROM unnest($2::text[]) WITH ORDINALITY AS t(id, position)
ON CONFLICT (round_id, offering_id) DO UPDATE SET position = excluded.position;

-- name: every_offering
-- The catalog for the console: every offering, with the rounds that offer it.
SELECT o.id, o.title, o.title_zh, o.category, o.kind, o.teacher, o.campus, o.capacity, o.schedule, o.eligibility,
       o.description,
       ARRAY(SELECT ro.round_id FROM round_offerings ro WHERE ro.offering_id = o.id ORDER BY ro.round_id) AS round_ids
FROM offerings o
ORDER BY o.category, o.id;

-- name: stored_students
-- The rows an import would replace, whole (to_jsonb: whatever columns the table has), for its preview.
SELECT to_jsonb(s)::text AS stored FROM students s WHERE s.id = ANY($1::text[]);

-- name: stored_offerings
SELECT to_jsonb(o)::text AS stored FROM offerings o WHERE o.id = ANY($1::text[]);
