-- A managed subscription belongs to the subject that created it (docs/security.md): only it, and
-- callers whose token grants the subscription's workflow, may read, stream, acknowledge or change it.
ALTER TABLE execution_subscriptions ADD COLUMN owner varchar(200);
