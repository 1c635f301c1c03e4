-- The audit grows with events and written batches, not with events x subscribers.
-- distribution_audit keeps one row per audited event (delivery_status 'distributed', no subscription:
-- its log position and the envelope as delivered) and the outcomes that concern one event
-- (drops, deliveries of events re-read from Kafka), as before.
ALTER TABLE distribution_audit
    ADD COLUMN log_epoch   uuid,
    ADD COLUMN log_position bigint,
    ADD COLUMN ingested_at timestamptz,
    ADD COLUMN event_json  json;
CREATE INDEX distribution_audit_position ON distribution_audit (log_epoch, log_position) WHERE subscription_id IS NULL;

-- One row per stream of a subscription: the filter its deliveries matched.
CREATE TABLE audit_streams (
    stream_id          uuid         PRIMARY KEY,
    subscription_id    varchar(200) NOT NULL,
    delivery_guarantee varchar(20)  NOT NULL,
    filter             json         NOT NULL,
    log_epoch          uuid         NOT NULL,
    created_at         timestamptz  NOT NULL
);

-- One row per batch a stream wrote (or failed to write), and per acknowledgement: every event of the
-- log between first_position and last_position that the stream's filter takes.
CREATE TABLE delivery_ranges (
    id              uuid         PRIMARY KEY,
    stream_id       uuid         NOT NULL,
    subscription_id varchar(200) NOT NULL,
    delivery_status varchar(20)  NOT NULL,
    retry_count     integer      NOT NULL,
    log_epoch       uuid         NOT NULL,
    first_position  bigint       NOT NULL,
    last_position   bigint       NOT NULL,
    first_sequence  bigint       NOT NULL,
    last_sequence   bigint       NOT NULL,
    events          integer      NOT NULL,
    created_at      timestamptz  NOT NULL
);
CREATE INDEX delivery_ranges_positions ON delivery_ranges USING gist (int8range(first_position, last_position, '[]'));
CREATE INDEX delivery_ranges_subscription ON delivery_ranges (subscription_id, created_at);
CREATE INDEX delivery_ranges_created_at ON delivery_ranges (created_at);
