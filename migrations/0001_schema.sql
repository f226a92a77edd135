-- The system of record. Every invariant PostgreSQL can hold is a constraint here.

CREATE TABLE students (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name        text NOT NULL,
    cohort      integer NOT NULL,
    degree      text NOT NULL CHECK (degree IN ('master', 'phd')),
    campus      text NOT NULL,
    college     text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE offerings (
    id           text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    title        text NOT NULL,
    category     text NOT NULL CHECK (category IN ('pe', 'arts', 'labor')),
    kind         text NOT NULL CHECK (kind IN ('course', 'activity')),
    teacher      text,
    campus       text,
    capacity     integer NOT NULL CHECK (capacity >= 0),
    schedule     jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(schedule) = 'array'),
    eligibility  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(eligibility) = 'object'),
    description  text,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rounds (
    id           text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name         text NOT NULL,
    mode         text NOT NULL DEFAULT 'fcfs' CHECK (mode IN ('fcfs', 'lottery')),
    state        text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'open', 'paused', 'closed')),
    opens_at     timestamptz,
    closes_at    timestamptz,
    eligibility  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(eligibility) = 'object'),
    limits       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(limits) = 'object'),
    allow_drop   boolean NOT NULL DEFAULT true,
    waitlist     boolean NOT NULL DEFAULT false,
    -- Bumped each time the admission gate's state for this round is rebuilt from here: a change
    -- decided by an older generation of the gate is never committed (see selection/writer.py).
    generation   bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (opens_at IS NULL OR closes_at IS NULL OR closes_at > opens_at)
);

CREATE TABLE round_offerings (
    round_id     text NOT NULL REFERENCES rounds (id),
    offering_id  text NOT NULL REFERENCES offerings (id),
    position     integer NOT NULL,
    PRIMARY KEY (round_id, offering_id)
);
CREATE INDEX round_offerings_by_offering ON round_offerings (offering_id);

-- One row per student, offering and round: a drop changes the state, it never deletes.
-- `seq` is the per-round sequence number of the last change applied (from the gate's redo log);
-- an older change never overwrites a newer one.
CREATE TABLE selections (
    round_id     text NOT NULL,
    offering_id  text NOT NULL,
    student_id   text NOT NULL REFERENCES students (id),
    status       text NOT NULL CHECK (status IN ('enrolled', 'waitlisted', 'dropped')),
    seq          bigint NOT NULL CHECK (seq > 0),
    -- Place in the offering's waitlist: the sequence number of the change that joined it.
    wait_seq     bigint,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (round_id, student_id, offering_id),
    FOREIGN KEY (round_id, offering_id) REFERENCES round_offerings (round_id, offering_id),
    CHECK ((status = 'waitlisted') = (wait_seq IS NOT NULL))
);
CREATE INDEX selections_by_offering ON selections (round_id, offering_id, status);

CREATE TABLE audit_events (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    role         text NOT NULL CHECK (role IN ('student', 'admin', 'system')),
    action       text NOT NULL,
    round_id     text,
    student_id   text,
    offering_id  text,
    outcome      text NOT NULL,
    detail       text,
    -- The redo-log sequence number of a selection change: committing the same change twice
    -- (a crashed writer's entry recovered by another process) records it once.
    seq          bigint,
    UNIQUE (round_id, seq)
);
CREATE INDEX audit_by_round ON audit_events (round_id, id DESC);
CREATE INDEX audit_by_student ON audit_events (student_id, id DESC);

-- The first response to an Idempotency-Key, committed in the same transaction as the change.
-- A key belongs to one student and one round: the gate claims it atomically with the decision,
-- in the round's own Redis slot (see docs/DECISIONS.md).
CREATE TABLE idempotency_keys (
    student_id   text NOT NULL,
    round_id     text NOT NULL,
    key          text NOT NULL,
    fingerprint  text NOT NULL,
    status       integer NOT NULL,
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (student_id, round_id, key)
);
CREATE INDEX idempotency_by_round ON idempotency_keys (round_id, created_at);
