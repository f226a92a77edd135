-- Redo-log entries PostgreSQL refused for what they hold (not for when or how they were sent):
-- set aside here, byte for byte as the gate logged them, so that one bad change never blocks the
-- rest of its batch or its round, and an operator can see it (/metrics, the admin API,
-- `selection check`).
CREATE TABLE dead_letters (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    round_id   text NOT NULL,
    stream_id  text NOT NULL,
    -- The entry's JSON as bytes: whatever it holds (a NUL included) fits.
    entry      bytea NOT NULL,
    error      text NOT NULL,
    UNIQUE (round_id, stream_id)
);
