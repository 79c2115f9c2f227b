-- +goose Up
-- Times are DATETIME columns holding UTC text ("2006-01-02 15:04:05.999999-07:00"
-- with a +00:00 offset): the driver parses DATETIME columns back into
-- time.Time, and UTC text of this shape sorts chronologically.
CREATE TABLE api_keys (
    id              TEXT     NOT NULL PRIMARY KEY,
    organization_id TEXT     NOT NULL,
    name            TEXT     NOT NULL,
    environment     TEXT     NOT NULL,
    scopes          TEXT     NOT NULL DEFAULT '[]',
    hint            TEXT     NOT NULL DEFAULT '',
    hash            TEXT     NOT NULL,
    lookup          TEXT     NOT NULL,
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL,
    expires_at      DATETIME NULL,
    last_used_at    DATETIME NULL,
    rotated_at      DATETIME NULL,
    revoked_at      DATETIME NULL,
    invalidated_at  DATETIME NULL,
    version         INTEGER  NOT NULL DEFAULT 1,
    created_by      TEXT     NOT NULL DEFAULT ''
);

CREATE UNIQUE INDEX api_keys_lookup_key ON api_keys (lookup);
CREATE INDEX api_keys_org_created_idx ON api_keys (organization_id, created_at, id);
CREATE INDEX api_keys_invalidated_idx ON api_keys (invalidated_at);

CREATE TABLE audit_events (
    id              TEXT     NOT NULL PRIMARY KEY,
    occurred_at     DATETIME NOT NULL,
    organization_id TEXT     NOT NULL DEFAULT '',
    actor           TEXT     NOT NULL DEFAULT '',
    action          TEXT     NOT NULL,
    key_id          TEXT     NOT NULL DEFAULT '',
    request_id      TEXT     NOT NULL DEFAULT '',
    trace_id        TEXT     NOT NULL DEFAULT '',
    method          TEXT     NOT NULL DEFAULT '',
    path            TEXT     NOT NULL DEFAULT '',
    client_ip       TEXT     NOT NULL DEFAULT '',
    user_agent      TEXT     NOT NULL DEFAULT '',
    status          INTEGER  NOT NULL DEFAULT 0,
    outcome         TEXT     NOT NULL DEFAULT '',
    scope           TEXT     NOT NULL DEFAULT '',
    details         TEXT     NULL
);

CREATE INDEX audit_events_org_occurred_idx ON audit_events (organization_id, occurred_at, id);
CREATE INDEX audit_events_key_occurred_idx ON audit_events (key_id, occurred_at);
CREATE INDEX audit_events_action_occurred_idx ON audit_events (action, occurred_at);
CREATE INDEX audit_events_actor_occurred_idx ON audit_events (actor, occurred_at);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE api_keys;
