-- What students tried to select in first-come rounds, for the fairness report: each offering a
-- student tried, and when first (the gate's clock). The select script notes attempts in Redis;
-- workers copy them here every few seconds and when the round closes.
CREATE TABLE select_attempts (
    round_id     text NOT NULL REFERENCES rounds (id),
    student_id   text NOT NULL REFERENCES students (id),
    offering_id  text NOT NULL,
    first_at     timestamptz NOT NULL,
    PRIMARY KEY (round_id, student_id, offering_id)
);
