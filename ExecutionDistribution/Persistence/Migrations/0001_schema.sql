-- ExecDist schema, version 1. Applied once per schema by SchemaMigrator, inside a transaction.
-- The first three tables are the specification's, with its types, defaults, uniqueness and lengths.

CREATE TABLE execution_topics (
    id                     uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    topic_name             varchar(200) NOT NULL UNIQUE,
    data_type              varchar(50)  NOT NULL,
    partitions             integer      NOT NULL DEFAULT 1,
    retention_policy       varchar(50)  DEFAULT '7d',
    latency_requirement_ms integer      DEFAULT 100,
    enabled                boolean      DEFAULT true,
    created_at             timestamptz  DEFAULT now()
);

CREATE TABLE execution_subscriptions (
    id                  uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    subscription_id     varchar(100) NOT NULL UNIQUE,
    topic_name          varchar(200) NOT NULL,
    subscriber_workflow varchar(100) NOT NULL,
    filters             json,
    delivery_guarantee  varchar(20)  DEFAULT 'at_least_once',
    status              varchar(20)  DEFAULT 'active',
    created_at          timestamptz  DEFAULT now()
);

-- The specification's audit table; order_id and subscription_id are added so that GET /api/v1/audit
-- can find rows by order and tell the subscribers apart. id is chosen by the writer (UUIDv7) so a
-- batch written again after a failure is recognised and not written twice.
CREATE TABLE distribution_audit (
    id               uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id         varchar(100) NOT NULL,
    topic_name       varchar(200) NOT NULL,
    routing_key      varchar(200) NOT NULL,
    delivery_status  varchar(20)  NOT NULL,
    delivery_time_ms double precision,
    retry_count      integer      DEFAULT 0,
    created_at       timestamptz  DEFAULT now(),
    order_id         varchar(100),
    subscription_id  varchar(200)
);
CREATE INDEX distribution_audit_event_id ON distribution_audit (event_id);
CREATE INDEX distribution_audit_order_id ON distribution_audit (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX distribution_audit_created_at ON distribution_audit (created_at);

-- Acknowledged positions of durable subscriptions (one row each), kept apart from the spec's table.
CREATE TABLE subscription_positions (
    subscription_id varchar(100) PRIMARY KEY REFERENCES execution_subscriptions (subscription_id) ON DELETE CASCADE,
    epoch              uuid        NOT NULL,
    position           bigint      NOT NULL,
    sequence           bigint      NOT NULL,
    delivered_sequence bigint      NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- The query side: the facts of each order (updates and fills, each stored once by its id) and the
-- status derived from them, versioned by the number of facts so an older status never replaces a newer.
CREATE TABLE order_updates (
    event_id      varchar(100)  PRIMARY KEY,
    order_id      varchar(100)  NOT NULL,
    portfolio_id  varchar(100)  NOT NULL,
    instrument_id varchar(100)  NOT NULL,
    side          varchar(20)   NOT NULL,
    order_type    varchar(20)   NOT NULL,
    order_qty     numeric(28,8) NOT NULL,
    limit_price   numeric(28,8),
    time_in_force varchar(20)   NOT NULL,
    exec_type     varchar(20)   NOT NULL,
    venue         varchar(100),
    reason        varchar(1000),
    update_time   timestamptz   NOT NULL
);
CREATE INDEX order_updates_order_id ON order_updates (order_id);
CREATE INDEX order_updates_portfolio_id ON order_updates (portfolio_id);

CREATE TABLE fills (
    fill_id        varchar(100)  PRIMARY KEY,
    order_id       varchar(100)  NOT NULL,
    instrument_id  varchar(100)  NOT NULL,
    side           varchar(20),
    quantity       numeric(28,8) NOT NULL,
    price          numeric(28,8) NOT NULL,
    venue          varchar(100)  NOT NULL,
    execution_time timestamptz   NOT NULL,
    commission     numeric(28,8) NOT NULL,
    exec_type      varchar(20)   NOT NULL,
    ref_fill_id    varchar(100),
    portfolio_id   varchar(100),
    currency       varchar(3),
    event_id       varchar(100)  NOT NULL
);
CREATE INDEX fills_order_id ON fills (order_id);
CREATE INDEX fills_ref_fill_id ON fills (ref_fill_id) WHERE ref_fill_id IS NOT NULL;

CREATE TABLE orders (
    order_id      varchar(100) PRIMARY KEY,
    portfolio_id  varchar(100),
    version       integer      NOT NULL,
    status_json   json         NOT NULL,
    updated_at    timestamptz  NOT NULL
);
CREATE INDEX orders_portfolio_id ON orders (portfolio_id);
