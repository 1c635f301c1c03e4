-- Restatements carry their reason (FIX ExecRestatementReason); NULL for every other exec type.
ALTER TABLE order_updates ADD COLUMN restatement_reason varchar(40);
