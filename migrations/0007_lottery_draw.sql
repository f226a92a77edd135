-- The lottery's draw (docs/API.md, "Lottery rounds"): how often each wish list was edited (the
-- audit trail counts edits instead of recording each one), what the draw was computed from, and
-- what it placed, kept as they were drawn so that the draw can be recomputed after later changes.
ALTER TABLE wishes ADD COLUMN edits integer NOT NULL DEFAULT 0 CHECK (edits >= 0);

-- The draw input as it stood when the round was drawn (offerings, seats held, wish lists).
ALTER TABLE rounds ADD COLUMN draw_input jsonb;

-- One row per seat the draw gave: the pass it was given in and the rank of the wish it met.
-- Never changed afterwards; a later drop changes the selection, not this.
CREATE TABLE draw_placements (
    round_id     text NOT NULL REFERENCES rounds (id),
    ordinal      integer NOT NULL CHECK (ordinal > 0),
    student_id   text NOT NULL,
    offering_id  text NOT NULL,
    pass         integer NOT NULL CHECK (pass > 0),
    rank         integer NOT NULL CHECK (rank > 0),
    PRIMARY KEY (round_id, ordinal),
    CONSTRAINT draw_placements_once UNIQUE (round_id, student_id, offering_id)
);
