-- The call journal. Times are microseconds since the Unix epoch (UTC); the views with
-- names ending in _v show them as TIMESTAMP (UTC) for people querying with the duckdb shell.

CREATE TABLE IF NOT EXISTS meta (
    key VARCHAR,
    value VARCHAR
);

CREATE TABLE IF NOT EXISTS imports (
    id BIGINT,
    path VARCHAR,
    sha256 VARCHAR,
    started_us BIGINT,
    finished_us BIGINT,
    packets BIGINT,
    calls BIGINT,
    status VARCHAR,      -- running, complete, truncated, failed
    note VARCHAR
);

CREATE TABLE IF NOT EXISTS calls (
    id BIGINT,
    call_id VARCHAR,
    caller VARCHAR,
    caller_name VARCHAR,
    callee VARCHAR,
    direction VARCHAR,
    started_us BIGINT,
    answered_us BIGINT,
    ended_us BIGINT,
    disposition VARCHAR,  -- answered, cancelled, busy, rejected, failed; NULL while unknown
    end_reason VARCHAR,   -- bye, final_response, timeout, capture_end, capture_stopped, replaced
    final_status INTEGER,
    state VARCHAR,        -- active, finished
    recorded BOOLEAN,
    verdict VARCHAR,      -- record, on-demand, never
    decision VARCHAR,     -- the reason of the verdict at call start
    user_agent VARCHAR,
    joined_midway BOOLEAN,
    rtcp_packets BIGINT,
    other_media_packets BIGINT,
    dropped_messages BIGINT,
    note VARCHAR,         -- problems worth a supervisor's attention (codec not decodable, disk full)
    import_id BIGINT,
    capture_lost BIGINT,  -- media frames lost between the interface and userspace (live eBPF)
    conversation BIGINT   -- the first leg's id when a PBX/SBC bridged this call as another leg
);

CREATE TABLE IF NOT EXISTS segments (
    id BIGINT,
    call BIGINT,
    seq INTEGER,
    started_us BIGINT,
    ended_us BIGINT,
    trigger VARCHAR,      -- policy, info
    path VARCHAR,         -- relative to the data folder
    sha256 VARCHAR,
    bytes BIGINT,
    status VARCHAR,       -- recording, complete, incomplete, failed
    caller_packets BIGINT,
    callee_packets BIGINT
);

CREATE TABLE IF NOT EXISTS streams (
    call BIGINT,
    src VARCHAR,
    dst VARCHAR,
    ssrc BIGINT,
    direction VARCHAR,    -- caller, callee: whose voice
    codec VARCHAR,
    packets BIGINT,
    lost BIGINT,
    max_jitter_ms DOUBLE,
    events BIGINT,
    digits VARCHAR,
    first_us BIGINT,
    last_us BIGINT
);

CREATE TABLE IF NOT EXISTS decisions (
    call BIGINT,
    at_us BIGINT,
    action VARCHAR,
    reason VARCHAR
);

CREATE TABLE IF NOT EXISTS messages (
    call BIGINT,
    at_us BIGINT,
    src VARCHAR,
    dst VARCHAR,
    label VARCHAR,
    cseq VARCHAR,
    has_sdp BOOLEAN,
    duplicates INTEGER
);

-- RTP seen without any SIP announcing it (encrypted signalling, ports not in SDP).
CREATE TABLE IF NOT EXISTS unbound_streams (
    src VARCHAR,
    dst VARCHAR,
    ssrc BIGINT,
    payload_type INTEGER,
    packets BIGINT,
    lost BIGINT,
    first_us BIGINT,
    last_us BIGINT,
    import_id BIGINT
);

CREATE OR REPLACE VIEW calls_v AS
SELECT * EXCLUDE (started_us, answered_us, ended_us),
       make_timestamp(started_us) AS started_at,
       make_timestamp(answered_us) AS answered_at,
       make_timestamp(ended_us) AS ended_at
FROM calls;

-- Web users; password_hash is an Argon2id PHC string.
CREATE TABLE IF NOT EXISTS users (
    name VARCHAR,
    role VARCHAR,         -- admin, supervisor, agent
    extension VARCHAR,    -- an agent sees the calls where this is caller or callee
    password_hash VARCHAR,
    created_us BIGINT
);

-- Every login, failed login, logout, play, download, export, user change, legal hold and
-- retention deletion; ids ascend in insertion order, and each row is chained to the one before
-- by its hash (journal/audit.rs defines the encoding).
CREATE TABLE IF NOT EXISTS audit (
    id BIGINT,
    at_us BIGINT,
    user_name VARCHAR,
    address VARCHAR,      -- the client's IP address, or 'local' for the command line
    action VARCHAR,       -- login, login_failed, logout, play, download, export, user_added,
                          -- hold_added, hold_removed, retention_delete
    call BIGINT,
    recording BIGINT,
    detail VARCHAR,
    prev_hash VARCHAR,    -- the hash of the row before (hex); see journal/audit.rs
    hash VARCHAR          -- SHA-256 of prev_hash and this row's canonical content (hex)
);

-- Legal holds: calls retention must keep, whatever their age, until the hold is removed.
CREATE TABLE IF NOT EXISTS holds (
    call BIGINT,
    reason VARCHAR,
    user_name VARCHAR,
    at_us BIGINT
);

-- Columns added after the first release of the schema (journals created before get them here).
ALTER TABLE calls ADD COLUMN IF NOT EXISTS capture_lost BIGINT;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS conversation BIGINT;
ALTER TABLE audit ADD COLUMN IF NOT EXISTS prev_hash VARCHAR;
ALTER TABLE audit ADD COLUMN IF NOT EXISTS hash VARCHAR;

-- Point lookups by id: each call's row is updated when it is answered, ends and is finished,
-- and without an index every update scanned the whole table (an INVITE flood made that
-- quadratic).
CREATE INDEX IF NOT EXISTS calls_by_id ON calls (id);
CREATE INDEX IF NOT EXISTS segments_by_id ON segments (id);
