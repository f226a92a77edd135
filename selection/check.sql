-- Queries of the invariant checker.

-- name: rounds
SELECT id, eligibility, limits FROM rounds ORDER BY id;

-- name: offerings_of_round
SELECT o.id, o.category, o.capacity, o.schedule, o.eligibility
FROM round_offerings ro JOIN offerings o ON o.id = ro.offering_id
WHERE ro.round_id = $1;

-- name: selections_of_round
-- With the action of each selection's last change, to tell administrators' overrides apart.
SELECT s.student_id, s.offering_id, s.status, s.wait_seq, st.cohort, st.degree, st.campus,
       coalesce(a.action, '') AS last_action
FROM selections s
JOIN students st ON st.id = s.student_id
LEFT JOIN audit_events a ON a.round_id = s.round_id AND a.seq = s.seq
WHERE s.round_id = $1 AND s.status <> 'dropped';
