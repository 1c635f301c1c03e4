-- A durable subscription's acknowledged point is Kafka offsets per partition, the same on every
-- instance of a cluster: the resume token a stream of it continues from, its cluster (epoch) and
-- sequence, and the offsets it holds, per partition, as JSON for people and queries. Points of the
-- earlier format (positions of one process's log) mean nothing to any instance now: they are dropped,
-- and such subscriptions start at the head of the log with their sequence going on.
ALTER TABLE subscription_positions
    DROP COLUMN position,
    ADD COLUMN resume_token text  NOT NULL DEFAULT '',
    ADD COLUMN offsets      jsonb NOT NULL DEFAULT '[]';
