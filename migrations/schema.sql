-- The schema as the migrations leave it, in one file: a reference to read, never applied.
--
-- The migrations beside this file (NNNN_name.sql, applied in order by migrations/__init__.py) are
-- what builds and upgrades a database; this file is not one of them (its name does not match) and
-- nothing runs it but tests/postgres/test_schema.py. That test applies the migrations to one fresh
-- database and this file to another, and fails unless the two catalogs agree: tables and their
-- columns (in order, with their types, NOT NULL and defaults), constraints, indexes, sequences and
-- the functions of the public schema, commit_batch's body to the character.
--
-- A change to the schema is a new migration, plus the same change here.
--
-- Not here: schema_migrations, the migrations' own bookkeeping table, which
-- migrations/__init__.py creates before it applies any of them. The comparison ignores it.
--
-- Where a part came from a later migration than 0001, its comment says which. Columns stand in
-- the order a migrated database has them: a column a later migration added comes last.

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
    updated_at   timestamptz NOT NULL DEFAULT now(),
    title_zh     text
);

CREATE TABLE rounds (
    id             text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name           text NOT NULL,
    mode           text NOT NULL DEFAULT 'fcfs' CHECK (mode IN ('fcfs', 'lottery')),
    state          text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'open', 'paused', 'closed')),
    opens_at       timestamptz,
    closes_at      timestamptz,
    eligibility    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(eligibility) = 'object'),
    limits         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(limits) = 'object'),
    allow_drop     boolean NOT NULL DEFAULT true,
    waitlist       boolean NOT NULL DEFAULT false,
    -- Bumped each time the admission gate's state for this round is rebuilt from here: a change
    -- decided by an older generation of the gate is never committed (see selection/writer.py).
    generation     bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- (0004) Bumped by every state change of a round; the gate keeps the version of the state it
    -- holds and takes a state only from a newer version (an upkeep loop that read an older state
    -- never undoes an administrator's pause or close).
    state_version  bigint NOT NULL DEFAULT 0,
    -- (0006) Fair rounds: see docs/API.md and migrations/0006_fair_rounds.sql.
    fair_start_seconds integer NOT NULL DEFAULT 0 CHECK (fair_start_seconds BETWEEN 0 AND 600),
    continues      text REFERENCES rounds (id) CONSTRAINT rounds_continues_check CHECK (continues <> id),
    seed_sha256    text CHECK (seed_sha256 ~ '^[0-9a-f]{64}$'),
    fair_start_seed text,
    opened_at      timestamptz,
    drawn_seed     text,
    drawn_at       timestamptz,
    draw_result    jsonb,
    -- (0007) The draw input as it stood when the round was drawn.
    draw_input     jsonb,
    CHECK (opens_at IS NULL OR closes_at IS NULL OR closes_at > opens_at),
    CONSTRAINT rounds_drawn_check CHECK ((drawn_seed IS NULL) = (drawn_at IS NULL))
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

-- (0006) A student's latest wish list in a lottery round; an empty list is a withdrawal.
CREATE TABLE wishes (
    round_id     text NOT NULL REFERENCES rounds (id),
    student_id   text NOT NULL REFERENCES students (id),
    offering_ids text[] NOT NULL CHECK (cardinality(offering_ids) <= 50),
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (round_id, student_id),
    -- (0007) How many times the student handed in a list: counted, not audited one by one.
    edits        integer NOT NULL DEFAULT 0 CHECK (edits >= 0)
);

-- (0007) One row per seat a lottery's draw gave, as drawn: the pass and the rank of the wish met.
-- Never changed afterwards (a later drop changes the selection), so the draw can be recomputed.
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

-- (0008) What students tried to select in first-come rounds, and when first: the fairness report.
CREATE TABLE select_attempts (
    round_id     text NOT NULL REFERENCES rounds (id),
    student_id   text NOT NULL REFERENCES students (id),
    offering_id  text NOT NULL,
    first_at     timestamptz NOT NULL,
    PRIMARY KEY (round_id, student_id, offering_id)
);

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

-- (0005) Redo-log entries PostgreSQL refused for what they hold (not for when or how they were
-- sent): set aside here, byte for byte as the gate logged them, so that one bad change never
-- blocks the rest of its batch or its round, and an operator can see it (/metrics, the admin API,
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

-- A group commit in one call (selection/group_commit.py): one round trip to PostgreSQL per batch
-- instead of one per statement plus BEGIN and COMMIT. Called on its own (autocommit), the call is
-- one implicit transaction: all of it is committed, or nothing. Its history: 0002 (twenty typed
-- arrays), 0003 (two JSON documents), 0004 (the fence against a gate gone back in time); below is
-- the form the last of them left, its body exactly as that migration has it.
--
-- The changes come as one JSON array of objects, one per change, with the fields
--   job, round_id, student_id, offering_id, status, seq, wait_seq, at (ms since the epoch, the
--   gate's own clock), actor, role, action, gen, detail
-- where `job` is the job it belongs to and `gen` the gate generation that decided it; the answers
-- likewise: job, student_id, key, round_id, fingerprint, status, body (UTF-8 text). A job is
-- committed whole or not at all: one of its changes decided by an older generation of its round's
-- gate, or by a gate that had gone back in time (its sequence number shows it; that round's
-- generation then moves on), makes the whole job stale, and none of its changes or answers is
-- written. A change of an older generation that a rebuild already committed counts as committed,
-- not stale. A job without changes (a refusal recorded under an Idempotency-Key) is never stale.
-- Returns the stale jobs.
CREATE FUNCTION commit_batch(changes json, answers json) RETURNS integer[]
-- VOLATILE (the default, spelled out because the fence below depends on it): in READ COMMITTED a
-- volatile function takes a new snapshot for each of its statements, where a STABLE one would
-- see everything through the calling statement's snapshot, taken before the lock was granted.
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    stale integer[];
    rewound integer[];
    rewound_rounds text[];
BEGIN
    -- Held until commit: a rebuild of one of these rounds (exclusive lock) waits for this batch,
    -- and this batch waits for a rebuild under way. Always in the same order. In a transaction
    -- that already holds a round's lock exclusively (a rebuild committing the redo log before it
    -- reloads the gate), the shared lock is granted at once.
    PERFORM pg_advisory_xact_lock_shared(hashtext('gate:' || r))
    FROM (SELECT DISTINCT c.round_id AS r FROM json_to_recordset(changes) AS c(round_id text) ORDER BY 1)
         AS batch_rounds;

    -- The generations are read by a statement of their own, after the locks: its snapshot is taken
    -- once they are granted, so it sees the generation a rebuild committed before releasing its
    -- lock. Read by the statement that takes the locks, or by one that shares its snapshot, they
    -- could be those from before that rebuild, and this batch would commit changes the rebuilt
    -- gate does not count.
    --
    -- A change of an older generation that is already committed, exactly (a rebuild committed the
    -- redo log before it replaced the gate state), is done, not stale: its request is answered as
    -- committed, and its Idempotency-Key answer is there to replay.
    --
    -- (0009) In two steps: the generations first, and the audit trail only for the rare change of
    -- another generation. In one statement the planner was free to anti-join every change with
    -- the whole audit trail before it looked at the generations, and did, once the rounds table
    -- grew columns: a scan of the trail on every batch, slower as the trail grows.
    SELECT coalesce(array_agg(DISTINCT c.job), '{}') INTO stale
    FROM json_to_recordset(changes) AS c(job integer, round_id text, gen bigint)
    LEFT JOIN rounds ON rounds.id = c.round_id
    WHERE rounds.generation IS DISTINCT FROM c.gen;
    IF cardinality(stale) > 0 THEN
        SELECT coalesce(array_agg(DISTINCT c.job), '{}') INTO stale
        FROM json_to_recordset(changes) AS c(
             job integer, round_id text, student_id text, offering_id text, seq bigint, at bigint, action text,
             gen bigint
        )
        LEFT JOIN rounds ON rounds.id = c.round_id
        WHERE c.job = ANY (stale)
          AND rounds.generation IS DISTINCT FROM c.gen
          AND NOT EXISTS (SELECT 1 FROM audit_events AS a
                          WHERE a.round_id = c.round_id AND a.seq = c.seq
                            AND (a.student_id, a.offering_id, a.action, a.at)
                                = (c.student_id, c.offering_id, c.action, to_timestamp(c.at / 1000.0)));
    END IF;

    -- A gate that went back in time (Redis restored from a snapshot or an old AOF, a replica that
    -- lagged, a round's keys restored) hands out sequence numbers it had handed out before, and
    -- decides on counts that miss what came after. Such a change is fenced off: the round's
    -- highest committed change has a number at least as high and was decided before it (by the
    -- gate's own clock, which a healthy gate hands numbers out in the order of). A number handed
    -- out twice is caught the same way. (Each worker also stops a gate state whose numbers are
    -- below what it has seen, before it decides: common.lua.) Its job is not written, and the round's
    -- generation moves on, so that nothing else that gate decides is committed either; recovery
    -- then rebuilds the round's gate state from here.
    WITH batch AS (
        SELECT c.*
        FROM json_to_recordset(changes) AS c(
             job integer, round_id text, student_id text, offering_id text, seq bigint, at bigint, action text
        )
        WHERE c.job <> ALL (stale)
    ), highest AS (
        -- Each round's highest committed change: one backward probe of the (round_id, seq) index
        -- per round and batch, whatever the batch's size.
        SELECT r.round_id, top.seq, top.at
        FROM (SELECT DISTINCT round_id FROM batch) AS r
        CROSS JOIN LATERAL (
            SELECT a.seq, a.at FROM audit_events AS a
            WHERE a.round_id = r.round_id AND a.seq IS NOT NULL
            ORDER BY a.seq DESC LIMIT 1
        ) AS top
    )
    SELECT coalesce(array_agg(DISTINCT b.job), '{}'), coalesce(array_agg(DISTINCT b.round_id), '{}')
    INTO rewound, rewound_rounds
    FROM batch AS b
    JOIN highest AS h ON h.round_id = b.round_id
    WHERE (b.seq <= h.seq AND to_timestamp(b.at / 1000.0) > h.at);
    IF cardinality(rewound) > 0 THEN
        UPDATE rounds SET generation = generation + 1 WHERE id = ANY (rewound_rounds);
        stale := stale || rewound;
    END IF;

    -- Selections (an older change never overwrites a newer one), their audit events (once per
    -- change, however often it is committed: a dead process's redo log is committed again).
    WITH input AS (
        SELECT c.job, c.round_id, c.student_id, c.offering_id, c.status, c.seq, c.wait_seq,
               to_timestamp(c.at / 1000.0) AS at, c.actor, c.role, c.action, c.detail
        FROM json_to_recordset(changes) AS c(
             job integer, round_id text, student_id text, offering_id text, status text, seq bigint,
             wait_seq bigint, at bigint, actor text, role text, action text, gen bigint, detail text
        )
        WHERE c.job <> ALL (stale)
    ), latest AS (
        SELECT DISTINCT ON (round_id, student_id, offering_id) *
        FROM input
        ORDER BY round_id, student_id, offering_id, seq DESC
    ), applied AS (
        INSERT INTO selections AS s (round_id, student_id, offering_id, status, seq, wait_seq, created_at, updated_at)
        SELECT l.round_id, l.student_id, l.offering_id, l.status, l.seq, l.wait_seq, l.at, l.at FROM latest AS l
        ON CONFLICT (round_id, student_id, offering_id) DO UPDATE
            SET status = excluded.status,
                seq = excluded.seq,
                wait_seq = excluded.wait_seq,
                -- A selection made anew after a drop is a new selection; a promotion is not.
                created_at = CASE WHEN s.status = 'dropped' THEN excluded.created_at ELSE s.created_at END,
                updated_at = excluded.updated_at
            WHERE s.seq < excluded.seq
        RETURNING 1
    )
    INSERT INTO audit_events (at, actor, role, action, round_id, student_id, offering_id, outcome, detail, seq)
    SELECT i.at, i.actor, i.role, i.action, i.round_id, i.student_id, i.offering_id, 'ok', i.detail, i.seq
    FROM input AS i
    ON CONFLICT (round_id, seq) DO NOTHING;

    -- The first answer to an Idempotency-Key stays the answer.
    INSERT INTO idempotency_keys (student_id, key, round_id, fingerprint, status, body)
    SELECT a.student_id, a.key, a.round_id, a.fingerprint, a.status, convert_to(a.body, 'UTF8')
    FROM json_to_recordset(answers)
         AS a(job integer, student_id text, key text, round_id text, fingerprint text, status integer, body text)
    WHERE a.job <> ALL (stale)
    ON CONFLICT (student_id, round_id, key) DO NOTHING;

    RETURN stale;
END
$$;
