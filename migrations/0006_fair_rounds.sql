-- Fair rounds: lottery wish lists and their draw, the fair-start window, and rounds that
-- continue another round's outcome (docs/API.md, "Rounds").
ALTER TABLE rounds
    ADD COLUMN fair_start_seconds integer NOT NULL DEFAULT 0 CHECK (fair_start_seconds BETWEEN 0 AND 600),
    -- A round that starts from another's outcome: copied in when it first opens.
    ADD COLUMN continues text REFERENCES rounds (id) CONSTRAINT rounds_continues_check CHECK (continues <> id),
    -- Commit–reveal: the draw's seed must hash to this (lower-case hex sha256).
    ADD COLUMN seed_sha256 text CHECK (seed_sha256 ~ '^[0-9a-f]{64}$'),
    -- Set when the round first opens; orders the requests held in its fair-start window.
    ADD COLUMN fair_start_seed text,
    -- When the round first opened: its fair-start window runs from the later of this and opens_at.
    ADD COLUMN opened_at timestamptz,
    ADD COLUMN drawn_seed text,
    ADD COLUMN drawn_at timestamptz,
    -- The draw's answer, kept so that the same seed again answers the same body.
    ADD COLUMN draw_result jsonb,
    ADD CONSTRAINT rounds_drawn_check CHECK ((drawn_seed IS NULL) = (drawn_at IS NULL));

-- A student's latest wish list in a lottery round; an empty list is a withdrawal (kept, with its
-- time, so that the student can see when they withdrew).
CREATE TABLE wishes (
    round_id     text NOT NULL REFERENCES rounds (id),
    student_id   text NOT NULL REFERENCES students (id),
    offering_ids text[] NOT NULL CHECK (cardinality(offering_ids) <= 50),
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (round_id, student_id)
);
