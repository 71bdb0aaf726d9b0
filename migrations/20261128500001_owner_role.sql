-- Owner keys: a client key's rights plus its own account's management
-- (docs/accounts.md).
ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check
    CHECK (role IN ('client', 'owner', 'support', 'admin'));
