-- +goose Up
-- utf8mb4_bin compares bytes: ids stay case-sensitive and sort the way they
-- do in SQLite and in Postgres (COLLATE "C"). DATETIME(6) holds UTC with
-- microseconds; the store always writes UTC.
CREATE TABLE api_keys (
    id              VARCHAR(64)  NOT NULL,
    organization_id VARCHAR(128) NOT NULL,
    name            VARCHAR(400) NOT NULL,
    environment     VARCHAR(8)   NOT NULL,
    scopes          TEXT         NOT NULL,
    hint            VARCHAR(64)  NOT NULL DEFAULT '',
    hash            VARCHAR(255) NOT NULL,
    lookup          CHAR(64)     NOT NULL,
    created_at      DATETIME(6)  NOT NULL,
    updated_at      DATETIME(6)  NOT NULL,
    expires_at      DATETIME(6)  NULL,
    last_used_at    DATETIME(6)  NULL,
    rotated_at      DATETIME(6)  NULL,
    revoked_at      DATETIME(6)  NULL,
    invalidated_at  DATETIME(6)  NULL,
    version         BIGINT       NOT NULL DEFAULT 1,
    created_by      VARCHAR(200) NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    UNIQUE KEY api_keys_lookup_key (lookup),
    KEY api_keys_org_created_idx (organization_id, created_at, id),
    KEY api_keys_invalidated_idx (invalidated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE audit_events (
    id              VARCHAR(40)   NOT NULL,
    occurred_at     DATETIME(6)   NOT NULL,
    organization_id VARCHAR(128)  NOT NULL DEFAULT '',
    actor           VARCHAR(255)  NOT NULL DEFAULT '',
    action          VARCHAR(32)   NOT NULL,
    key_id          VARCHAR(64)   NOT NULL DEFAULT '',
    request_id      VARCHAR(128)  NOT NULL DEFAULT '',
    trace_id        VARCHAR(64)   NOT NULL DEFAULT '',
    method          VARCHAR(16)   NOT NULL DEFAULT '',
    path            VARCHAR(2048) NOT NULL DEFAULT '',
    client_ip       VARCHAR(64)   NOT NULL DEFAULT '',
    user_agent      VARCHAR(512)  NOT NULL DEFAULT '',
    status          INT           NOT NULL DEFAULT 0,
    outcome         VARCHAR(32)   NOT NULL DEFAULT '',
    scope           VARCHAR(64)   NOT NULL DEFAULT '',
    details         TEXT          NULL,
    PRIMARY KEY (id),
    KEY audit_events_org_occurred_idx (organization_id, occurred_at, id),
    KEY audit_events_key_occurred_idx (key_id, occurred_at),
    KEY audit_events_action_occurred_idx (action, occurred_at),
    KEY audit_events_actor_occurred_idx (actor, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE audit_events;
DROP TABLE api_keys;
