-- +goose Up
-- Every audit event becomes a link of its writer's hash chain: chain id,
-- seq (1, 2, 3, ... without gaps within a chain), the previous event's id
-- and hash, and its own SHA-256 hash (see docs/audit.md). seq is NULL only
-- for an event no chain holds; 00003 chains the events written before.
ALTER TABLE audit_events
    ADD COLUMN chain_id  varchar(40) COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN seq       bigint      NULL,
    ADD COLUMN prev_id   varchar(40) COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN prev_hash varchar(64) COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN hash      varchar(64) COLLATE "C" NOT NULL DEFAULT '';

CREATE UNIQUE INDEX audit_events_chain_seq_key ON audit_events (chain_id, seq);

-- The registry of chains: the head (last event appended, updated in the
-- same transaction) and the purge anchor (last event deleted by retention).
CREATE TABLE audit_chains (
    chain_id    varchar(40)  COLLATE "C" NOT NULL,
    writer      varchar(255) NOT NULL DEFAULT '',
    created_at  timestamptz  NOT NULL,
    updated_at  timestamptz  NOT NULL,
    head_seq    bigint       NOT NULL DEFAULT 0,
    head_id     varchar(40)  COLLATE "C" NOT NULL DEFAULT '',
    head_hash   varchar(64)  COLLATE "C" NOT NULL DEFAULT '',
    anchor_seq  bigint       NOT NULL DEFAULT 0,
    anchor_id   varchar(40)  COLLATE "C" NOT NULL DEFAULT '',
    anchor_hash varchar(64)  COLLATE "C" NOT NULL DEFAULT '',
    anchor_time timestamptz  NULL,
    purged_at   timestamptz  NULL,
    CONSTRAINT audit_chains_pkey PRIMARY KEY (chain_id)
);

-- +goose Down
DROP TABLE audit_chains;
DROP INDEX audit_events_chain_seq_key;
ALTER TABLE audit_events
    DROP COLUMN hash,
    DROP COLUMN prev_hash,
    DROP COLUMN prev_id,
    DROP COLUMN seq,
    DROP COLUMN chain_id;
