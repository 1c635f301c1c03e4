-- Access in the audit (docs/security.md): who opened each stream (its filter is the one their
-- entitlements narrowed), and the portfolio each event was distributed under (a fill's envelope may
-- not name it: it is its order's), so the audit matches events to streams as they were delivered.
ALTER TABLE audit_streams ADD COLUMN caller varchar(200);
ALTER TABLE distribution_audit ADD COLUMN portfolio_id varchar(100);
