-- +goose Up
-- Identifiers use the "C" collation: byte order, the same order SQLite and
-- MySQL (utf8mb4_bin) give, so keyset pagination behaves alike everywhere.
CREATE TABLE api_keys (
    id              varchar(64)  COLLATE "C" NOT NULL,
    organization_id varchar(128) COLLATE "C" NOT NULL,
    name            varchar(400) NOT NULL,
    environment     varchar(8)   NOT NULL,
    scopes          text         NOT NULL DEFAULT '[]',
    hint            varchar(64)  NOT NULL DEFAULT '',
    hash            varchar(255) NOT NULL,
    lookup          char(64)     COLLATE "C" NOT NULL,
    created_at      timestamptz  NOT NULL,
    updated_at      timestamptz  NOT NULL,
    expires_at      timestamptz  NULL,
    last_used_at    timestamptz  NULL,
    rotated_at      timestamptz  NULL,
    revoked_at      timestamptz  NULL,
    invalidated_at  timestamptz  NULL,
    version         bigint       NOT NULL DEFAULT 1,
    created_by      varchar(200) NOT NULL DEFAULT '',
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_lookup_key UNIQUE (lookup)
);

CREATE INDEX api_keys_org_created_idx ON api_keys (organization_id, created_at, id);
CREATE INDEX api_keys_invalidated_idx ON api_keys (invalidated_at);

CREATE TABLE audit_events (
    id              varchar(40)   COLLATE "C" NOT NULL,
    occurred_at     timestamptz   NOT NULL,
    organization_id varchar(128)  COLLATE "C" NOT NULL DEFAULT '',
    actor           varchar(255)  COLLATE "C" NOT NULL DEFAULT '',
    action          varchar(32)   COLLATE "C" NOT NULL,
    key_id          varchar(64)   COLLATE "C" NOT NULL DEFAULT '',
    request_id      varchar(128)  NOT NULL DEFAULT '',
    trace_id        varchar(64)   NOT NULL DEFAULT '',
    method          varchar(16)   NOT NULL DEFAULT '',
    path            varchar(2048) NOT NULL DEFAULT '',
    client_ip       varchar(64)   NOT NULL DEFAULT '',
    user_agent      varchar(512)  NOT NULL DEFAULT '',
    status          integer       NOT NULL DEFAULT 0,
    outcome         varchar(32)   NOT NULL DEFAULT '',
    scope           varchar(64)   NOT NULL DEFAULT '',
    details         text          NULL,
    CONSTRAINT audit_events_pkey PRIMARY KEY (id)
);

CREATE INDEX audit_events_org_occurred_idx ON audit_events (organization_id, occurred_at, id);
CREATE INDEX audit_events_key_occurred_idx ON audit_events (key_id, occurred_at);
CREATE INDEX audit_events_action_occurred_idx ON audit_events (action, occurred_at);
CREATE INDEX audit_events_actor_occurred_idx ON audit_events (actor, occurred_at);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE api_keys;
