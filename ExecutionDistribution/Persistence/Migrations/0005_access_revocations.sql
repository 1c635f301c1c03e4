-- Access taken away by an administrator (docs/security.md): every token of a subject issued until
-- revoked_at, or one token by its id. Read by every instance at start and when told on the control topic.
CREATE TABLE access_revocations (
    kind       varchar(20)  NOT NULL,
    value      varchar(200) NOT NULL,
    revoked_at timestamptz  NOT NULL,
    reason     varchar(500) NOT NULL,
    revoked_by varchar(200) NOT NULL,
    PRIMARY KEY (kind, value)
);
