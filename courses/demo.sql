-- Queries of the demo data set: each adds what is missing and never changes what is there, so a
-- second load (or a load into a catalog an administrator has since edited) harms nothing.

-- name: insert_students
WITH added AS (
    INSERT INTO students (id, name, cohort, degree, campus, college)
    SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::text[])
    ON CONFLICT (id) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM added;

-- name: insert_offerings
WITH added AS (
    INSERT INTO offerings
        (id, title, category, kind, teacher, campus, capacity, schedule, eligibility, description, title_zh)
    SELECT id, title, category, kind, teacher, campus, capacity, schedule::jsonb, eligibility::jsonb, description,
           title_zh
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::integer[],
                $8::text[], $9::text[], $10::text[], $11::text[])
         AS t(id, title, category, kind, teacher, campus, capacity, schedule, eligibility, description, title_zh)
    ON CONFLICT (id) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM added;

-- name: insert_round
INSERT INTO rounds (id, name, mode, state, opens_at, closes_at, eligibility, limits, allow_drop, waitlist)
VALUES ($1, $2, $3, 'draft', $4, $5, $6::text::jsonb, $7::text::jsonb, $8, $9)
ON CONFLICT (id) DO NOTHING
RETURNING id;

-- name: insert_round_offerings
INSERT INTO round_offerings (round_id, offering_id, position)
SELECT $1, t.id, t.position - 1
FROM unnest($2::text[]) WITH ORDINALITY AS t(id, position)
ON CONFLICT (round_id, offering_id) DO NOTHING;

-- name: audit_load
INSERT INTO audit_events (actor, role, action, round_id, outcome, detail)
VALUES ('system', 'system', 'demo.load', $1, 'ok', $2);
