-- +goose Up
-- Each organization's key policy (GET/PATCH /api/v1/organizations/{id}),
-- as a JSON document of its settings. An organization without a row has
-- the default policy: organizations are created implicitly by their keys.
CREATE TABLE organization_policies (
    organization_id varchar(128) COLLATE "C" NOT NULL PRIMARY KEY,
    settings        text        NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- +goose Down
DROP TABLE organization_policies;
