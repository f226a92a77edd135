-- Queries that keep the gate in step with the catalog.

-- name: round_state
SELECT state FROM rounds WHERE id = $1;

-- name: offering_in_rounds
SELECT ro.round_id, o.category, o.schedule, o.eligibility
FROM round_offerings ro JOIN offerings o ON o.id = ro.offering_id
WHERE ro.offering_id = $1;

-- name: lock_offering_capacity
SELECT capacity FROM offerings WHERE id = $1 FOR UPDATE;

-- name: set_capacity
UPDATE offerings SET capacity = $2, updated_at = now() WHERE id = $1;

-- name: audit_capacity
INSERT INTO audit_events (actor, role, action, offering_id, outcome, detail)
VALUES ($1, 'admin', 'capacity.change', $2, 'ok', $3);
