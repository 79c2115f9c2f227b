-- +goose Up
-- Each organization's key policy (GET/PATCH /api/v1/organizations/{id}),
-- as a JSON document of its settings. An organization without a row has
-- the default policy: organizations are created implicitly by their keys.
CREATE TABLE organization_policies (
    organization_id TEXT     NOT NULL PRIMARY KEY,
    settings        TEXT     NOT NULL,
    updated_at      DATETIME NOT NULL
);

-- +goose Down
DROP TABLE organization_policies;
